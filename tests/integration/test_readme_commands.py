"""Every command in README.md's (and docs/'s) ```bash blocks, as written.

Two tests:

* ``test_every_readme_command_parses`` (fast): each ``pictorch`` command of every block is parsed by the real CLI
  (the verb exists, every option exists and its value converts, required arguments are there) without running
  it. A README edit that renames an option or a verb fails here.
* ``test_readme_commands_run`` (slow): the identify, classify, autoencoder and GAN blocks run in a temp folder,
  in order, with tiny budgets appended (click keeps the last value of an option, so ``--steps 2`` after the
  README's ``--steps 3000`` wins), each command exiting 0. Substitutions, all listed in ``TINY`` and ``SUBST``:
  ``dlib-face`` → the tiny ``runs/group`` embedder trained by the README's first command (the fixture photos are
  noise, with no face to detect, and dlib is an optional extra); ``resnet18 --pretrained imagenet`` → a
  ``small_cnn`` backbone (identify) or ``--init runs/fmnist`` (classify; ImageNet weights need a download); ``runs/classifier`` → ``runs/fmnist`` (the
  README's classifier); a bare ``gan evaluate`` gets ``--feature-net runs/fmnist`` (its default trains a
  feature network for ~150 s); optional ``[...]`` groups and ``...`` are left out; the PostgreSQL block's
  ``$G`` and ``postgresql://...#name`` run on a pgserver started for the test (``name-pg.db`` SQLite files where
  none starts); ``identify migrate`` of a gallery made by an earlier block (``group.db``) gets that gallery.

Deliberately not run (parsed only), and why:

* ``make demo`` / ``make test``, ``pip install``, ``curl``: they install, recurse into this suite, or need a
  running server (``tests/integration/test_serve_*.py`` drive the server; ``make`` is what CI runs).
* ``classify compare``, ``classify transfer-demo``, ``classify scale``: minutes even at their smallest budgets
  (their own tests in ``tests/unit/test_classify_*.py`` and ``test_classify_cli.py`` run tiny versions).
* ``translate``, ``see``, ``stylize``, ``segment``, ``serve`` blocks and ``demo --faces``: their models need the
  bundled VGG/EfficientNet weights, real data packages (stardist, xplanet) or minutes of training; their
  rooms' CLI tests (``test_translate_cli.py``, ``test_see_stylize_cli.py``, ``test_segment_cli.py``,
  ``test_serve_*.py``, ``test_identify_demo_faces.py``) run each verb with tiny budgets.
"""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TORCH_THREADS = 1
ROOT = Path(__file__).resolve().parents[2]

#: Commands that are not pictorch's and are never run here (see the module docstring).
NOT_PICTORCH = ("make", "pip", "curl", "python", "python3", "python3.11")


