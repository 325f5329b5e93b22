"""A follow-up refuses an --out that is, or holds, the saved plan it reads (writing its output set
there would delete the plan it starts from); the plan is left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from geo.outputs import check_out
from geo.saved import PLAN_FOLDER, load_plan


def _edits(tmp_path: Path) -> Path:
    f = tmp_path / "edits.geojson"
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres"},
         "geometry": {"type": "Point", "coordinates": [0, 0]}}]}
    f.write_text(json.dumps(doc), encoding="utf-8")
    return f


@pytest.mark.parametrize("given", ["folder", "plan"])
@pytest.mark.parametrize("out", ["folder", "plan"])
@pytest.mark.parametrize("command", ["map", "scenario", "site"])
def test_a_follow_up_does_not_write_over_the_plan_it_reads(saved, tmp_path, command, given, out):
    before = sorted(p.relative_to(saved) for p in saved.rglob("*"))
    plan_arg = saved if given == "folder" else saved / PLAN_FOLDER
    out_arg = saved if out == "folder" else saved / PLAN_FOLDER
    args = {"map": ["map"], "scenario": ["scenario", str(_edits(tmp_path))], "site": ["site", "--add", "1"]}[command]
    r = CliRunner().invoke(main, [*args, "--plan", str(plan_arg), "--out", str(out_arg), "-q"])
    assert r.exit_code == 2, r.output
    assert "holds the saved plan this command reads" in r.output
    assert sorted(p.relative_to(saved) for p in saved.rglob("*")) == before
    load_plan(saved)  # still whole


def test_check_out_refuses_only_folders_holding_what_is_read(tmp_path):
    plan = tmp_path / "p" / PLAN_FOLDER
    plan.mkdir(parents=True)
    check_out(tmp_path / "q", reads=plan)  # beside it: fine
    check_out(tmp_path / "p" / "sub", reads=plan)  # inside the plan's folder, not holding it: fine
    for bad in (tmp_path / "p", plan, tmp_path):
        with pytest.raises(Exception, match="holds the saved plan"):
            check_out(bad, reads=plan)
