"""``pictorch serve``: ``run`` the gallery's HTTP service and web page; ``keys create|list|revoke``.

Only typer/stdlib at module level: FastAPI and uvicorn load inside ``run``.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="The gallery over HTTP, with a web page; secure by default.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys: printed once, only their hash stored.")
app.add_typer(keys_app, name="keys")

Gallery = Annotated[str, typer.Option("--gallery", "-g", help="The gallery: a SQLite file or a postgresql:// URL.")]
KeysFile = Annotated[str | None, typer.Option("--keys", help="Key file (default: <gallery>.keys.json).")]


@app.command()
def run(
    gallery: Gallery,
    model: Annotated[str | None, typer.Option("--model", help="Model for a new gallery (dlib-face or a "
                                                              "checkpoint); an existing one records its own.")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes it to the network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    keys: KeysFile = None,
    max_mb: Annotated[float, typer.Option("--max-mb", min=0.01, max=100.0, help="Upload limit per photo.")] = 5.0,
    max_pixels: Annotated[int, typer.Option("--max-pixels", min=1, max=500_000_000,
                                            help="Pixel limit per photo (decompression bombs).")] = 40_000_000,
    rate: Annotated[float, typer.Option("--rate", min=1.0, max=1e7, help="Requests a minute per key.")] = 600.0,
) -> None:
    """Serve the gallery: JSON API under /api (OpenAPI at /docs) and the web page at /."""

    from pictorch.errors import ConfigError
    from pictorch.serve.keys import KeyStore, default_keys_path

    try:
        import uvicorn

        from pictorch.serve.app import Settings, create_app
    except ModuleNotFoundError as e:
        raise ConfigError(f"pictorch serve needs {e.name}: pip install 'pictorch[serve]'") from None
    kpath = keys or str(default_keys_path(gallery))
    if not KeyStore(kpath).keys:
        raise ConfigError(f"no API keys in {kpath}; create one with: pictorch serve keys create --gallery "
                          f"{gallery} --scope write")
    from pictorch.gallery.backends import gallery_exists

    if not gallery_exists(gallery) and not model:
        raise ConfigError(f"gallery {gallery} does not exist; pass --model to create it on the first enrolment")
    settings = Settings(gallery, model=model, keys=kpath, max_bytes=int(max_mb * 1024 * 1024),
                        max_pixels=max_pixels, rate=rate)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: binding {host}: the service is reachable from the network (put TLS in front)",
                   err=True)
    typer.echo(f"serving {gallery} on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option("--scope", help="read (who, verify, lists) or write (also enrol, "
                                                       "delete, rename, calibrate).")],
    gallery: Annotated[str | None, typer.Option("--gallery", "-g", help="The gallery the key is for.")] = None,
    keys: KeysFile = None,
    note: Annotated[str, typer.Option("--note", help="Who or what the key is for.")] = "",
) -> None:
    """Create a key and print it once (only its SHA-256 is stored)."""
    store = _store(gallery, keys)
    key, secret = store.create(scope, note)
    typer.echo(secret)
    typer.echo(f"key {key.id} ({key.scope}) stored as a hash in {store.path}; this is the only time it is shown",
               err=True)


@keys_app.command("list")
def keys_list(gallery: Annotated[str | None, typer.Option("--gallery", "-g")] = None, keys: KeysFile = None) -> None:
    """The keys' ids, scopes and notes (never the keys)."""
    for k in _store(gallery, keys).keys:
        typer.echo(f"{k.id}  {k.scope:5s}  {k.note}")


@keys_app.command("revoke")
def keys_revoke(key_id: str, gallery: Annotated[str | None, typer.Option("--gallery", "-g")] = None,
                keys: KeysFile = None) -> None:
    """Remove a key by its id."""
    from pictorch.errors import ConfigError

    if not _store(gallery, keys).revoke(key_id):
        raise ConfigError(f"no key with id {key_id!r} (pictorch serve keys list shows them)")
    typer.echo(f"revoked {key_id}")


def _store(gallery: str | None, keys: str | None):  # noqa: ANN202 - KeyStore, imported lazily
    from pictorch.errors import ConfigError
    from pictorch.serve.keys import KeyStore, default_keys_path

    if not keys and not gallery:
        raise ConfigError("pass --gallery (keys live beside it) or --keys FILE")
    return KeyStore(keys or default_keys_path(gallery))