def readme_commands() -> list[tuple[str, int, str]]:
    """(file, block number, command) for each command of each ```bash block: continuation lines joined,
    ``a; b`` split, comments dropped."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for bi, block in enumerate(re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, re.S)):
            for line in block.replace("\\\n", " ").splitlines():
                try:
                    words = shlex.split(line, comments=True)
                except ValueError:  # unbalanced quote inside a comment
                    words = shlex.split(line.split(" #", 1)[0])
                cmd: list[str] = []
                for w in [*words, ";"]:
                    if w == ";" or w.endswith(";") and w != ";":
                        if w != ";":
                            cmd.append(w[:-1])
                        if cmd and not re.fullmatch(r"[A-Za-z_]\w*=.*", cmd[0]):  # G=...: a shell variable
                            out.append((path.name, bi, shlex.join(cmd)))
                        cmd = []
                    else:
                        cmd.append(w)
    return out


def _words(command: str, optional: bool) -> list[str]:
    """The command's words; ``[--flag value]`` groups kept (``optional``) or dropped; ``[PLACEHOLDER]`` and
    ``...`` dropped."""
    out: list[str] = []
    group: list[str] | None = None
    for w in shlex.split(command):
        if group is None and w.startswith("[") and not w.startswith("[--"):
            continue  # [DIR]: a placeholder the reader fills in
        if group is None and w.startswith("[--"):
            group, w = [], w[1:]
        if group is not None:
            closed = w.endswith("]")
            group.append(w[:-1] if closed else w)
            if closed:
                out += group if optional else []
                group = None
            continue
        if w != "...":
            out.append(w)
    return out


COMMANDS = readme_commands()
PICTORCH = [c for c in COMMANDS if c[2].startswith("pictorch ")]


def test_the_readme_has_commands():
    assert len(PICTORCH) > 50, PICTORCH
    others = {shlex.split(c[2])[0] for c in COMMANDS if not c[2].startswith("pictorch ")}
    assert others <= set(NOT_PICTORCH), others  # a new kind of command needs a decision here


@pytest.mark.parametrize("command", [c[2] for c in PICTORCH], ids=[f"{c[0]}:{c[1]}:{c[2][9:50]}" for c in PICTORCH])
def test_every_readme_command_parses(command):
    import typer

    from pictorch import cli

    cli._mount()
    group = typer.main.get_command(cli.app)
    # typer vendors its own click: its classes, by the objects' own types (isinstance against click fails)
    ctx_cls = type(group.make_context("pictorch", ["info"], resilient_parsing=True))
    words = _words(command, optional=True)[1:]
    ctx = ctx_cls(group, info_name="pictorch")
    cmd = group
    while hasattr(cmd, "get_command"):
        if words and words[0] in ("--debug", "--quiet", "-q"):  # root options before the capability
            words.pop(0)
            continue
        assert words, f"{command}: no verb"
        name = words.pop(0)
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"{command}: no command {name!r}"
        ctx = ctx_cls(sub, info_name=name, parent=ctx)
        cmd = sub
    try:
        cmd.make_context(ctx.info_name, list(words), parent=ctx.parent)
    except Exception as e:  # typer's click UsageError/BadParameter: the README command is wrong
        msg = e.format_message() if hasattr(e, "format_message") else str(e)
        pytest.fail(f"README command does not parse: {command}\n  {type(e).__name__}: {msg}")


# -- running them ------------------------------------------------------------------------------------------------
#: Appended to a verb's command (the last value of an option wins): tiny budgets.
TINY = {
    ("identify", "train"): "--steps 2 --batch-size 8 --p 2 --k 4 --image-size 28 --precision 32-true --no-progress",
    ("classify", "train"): "--steps 2 --batch-size 8 --per-class 10 --precision 32-true --no-progress "
                           "--threads 1",
    ("classify", "evaluate"): "--limit 40",
    ("autoencode", "train"): "--steps 2 --batch-size 8 --limit 64 --widths 8,16 --precision 32-true --no-progress",
    ("autoencode", "search"): "--limit 40",
    ("autoencode", "compress-report"): "--test-images 32 --pca-sizes 2",
    ("gan", "train"): "--steps 2 --batch-size 8 --limit 64 --ngf 8 --ndf 8 --precision 32-true --no-progress",
    ("gan", "sample"): "--n 8",
    ("gan", "evaluate"): "--n 20",
}
#: Text substitutions (see the module docstring for why each is needed).
SUBST = [
    (r"--model dlib-face", "--model runs/group"),
    (r"--backbone dlib-face", "--backbone small_cnn"),
    (r"--backbone resnet18 --pretrained imagenet", "--backbone small_cnn"),
    (r"--arch resnet18 --pretrained imagenet", "--init runs/fmnist"),
    (r"runs/classifier", "runs/fmnist"),
]
#: The PostgreSQL block's placeholder server (its ``G=...`` line is a shell assignment, not run): a pgserver
#: started for the test where it can start, else SQLite files (the same interface, backends.py).
PG_README = r"postgresql://pictorch:secret@db\.example/faces"
RUN_CAPABILITIES = {"identify", "classify", "ae", "autoencode", "gan"}
NOT_RUN = {("classify", "compare"), ("classify", "transfer-demo"), ("classify", "scale")}


def _photo(path: Path, rng: np.random.Generator, base: np.ndarray | None = None, size: int = 28) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = rng.integers(0, 255, (size, size, 3)) if base is None else base + rng.normal(0, 25, base.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def _make_files(root: Path) -> None:
    """Every file and folder the README's commands name, as small random photos."""
    rng = np.random.default_rng(0)
    bases = {p: rng.integers(0, 255, (28, 28, 3)).astype(np.float64) for p in ("alice", "bob", "carol", "dan")}
    for person, base in bases.items():
        for i in range(4):
            for folder in ("photos", "test_photos", "group", "heldout", "flowers", "new_classes", "shop"):
                if folder in ("flowers", "new_classes", "shop") and person in ("carol", "dan") and i > 1:
                    continue
                _photo(root / folder / person / f"{i}.jpg", rng, base)
        if person in ("alice", "bob"):
            for i in range(3):
                _photo(root / person / f"{i}.jpg", rng, base)
    _photo(root / "heldout" / "stranger" / "0.jpg", rng)
    _photo(root / "bob1.jpg", rng, bases["bob"])
    _photo(root / "bob2.jpg", rng, bases["bob"])
    for name in ("party.jpg", "a.jpg", "b.jpg", "img.png", "query.png", "a.png", "b.png"):
        _photo(root / name, rng, bases["alice"])
    for folder in ("more_images", "imgs", "noisy"):
        for i in range(3):
            _photo(root / folder / f"{i}.png", rng, bases["bob"])
    for name in ("a1.jpg", "a2.jpg", "door.jpg"):  # the PostgreSQL block's
        _photo(root / name, rng, bases["alice"])
    rows = ["file,hair,glasses,smile"]  # StackGAN on attribute vectors: faces/ + attrs.csv
    for i in range(16):
        _photo(root / "faces" / f"{i}.png", rng, bases["carol"])
        rows.append(f"{i}.png,{i % 2},{i // 2 % 2},{i // 4 % 2}")
    (root / "attrs.csv").write_text("\n".join(rows) + "\n")
    (root / "pairs.txt").write_text("a.jpg,b.jpg,1\na.jpg,bob1.jpg,0\n")
    (root / "lfw").mkdir()
    for name in ("a.jpg", "b.jpg", "bob1.jpg"):
        (root / "lfw" / name).write_bytes((root / name).read_bytes())


