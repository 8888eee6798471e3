"""Autoencoder models: linear AE = PCA, every variant learns, max-unpooling uses the saved indices, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pictorch.errors import ConfigError
from pictorch.nn.blocks import MaxPoolWithIndices, Unpool
from pictorch.tasks.autoencode.corruption import parse_corruption
from pictorch.tasks.autoencode.models import ConvAutoencoder, create_autoencoder
from pictorch.tasks.autoencode.steps import AutoencodeConfig, AutoencodeTask

TORCH_THREADS = 1  # one intra-op thread (see tests/conftest.py)


def _blobs(n: int = 64, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Soft discs and bars at random places: structured images an autoencoder can compress."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    cy = torch.rand(n, 1, 1, generator=g) * (size - 6) + 3
    cx = torch.rand(n, 1, 1, generator=g) * (size - 6) + 3
    r = torch.rand(n, 1, 1, generator=g) * 3 + 2
    disc = torch.sigmoid((r - ((ys - cy) ** 2 + (xs - cx) ** 2).sqrt()) * 2)
    bar = torch.sigmoid((2 - (xs - cy).abs()) * 2) * (torch.rand(n, 1, 1, generator=g) > 0.5)
    return (0.8 * disc + 0.4 * bar).clamp(0, 1).unsqueeze(1)


@pytest.mark.learns
def test_linear_autoencoder_matches_pca():
    from sklearn.decomposition import PCA

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    d, k, n = 32, 4, 256
    # low-rank signal with a clear spectral gap + small isotropic noise
    basis = torch.linalg.qr(torch.randn(d, 6, generator=g))[0]
    scales = torch.tensor([3.0, 2.5, 2.0, 1.5, 0.4, 0.3])
    data = (torch.randn(n, 6, generator=g) * scales) @ basis.T + 0.05 * torch.randn(n, d, generator=g) + 0.7
    x = data.view(n, 1, 4, 8)
    pca = PCA(k).fit(data.numpy())
    pca_mse = float(((pca.inverse_transform(pca.transform(data.numpy())) - data.numpy()) ** 2).mean())

    model = create_autoencoder("linear", in_chans=1, image_size=[4, 8], code_size=k)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    # a decaying step size lets Adam settle in the optimum instead of hovering around it
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2000, eta_min=1e-5)
    for _ in range(2000):
        loss = nn.functional.mse_loss(model(x)["recon"], x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        ae_mse = float(nn.functional.mse_loss(model(x)["recon"], x))
    assert ae_mse == pytest.approx(pca_mse, rel=0.02)
    # and the decoder spans the principal subspace: projecting PCA's components onto it loses nothing
    w = model.decoder[0].weight.detach()  # d×k
    q = torch.linalg.qr(w)[0]
    comps = torch.from_numpy(pca.components_).float()  # k×d
    residual = comps - (comps @ q) @ q.T
    assert residual.norm() / comps.norm() < 0.05


VARIANTS = [
    ("linear", {}, None, None, "mse:1"),
    ("mlp", {"hidden": [64]}, None, None, "mse:1"),
    ("vae", {"hidden": [64]}, None, None, "bce:1"),
    ("conv", {"widths": [8, 16], "upsample": "nearest"}, None, None, "mse:1"),
    ("conv", {"widths": [8, 16], "upsample": "max"}, None, None, "mse:1"),
    ("conv", {"widths": [8, 16], "upsample": "transposed"}, None, None, "mse:1,ssim:0.2"),
    ("conv-vae", {"widths": [8, 16]}, None, None, "bce:1"),
    ("conv", {"widths": [8, 16]}, "gaussian:0.2", None, "mse:1"),
    ("conv", {"widths": [8, 16]}, "mask:0.25", None, "l1:1"),
    ("mlp", {"hidden": [64]}, "salt-pepper:0.1", "l1:1e-3", "mse:1"),
    ("mlp", {"hidden": [64]}, None, "kl:0.1:1e-3", "mse:1"),
]


@pytest.mark.parametrize("kind,extra,noise,sparse,loss", VARIANTS)
@pytest.mark.learns
def test_each_variant_learns_on_a_tiny_problem(kind, extra, noise, sparse, loss):
    torch.manual_seed(0)
    x = _blobs(64, 16)
    cfg = AutoencodeConfig(model=kind, code_size=8, noise=noise, sparse=sparse, loss=loss,
                           widths=",".join(str(w) for w in extra.get("widths", [8, 16])),
                           hidden=",".join(str(w) for w in extra.get("hidden", [64])), upsample=extra.get("upsample", "nearest"),
                           kl_weight=0.1)
    task = AutoencodeTask(cfg, in_chans=1, image_size=(16, 16))
    model = task.build()["model"]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def recon_error() -> float:
        model.eval()
        with torch.no_grad():
            x_in = x if not task.corruptions else parse_corruption(noise)[0](x, torch.Generator().manual_seed(1))
            err = float(nn.functional.mse_loss(model(x_in)["recon"], x))
        model.train()
        return err

    start = recon_error()
    for _ in range(150):
        res = task.compute_losses(model, x)
        opt.zero_grad()
        res["loss"].backward()
        opt.step()
    end = recon_error()
    assert end < 0.4 * start, (start, end)
    if kind in ("vae", "conv-vae"):
        assert "kl" in res and res["kl"] >= 0
    if sparse:
        assert "sparsity" in res


def test_max_unpool_puts_values_back_at_saved_indices():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 8, generator=g)
    pooled, idx = MaxPoolWithIndices(2)(x)
    up = Unpool("max")(pooled, indices=idx, output_size=x.shape)
    flat = up.flatten(2)
    # exactly the max of each 2x2 window is restored at its original position, zeros elsewhere
    expected = torch.zeros_like(flat).scatter_(2, idx.flatten(2), pooled.flatten(2))
    torch.testing.assert_close(flat, expected)
    assert int((up != 0).sum()) == pooled.numel()
    torch.testing.assert_close(up.flatten(2).gather(2, idx.flatten(2)), x.flatten(2).gather(2, idx.flatten(2)))


def test_conv_autoencoder_max_unpool_uses_encoder_indices():
    torch.manual_seed(0)
    model = ConvAutoencoder(in_chans=1, image_size=16, code_size=8, widths=[4, 8], upsample="max").eval()
    seen = {}
    model.pools[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("idx", o[1]))
    model.unpools[0].register_forward_hook(lambda m, i, o: seen.update(inp=i[0], out=o))
    model(torch.rand(2, 1, 16, 16))
    idx, inp, out = seen["idx"], seen["inp"], seen["out"]
    nonzero = out.flatten(2) != 0
    at_idx = torch.zeros_like(nonzero).scatter_(2, idx.flatten(2), True)
    assert not (nonzero & ~at_idx).any()  # nothing lands outside the saved argmax positions
    torch.testing.assert_close(out.flatten(2).gather(2, idx.flatten(2)), inp.flatten(2))


def test_odd_image_sizes_and_shapes():
    for size in ([28, 28], [15, 17], [9, 9]):
        for up in ("nearest", "max", "transposed"):
            m = create_autoencoder("conv", in_chans=3, image_size=size, code_size=5, widths=[4, 8], upsample=up)
            with torch.no_grad():
                y = m(torch.rand(2, 3, *size))["recon"]
            assert y.shape == (2, 3, *size) and 0 <= float(y.min()) and float(y.max()) <= 1


def test_bad_inputs_have_clear_messages():
    m = create_autoencoder("conv", in_chans=1, image_size=28, code_size=8, widths=[4, 8])
    with pytest.raises(ConfigError, match="takes 1×28×28.*resize"):
        m(torch.rand(1, 1, 32, 32))
    with pytest.raises(ConfigError, match="codes must be N×8"):
        m.decode(torch.rand(2, 9))
    with pytest.raises(ConfigError, match="larger than the input"):
        create_autoencoder("mlp", in_chans=1, image_size=4, code_size=17)
    create_autoencoder("mlp", in_chans=1, image_size=4, code_size=17, allow_overcomplete=True)
    with pytest.raises(ConfigError, match="unknown upsampling"):
        create_autoencoder("conv", upsample="bilinear")
    with pytest.raises(ConfigError, match="unknown autoencoder"):
        create_autoencoder("resnet18")
    with pytest.raises(ConfigError, match="unknown --model"):
        AutoencodeConfig(model="gan")


def test_registry_rebuilds_from_spec(tmp_path):
    from pictorch.engine.checkpoint import load_model, save_checkpoint

    m = create_autoencoder("conv_vae", in_chans=1, image_size=[12, 12], code_size=6, widths=[4])
    save_checkpoint(tmp_path / "m.safetensors", m, {"task": "autoencode"})
    m2 = load_model(tmp_path / "m.safetensors", task="autoencode")
    x = torch.rand(2, 1, 12, 12)
    m.eval()
    torch.testing.assert_close(m.encode(x), m2.encode(x))
