"""Every usage error of every command: Click's usage line, where to get help and one error
line (three lines at most), exit 2, no traceback."""

from __future__ import annotations

import pytest
import typer

from rmsweep.cli import _register, app, main


def _commands() -> list[tuple[str, ...]]:
    import typer.main

    _register()
    found: list[tuple[str, ...]] = [()]

    def walk(command, path: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append((*path, name))
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, list[str]]:
    monkeypatch.setattr("sys.argv", ["rmsweep", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0), capsys.readouterr().err.splitlines()


def test_the_walk_finds_every_command() -> None:
    assert len(COMMANDS) >= 20
    for expected in [
        ("run", "train"),
        ("study", "launch"),
        ("eval",),
        ("ui",),
        ("data", "prepare"),
    ]:
        assert expected in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "rmsweep")
def test_an_unknown_option_is_a_usage_error(path, monkeypatch, capsys) -> None:
    code, err = _run([*path, "--bogus"], monkeypatch, capsys)
    assert code == 2
    assert 2 <= len(err) <= 3, err
    assert err[0].startswith(f"Usage: {' '.join(('rmsweep', *path))}")
    assert err[-1].startswith("error: No such option: --bogus")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "error: No such command 'bogus'."),
        (["study", "status"], "error: Missing argument 'name'."),
        (
            ["eval", "--model", "baseline:length", "--limit", "many"],
            "error: Invalid value for '--limit'",
        ),
        (["run", "reproduce"], "error: Missing argument 'run_id'."),
    ],
)
def test_other_usage_errors_are_three_lines_and_exit_2(args, message, monkeypatch, capsys) -> None:
    code, err = _run(args, monkeypatch, capsys)
    assert code == 2 and len(err) == 3, err
    assert err[-1].startswith(message)
    assert not any("Traceback" in line for line in err)


def test_the_help_names_each_group_by_what_it_does() -> None:
    _register()
    helps = {group.name: group.typer_instance.info.help for group in app.registered_groups}
    assert helps["reward"] and "reward commands" not in helps["reward"]
    assert typer is not None
