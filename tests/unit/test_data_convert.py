"""Images handed to the Python API in any common layout and dtype reach the model as the same uint8 batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pictorch.data.convert import as_uint8_batch
from pictorch.errors import ConfigError


def test_layouts_and_dtypes_agree():
    rng = np.random.default_rng(0)
    nchw = rng.integers(0, 256, (5, 3, 6, 7), dtype=np.uint8)
    ref = torch.from_numpy(nchw)
    assert torch.equal(as_uint8_batch(nchw), ref)
    assert torch.equal(as_uint8_batch(nchw.transpose(0, 2, 3, 1)), ref)                   # N×H×W×C
    assert torch.equal(as_uint8_batch(ref.float() / 255), ref)                              # float in [0, 1]
    assert torch.equal(as_uint8_batch(nchw[0].transpose(1, 2, 0)), ref[:1])                 # H×W×C (PIL)
    gray = rng.integers(0, 256, (5, 6, 7), dtype=np.uint8)
    assert torch.equal(as_uint8_batch(gray), torch.from_numpy(gray)[:, None])               # N×H×W
    assert torch.equal(as_uint8_batch(gray[0]), torch.from_numpy(gray)[:1, None])           # H×W
    rgba = np.concatenate([nchw, np.full((5, 1, 6, 7), 255, np.uint8)], 1)
    assert torch.equal(as_uint8_batch(rgba), ref)                                           # alpha dropped


def test_a_read_only_array_is_copied_not_shared():
    ro = np.full((1, 3, 6, 7), 9, np.uint8)  # N×C×H×W: no permute copy on the way (np.asarray(PIL) is read-only)
    ro.flags.writeable = False
    t = as_uint8_batch(ro)
    assert torch.equal(t, torch.full((1, 3, 6, 7), 9, dtype=torch.uint8))
    t.add_(1)  # safe: the tensor owns its memory, the caller's array is untouched
    assert int(ro.max()) == 9


def test_ambiguous_layout_is_named_and_bad_values_refused():
    with pytest.warns(UserWarning, match="read as one 3-channel image"):
        assert as_uint8_batch(np.zeros((3, 28, 28), np.uint8)).shape == (1, 3, 28, 28)
    for bad, msg in [(np.full((2, 1, 4, 4), 2.0), r"in \[0, 1\]"), (np.full((2, 1, 4, 4), np.nan), "NaN"),
                     (np.zeros((2, 5, 4, 6)), "expected N×C×H×W"), ("x", "numpy array or a torch tensor")]:
        with pytest.raises(ConfigError, match=msg):
            as_uint8_batch(bad)


def test_the_readme_snippet_works_with_numpy(tmp_path):
    """`clf.predict_proba(np.zeros((4,1,28,28), np.uint8))` (it said "takes uint8 images"), and N×H×W too."""
    from pictorch.engine.config import TrainConfig
    from pictorch.tasks.classify import api
    from pictorch.tasks.classify.steps import ClassifyConfig

    res = api.train(ClassifyConfig(data="synthetic", arch="small_cnn", model_kwargs={"width": 4}, augment="none",
                                   val_split=0.0, limit=32, image_size=28),
                    TrainConfig(out_dir=str(tmp_path / "run"), steps=2, batch_size=16, progress=False,
                                precision="32-true"), tune_threads=False)
    clf = api.load(res["checkpoint"])
    a = clf.predict_proba(np.zeros((4, 1, 28, 28), np.uint8))
    b = clf.predict_proba(np.zeros((4, 28, 28), np.float32))
    assert a.shape == (4, len(clf.classes)) and torch.allclose(a, b)
