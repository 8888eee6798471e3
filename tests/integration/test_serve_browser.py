"""The web page end to end in a real headless browser: Playwright driving Debian's chromium against a live
server on loopback (a fake embedder): enrol by uploading photos, see the people and counts, identify a photo
with its name drawn on a canvas, move the threshold. Skips when playwright or chromium is absent."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

import serve_fake as F  # noqa: E402

from pictorch.serve.app import Settings, create_app  # noqa: E402
from pictorch.serve.keys import KeyStore  # noqa: E402


@pytest.fixture
def live(tmp_path, monkeypatch):
    from pictorch.tasks.identify import service

    monkeypatch.setattr(service, "load_embedder", lambda spec: F.FakeEmbedder())
    _, secret = KeyStore(tmp_path / "k.json").create("write")
    app = create_app(Settings(str(tmp_path / "g.gallery"), model="fake", keys=str(tmp_path / "k.json"), rate=1e6))
    for n, seed in (("ann", 1), ("bob", 2)):
        for j in range(3):
            (tmp_path / f"{n}_{j}.png").write_bytes(F.person_png(seed, j))
    (tmp_path / "query.png").write_bytes(F.person_png(2, 9))
    with F.live_server(app) as url:
        yield url, secret, tmp_path


def test_enrol_list_identify_in_a_browser(live):
    url, secret, d = live
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.fill("#key", secret)
            page.click("#use-key")
            for n in ("ann", "bob"):
                page.fill("#enrol-name", n)
                page.set_input_files("#enrol-files", [str(d / f"{n}_{j}.png") for j in range(3)])
                page.click("#enrol")
                page.wait_for_selector(f"#status:has-text('enrolled 3 photo(s) of {n}')")
            page.wait_for_selector("#people tr[data-name='bob']")
            rows = page.locator("#people tbody tr").all_inner_texts()
            assert [r.split()[:2] for r in rows] == [["ann", "3"], ["bob", "3"]]
            assert "not calibrated" in page.inner_text("#threshold-info") or "none" in page.inner_text(
                "#threshold-info")

            page.set_input_files("#who-file", str(d / "query.png"))
            page.click("#who")
            page.wait_for_selector("#status:has-text('identified query.png')")
            assert page.locator("#who-result li.face").first.inner_text().startswith("bob")
            assert page.evaluate("document.getElementById('who-canvas').width") == 32  # the photo, drawn

            # a threshold above every score: the same photo is now unknown
            page.eval_on_selector("#threshold", "e => { e.value = 0.999; e.dispatchEvent(new Event('input'));"
                                                " e.dispatchEvent(new Event('change')); }")
            page.wait_for_selector("#who-result li.face:has-text('unknown')")
            # a bad upload: one message on the page, no traceback
            (d / "bad.png").write_bytes(b"not an image")
            page.set_input_files("#who-file", str(d / "bad.png"))
            page.click("#who")
            page.wait_for_selector("#status.error:has-text('not an image')")
        finally:
            browser.close()
