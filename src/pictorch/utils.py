"""Small shared helpers: atomic file writes, seeding, hardware capability checks."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[tuple[int, str]]:
    """A temp file next to ``path`` (its fd and name), renamed over ``path`` when the block succeeds and
    removed when it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        yield fd, tmp
        _usual_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file next to ``path``; on success fsync and rename it over ``path``.

    A crash or Ctrl-C at any point leaves either the old file or the new one, never a partial one.
    """
    with _temp_beside(Path(path)) as (fd, _tmp), os.fdopen(fd, mode) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def _usual_mode(tmp: str, path: Path) -> None:
    """Give the temp file the mode a plain ``open()`` would: mkstemp makes it 0600, so every picture, report and
    checkpoint written atomically was unreadable to the group and others (a web server, a colleague)."""
    try:
        mode = path.stat().st_mode & 0o777  # replacing a file keeps its mode
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with contextlib.suppress(OSError):
        os.chmod(tmp, mode)


def atomic_save(path: str | os.PathLike, writer: Callable[[str], None]) -> None:
    """Run ``writer(tmp_path)`` (a library that insists on writing a path itself) then rename atomically."""
    with _temp_beside(Path(path)) as (fd, tmp):
        os.close(fd)
        writer(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())


def atomic_download(path: str | os.PathLike, fetch: Callable[[IO[bytes]], None],
                    verify: Callable[[str], None] | None = None) -> Path:
    """Download into ``path`` only once the bytes are known good: ``fetch(fh)`` streams them into a temp file
    beside it, ``verify(tmp_path)`` checks them (it raises to refuse: nothing is left behind), then the rename.

    The one download road of the dataset and weight fetchers (both had their own copy of it).
    """
    with _temp_beside(Path(path)) as (fd, tmp):
        with os.fdopen(fd, "wb") as f:
            fetch(f)
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(tmp)
    return Path(path)


def free_path(path: str | os.PathLike, first: int = 1) -> Path:
    """``path``, or ``stem-<first>.ext``, ``stem-<first + 1>.ext``, ... whichever does not exist yet: results are
    written beside earlier ones, never over them."""
    p = Path(path)
    if not p.exists():
        return p
    i = first
    while (cand := p.with_name(f"{p.stem}-{i}{p.suffix}")).exists():
        i += 1
    return cand


#: Output names claimed by :func:`reserve_free_path` and not yet known to be filled (see :func:`release_reserved`).
_RESERVED: list[Path] = []


def reserve_free_path(path: str | os.PathLike, folder: bool = False) -> Path:
    """:func:`free_path`, claimed atomically: the name is created (an empty file, or the folder) so two runs
    started together never pick the same ``samples-1.png`` and one silently replace the other's result.

    The writer then replaces the placeholder (atomic writes) or fills the folder; :func:`release_reserved`
    removes placeholders a failed run left empty.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cand, i = p, 0
    while True:
        try:
            if folder:
                cand.mkdir()
            else:
                os.close(os.open(cand, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            _RESERVED.append(cand)
            return cand
        except FileExistsError:
            i += 1
            cand = p.with_name(f"{p.stem}-{i}{p.suffix}")


def release_reserved() -> None:
    """Forget the names :func:`reserve_free_path` claimed, removing those still empty (their run failed)."""
    while _RESERVED:
        p = _RESERVED.pop()
        with contextlib.suppress(OSError):
            if p.is_dir():
                p.rmdir()  # only when empty
            elif p.stat().st_size == 0:
                p.unlink()


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally ask torch for deterministic kernels."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (the one file hash of the project)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tensors_sha256(tensors: Any, prefix: bytes = b"") -> str:
    """Hex SHA-256 over named tensors (sorted by name: name, dtype, shape and raw bytes of each).

    Any dtype (bf16 included) hashes by its bytes; the same weights give the same digest on any machine.
    """
    import hashlib

    import torch

    h = hashlib.sha256(prefix)
    for k in sorted(tensors):
        t = tensors[k].detach().to("cpu").contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _cpu_flags() -> str:
    """The CPU feature flags the kernel reports ("" where /proc/cpuinfo is missing)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX), so bf16-mixed pays off.

    Without it bf16 is emulated: on a 2-core AMD EPYC with AVX2/FMA only, bf16-mixed trained the small CNN
    at 64 img/s against 572 img/s in fp32, and ResNet-18 at 7 against 101 (issue 20's measurements).
    """
    # oneDNN runs the convolutions and matmuls: capped below AVX512-BF16 (ONEDNN_MAX_CPU_ISA=AVX2, as on an
    # AVX2-only CPU), it emulates bf16 whatever the CPU has
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap and cap not in ("ALL", "DEFAULT") and "BF16" not in cap and "AMX" not in cap and "FP16" not in cap:
        return False
    flags = _cpu_flags()
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        return True
    import torch

    probe = getattr(torch.backends.cpu, "get_cpu_capability", None)
    return bool(probe and "AMX" in str(probe()))


def cpu_kind() -> dict[str, Any]:
    """What this CPU runs torch's kernels with, for benches, ``pictorch info`` and per-CPU-kind tables.

    Returns a dict: ``model`` (the CPU's name), ``isa`` (the ISA the kernels use: "AMX", "AVX-512",
    "AVX2" or "baseline"; the lower of the CPU's own and the caps set by ``ATEN_CPU_CAPABILITY`` and
    ``ONEDNN_MAX_CPU_ISA``), ``native_isa`` (the CPU's own), ``bf16_native`` (:func:`cpu_supports_bf16`),
    ``capped`` (True when an environment cap lowered the ISA: an emulated smaller CPU) and ``kind``, a short
    key: "avx2" (no native bf16), "avx512" (AVX-512 without bf16), "avx512-bf16" or "amx".
    """
    import torch

    text = _cpu_flags()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 "") or (os.uname().machine if hasattr(os, "uname") else "?")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
                     []))
    order = ["baseline", "AVX2", "AVX-512", "AMX"]
    native = ("AMX" if "amx_bf16" in flags else "AVX-512" if "avx512f" in flags else
              "AVX2" if "avx2" in flags else "baseline")
    level = order.index(native)
    # torch's own vectorized kernels (element-wise, BN, reductions) follow ATEN_CPU_CAPABILITY; oneDNN's
    # convolutions and matmuls follow ONEDNN_MAX_CPU_ISA
    probe = getattr(torch.backends.cpu, "get_cpu_capability", None)
    aten = str(probe()).upper() if probe else ""
    if aten:
        level = min(level, 3 if "AMX" in aten else 2 if "AVX512" in aten else 1 if "AVX2" in aten else 0)
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap and cap not in ("ALL", "DEFAULT"):
        level = min(level, 3 if "AMX" in cap else 2 if "AVX512" in cap else 1 if "AVX2" in cap else 0)
    isa = order[level]
    bf16 = cpu_supports_bf16() and level >= 2
    kind = {"AMX": "amx", "AVX-512": "avx512-bf16" if bf16 else "avx512"}.get(isa, "avx2" if level == 1 else
                                                                              "baseline")
    return {"model": model, "isa": isa, "native_isa": native, "bf16_native": bf16,
            "capped": level < order.index(native), "kind": kind}


