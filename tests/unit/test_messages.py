"""Messages are built with one article helper: "an 'identify' checkpoint", "a 'classify' one" (issue 14)."""

from __future__ import annotations

import pytest

from pictorch.utils import article


@pytest.mark.parametrize(("word", "want"), [
    ("'identify'", "an 'identify'"), ("'autoencode'", "an 'autoencode'"), ("'classify'", "a 'classify'"),
    ("'segment'", "a 'segment'"), ("'translate'", "a 'translate'"), ("'generate'", "a 'generate'"),
    ("8×8", "an 8×8"), ("11×11", "an 11×11"), ("18-filter", "an 18-filter"), ("80×60", "an 80×60"),
    ("3×28×28", "a 3×28×28"), ("1×28×28", "a 1×28×28"), ("11000", "an 11000"), ("110", "a 110"),
    ("OrderedDict", "an OrderedDict"), ("dict", "a dict"), ("FID", "an FID"), ("RGB", "an RGB"),
    ("unet", "a unet"), ("arcface", "an arcface"), ("triplet", "a triplet"), ("hour", "an hour"),
    ("Ankle boot", "an Ankle boot"), ("", "a "),
])
def test_article(word, want):
    assert article(word) == want


def test_wrong_task_checkpoint_message_says_an(tmp_path):
    from pictorch.engine.checkpoint import load_checkpoint, save_checkpoint
    from pictorch.errors import CheckpointError
    from pictorch.registry import create_model

    ck = save_checkpoint(tmp_path / "i.safetensors", create_model("small_cnn", in_chans=1, num_classes=2, width=4),
                         {"task": "identify"})
    with pytest.raises(CheckpointError, match="this is an 'identify' checkpoint, not an 'autoencode' one; use "
                       "`pictorch identify ...` with it or pass an autoencode checkpoint"):
        load_checkpoint(ck, task="autoencode")
