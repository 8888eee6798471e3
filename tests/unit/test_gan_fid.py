"""FID / KID / precision-recall against brute-force references; feature-net plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from pictorch.errors import ConfigError, WeightsError
from pictorch.metrics.fid import (
    FeatureNet,
    InceptionFeatures,
    fid_from_features,
    frechet_distance,
    inception_feature_net,
    kid,
    mmd2_unbiased,
    precision_recall,
)


def _brute_fid(x, y):
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_matches_scipy_on_small_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(loc=0.7, size=(300, 5)) @ rng.normal(size=(5, 5))
    assert fid_from_features(a, b) == pytest.approx(_brute_fid(a, b), rel=1e-6)
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_closed_form():
    # 1-D: (μ1−μ2)² + σ1² + σ2² − 2σ1σ2 = (μ1−μ2)² + (σ1−σ2)²
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    # commuting diagonal covariances: Σ (√a − √b)²
    d = frechet_distance(np.zeros(3), np.diag([1.0, 4, 9]), np.ones(3), np.diag([4.0, 4, 1]))
    assert d == pytest.approx(3 + 1 + 0 + 4)


def test_kid_unbiased_estimator_on_hand_built_features():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)

    def k(a, b):
        return (a @ b / 2 + 1) ** 3

    kxx = sum(k(x[i], x[j]) for i in range(3) for j in range(3) if i != j) / 6
    kyy = sum(k(y[i], y[j]) for i in range(2) for j in range(2) if i != j) / 2
    kxy = sum(k(x[i], y[j]) for i in range(3) for j in range(2)) / 6
    assert mmd2_unbiased(x.double(), y.double()) == pytest.approx(float(kxx + kyy - 2 * kxy), rel=1e-9)
    assert kid(x, y, subset_size=1000)[0] == pytest.approx(float(kxx + kyy - 2 * kxy), rel=1e-9)


def test_kid_is_unbiased_for_equal_distributions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    mean, std = kid(a, b, num_subsets=20, subset_size=200)
    assert abs(mean) < 3 * std + 1e-3  # centred on 0 (a biased estimator would be clearly positive)
    far, _ = kid(a, b + 1.0, num_subsets=20, subset_size=200)
    assert far > 10 * abs(mean)


def test_precision_recall_on_constructed_sets():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 4, generator=g)
    same = precision_recall(real, real.clone(), k=3)
    assert same == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(real, real + 100.0, k=3)
    assert far == {"precision": 0.0, "recall": 0.0}
    # a generator covering only half the data: precise but low recall
    half = real[real[:, 0] > 0]
    pr = precision_recall(real, half, k=3)
    assert pr["precision"] == 1.0 and 0.3 < pr["recall"] < 0.75
    with pytest.raises(ConfigError):
        precision_recall(real[:2], real[:2], k=3)


class _TinyBackbone(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 2)
        self.num_classes = 2
        self.seen = None

    def forward_features(self, x):
        self.seen = x
        return self.conv(x)

    def forward_head(self, x, pre_logits=False):
        f = x.mean((2, 3))
        return f if pre_logits else self.fc(f)


def test_feature_net_adapts_channels_size_and_range():
    m = _TinyBackbone()
    fn = FeatureNet(m, (16, 16), 3, (0.5,) * 3, (0.5,) * 3, ["a", "b"], "tiny")
    gen = torch.rand(5, 1, 28, 28) * 2 - 1  # generator output in [-1, 1]
    feats, logits = fn.features_and_logits(gen, batch_size=2, logits=True)
    assert feats.shape == (5, 4) and feats.dtype == torch.float64 and logits.shape == (5, 2)
    assert m.seen.shape[1:] == (3, 16, 16) and m.seen.min() >= -1.001 and m.seen.max() <= 1.001
    u8 = ((gen + 1) * 127.5).round().to(torch.uint8)
    torch.testing.assert_close(fn.features(u8), feats, atol=0.05, rtol=0.05)


def test_inception_from_local_file(tmp_path):
    with pytest.raises(WeightsError, match="cannot be downloaded here"):
        inception_feature_net(tmp_path / "missing.pth")
    net = InceptionFeatures()
    sd = {k: v for k, v in net.state_dict().items()}
    sd["fc.weight"] = torch.zeros(1008, 2048)  # extra classifier weights in the real file are ignored
    torch.save(sd, tmp_path / "inc.pth")
    fn = inception_feature_net(tmp_path / "inc.pth")
    assert fn.input_size == (299, 299)
    f = fn.features(torch.rand(2, 1, 28, 28) * 2 - 1)
    assert f.shape == (2, 2048) and torch.isfinite(f).all()
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="not Inception-v3 weights"):
        inception_feature_net(tmp_path / "bad.pth")


class _IntensityClassifier(torch.nn.Module):
    """A fixed 'classifier' of constant-intensity images: class k is intensity CENTERS[k] on [0, 1] pixels."""

    CENTERS = (0.15, 0.5, 0.85)

    def __init__(self, classes_order=(0, 1, 2)):
        super().__init__()
        self.order = list(classes_order)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.num_classes = 3

    def forward_features(self, x):
        return x * 0.5 + 0.5  # the feature net's normalization (mean 0.5, std 0.5) undone: [0, 1] pixels

    def forward_head(self, x, pre_logits=False):
        m = x.mean((1, 2, 3))[:, None]
        if pre_logits:
            return torch.cat([m, x.std((1, 2, 3))[:, None]], 1)
        c = torch.tensor([self.CENTERS[k] for k in self.order])[None]
        return -((m - c) ** 2) * 100


def _intensity_images(y, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor(_IntensityClassifier.CENTERS)[y]
    x = centers[:, None, None, None] + 0.03 * torch.randn(len(y), 1, 28, 28, generator=g)
    return x.clamp(0, 1)


class _LookupG(torch.nn.Module):
    """A 'generator' drawing constant-intensity images of the asked class (or of a random class)."""

    def __init__(self, follow=True):
        super().__init__()
        self.follow = follow

    def forward(self, z, y):
        yy = y if self.follow else torch.randint(0, 3, y.shape, generator=torch.Generator().manual_seed(5))
        return _intensity_images(yy, seed=int(z.abs().sum() * 1000) % 1000) * 2 - 1  # [-1, 1]


@pytest.mark.parametrize("follow", [True, False])
def test_consistency_counts_samples_that_follow_labels(tmp_path, monkeypatch, follow):
    """evaluate's conditional consistency: real images score the classifier's accuracy, label-following samples
    score it too, label-ignoring ones score chance; feature-net classes are matched by name, not position."""
    from PIL import Image

    from pictorch.metrics import fid as fid_mod
    from pictorch.metrics.fid import FeatureNet
    from pictorch.tasks.generate import api

    names = ["dark", "grey", "light"]
    y = torch.arange(90) % 3
    real = _intensity_images(y, seed=1)
    for i, (img, lab) in enumerate(zip(real, y, strict=True)):
        d = tmp_path / "data" / names[int(lab)]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img[0] * 255).round().to(torch.uint8).numpy()).save(d / f"{i:03d}.png")
    # the feature net lists its classes in another order than the GAN: the mapping goes by name
    order = (2, 0, 1)
    net = _IntensityClassifier(order)
    fn = FeatureNet(net, (28, 28), 1, (0.5,), (0.5,), [names[k] for k in order], "intensity")
    monkeypatch.setattr(fid_mod, "load_feature_net", lambda spec, device="cpu": fn)
    meta = {"z_dim": 4, "z_dist": "normal", "conditional": True, "classes": names, "sample_shape": [1, 28, 28],
            "image_size": 28, "channels": 1, "data": str(tmp_path / "data"), "model": "cdcgan"}
    gan = api.GAN(G=_LookupG(follow), D=None, meta=meta, path=tmp_path, classes=names)
    from pictorch.tasks.generate import reports

    monkeypatch.setattr(reports, "load_gan", lambda path, device="cpu": gan)  # evaluate lives in reports.py
    rep = api.evaluate(tmp_path, feature_net="x", n=40, out=tmp_path / "eval.json")
    acc = rep["conditional_consistency"]["accuracy"]
    if follow:
        assert acc == 1.0 and set(rep["conditional_consistency"]["per_class"]) == set(names)
    else:
        assert acc < 0.6
    # and on the real images themselves, the metric equals the classifier's accuracy
    _, logits = fn.features_and_logits(real * 2 - 1, logits=True)
    cc = api._consistency(gan, fn, y, logits)
    direct = (torch.tensor(order)[logits.argmax(1)] == y).float().mean()
    assert cc["accuracy"] == pytest.approx(float(direct)) and cc["accuracy"] == 1.0


def test_default_feature_net_is_trained_once_and_cached(tmp_path, monkeypatch):
    from PIL import Image

    from pictorch.tasks.generate import api

    monkeypatch.setenv("PICTORCH_HOME", str(tmp_path / "home"))
    y = torch.arange(48) % 3
    for i, (img, lab) in enumerate(zip(_intensity_images(y), y, strict=True)):
        d = tmp_path / "data" / f"c{int(lab)}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img[0] * 255).round().to(torch.uint8).numpy()).save(d / f"{i:03d}.png")
    calls = []
    real_train = api.train_feature_net

    def counting(*a, **kw):
        calls.append(kw.get("max_seconds"))
        return real_train(*a, **kw)

    from pictorch.tasks.generate import reports

    monkeypatch.setattr(reports, "train_feature_net", counting)
    p1 = api.default_feature_net(str(tmp_path / "data"), image_size=28, channels=1, seconds=1.0, width=4, batch_size=16)
    p2 = api.default_feature_net(str(tmp_path / "data"), image_size=28, channels=1, seconds=1.0, width=4, batch_size=16)
    assert p1 == p2 and p1.exists() and calls == [1.0]
    assert str(p1).startswith(str(tmp_path / "home" / "featnets"))
    from pictorch.metrics.fid import load_feature_net

    assert load_feature_net(str(p1)).classes == ["c0", "c1", "c2"]
    # the default feature net is an ordinary classify checkpoint: classify's own loader reads it (it used to end
    # in "KeyError: 'image_size'"), and it classifies the images it was trained on
    from pictorch.tasks.classify import api as classify

    clf = classify.load(str(p1))
    probs = clf.predict_proba((_intensity_images(y) * 255).round().to(torch.uint8))
    assert probs.shape == (48, 3) and torch.isfinite(torch.as_tensor(probs)).all()
    assert load_feature_net(str(p1)).input_size == (28, 28)
