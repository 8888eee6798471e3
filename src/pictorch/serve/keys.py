"""API keys: printed once, only their SHA-256 stored; ``read`` (who, verify, lists) or ``write`` (also enrol,
delete, rename, calibrate).

Keys are 256 random bits, so a plain SHA-256 is enough to store them (no slow KDF needed: there is nothing to
brute-force below 2^256); comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from pictorch.errors import ConfigError

SCOPES = ("read", "write")
PREFIX = "ptk_"


@dataclass(frozen=True)
class Key:
    """A stored key (never the key itself): its id, scope and the hash of the secret."""

    id: str
    scope: str
    sha256: str
    created: float
    note: str = ""

    def allows(self, scope: str) -> bool:
        """``write`` keys may also read."""
        return self.scope == "write" or scope == "read"


def default_keys_path(gallery: str | os.PathLike) -> Path:
    """Where a gallery's keys live unless told otherwise: beside it, ``<gallery>.keys.json`` (a PostgreSQL
    gallery: ``pictorch-<database>-<schema>.keys.json`` in the current folder)."""
    from pictorch.gallery.backends import sidecar

    return Path(sidecar(gallery, ".keys.json"))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """The key file (JSON, mode 0600): created on the first :meth:`create`.

    Args:
        path: The key file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.keys: list[Key] = []
        if self.path.exists():
            try:
                rows = json.loads(self.path.read_text())["keys"]
                self.keys = [Key(**r) for r in rows]
            except (ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"key file {self.path} is damaged ({e}); remove it and create new keys") from None

    def create(self, scope: str, note: str = "") -> tuple[Key, str]:
        """A new key of ``scope``: returns the stored record and the secret (shown once, never stored)."""
        if scope not in SCOPES:
            raise ConfigError(f"unknown scope {scope!r}; choose read or write")
        kid = secrets.token_hex(4)
        secret = f"{PREFIX}{kid}_{secrets.token_urlsafe(32)}"
        key = Key(kid, scope, _digest(secret), time.time(), note)
        self.keys.append(key)
        self._save()
        return key, secret

    def revoke(self, kid: str) -> bool:
        """Remove a key by id; ``False`` if there was none."""
        before = len(self.keys)
        self.keys = [k for k in self.keys if k.id != kid]
        if len(self.keys) != before:
            self._save()
        return len(self.keys) != before

    def check(self, secret: str | None) -> Key | None:
        """The key whose hash matches ``secret`` (constant-time per key), else ``None``."""
        if not secret:
            return None
        d = _digest(secret)
        found = None
        for k in self.keys:
            if hmac.compare_digest(k.sha256, d):
                found = k
        return found

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": [k.__dict__ for k in self.keys]}, f, indent=1)
        os.replace(tmp, self.path)
