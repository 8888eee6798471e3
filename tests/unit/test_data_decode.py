"""Safe decoding: every bad-file kind becomes BadImageError, every pixel format is normalized."""

from __future__ import annotations

import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pictorch.data.decode import load_image, load_images
from pictorch.errors import BadImageError, DataError


def _noisy_rgb(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _save(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_good_rgb_roundtrip(tmp_path):
    im = _noisy_rgb()
    p = _save(im, tmp_path / "ok.png")
    t = load_image(p)
    assert t.dtype == torch.uint8 and t.shape == (3, 48, 64)
    assert torch.equal(t, torch.from_numpy(np.array(im)).permute(2, 0, 1))
    gray = load_image(p, mode="L")
    assert gray.shape == (1, 48, 64)


def test_zero_byte(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(BadImageError, match="empty") as ei:
        load_image(p)
    assert ei.value.path == str(p)


def test_missing_file(tmp_path):
    with pytest.raises(BadImageError, match="not found"):
        load_image(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png")])
def test_truncated(tmp_path, fmt, ext):
    buf = io.BytesIO()
    _noisy_rgb().save(buf, fmt)
    data = buf.getvalue()
    p = tmp_path / f"cut.{ext}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadImageError, match="truncated"):
        load_image(p)


def test_corrupt_png_data(tmp_path):
    buf = io.BytesIO()
    _noisy_rgb().save(buf, "PNG")
    data = bytearray(buf.getvalue())
    idat = data.index(b"IDAT")
    for i in range(idat + 20, idat + 120):
        data[i] ^= 0x5A
    p = tmp_path / "corrupt.png"
    p.write_bytes(bytes(data))
    with pytest.raises(BadImageError):
        load_image(p)


def test_random_bytes_not_an_image(tmp_path):
    p = tmp_path / "noise.jpg"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(BadImageError, match="not an image"):
        load_image(p)


def test_text_file_named_png(tmp_path):
    p = tmp_path / "readme.png"
    p.write_text("this is not an image, just some notes\n")
    with pytest.raises(BadImageError, match="text"):
        load_image(p)


def test_bomb_declared_size(tmp_path):
    # A tiny valid PNG whose header declares 100000 × 100000 pixels.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 10)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    p = tmp_path / "bomb.png"
    p.write_bytes(data)
    with pytest.raises(BadImageError, match="too large|bomb"):
        load_image(p)


def test_bomb_lowered_limit(tmp_path):
    p = _save(_noisy_rgb(64, 48), tmp_path / "big.png")
    with pytest.raises(BadImageError, match="exceeds the limit of 1000"):
        load_image(p, max_pixels=1000)
    assert load_image(p, max_pixels=64 * 48).shape == (3, 48, 64)


def test_cmyk_jpeg(tmp_path):
    p = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    t = load_image(p)
    assert t.shape == (3, 16, 16)
    r, g, b = (int(v) for v in t[:, 8, 8])
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 100%, 100%, 0) is red


def test_rgba_composited_on_white(tmp_path):
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0, 255)  # opaque red
    arr[0, 1] = (0, 0, 0, 0)  # fully transparent -> white
    arr[0, 2] = (0, 0, 0, 128)  # half-transparent black -> mid gray
    p = _save(Image.fromarray(arr, "RGBA"), tmp_path / "rgba.png")
    t = load_image(p)
    assert t.shape == (3, 4, 4)
    assert t[:, 0, 0].tolist() == [255, 0, 0]
    assert t[:, 0, 1].tolist() == [255, 255, 255]
    assert all(abs(v - 127) <= 2 for v in t[:, 0, 2].tolist())
    assert load_image(p, mode="L")[0, 0, 1] == 255


def test_la_composited_on_white(tmp_path):
    arr = np.zeros((2, 2, 2), dtype=np.uint8)
    arr[0, 0] = (0, 0)
    arr[0, 1] = (10, 255)
    p = _save(Image.fromarray(arr, "LA"), tmp_path / "la.png")
    t = load_image(p, mode=None)
    assert t.shape == (1, 2, 2)
    assert t[0, 0, 0] == 255 and t[0, 0, 1] == 10


def test_16bit_png_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 65535, 32768, 1000]], dtype=np.uint16)
    im = Image.fromarray(arr)
    assert im.mode.startswith("I")
    p = _save(im, tmp_path / "deep.png")
    t = load_image(p, mode="L")
    assert t.shape == (1, 1, 4)
    assert t[0, 0].tolist() == [0, 255, 128, 4]  # 1000/65535*255 ≈ 3.9; clipping would give 255
    assert load_image(p, mode=None).shape == (1, 1, 4)
    rgb = load_image(p, mode="RGB")
    assert rgb.shape == (3, 1, 4) and rgb[:, 0, 2].tolist() == [128, 128, 128]


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (4, 4), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    im.putpixel((1, 1), 1)
    p = tmp_path / "pal.png"
    im.save(p, transparency=1)
    t = load_image(p)
    assert t[:, 0, 0].tolist() == [255, 0, 0]
    assert t[:, 1, 1].tolist() == [255, 255, 255]  # transparent index -> white, not blue


def test_one_bit(tmp_path):
    im = Image.new("1", (5, 3), 0)
    im.putpixel((2, 1), 1)
    p = _save(im, tmp_path / "bits.png")
    t = load_image(p, mode=None)
    assert t.shape == (1, 3, 5) and t[0, 1, 2] == 255 and t[0, 0, 0] == 0


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 tall: top half red, bottom half blue
    arr[:10] = (255, 0, 0)
    arr[10:] = (0, 0, 255)
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif.tobytes(), quality=95)
    t = load_image(p)
    assert t.shape == (3, 40, 20)  # displayed portrait
    right, left = t[:, 20, 15].tolist(), t[:, 20, 4].tolist()
    assert right[0] > 200 and right[2] < 60  # the former top (red) is now on the right
    assert left[2] > 200 and left[0] < 60


def test_load_images_skips_and_counts(tmp_path, caplog):
    good = [_save(_noisy_rgb(20, 10, s), tmp_path / f"g{s}.png") for s in range(3)]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    paths = [good[0], bad, good[1], good[2]]
    with caplog.at_level(logging.WARNING, logger="pictorch"):
        images, ok, bad_list = load_images(paths, mode="RGB", size=(8, 8))
    assert images.shape == (3, 3, 8, 8) and images.dtype == torch.uint8
    assert ok == [str(good[0]), str(good[1]), str(good[2])]
    assert bad_list == [(str(bad), "empty file (0 bytes)")]
    assert "skipped 1 of 4" in caplog.text
    as_list, _, _ = load_images(good, mode="L")
    assert isinstance(as_list, list) and as_list[0].shape == (1, 10, 20)
    with pytest.raises(BadImageError):
        load_images(paths, on_error="raise")


def test_load_images_all_bad(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"b{i}.png"
        p.write_text("nope")
        paths.append(p)
    with pytest.raises(DataError, match="none of the 3") as ei:
        load_images(paths)
    assert not isinstance(ei.value, BadImageError)


@pytest.mark.parametrize("how", ["fit", "stretch", "center_crop"])
def test_resize_modes(tmp_path, how):
    arr = np.full((10, 40, 3), 200, dtype=np.uint8)
    p = _save(Image.fromarray(arr), tmp_path / "wide.png")
    images, _, _ = load_images([p], size=(16, 16), resize=how)
    assert images.shape == (1, 3, 16, 16)
    corner = int(images[0, 0, 0, 0])
    if how == "fit":
        assert corner == 0 and int(images[0, 0, 8, 8]) == 200  # letterboxed with black bars
    else:
        assert corner == 200
