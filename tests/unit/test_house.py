"""One house for every capability: live run lengths, one --time-budget grammar, one thread policy."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from torch import nn

from pictorch.engine.config import TrainConfig
from pictorch.engine.hooks import Hook
from pictorch.engine.trainer import RunLength, Trainer, TrainTask
from pictorch.errors import ConfigError

TORCH_THREADS = 1


def test_run_length_is_the_plan_and_reads_the_live_total():
    ctx = types.SimpleNamespace(total_steps=100)
    n = RunLength(ctx)
    assert n == 100 and n // 20 == 5 and int(n) == 100  # static schedules see the plan
    ctx.total_steps = 40
    assert n() == 40 and n == 100  # called: the live length


class _Linear(TrainTask):
    task_name = "housetest"

    def __init__(self):
        self.seen: list[int] = []

    def build(self):
        return {"model": nn.Linear(2, 1)}

    def configure_optimizers(self, modules):
        return {"opt": torch.optim.SGD(modules["model"].parameters(), lr=0.1)}

    def configure_schedulers(self, optimizers, total_steps):
        def factor(step: int) -> float:
            self.seen.append(total_steps())
            return 1.0

        return {"opt": torch.optim.lr_scheduler.LambdaLR(optimizers["opt"], factor)}

    def training_step(self, ctx, batch):
        loss = ctx.modules["model"](batch["x"]).pow(2).mean()
        ctx.optimizers["opt"].zero_grad()
        ctx.backward(loss)
        ctx.optimizers["opt"].step()
        return {"loss": loss.detach()}


class _Shorten(Hook):
    def on_step(self, ctx, images):
        if ctx.step == 3:
            ctx.total_steps = 6


def test_a_schedule_follows_a_refitted_run_without_mirroring(tmp_path):
    task = _Linear()
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), steps=50, log_every=10, precision="32-true",
                      accelerator="cpu", progress=False)
    batches = [{"x": torch.randn(4, 2)} for _ in range(60)]
    res = Trainer(cfg, hooks=[_Shorten()]).fit(task, batches)
    assert res["step"] == 6
    assert task.seen[0] == 50 and task.seen[-1] == 6  # the lambda read the refit, no task attribute copied it


def test_identify_time_budget_takes_the_gan_grammar():
    from pictorch.tasks.identify.steps import IdentifyConfig

    assert IdentifyConfig(time_budget="5m").time_budget == 300.0
    assert IdentifyConfig(time_budget="90").time_budget == 90.0
    with pytest.raises(ConfigError):
        IdentifyConfig(time_budget="soon")


def test_classify_train_restores_the_callers_thread_count(monkeypatch):
    """classify.api.train runs inside engine.threads.cpu_threads: the count comes back, also after an error."""
    from pictorch.tasks.classify import api

    def boom(self, task, loader):
        torch.set_num_threads(1 if torch.get_num_threads() != 1 else 2)
        raise RuntimeError("stop")

    monkeypatch.setattr(Trainer, "fit", boom)
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.tasks.classify.steps import ClassifyConfig

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        api.train(ClassifyConfig(data="synthetic", val_split=0), TrainConfig(steps=2, progress=False),
                  data=synthetic_shapes(16, size=16, seed=0), tune_threads=False)
    assert torch.get_num_threads() == before


# -- one input record, one Predictor -------------------------------------------------------------------------


def _tcfg(tmp_path, name, **kw):
    return TrainConfig(out_dir=str(tmp_path / name), steps=2, batch_size=8, precision="32-true",
                       accelerator="cpu", progress=False, log_every=1, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny checkpoints of the tasks whose loaded model is a Predictor (2 steps each)."""
    from pictorch.data.synthetic import synthetic_shapes
    from pictorch.tasks.autoencode import api as ae_api
    from pictorch.tasks.autoencode.steps import AutoencodeConfig
    from pictorch.tasks.classify import api as clf_api
    from pictorch.tasks.classify.steps import ClassifyConfig
    from pictorch.tasks.segment import api as seg_api
    from pictorch.tasks.segment.steps import SegmentConfig

    tmp = tmp_path_factory.mktemp("house")
    out = {}
    out["classify"] = clf_api.train(ClassifyConfig(data="synthetic", val_split=0, augment="none"),
                                    _tcfg(tmp, "clf"), data=synthetic_shapes(32, size=16, channels=3, seed=0),
                                    tune_threads=False)["checkpoint"]
    out["autoencode"] = ae_api.train(AutoencodeConfig(data="synthetic", limit=32, model="mlp", code_size=4,
                                                      hidden="16", val_images=8),
                                     _tcfg(tmp, "ae"))["checkpoint"]
    out["segment"] = seg_api.train(SegmentConfig(data="synthetic", limit=8, model_kwargs={"width": 4}, crop=32),
                                   _tcfg(tmp, "seg"))["checkpoint"]
    return out


