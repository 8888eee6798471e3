"""Every CLI verb, every numeric option, fed NaN, 0, a negative and a huge value: one-line errors or a normal
start, never an "unexpected" error (a crash) or a traceback.

Arguments the verb requires get a path that does not exist, and training is stopped as it would start (the
values were accepted by then); so this walks the option parsing and the config checks of every verb.
"""

from __future__ import annotations

import pytest

from pictorch import cli


class _ReachedWork(BaseException):  # not an Exception: the CLI must not turn it into an error line
    pass


def _commands():
    import typer

    cli._mount()
    root = typer.main.get_command(cli.app)
    out = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                if name in ("ae",):  # an alias of autoencode
                    continue
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(root, [])
    return out


def _numeric_options(cmd):
    import typing

    for p in cmd.params:
        if getattr(p, "param_type_name", "") != "option" or p.is_flag:
            continue
        ann = p.type_descriptor.annotation
        kinds = set(typing.get_args(ann)) - {type(None)} or {ann}
        if kinds & {int, float} and not kinds - {int, float}:
            yield p.opts[0], float in kinds


COMMANDS = _commands()
CASES = [(path, opt, is_float) for path, cmd in COMMANDS for opt, is_float in _numeric_options(cmd)]


@pytest.fixture(autouse=True)
def _no_real_work(monkeypatch, tmp_path):
    from pictorch.engine import trainer

    def stop(*a, **kw):
        raise _ReachedWork

    monkeypatch.setattr(trainer.Trainer, "fit", stop)
    # loading a real dataset also means the values were accepted (and takes seconds per call)
    from pictorch.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "load_fashion_mnist", stop)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PICTORCH_HOME", str(tmp_path / "home"))


def test_the_walk_covers_every_capability():
    verbs = {tuple(p[:1]) for p, _, _ in CASES}
    assert {("classify",), ("identify",), ("autoencode",), ("gan",)} <= verbs
    assert len(CASES) > 60


@pytest.mark.parametrize("path,opt,is_float", CASES, ids=[f"{' '.join(p)} {o}" for p, o, _ in CASES])
def test_bad_numbers_are_one_line_errors(path, opt, is_float, capsys):
    import typer

    cmd = dict((tuple(p), c) for p, c in COMMANDS)[tuple(path)]
    args = [a for a in cmd.params if getattr(a, "param_type_name", "") == "argument" and a.required]
    positional = ["/nonexistent/pictorch-probe"] * sum(max(1, a.nargs) for a in args)
    values = ["nan", "0", "-5", "1e12"] if is_float else ["0", "-5", "1000000000000"]
    for v in values:
        try:
            cli.main([*path, *positional, opt, v])
        except _ReachedWork:
            continue
        except SystemExit as e:
            err = capsys.readouterr().err
            assert e.code != 1, f"{' '.join(path)} {opt} {v}: {err}"
            assert "unexpected" not in err and "Traceback" not in err, err
            lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
            assert e.code == 0 or len(lines) == 1, f"{' '.join(path)} {opt} {v}: {err!r}"
        except typer.Exit:
            pass
