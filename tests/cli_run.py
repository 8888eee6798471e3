"""One way for the tests to run `pictorch ...` in-process: :func:`cli` gives (exit code, stdout,
stderr) through the console entry point, as a user's shell sees them, and :func:`error_line` asserts the one-line
`error:` answer a user mistake must get (never "unexpected", never a traceback)."""

from __future__ import annotations


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `pictorch ARGS`."""
    from pictorch.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def error_line(code: int, out: str, err: str) -> str:
    """The single `error: ...` line of a refused command (asserted: non-zero exit, one line, not a bug report)."""
    assert code != 0, out + err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unexpected" not in lines[0], err
    return lines[0]
