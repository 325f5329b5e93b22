"""A command that has finished ends the program at once (api.cli_common.run_program, Finished).

Run as the program, the process ends after its output is flushed, without the interpreter's
teardown (its atexit handlers do not run); the group called from Python (click's test runner, a
script, a notebook) returns to its caller with an ordinary exit of status 0.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from click.testing import CliRunner

PROGRAM = textwrap.dedent(
    """
    import atexit, sys
    import click
    from api.cli_common import Finished, run_program

    atexit.register(lambda: print("teardown", flush=True))

    @click.group()
    def main():
        pass

    @main.command()
    def done():
        click.echo("answer")
        click.echo("progress", err=True)
        raise Finished

    @main.command()
    def usual():
        click.echo("answer")

    if sys.argv[1] == "in-process":  # the group called from Python: the caller goes on
        for _ in range(2):
            try:
                main(["done"], standalone_mode=False)
            except SystemExit as end:
                print("caller goes on", end.code, flush=True)
    else:
        run_program(main)
    """
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, check=False)


def test_a_finished_command_ends_the_program_after_its_output_without_teardown():
    p = run("done")
    assert p.returncode == 0
    assert p.stdout == "answer\n"  # flushed, and the atexit handler did not run
    assert p.stderr == "progress\n"


def test_other_commands_and_errors_end_as_usual():
    p = run("usual")
    assert (p.returncode, p.stdout) == (0, "answer\nteardown\n")
    p = run("nonesuch")
    assert p.returncode == 2
    assert p.stdout == "teardown\n"


def test_the_group_called_from_python_returns_to_its_caller():
    p = run("in-process")
    assert p.returncode == 0
    assert p.stdout == "answer\ncaller goes on 0\nanswer\ncaller goes on 0\nteardown\n"


def test_the_followups_finish_and_the_test_runner_sees_a_plain_exit(tmp_path):
    """`circles map --plan` (the others as it) raises Finished: exit status 0 under CliRunner."""
    from api.cli import main
    from api.cli_common import Finished
    r = CliRunner().invoke(main, ["map", "--plan", str(tmp_path / "none"), "--out", str(tmp_path / "m"), "-q"])
    assert r.exit_code == 2  # no saved plan there: an error, not Finished
    assert r.exc_info is not None
    assert r.exc_info[0] is not Finished