def _loader(task):
    from pictorch.tasks.autoencode.inference import TrainedAutoencoder
    from pictorch.tasks.classify.inference import TrainedClassifier
    from pictorch.tasks.segment.inference import Segmenter

    return {"classify": TrainedClassifier, "autoencode": TrainedAutoencoder, "segment": Segmenter}[task]


@pytest.mark.parametrize("task", ["classify", "autoencode", "segment"])
def test_every_checkpoint_carries_the_input_record_and_reloads_through_the_base(trained, task):
    from pictorch.engine.checkpoint import load_checkpoint
    from pictorch.engine.inference import INPUT_KEYS, Predictor, input_record

    meta = load_checkpoint(trained[task]).meta
    assert set(meta["input"]) == set(INPUT_KEYS)
    p = _loader(task).load(trained[task], device="cpu")
    assert isinstance(p, Predictor) and p.input == meta["input"]
    old = {k: v for k, v in meta.items() if k != "input"}  # a checkpoint written before the record
    assert input_record(old)["mode"] == meta["input"]["mode"]
    assert input_record(old)["mean"] == meta["input"]["mean"]


def test_a_file_and_the_same_array_give_the_same_answer(trained, tmp_path):
    import numpy as np
    from PIL import Image

    from pictorch.data.decode import load_image
    from pictorch.tasks.classify.inference import TrainedClassifier, predict

    rng = np.random.default_rng(0)
    f = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 255, (20, 45, 3), dtype=np.uint8)).save(f)  # not the model's size
    clf = TrainedClassifier.load(trained["classify"], device="cpu")
    by_file = predict(clf, [f], top_k=1)[0]["top"][0]
    probs = clf.predict_proba(load_image(f, mode="RGB").permute(1, 2, 0).numpy())  # H×W×C, as PIL gives it
    assert by_file["prob"] == pytest.approx(float(probs.max()), abs=1e-6)
    assert by_file["label"] == clf.classes[int(probs.argmax())]


def test_an_old_checkpoint_without_the_record_answers_the_same(trained):
    from pictorch.tasks.classify.inference import TrainedClassifier

    clf = TrainedClassifier.load(trained["classify"], device="cpu")
    old = TrainedClassifier(clf.model, {k: v for k, v in clf.meta.items() if k != "input"}, clf.path)
    x = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8)
    assert torch.equal(clf.logits(x), old.logits(x))


def test_nan_outputs_are_refused(trained):
    from pictorch.errors import CheckpointError
    from pictorch.tasks.autoencode.inference import TrainedAutoencoder

    ae = TrainedAutoencoder.load(trained["autoencode"], device="cpu")
    with pytest.raises(CheckpointError, match="NaN"):
        ae.check(torch.tensor([[float("nan")]]))


def test_the_one_converter_resize_policies():
    from pictorch.data.convert import resize, to_input

    x = torch.full((1, 1, 10, 20), 200, dtype=torch.uint8)
    fit = resize(x, (10, 10), "fit")
    assert fit.shape == (1, 1, 10, 10) and int(fit[0, 0, 0, 0]) == 0 and int(fit[0, 0, 5, 5]) == 200  # letterbox
    assert resize(x, (10, 10), "stretch").unique().tolist() == [200]
    assert resize(x, (10, 10), "center_crop").unique().tolist() == [200]
    assert resize(x, (10, 10), "none").shape == x.shape
    rgb = to_input(np.zeros((4, 4, 3), np.uint8) + 7, (4, 4), "L")
    assert rgb.shape == (1, 1, 4, 4) and rgb.unique().tolist() == [7]
    with pytest.raises(ConfigError):
        resize(x, (4, 4), "squash")


# -- one --data road ---------------------------------------------------------------------------------------------


def test_data_specs_resolve_through_the_registry():
    from pictorch.data.resolve import lookup, names, resolve

    assert {"fashion-mnist", "synthetic", "toy-identities"} <= set(names("images"))
    assert lookup("Fashion_MNIST") is not None and lookup("fmnist") is not None
    ds = resolve("toy-identities:3x4", seed=0)
    assert len(ds) == 12 and len(ds.classes) == 3
    import pictorch.tasks.segment.data  # noqa: F401 - registers the masks domain
    import pictorch.tasks.translate.data  # noqa: F401 - registers the pairs domain

    assert {"nuclei", "earth", "synthetic", "synthetic-multi", "fashion-clutter"} <= set(names("masks"))
    assert {"edges2photo", "gray2color", "day2night", "labels2satellite", "sneaker2boot"} <= set(names("pairs"))