def resolve_device(device: str | None = "auto") -> Any:
    """``"auto"``/None -> cuda when available, else cpu; anything else -> ``torch.device(device)``."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def auto_precision(accelerator: str = "auto") -> str:
    """The default training precision.

    bf16-mixed on GPUs with bf16 (16-mixed on older ones) and on CPUs with native bf16 (AVX512-BF16 or AMX);
    32-true elsewhere. Measured on this project's AVX512-BF16 CPU without AMX (torch 2.13, oneDNN, one
    thread, channels_last, fwd+bwd+optimizer, fp32 and bf16 interleaved in one process): bf16 autocast trains
    the small CNN 2.1x, ResNet-18 1.8x, DCGAN 1.6x and the conv autoencoder 2.0x faster than fp32
    (``bench/train_throughput.py``). ``--precision 32-true`` is always honoured.
    """
    import torch

    if accelerator in ("auto", "cuda", "gpu") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if accelerator == "mps":
        return "32-true"
    return "bf16-mixed" if cpu_supports_bf16() else "32-true"


def precision_is_emulated(precision: str, accelerator: str = "auto") -> bool:
    """True for a bf16 precision on a CPU run where the CPU has no native bf16 (it would be emulated, slowly)."""
    import torch

    if "bf16" not in precision or (accelerator in ("auto", "cuda", "gpu") and torch.cuda.is_available()):
        return False
    return accelerator in ("auto", "cpu") and not cpu_supports_bf16()


def human_count(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}P"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 person``, ``2 people``; ``3 photos`` (``many`` defaults to ``word + 's'``)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


#: Letters whose spoken name starts with a vowel sound, for initialisms ("an FID", "an L1", "an RGB image").
_VOWEL_SOUND_LETTERS = set("AEFHILMNORSX")
#: Words that start with a vowel letter but a consonant sound, and with "h" but a vowel sound.
_A_BEFORE = ("uni", "unet", "u-net", "use", "usu", "ute", "uti", "eu", "one", "once", "ubi")
_AN_BEFORE = ("hour", "honest", "honor", "honour", "heir")


def article(word: object) -> str:
    """``word`` with its indefinite article: ``an 'identify' checkpoint`` is ``article("'identify'")
    + " checkpoint"``: "an" before a vowel sound (``an 8×8 image``, ``an 11-class model``, ``an FID``,
    ``an OrderedDict``), "a" otherwise (``a 'classify'``, ``a unet``, ``a 3×28×28 array``).

    Quotes and brackets in front of the word are skipped for the choice, not removed.
    """
    text = str(word)
    w = text.lstrip("'\"`([{ ")
    if not w:
        return f"a {text}"
    import re

    digits = re.match(r"\d+", w)
    if digits:
        d = digits.group(0)
        lead = int(d[: len(d) % 3 or 3])  # the number's first spoken group: 11 in 11,000, 18 in 18
        an = d[0] == "8" or lead in (11, 18)
    else:
        head = re.match(r"[A-Za-z]+", w)
        token = head.group(0) if head else w
        low = token.lower()
        if token.isupper() and len(token) <= 4 and len(token) > 1 or len(token) == 1 and token.isalpha():
            an = token[0].upper() in _VOWEL_SOUND_LETTERS  # spelled out: an FID, an L, a U-Net
        elif low.startswith(_AN_BEFORE):
            an = True
        elif low.startswith(_A_BEFORE):
            an = False
        else:
            an = low[:1] in ("a", "e", "i", "o", "u")
    return f"{'an' if an else 'a'} {text}"


def check_onnx_opset(opset: int) -> None:
    """One line for an ``--opset`` torch's TorchScript-based ONNX exporter (``dynamo=False``) cannot write:
    out of its range the exporter failed deep inside, after printing the whole graph ("unexpected ...")."""
    from pictorch.errors import ConfigError

    try:
        from torch.onnx import _constants as c

        lo, hi = int(c.ONNX_MIN_OPSET), int(getattr(c, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", c.ONNX_MAX_OPSET))
    except (ImportError, AttributeError):  # a torch without these private names: torch 2.x's range
        lo, hi = 7, 20
    if not lo <= int(opset) <= hi:
        raise ConfigError(f"--opset {opset}: this torch exports ONNX opsets {lo} to {hi}")


def fit_batch_size(requested: int, available: int, what: str = "training images", minimum: int = 1) -> int:
    """The batch size for ``available`` samples: ``requested``, lowered to what there is with a ``note:`` line
    (a small folder trains instead of being refused, as classify does). Fewer than ``minimum`` samples is left to
    the caller's loader to refuse."""
    import sys

    if available >= requested or available < minimum:
        return requested
    print(f"note: only {available} {what}: --batch-size lowered from {requested} to {available}",
          file=sys.stderr, flush=True)
    return available