def _to_run() -> list[tuple[tuple[str, int], str]]:
    out = []
    for file, block, command in PICTORCH:
        w = _words(command, optional=False)
        cap, verb = w[1], w[2] if len(w) > 2 else ""
        if cap not in RUN_CAPABILITIES or (cap, verb) in NOT_RUN:
            continue
        out.append(((file, block), command))
    return out


def _pg_or_sqlite(request, text: str) -> str:
    """The PostgreSQL block's URLs: ``$G`` and ``postgresql://...#name`` on the test's pgserver, or ``name-pg.db``
    (SQLite) where none starts."""
    text = text.replace("$G", "postgresql://pictorch:secret@db.example/faces#doorway")
    if not re.search(PG_README, text):
        return text
    try:
        url = request.getfixturevalue("pg_server_url")
    except pytest.skip.Exception:
        url = None
    return re.sub(PG_README + r"#(\w+)", (lambda m: f"{url}#{m[1]}") if url else r"\1-pg.db", text)


@pytest.mark.slow
def test_readme_commands_run(tmp_path, monkeypatch, capsys, request):
    import shutil

    from pictorch.data.fashion_mnist import find_fashion_mnist

    if not find_fashion_mnist():
        pytest.skip("Fashion-MNIST not installed (make data)")
    from pictorch.cli import main

    monkeypatch.chdir(tmp_path)
    _make_files(tmp_path)
    ran, failed = [], []
    block = None
    for where, command in _to_run():
        if where != block:  # each block tells its own story: a gallery of an earlier block is not this one's
            block = where
            (tmp_path / "earlier").mkdir(exist_ok=True)
            for f in tmp_path.glob("*.db*"):
                shutil.move(f, tmp_path / "earlier" / f.name)
        text = _pg_or_sqlite(request, command)
        for pat, rep in SUBST:
            text = re.sub(pat, rep, text)
        words = _words(text, optional=False)
        if words[1:3] == ["identify", "migrate"] and not Path(words[3]).exists():  # an earlier block's gallery
            for f in (tmp_path / "earlier").glob(words[3] + "*"):
                shutil.copy(f, tmp_path / f.name)
        cap = "autoencode" if words[1] == "ae" else words[1]
        words += shlex.split(TINY.get((cap, words[2]), ""))
        args = []
        for w in words[1:]:  # the shell's globbing, in the temp folder
            args += sorted(glob.glob(w)) if any(ch in w for ch in "*?") and "://" not in w else [w]  # URL: ?host=
        try:
            main(args)
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        cap_out = capsys.readouterr()
        if code != 0 or "unexpected" in cap_out.err:
            failed.append(f"{command}\n  ran: pictorch {shlex.join(args)}\n  {cap_out.err.strip()[-500:]}")
        ran.append(command)
    assert not failed, "README commands failed:\n" + "\n".join(failed)
    assert len(ran) >= 30, ran
