"""``invoke``: the gallery commands run as `pictorch identify ...` runs them (one `error:` line and exit 2 for user
mistakes), mounted on their own so a test can swap the embedder loader first. Shared by the identify CLI tests."""

from __future__ import annotations

import typer

from pictorch.tasks.identify import gallery_cli


def invoke(args, capsys):
    """(exit code, stdout, stderr) of `pictorch identify ARGS`."""
    import pictorch.cli as root

    app = typer.Typer()
    gallery_cli.register(app)
    top = typer.Typer()
    top.add_typer(app, name="identify")
    code = 0
    try:
        top(args=["identify", *args], prog_name="pictorch", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - mirror pictorch.cli.main
        try:
            root._handle(e, False)
        except SystemExit as s:
            code = s.code
    out = capsys.readouterr()
    return code, out.out, out.err
