"""The ``pictorch`` command: mounts each capability's Typer app as ``pictorch <capability> <verb>``.

Kept light: only typer/stdlib at import time so ``pictorch --help`` is fast. User mistakes
(:class:`pictorch.errors.PictorchError`) print one line and exit non-zero; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

app = typer.Typer(
    name="pictorch",
    help="The classic deep-learning-for-images systems as working tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (command name, module exposing `app`, help, aliases)
CAPABILITIES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("identify", "pictorch.tasks.identify.cli",
     "Recognize people/objects from a few photos: embeddings, gallery, open-set answers.", ()),
    ("classify", "pictorch.tasks.classify.cli",
     "Transfer-learn and train CNN classifiers (three fine-tuning regimes, EfficientNet scaling).", ()),
    ("autoencode", "pictorch.tasks.autoencode.cli",
     "Autoencoders: reconstruct, denoise, compress, search, interpolate.", ("ae",)),
    ("gan", "pictorch.tasks.generate.cli",
     "GANs: GAN, DCGAN, conditional GAN; sample, interpolate, latent arithmetic, FID.", ()),
    ("translate", "pictorch.tasks.translate.cli",
     "Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired); train, apply, evaluate.", ()),
    ("see", "pictorch.tasks.see.cli",
     "What a network sees: filters, layers, activation maximisation, DeepDream.", ()),
    ("stylize", "pictorch.tasks.stylize.cli",
     "Neural style transfer: Gatys optimisation and fast style transfer (train, apply, ONNX).", ()),
    ("segment", "pictorch.tasks.segment.cli", "Segmentation: U-Net, SegNet and FCN on images and masks of any size.", ()),
    ("serve", "pictorch.serve.cli",
     "The gallery over HTTP and a web page (FastAPI): API keys, upload limits, audit log.", ()),
]

_DEBUG = False


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (they are off anyway when stderr "
                                                            "is not a terminal)."),
) -> None:
    """pictorch: identify, classify, autoencode, generate, ... from the command line."""
    global _DEBUG
    _DEBUG = debug or os.environ.get("PICTORCH_DEBUG") == "1"
    if quiet:  # read by pictorch.viz.progress and the trainers' progress hook, in this process
        os.environ["PICTORCH_QUIET"] = "1"


_MOUNTED: set[str] = set()


def _wanted(args: list[str]) -> str | None:
    """The capability named by a command line (``identify`` in ``--debug identify who ...``), else None."""
    first = next((a for a in args if not a.startswith("-")), None)
    return next((name for name, _, _, aliases in CAPABILITIES if first in (name, *aliases)), None)


def _mount(only: str | None = None) -> None:
    """Attach the capabilities' apps: ``only`` that one (a command line naming it), or every one.

    Each is mounted once (repeated in-process calls must not mount twice), in :data:`CAPABILITIES` order.
    Mounting one: Typer builds every mounted command's parameters before it parses a line (0.26 s of a
    one-photo ``identify who``'s 1.1 s on this 2-core machine with all nine mounted), and each capability's
    CLI module is imported.
    """
    for name, module, help_text, aliases in CAPABILITIES:
        if name in _MOUNTED or (only is not None and name != only):
            continue
        _MOUNTED.add(name)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):  # capability not built yet
                continue
            raise
        for n in (name, *aliases):
            app.add_typer(mod.app, name=n, help=help_text, hidden=n != name)
    order = {n: i for i, (name, _, _, aliases) in enumerate(CAPABILITIES) for n in (name, *aliases)}
    app.registered_groups.sort(key=lambda g: order.get(g.name, len(order)))  # --help lists them in order


@app.command()
def info() -> None:
    """Versions, device, bf16 support and which datasets/extras were found."""
    import platform

    import torch

    from pictorch import __version__
    from pictorch.utils import auto_precision, cpu_kind, cpu_supports_bf16

    kind = cpu_kind()
    rows = [
        ("pictorch", __version__),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"),
        ("mps", str(bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()))),
        ("cpu threads", str(torch.get_num_threads())),
        ("cpu bf16", str(cpu_supports_bf16())),
        ("cpu isa", f"{kind['isa']} ({kind['model']}; "
                    f"{'capped by env from ' + kind['native_isa'] if kind['capped'] else 'not capped'}; kind {kind['kind']})"),
        ("default precision", auto_precision()),
    ]
    for pkg in ("lightning", "kornia", "faiss", "dlib", "cv2", "onnxruntime"):
        try:
            m = importlib.import_module(pkg)
            rows.append((pkg, getattr(m, "__version__", "installed")))
        except Exception:
            rows.append((pkg, "not installed"))
    try:
        from pictorch.data.fashion_mnist import find_fashion_mnist

        found = find_fashion_mnist()
        rows.append(("fashion-mnist", str(found) if found else "not found (make demo installs it)"))
    except Exception as e:  # pragma: no cover - informational only
        rows.append(("fashion-mnist", f"unknown ({e.__class__.__name__})"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        typer.echo(f"{k:<{width}}  {v}")


@app.command()
def models(
    pattern: str = typer.Argument(None, help="Shell wildcard, e.g. 'resnet*' or '*gan*' (default: all)."),
    tag: str = typer.Option(None, "--tag", help="Only models with this tag, e.g. backbone."),
) -> None:
    """List the registered models (backbones and every capability's networks) by name."""
    from pictorch.registry import list_models

    names = list_models(pattern, tag)
    if not names:
        from pictorch.errors import ConfigError

        raise ConfigError(f"no registered model matches {pattern!r}; `pictorch models` lists them all")
    for n in names:
        typer.echo(n)


@app.command()
def demo(
    faces_dir: str = typer.Argument(None, metavar="DIR", help="With --faces: one subfolder of face photos "
                                                                "per person (default: the Olivetti faces)."),
    out_dir: str = typer.Option("runs/demo", help="Where the demo writes its run, gallery and pictures."),
    quick: bool = typer.Option(False, help="A much shorter run (used by the tests)."),
    data_dir: str = typer.Option(None, help="Folder with the Fashion-MNIST IDX files."),
    faces: bool = typer.Option(False, "--faces", help="The main job on real faces (dlib-face): from DIR, else "
                                                      "the Olivetti faces scikit-learn downloads; without face "
                                                      "photos, the Fashion-MNIST demo."),
) -> None:
    """The main job: open-set identification (enrol a group, calibrate, query members and strangers) on real
    faces with --faces [DIR], else on Fashion-MNIST (train, enrol, query strangers, calibrate)."""
    if faces_dir is not None and not faces:
        from pictorch.errors import ConfigError

        raise ConfigError(f"a demo folder ({faces_dir}) goes with --faces: pictorch demo --faces {faces_dir}")
    if faces:
        from pictorch.errors import DataError

        mod = importlib.import_module("pictorch.tasks.identify.demo_faces")
        out = out_dir if out_dir != "runs/demo" else "runs/demo-faces"
        try:
            mod.run_faces_demo(faces_dir, out_dir=out)
            return
        except DataError as e:
            if faces_dir is not None:
                raise
            typer.echo(f"note: no face photos ({e}); running the Fashion-MNIST demo instead", err=True)
    mod = importlib.import_module("pictorch.tasks.identify.demo")
    mod.run_demo(out_dir=out_dir, quick=quick, data_dir=data_dir)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning user errors into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    _printable_paths()
    _mount(_wanted(args))
    debug = "--debug" in args or os.environ.get("PICTORCH_DEBUG") == "1"
    try:
        app(args=args, prog_name="pictorch", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - the one place errors become exit codes
        _handle(e, debug)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    finally:
        from pictorch.utils import release_reserved

        release_reserved()  # output names a failed verb claimed and never filled


def _printable_paths() -> None:
    """Let stdout carry file names that are not UTF-8. Under a UTF-8 locale other than C.UTF-8 Python's stdout
    is strict, and printing such a name (it arrives as lone surrogates) crashed a verb after its work was done
    ("unexpected UnicodeEncodeError"); a real file descriptor gets the name's own bytes back (as ``ls``
    prints them), anything else (a capture, a StringIO) ``\\udce9`` escapes."""
    import io

    stream = sys.stdout
    if getattr(stream, "errors", None) != "strict" or not hasattr(stream, "reconfigure"):
        return
    try:
        stream.fileno()
        errors = "surrogateescape"
    except (OSError, AttributeError, io.UnsupportedOperation):
        errors = "backslashreplace"
    try:
        stream.reconfigure(errors=errors)
    except (ValueError, OSError):  # a closed or detached stream: leave it
        pass


def _handle(e: BaseException, debug: bool) -> None:
    from pictorch.errors import PictorchError

    # Typer/click control flow (their classes moved between versions: match by behaviour)
    if type(e).__name__ == "Exit" and hasattr(e, "exit_code"):
        sys.exit(e.exit_code)
    if type(e).__name__ == "Abort":
        typer.echo("aborted", err=True)
        sys.exit(130)
    if not isinstance(e, PictorchError) and hasattr(e, "format_message") and hasattr(e, "exit_code"):
        # usage errors (a bad option value, --top-k 0 below its minimum): one line, as every other error
        ctx = getattr(e, "ctx", None)
        where = f" (see {ctx.command_path} --help)" if ctx is not None and getattr(ctx, "command_path", "") else ""
        typer.echo(f"error: {' '.join(e.format_message().split())}{where}", err=True)
        sys.exit(e.exit_code)
    if debug:
        raise e
    if isinstance(e, PictorchError):
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    if isinstance(e, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError):
        typer.echo(f"error: {e.strerror or e}: {e.filename}", err=True)
        sys.exit(2)
    if isinstance(e, FileExistsError):  # mkdir of an --out whose folder part is a file
        typer.echo(f"error: {e.filename} is a file where a folder is needed; choose another --out", err=True)
        sys.exit(2)
    import errno

    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG,
                                              errno.EACCES, errno.ELOOP, errno.EMFILE, errno.EXDEV):
        # the disk, not the program: full, read-only, a name too long (one line, as every user-side problem)
        typer.echo(f"error: {e.strerror}: {e.filename or ''}".rstrip(": "), err=True)
        sys.exit(2)
    if isinstance(e, MemoryError):
        typer.echo("error: out of memory; lower --batch-size or the image size", err=True)
        sys.exit(2)
    typer.echo(f"error: unexpected {e.__class__.__name__}: {e} (run with --debug for the traceback; "
               "this is a bug, please report it)", err=True)
    sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
