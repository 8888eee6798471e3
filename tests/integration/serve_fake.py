"""A fake embedder and synthetic 'people' for the serve tests (no model download, milliseconds per photo), and
a server entry point that uses it (``python serve_fake.py GALLERY KEYS PORT``) for the crash test."""

from __future__ import annotations

import contextlib
import io
import sys

import numpy as np
import torch
from PIL import Image


class FakeEmbedder:
    """Centered pixels of an 8×8 thumbnail: photos of one synthetic person share a colour pattern."""

    name = "fake"
    dim = 192
    mode = "RGB"
    input_size = (8, 8)
    fingerprint = "fake-v1"

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().flatten(1) - 127.5
        return torch.nn.functional.normalize(x, dim=1)


def install() -> None:
    """Make every gallery load the fake model."""
    from pictorch.tasks.identify import service

    service.load_embedder = lambda spec: FakeEmbedder()


def person_png(seed: int, j: int, noise: float = 12) -> bytes:
    """Photo ``j`` of synthetic person ``seed`` as PNG bytes."""
    base = np.random.default_rng(seed).integers(0, 256, size=(8, 8, 3))
    rng = np.random.default_rng(seed * 1000 + j + 1)
    img = np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).resize((32, 32), Image.NEAREST).save(buf, "PNG")
    return buf.getvalue()


@contextlib.contextmanager
def live_server(app):
    """``app`` served by uvicorn on a free loopback port in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # log_config=None: uvicorn's dictConfig would close and replace the logging handlers of the test process
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(10)


if __name__ == "__main__":
    import uvicorn

    install()
    from pictorch.serve.app import Settings, create_app

    gallery, keys, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    uvicorn.run(create_app(Settings(gallery, model="fake", keys=keys, rate=1e6)), host="127.0.0.1", port=port,
                log_level="warning")