def test_an_unknown_data_spec_is_one_line_with_close_matches(tmp_path):
    from pictorch.data.resolve import resolve
    from pictorch.errors import DataError

    with pytest.raises(DataError, match="did you mean synthetic") as e:
        resolve("synthetc", folder=lambda p, **_: None)
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="does not exist"):
        resolve(str(tmp_path / "nope"), folder=lambda p, **_: None)
    assert resolve(str(tmp_path), folder=lambda p, **_: ("folder", p)) == ("folder", str(tmp_path))


def test_translator_and_stylizer_load_through_the_base(tmp_path):
    """The translate and stylize checkpoints carry the record and load as Predictors (2 pix2pix steps)."""
    from pictorch.engine.checkpoint import load_checkpoint, save_checkpoint
    from pictorch.engine.inference import INPUT_KEYS, Predictor
    from pictorch.registry import create_model
    from pictorch.tasks.stylize.api import Stylizer
    from pictorch.tasks.translate.api import Translator
    from pictorch.tasks.translate.config import TranslateConfig
    from pictorch.tasks.translate.data import TranslationData, make_loader
    from pictorch.tasks.translate.steps import TASKS

    a = torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8)
    data = TranslationData(a, a.expand(-1, 3, -1, -1).contiguous(), paired=True, name="toy", crop=0)
    cfg = TranslateConfig(model="pix2pix", ngf=4, ndf=4, num_downs=3, n_layers_d=1, dropout="off", flip=False)
    res = Trainer(_tcfg(tmp_path, "tr")).fit(TASKS["pix2pix"](cfg, data, lr=1e-3), make_loader(data, 4, seed=0,
                                                                                               paired=True))
    assert set(load_checkpoint(res["checkpoint"]).meta["input"]) == set(INPUT_KEYS)
    tr = Translator.load(res["checkpoint"])
    assert isinstance(tr, Predictor) and tr.mode == "L" and tr.input["resize"] == "none"
    out = tr.translate(np.zeros((20, 24, 3), np.uint8))  # a colour photo of another size: converted to L
    assert out.shape == (1, 3, 20, 24) and out.dtype == torch.uint8

    net = create_model("stylize.transformer_net", width=4, blocks=1)
    ckpt = save_checkpoint(tmp_path / "st.safetensors", net, {"task": "stylize", "input": {
        "mode": "RGB", "range": [0.0, 1.0], "mean": [0.0] * 3, "std": [1.0] * 3, "size": None, "resize": "none"}})
    st = Stylizer.load(ckpt, device="cpu")
    y = st.stylize(np.full((12, 16), 128, np.uint8))  # one gray image: repeated to RGB
    assert y.shape == (1, 3, 12, 16) and float(y.min()) >= 0 and float(y.max()) <= 1


def test_the_gan_loads_through_the_predictor_base_and_refuses_nan(tmp_path):
    """Before, ``tasks/generate/inference.GAN`` was a plain dataclass: no input record, no task check on load,
    and a generator with NaN weights drew NaN pictures as an answer."""
    import torch

    from pictorch.engine.checkpoint import save_checkpoint
    from pictorch.engine.inference import INPUT_KEYS, Predictor
    from pictorch.errors import CheckpointError
    from pictorch.registry import create_model
    from pictorch.tasks.generate.inference import GAN, load_gan

    g = create_model("gan.dcgan_g", z_dim=8, ngf=8, channels=1, image_size=28)
    meta = {"task": "generate", "model": "dcgan", "z_dim": 8, "z_dist": "normal", "conditional": False,
            "classes": [], "sample_shape": [1, 28, 28], "image_size": 28, "channels": 1,
            "normalization": {"range": [-1.0, 1.0], "mean": [0.5], "std": [0.5]}}
    ckpt = save_checkpoint(tmp_path / "g.safetensors", {"G": g}, meta)
    gan = load_gan(ckpt)
    assert isinstance(gan, Predictor) and set(gan.input) == set(INPUT_KEYS)
    assert gan.input["size"] == [28, 28] and gan.input["range"] == [-1.0, 1.0] and gan.mode == "L"
    assert tuple(gan.sample(2).shape) == (2, 1, 28, 28)
    other = save_checkpoint(tmp_path / "c.safetensors", {"G": g}, {**meta, "task": "classify"})
    with pytest.raises(CheckpointError, match="classify"):
        GAN.load(other)
    with torch.no_grad():
        next(gan.G.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match="NaN"):
        gan.sample(2)
