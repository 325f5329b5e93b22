"""A forged saved plan (an array rewritten and its checksum in the manifest recomputed, so the
checksums pass) is refused when it is read, naming the file and the array: NaN people once made
`circles site`/`scenario` end with an internal error and `POST /sites`, `GET /areas` answer 500;
a truncated label array gave wrong answers silently. Real data: a saved plan of Binjiang."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from geo.errors import InputError
from geo.saved import load_plan


@pytest.fixture(scope="module")
def saved(binjiang_plan, tmp_path_factory) -> Path:
    from geo.saved import PLAN_FOLDER, save_plan

    folder = tmp_path_factory.mktemp("forged-base")
    save_plan(binjiang_plan, folder / PLAN_FOLDER)
    return folder


def _forge(saved: Path, to: Path, filename: str, change) -> Path:
    """A copy of ``saved`` with ``change(arrays)`` applied to ``filename`` and its checksum recomputed."""
    shutil.copytree(saved, to)
    path = to / "plan" / filename
    with np.load(path) as z:
        arrays = {k: z[k].copy() for k in z.files}
    change(arrays)
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)
    manifest_path = to / "plan" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    data = path.read_bytes()
    manifest["files"][filename]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["files"][filename]["bytes"] = len(data)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return to


def _set(name: str, where, value):
    def change(a: dict) -> None:
        a[name][where] = value

    return change


def _first_placed(a: dict) -> None:
    a["snap_dist"][np.flatnonzero(a["snap_ok"])[0]] = np.nan


def _truncate(a: dict) -> None:
    a["v0_source"] = a["v0_source"][:10]


def _two(a: dict) -> None:
    a["people"][0] = np.nan
    a["xy"][7] = np.inf


CASES = {
    "nan people": (
        "homes.npz",
        _set("people", 0, np.nan),
        ["homes.npz: people: 1 value is not a number of people 0..100,000,000 (the first at index 0: nan)"],
    ),
    "negative people": (
        "homes.npz",
        _set("people", slice(3, 5), -2.0),
        ["homes.npz: people: 2 values are not a number of people", "index 3: -2.0"],
    ),
    "infinite coordinates": ("homes.npz", _set("xy", 7, np.inf), ["homes.npz: xy: 1 value is not finite coordinates"]),
    "nan snap distance": ("homes.npz", _first_placed, ["homes.npz: snap_dist: 1 value is not a finite distance"]),
    "labels too short": ("layers.npz", _truncate, ["layers.npz (view ", "v0_source: 10 values for "]),
    "negative facility index": (
        "layers.npz",
        _set("v0_home_src", 0, -5),
        ["v0_home_src: 1 value is not -1 or the index of one of the", "index 0: -5"],
    ),
    "nan walk distance": (
        "layers.npz",
        _set("v0_reach_dist", 2, np.nan),
        ["v0_reach_dist: 1 value is not a distance in metres ≥ 0 (the first at index 2: nan)"],
    ),
    "predecessor out of range": (
        "layers.npz",
        _set("v0_pred", 2, 10**9),
        ["v0_pred: 1 value is not -1 or the index of one of the", "index 2: 1000000000"],
    ),
    "two problems at once": ("homes.npz", _two, ["homes.npz: xy: 1 value", "; people: 1 value"]),
}


def test_the_saved_plan_itself_is_read(saved):
    """No false alarm: the plan as saved passes every check (and holds what the checks refuse nowhere)."""
    result = load_plan(saved)
    assert np.isfinite(result.homes.people).all()
    assert len(result.layers) >= 1


@pytest.mark.parametrize("case", list(CASES))
def test_a_forged_array_is_refused_naming_the_file_and_the_array(saved, tmp_path, case):
    filename, change, said = CASES[case]
    folder = _forge(saved, tmp_path / "p", filename, change)
    for lazy in (False, True):
        with pytest.raises(InputError) as err:
            load_plan(folder, lazy=lazy)
        text = str(err.value)
        assert "not a usable saved plan" in text
        assert "run `circles plan --out DIR` again" in text
        for part in said:
            assert part in text, (part, text)


def test_a_forged_plan_ends_the_commands_with_its_message_and_the_service_does_not_start(saved, tmp_path):
    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.cli import main
    from api.settings import Settings

    folder = _forge(saved, tmp_path / "p", "homes.npz", _set("people", 0, np.nan))
    edits = tmp_path / "e.geojson"
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"edit": "add_link", "name": "crossing"},
                "geometry": {"type": "LineString", "coordinates": [[120.2197, 30.2223], [120.2202, 30.2211]]},
            }
        ],
    }
    edits.write_text(json.dumps(doc), encoding="utf-8")
    runner = CliRunner()
    for args in (
        ["site", "--plan", str(folder), "--layer", "stations", "--add", "2"],
        ["scenario", str(edits), "--plan", str(folder)],
    ):
        out = tmp_path / args[0]
        r = runner.invoke(main, [*args, "--out", str(out), "-q"])
        assert r.exit_code == 2, r.output
        assert "homes.npz: people: 1 value is not a number of people" in r.output
        assert "internal error" not in r.output
        assert "Traceback" not in r.output
        assert not out.exists()
    client = TestClient(create_app(Settings(plan=folder)))
    with pytest.raises(InputError, match=r"homes\.npz: people: 1 value is not a number of people"), client:
        pass
