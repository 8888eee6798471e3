"""``--data`` spec → data set, through the ``DATASETS`` registry: one road for every capability.

A spec is a registered name (``fashion-mnist``, ``synthetic``, ``toy-identities:20x30``, ``nuclei``,
``edges2photo``...; ``:`` passes an argument to the set) or a folder. Names live in *domains*, one per kind of
set a task trains on: ``images`` (an :class:`~pictorch.data.ImageSet`, registered here), ``masks`` (segment's
image + mask sets) and ``pairs`` (translate's A/B sets), each registered by the room that owns the type as
``DATASETS["<domain>/<name>"]``. A folder goes to the loader the task passes (a classifier's class
subfolders, a segmenter's images + masks...). An unknown spec is one line naming the close matches.

Every factory of a domain takes the same keyword options and ignores the ones it has no use for:
``images``: ``split, data_dir, size, mode, seed, n, arg``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pictorch.errors import DataError
from pictorch.registry import DATASETS

ALIASES = {"fmnist": "fashion-mnist"}


def dataset(name: str, domain: str = "images") -> Callable:
    """Decorator registering a data-set factory under ``DATASETS["<domain>/<name>"]``."""
    return DATASETS.register(f"{domain}/{name}", tags=(domain,))


def _squash(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def names(domain: str = "images") -> list[str]:
    """The registered names of a domain."""
    return [n.split("/", 1)[1] for n in DATASETS.names(tag=domain)]


def lookup(spec: str, domain: str = "images") -> tuple[Callable[..., Any], str | None] | None:
    """The factory a spec names (case, ``-`` and ``_`` do not matter) and its ``:`` argument; None if none."""
    head, _, arg = spec.strip().partition(":")
    head = ALIASES.get(head.lower(), head)
    by_squash = {_squash(n): n for n in names(domain)}
    name = by_squash.get(_squash(head))
    if name is None:
        return None
    return DATASETS.get(f"{domain}/{name}"), (arg or None)


def resolve(spec: str, domain: str = "images", folder: Callable[..., Any] | None = None, **options: Any) -> Any:
    """The data set of a ``--data`` spec.

    Args:
        spec: A registered name of ``domain`` (with an optional ``:argument``) or a folder.
        domain: ``images``, ``masks``, ``pairs``...
        folder: ``folder(path, **options)`` loads a folder (None: folders are refused).
        options: The domain's keyword options (see the module doc), passed to the factory.

    Raises:
        DataError: Neither a known name nor an existing folder: one line with the close matches.
    """
    found = lookup(spec, domain)
    if found is not None:
        factory, arg = found
        return factory(arg=arg, **options)
    path = Path(spec).expanduser()
    if folder is not None and path.exists():
        return folder(str(path), **options)
    known = names(domain)
    if folder is not None and ("/" in spec or "\\" in spec or spec.startswith((".", "~"))):
        raise DataError(f"--data {spec}: no such data folder (the path does not exist, so it is not a folder); "
                        f"pass an existing folder or one of: {', '.join(known)}")
    close = difflib.get_close_matches(ALIASES.get(spec.lower(), spec.lower()), known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    where = "a registered name" + (" or an existing folder" if folder is not None else "")
    raise DataError(f"--data {spec!r}: not {where}; {hint}known: {', '.join(known)}"
                    + (", or a folder" if folder is not None else ""))


# -- the image sets every task can train on ----------------------------------------------------------------


@dataset("fashion-mnist")
def fashion_mnist(split: str = "train", data_dir: str | None = None, **_: Any) -> Any:
    """Fashion-MNIST (1×28×28; see :func:`pictorch.data.fashion_mnist.load_fashion_mnist` for where it is found)."""
    from pictorch.data.fashion_mnist import load_fashion_mnist

    return load_fashion_mnist(split=split, data_dir=data_dir)


#: The most images ``synthetic`` draws (each is drawn on the CPU; 100,000 gray 32² are 100 MB).
SYNTHETIC_MAX = 100_000


@dataset("synthetic")
def synthetic(split: str = "train", size: Any = None, mode: str | None = None, seed: int = 0, n: int = 512,
              **_: Any) -> Any:
    """Four classes of drawn shapes (with masks): ``n`` training images, a quarter (at least 64) for ``test``
    from another seed; gray unless ``mode="RGB"``; ``size`` side (default 32)."""
    from pictorch.data.synthetic import synthetic_shapes

    side = (size if isinstance(size, int) else size[0]) if size else 32
    n = min(int(n), SYNTHETIC_MAX)  # a --limit of 1e11 means "all" here, not 1e11 drawings (200 GB)
    test = split != "train"
    return synthetic_shapes(max(64, n // 4) if test else n, size=side, channels=3 if mode == "RGB" else 1,
                            num_classes=4, seed=seed + (1000 if test else 0))


@dataset("toy-identities")
def toy_identities(split: str = "train", seed: int = 0, arg: str | None = None, **_: Any) -> Any:
    """Drawn identities for metric learning; ``toy-identities:IDSxPER`` (default 20×30), 32 px."""
    from pictorch.data.synthetic import toy_identities as make
    from pictorch.errors import ConfigError

    ids, per = 20, 30
    if arg:
        try:
            ids, per = (int(x) for x in arg.lower().split("x"))
        except ValueError:
            raise ConfigError(f"--data toy-identities:{arg}: expected toy-identities:IDSxPER, e.g. "
                              "toy-identities:20x30") from None
    return make(ids, per, size=32, seed=seed + (1000 if split == "test" else 0))
