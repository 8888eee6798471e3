"""dlib's face descriptor network (``dlib_face_recognition_resnet_model_v1.dat``) run by torch.

The wheel of dlib on PyPI (``dlib-bin``) is built without BLAS: its ResNet takes ~55 ms of CPU a face chip
(AMD EPYC, one core), and on a group photo the descriptor is 70-80% of a ``who``. The same network in torch
(oneDNN convolutions, fp32) gives the same 128 numbers (max abs difference 4e-7 on norms ~1.5 over 40 ORL
faces; pinned by a test against dlib itself) 14x faster: 5.8 against 81 ms a chip on one thread at load 7. :class:`pictorch.tasks.identify.descriptor.DlibFaceEmbedder`
uses it for batches of faces (and whenever torch is loaded anyway); one face on one photo stays in dlib, so
that ``who`` does not pay torch's import (~1 s).

The file is read here, not by dlib: dlib's serialization writes the network from the input layer up (each
layer after the layers below it) as its detail records (``"con_4"``, ``"affine_"``, ``"relu_"``,
``"max_pool_2"``, ``"avg_pool_2"``, ``"add_prev_"``, ``"fc_2"``), integers as a byte count then little-endian
bytes, and parameter tensors as four sizes then little-endian float32. The layer sequence is checked against
the network the file must hold (29 convolutions, 14 residual additions, one 128-output linear layer); any
other file is refused. Architecture (dlib's ``dnn_face_recognition_ex`` network): a 7×7/2 convolution, 3×3/2
max pooling, residual blocks of two 3×3 convolutions each followed by a per-channel affine layer (frozen batch
norm), with 32, 64, 128, 256 and 256 filters; a downsampling block adds its input average-pooled 2×2/2, and
dlib's addition of tensors of different sizes sums them where both exist (the smaller one zero-padded at the
end of each axis); global average pooling; a 128-output linear layer without bias; no normalization.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pictorch.errors import PictorchError
from pictorch.utils import article

_NAME = re.compile(rb"\x01([\x03-\x20])(con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_|fc_2|"
                   rb"input_rgb_image_sized|loss_metric_2)")


class _Reader:
    """dlib's serialized integers, floats and tensors from a byte buffer."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos

    def int(self) -> int:
        head = self.buf[self.pos]
        n, neg = head & 0x0F, bool(head & 0x80)
        if n > 8:
            raise ValueError(f"bad integer header {head:#x} at {self.pos}")
        v = int.from_bytes(self.buf[self.pos + 1:self.pos + 1 + n], "little")
        self.pos += 1 + n
        return -v if neg else v

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()  # dlib's portable float: mantissa * 2**exponent
        return float(mantissa) * 2.0 ** exponent

    def tensor(self) -> np.ndarray:
        if self.int() != 2:
            raise ValueError(f"unknown tensor version at {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        out = np.frombuffer(self.buf, "<f4", count, self.pos).reshape(shape).astype(np.float32)
        self.pos += 4 * count
        return out


@dataclass
class _Layer:
    kind: str
    params: np.ndarray | None = None
    ints: list[int] = field(default_factory=list)


def read_layers(path: str | Path) -> tuple[tuple[float, float, float], list[_Layer]]:
    """The input layer's channel means and the layers of a dlib ResNet file, from the input upwards."""
    buf = Path(path).read_bytes()
    means: tuple[float, float, float] | None = None
    layers: list[_Layer] = []
    for m in _NAME.finditer(buf):
        kind = m.group(2).decode()
        if m.group(1)[0] != len(kind):
            continue
        r = _Reader(buf, m.end())
        if kind == "input_rgb_image_sized":
            means = (r.float(), r.float(), r.float())
        elif kind == "con_4":
            params = r.tensor()
            layers.append(_Layer(kind, params, [r.int() for _ in range(7)]))  # filters nr nc sy sx py px
        elif kind == "affine_":
            layers.append(_Layer(kind, r.tensor()))
        elif kind in ("max_pool_2", "avg_pool_2"):
            layers.append(_Layer(kind, None, [r.int() for _ in range(6)]))  # nr nc sy sx py px
        elif kind == "fc_2":
            n_out, n_in = r.int(), r.int()
            layers.append(_Layer(kind, r.tensor(), [n_out, n_in]))
        elif kind in ("relu_", "add_prev_"):
            layers.append(_Layer(kind))
    if means is None:
        raise ValueError("no input layer")
    return means, layers


def _dlib_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum where both tensors exist, each zero-padded to the larger size per axis."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape, strict=True)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1]))

    return pad(a) + pad(b)


class _Block(nn.Module):
    """conv → affine → relu → conv → affine, plus the input (average-pooled when downsampling), then relu."""

    def __init__(self, convs: list[_Layer], affines: list[_Layer], pool: list[int] | None):
        super().__init__()
        self.conv1, self.conv2 = _conv(convs[0], affines[0]), _conv(convs[1], affines[1])
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(torch.relu(self.conv1(x)))
        skip = x
        if self.pool is not None:
            nr, nc, sy, sx, py, px = self.pool
            skip = F.avg_pool2d(x, (nr, nc), (sy, sx), (py, px), count_include_pad=False)
        return torch.relu(_dlib_add(y, skip))


def _conv(layer: _Layer, affine: _Layer) -> nn.Conv2d:
    """A convolution with the per-channel affine layer after it folded in (w·γ, b·γ + β): the same numbers to
    float rounding (~1e-7), without a pass over the activations (the affine passes took a third of the time)."""
    filters, nr, nc, sy, sx, py, px = layer.ints
    p = torch.from_numpy(layer.params.reshape(-1)).double()
    a = torch.from_numpy(affine.params.reshape(-1)).double()
    gamma, beta = a[:filters], a[filters:]
    if a.numel() != 2 * filters:
        raise ValueError(f"affine layer of {a.numel() // 2} channels after {article(filters)}-filter convolution")
    n_w = p.numel() - filters
    k_in = n_w // (filters * nr * nc)
    conv = nn.Conv2d(k_in, filters, (nr, nc), (sy, sx), (py, px), bias=True)
    with torch.no_grad():
        conv.weight.copy_(p[:n_w].view(filters, k_in, nr, nc) * gamma.view(-1, 1, 1, 1))
        conv.bias.copy_(p[n_w:] * gamma + beta)
    conv.requires_grad_(False)
    return conv


class DlibResNet(nn.Module):
    """dlib's face ResNet: uint8 N×3×150×150 RGB aligned chips -> float32 N×128 raw descriptors.

    Args:
        path: ``dlib_face_recognition_resnet_model_v1.dat``.

    Raises:
        PictorchError: The file is not that network.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        try:
            means, layers = read_layers(path)
        except (ValueError, IndexError, struct.error) as e:
            raise PictorchError(f"{path}: not a dlib face ResNet file ({e})") from None
        kinds = [lay.kind for lay in layers]
        if (kinds.count("con_4"), kinds.count("affine_"), kinds.count("add_prev_"), kinds[-1:]) != (29, 29, 14,
                                                                                                    ["fc_2"]):
            raise PictorchError(f"{path}: not dlib's face ResNet (layers {kinds[:6]}...)")
        self.register_buffer("mean", torch.tensor(means, dtype=torch.float32).view(1, 3, 1, 1))
        it = iter(layers)
        stem, aff, _relu, pool = next(it), next(it), next(it), next(it)
        if (stem.kind, aff.kind, pool.kind) != ("con_4", "affine_", "max_pool_2"):
            raise PictorchError(f"{path}: unexpected stem {kinds[:4]}")
        try:
            self.stem, self.stem_pool = _conv(stem, aff), pool.ints
        except ValueError as e:
            raise PictorchError(f"{path}: not dlib's face ResNet ({e})") from None
        blocks: list[_Block] = []
        rest = layers[4:]
        i = 0
        while rest[i].kind == "con_4":  # con affine relu con affine [avg_pool] add_prev relu
            convs, affs = [rest[i], rest[i + 3]], [rest[i + 1], rest[i + 4]]
            j = i + 5
            down = None
            if rest[j].kind == "avg_pool_2":
                down, j = rest[j].ints, j + 1
            if rest[j].kind != "add_prev_" or rest[j + 1].kind != "relu_":
                raise PictorchError(f"{path}: unexpected residual block at layer {i + 4}")
            blocks.append(_Block(convs, affs, down))
            i = j + 2
        self.blocks = nn.Sequential(*blocks)
        fc = rest[i + 1] if rest[i].kind == "avg_pool_2" else None
        if fc is None or fc.kind != "fc_2" or len(blocks) != 14:
            raise PictorchError(f"{path}: unexpected head {kinds[-3:]}")
        n_out, n_in = fc.ints
        self.register_buffer("fc", torch.from_numpy(fc.params.reshape(n_in, n_out)).clone())

    @torch.inference_mode()
    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.float() - self.mean) / 256.0  # dlib's input_rgb_image: (pixel - channel mean) / 256
        x = torch.relu(self.stem(x))
        nr, nc, sy, sx, py, px = self.stem_pool
        x = F.max_pool2d(x, (nr, nc), (sy, sx), (py, px))
        x = self.blocks(x)
        return x.mean(dim=(2, 3)) @ self.fc


@functools.cache
def load(path: str) -> DlibResNet:
    """The network of ``path``, read once per process (eval mode, no gradients)."""
    return DlibResNet(path).eval()


__all__ = ["DlibResNet", "load", "read_layers"]
