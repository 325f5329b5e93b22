"""The follow-up commands' quick paths give the same answers as the slow ones."""

from __future__ import annotations

import subprocess
import sys


def test_engine_modules_leave_optional_imports_to_their_use() -> None:
    """geo.osm, geo.scenarios and geo.gaps import osmium, yaml and scipy.spatial only where used."""
    code = (
        "import sys, geo.osm, geo.scenarios, geo.gaps\n"
        "print(','.join(m for m in ('osmium', 'yaml', 'scipy.spatial') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_settle_freezes_the_heap_for_the_command_only() -> None:
    """A follow-up freezes what it loaded while it runs and hands it back when its context closes."""
    import gc

    import click
    from click.testing import CliRunner

    from api import cli_followups

    seen: list[int] = []

    @click.command()
    def cmd() -> None:
        cli_followups._settle()
        seen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    assert CliRunner().invoke(cmd, []).exit_code == 0
    assert seen
    assert seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_serve_does_not_freeze_the_heap() -> None:
    """``circles serve`` lives on: it never freezes (only the short follow-ups do)."""
    import ast
    import inspect

    from api import cli_followups

    tree = ast.parse(inspect.getsource(cli_followups))
    calls = {
        f.name: {c.func.id for c in ast.walk(f) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        for f in tree.body
        if isinstance(f, ast.FunctionDef)
    }
    assert "_settle" not in calls["serve_cmd"]
    for name in ("scenario_run", "site_cmd", "map_cmd"):
        assert "_settle" in calls[name]
