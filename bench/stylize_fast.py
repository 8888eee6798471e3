"""Fast style transfer inference speed: the eager TransformerNet (pytorch/examples layout) beside faster runtimes,
in the same process, at 512² and 1024².

Candidates: eager float32 (the baseline), eager bf16 autocast (only where the CPU has native bf16),
``torch.compile`` (inductor), onnxruntime float32, onnxruntime int8 (static QDQ quantisation, calibrated on
real photo crops; VNNI-accelerated where the CPU has it). Each figure is the median of ``--reps`` timed runs
after a warm-up; the output's PSNR against eager float32 says what the speed costs. Target: >= 2× eager.

Run: ``PYTHONPATH=src nice python bench/stylize_fast.py [--ckpt RUN] [--sizes 512,1024 --reps 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _common import cpu_model  # bench/ is on sys.path when a bench runs


def timed(fn: Callable[[], np.ndarray], reps: int) -> tuple[float, np.ndarray]:
    out = fn()  # warm-up (compilation, allocation)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def photo(size: int) -> np.ndarray:
    import skimage.data
    from PIL import Image

    im = Image.fromarray(skimage.data.astronaut()).resize((size, size), Image.BICUBIC)
    return (np.asarray(im, dtype=np.float32) / 255).transpose(2, 0, 1)[None].copy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=None, help="A trained stylize run (default: random weights; speed only).")
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", default="", help="Comma-separated candidates to skip (compile, int8, bf16, ort).")
    args = ap.parse_args()
    from _common import env_line  # CPU model, ISA (and env caps), threads, load

    print(env_line(), flush=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from pictorch.tasks.stylize.models import TransformerNet
    from pictorch.utils import cpu_supports_bf16

    skip = set(args.skip.split(","))
    if args.ckpt:
        from pictorch.tasks.stylize.api import load_stylizer

        model, _ = load_stylizer(args.ckpt)
    else:
        model = TransformerNet()
    model = model.float().eval()
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    tmp = Path(tempfile.mkdtemp())
    onnx_path = tmp / "fast.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 3, 256, 256),), str(onnx_path), input_names=["image"],
                          output_names=["stylized"], opset_version=17, dynamo=False,
                          dynamic_axes={"image": {2: "h", 3: "w"}, "stylized": {2: "h", 3: "w"}})
    sessions = {}
    if "ort" not in skip:
        sessions["onnxruntime fp32"] = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    if "int8" not in skip:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.items = iter([{"image": photo(256)}, {"image": photo(256)[..., ::-1].copy()}])

            def get_next(self):
                return next(self.items, None)

        q_path = tmp / "fast_int8.onnx"
        quantize_static(str(onnx_path), str(q_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"])
        sessions["onnxruntime int8"] = ort.InferenceSession(str(q_path), so, providers=["CPUExecutionProvider"])
    compiled = None
    if "compile" not in skip:
        compiled = torch.compile(model)
    load0 = os.getloadavg()
    print(f"cpu: {cpu_model()}, torch {torch.__version__} ATen {torch.backends.cpu.get_cpu_capability()}, "
          f"threads {args.threads}, native bf16 {cpu_supports_bf16()}, load {load0}", flush=True)
    for size in [int(s) for s in args.sizes.split(",")]:
        x = photo(size)
        xt = torch.from_numpy(x)
        cands: dict[str, Callable[[], np.ndarray]] = {}
        with torch.inference_mode():
            cands["eager fp32 (baseline)"] = lambda xt=xt: model(xt).numpy()
            if "bf16" not in skip and cpu_supports_bf16():
                def bf16(xt: torch.Tensor = xt) -> np.ndarray:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return model(xt).float().numpy()
                cands["eager bf16 autocast"] = bf16
            if compiled is not None:
                cands["torch.compile fp32"] = lambda xt=xt: compiled(xt).numpy()
            for name, sess in sessions.items():
                cands[name] = lambda sess=sess, x=x: sess.run(None, {"image": x})[0]
            base_t, base_out = None, None
            for name, fn in cands.items():
                la = os.getloadavg()[0]
                try:
                    t, out = timed(fn, args.reps)
                except Exception as e:  # noqa: BLE001 - a runtime that fails is reported, not fatal
                    print(f"{size}²  {name:<24} failed: {e.__class__.__name__}: {str(e)[:120]}", flush=True)
                    continue
                if base_t is None:
                    base_t, base_out = t, out
                print(f"{size}²  {name:<24} {t:7.3f} s  {base_t / t:5.2f}× eager  PSNR vs eager "
                      f"{psnr(out, base_out):6.1f} dB  load {la:.2f}", flush=True)


if __name__ == "__main__":
    main()
