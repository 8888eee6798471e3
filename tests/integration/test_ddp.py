"""A 2-process CPU (gloo) DDP run through the trainer: both ranks step in sync and rank 0 writes one checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent('''
    import sys, torch
    from torch import nn
    from pictorch.engine.config import TrainConfig
    from pictorch.engine.trainer import Trainer, TrainTask

    class Shard:
        """Each rank must see its own half of the data."""
        def __init__(self):
            self.x = torch.arange(64.0).reshape(32, 2)
            self.rank, self.world = 0, 1
        def shard(self, rank, world):
            self.rank, self.world = rank, world
        def __iter__(self):
            part = self.x[self.rank::self.world]
            for i in range(0, len(part), 4):
                yield {"x": part[i:i + 4]}

    class Task(TrainTask):
        task_name = "ddptest"
        def build(self):
            torch.manual_seed(0)
            return {"model": nn.Linear(2, 1)}
        def configure_optimizers(self, modules):
            return {"opt": torch.optim.SGD(modules["model"].parameters(), lr=1e-4)}
        def training_step(self, ctx, batch):
            loss = ctx.modules["model"](batch["x"]).pow(2).mean()
            ctx.optimizers["opt"].zero_grad()
            ctx.backward(loss)
            ctx.optimizers["opt"].step()
            return {"loss": loss.detach(), "seen": batch["x"][:, 0].sum().detach()}

    out = sys.argv[1]
    cfg = TrainConfig(out_dir=out, steps=4, log_every=2, precision="32-true", accelerator="cpu", devices=2,
                      progress=False)
    tr = Trainer(cfg)
    res = tr.fit(Task(), Shard())
    w = [p.detach().clone() for p in res["modules"]["model"].parameters()]
    torch.save(w, f"{out}/rank{tr.fabric.global_rank}.pt")
''')


def test_two_process_ddp_step(tmp_path: Path):
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    r = subprocess.run([sys.executable, str(script), str(out)], env=env, capture_output=True, text=True,
                       timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    import torch

    w0, w1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    for a, b in zip(w0, w1, strict=True):
        torch.testing.assert_close(a, b)  # gradients were all-reduced: replicas identical
    from pictorch.engine.checkpoint import load_checkpoint

    ck = load_checkpoint(out)
    assert ck.meta["step"] == 4 and ck.meta["task"] == "ddptest"
    assert set(ck.state_dicts["model"]) == {"weight", "bias"}  # saved unwrapped (no module./_forward_module.)
