"""Output sets inside an output set (a follow-up's ``out/scenario`` beside the plan in ``out``):
kept when the outer set is written again, never listed as its files, never lost to an
interruption; the saved plan's own folder stays closed to them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo.errors import InputError
from geo.outputs import MARK, check_out, nested_sets, write_folder


def _set(folder: Path, files: dict[str, str], kind: str = "test") -> list[Path]:
    def write(tmp: Path) -> list[Path]:
        out = []
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text, encoding="utf-8")
            out.append(tmp / name)
        return out

    return write_folder(folder, kind, write)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_set_written_again_keeps_the_sets_inside_it(tmp_path):
    out = tmp_path / "out"
    _set(out, {"coverage.json": "1", "plan/manifest.json": "{}"})
    _set(out / "scenario", {"coverage.json": "s1", "map.html": "<p>"})
    _set(out / "runs" / "s2", {"coverage.json": "s2"})
    inner = {n: _tree(out / n) for n in ("scenario", "runs/s2")}
    assert nested_sets(out) == ["runs/s2", "scenario"]
    _set(out, {"coverage.json": "2", "plan/manifest.json": "{}"})  # the plan again
    assert (out / "coverage.json").read_text() == "2"
    assert {n: _tree(out / n) for n in ("scenario", "runs/s2")} == inner
    listed = json.loads((out / MARK).read_text("utf-8"))["files"]
    assert set(listed) == {"coverage.json", "plan/manifest.json"}


def test_an_interrupted_write_leaves_the_old_set_and_the_sets_inside_it(tmp_path):
    out = tmp_path / "out"
    _set(out, {"coverage.json": "1"})
    _set(out / "scenario", {"coverage.json": "s1"})
    before = _tree(out)

    def broken(tmp: Path) -> list[Path]:
        (tmp / "coverage.json").write_text("half", encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_folder(out, "test", broken)
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_foreign_files_are_still_refused_and_sets_where_own_folders_go(tmp_path):
    out = tmp_path / "out"
    _set(out, {"coverage.json": "1"})
    _set(out / "scenario", {"coverage.json": "s1"})
    (out / "scenario" / "notes.txt").write_text("mine", encoding="utf-8")  # inside the inner set: its business
    check_out(out)
    with pytest.raises(InputError, match="not part of its last output set"):
        check_out(out / "scenario")
    (out / "stray.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match=r"not part of its last output set \(stray.txt\)"):
        check_out(out)
    (out / "stray.txt").unlink()
    _set(out / "tables", {"x.csv": "a"})
    with pytest.raises(InputError, match=r"holds output sets where its own folders go \(tables\)"):
        check_out(out)


def test_an_out_inside_the_saved_plan_read_is_refused(tmp_path):
    plan = tmp_path / "out" / "plan"
    plan.mkdir(parents=True)
    with pytest.raises(InputError, match="is inside the saved plan this command reads"):
        check_out(plan / "sub", reads=plan)
    with pytest.raises(InputError, match="holds the saved plan this command reads"):
        check_out(tmp_path / "out", reads=plan)
    check_out(tmp_path / "out" / "scenario", reads=plan)  # beside the plan, inside its set: fine
