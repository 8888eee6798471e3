"""The PostgreSQL backend's pure parts (no server): URLs, passwords kept out of messages, exact vector text,
backend choice and local file names."""

from __future__ import annotations

import numpy as np
import pytest

from pictorch.errors import PictorchError
from pictorch.gallery.backends import backend_name, display_name, short_name, sidecar
from pictorch.gallery.pg import is_url, parse_vector, redact, split_url, vector_text


def test_urls_and_schemas():
    assert split_url("postgresql://u:pw@h:5432/db#door") == ("postgresql://u:pw@h:5432/db", "door")
    assert split_url("postgres://h/db?host=/tmp/s") == ("postgres://h/db?host=/tmp/s", "pictorch")
    with pytest.raises(PictorchError, match="schema name"):
        split_url("postgresql://h/db#Drop Table")
    assert redact("postgresql://u:pw@h/db#x") == "postgresql://u:***@h/db#x"
    assert "pw" not in display_name("postgresql://u:pw@h/db") and display_name("g.gallery") == "g.gallery"
    assert is_url("postgresql://h/db") and not is_url("people.gallery") and not is_url(None)
    assert backend_name("postgres://h/db") == "postgresql" and backend_name("a/b.gallery") == "sqlite"
    assert short_name("postgresql://u:pw@h/faces#door") == "faces#door" and short_name("/x/g.gallery") == "g.gallery"


def test_sidecars(monkeypatch, tmp_path):
    monkeypatch.setenv("PICTORCH_HOME", str(tmp_path))
    assert sidecar("g.gallery", ".keys.json") == "g.gallery.keys.json"
    assert sidecar("postgresql://u:pw@h/faces#door", ".keys.json") == str(tmp_path / "postgres" / "faces-door.keys.json")


def test_vector_text_is_exact():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(size=500), [1e-38, -3.4e38, 0.1, 1 / 3, 0.0]]).astype(np.float32)
    back = parse_vector(vector_text(v))
    assert back.dtype == np.float32 and back.tobytes() == v.tobytes()
