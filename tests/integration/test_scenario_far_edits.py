"""Scenario facility edits that would do nothing, or remove silently, are refused.

* ``add_facility`` / ``move_facility`` farther than the plan's snap limit (300 m) from every
  walkable way: a facility of a plan's file that far is listed as not placed, but an edit that
  far only does nothing (added) or removes the facility (moved), so it is refused with the edit,
  its place and the distance, as a link end too far from the streets is;
* ``add_facility`` with an id the layer already holds is refused, naming the id and the layer.

Exact limits on a hand-built street; the QA pass's edits (a centre near Shanghai, one moved to
latitude 30.5) on the real Binjiang plan, through the engine, the command line and the API.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from api.cli import main
from geo.errors import InputError
from geo.network import network_from_lines
from geo.plan import PlanInputs, PlanParams, plan
from geo.scenarios import scenario_from_doc
from geo.whatif import run_scenario
from tests.conftest import toy_base

PARAMS = PlanParams(minutes=(5.0,), speed_kmh=4.8)  # snap limit: the default 300 m


def _street():
    """One street y=0, x 0..400; a station s0 at (0, 0); a home at (400, 10)."""
    net = network_from_lines([[(0, 0), (200, 0), (400, 0)]])
    base = toy_base(
        net, [[400.0, 10.0]], [5.0], facilities={"stations": [{"id": "s0", "name": "老站", "x": 0.0, "y": 0.0}]}
    )
    return plan(PlanInputs(), PARAMS, base=base)


def _doc(*edits):
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in edits],
    }


def _at(net, x, y):
    return {"type": "Point", "coordinates": net.unproject(np.array([[x, y]], float))[0].tolist()}


def test_a_facility_at_the_snap_limit_is_placed_one_metre_beyond_is_refused():
    before = _street()
    net = before.network
    ok = run_scenario(before, scenario_from_doc(_doc(({"edit": "add_facility", "layer": "stations"}, _at(net, 400, 299)))))
    assert before.layers["stations"].home_dist[0] == pytest.approx(400.0)
    assert ok.after.layers["stations"].home_dist[0] == pytest.approx(0.0)  # placed at (400, 0), as the home
    sc = scenario_from_doc(
        _doc(
            ({"edit": "add_facility", "layer": "stations", "id": "n1"}, _at(net, 400, 301)),
            ({"edit": "move_facility", "layer": "stations", "id": "s0"}, _at(net, 0, -301)),
        ),
        source="s.geojson",
    )
    with pytest.raises(InputError) as err:
        run_scenario(before, sc)
    msg = str(err.value)
    assert msg.startswith("s.geojson: 2 problems:")
    assert "feature 1 (add_facility): layer stations: the facility at " in msg
    assert " is 301 m from the nearest walkable way (limit 300 m" in msg
    assert "feature 2 (move_facility): layer stations: the facility at " in msg


def test_adding_a_facility_with_an_id_the_layer_has_is_refused():
    before = _street()
    net = before.network
    sc = scenario_from_doc(
        _doc(
            ({"edit": "add_facility", "layer": "stations", "id": "s0"}, _at(net, 200, 0)),
            ({"edit": "add_facility", "layer": "stations", "id": "n1"}, _at(net, 100, 0)),
            ({"edit": "add_facility", "layer": "stations", "id": "n1"}, _at(net, 300, 0)),
        )
    )
    with pytest.raises(InputError) as err:
        run_scenario(before, sc)
    msg = str(err.value)
    assert "feature 1 (add_facility): layer stations already has a facility with id 's0' (老站)" in msg
    assert msg.startswith("scenario: 2 problems:")  # the first n1 is new
    assert "feature 3 (add_facility): layer stations already has a facility with id 'n1' (new stations (feature 2))" in msg


@pytest.fixture(scope="module")
def bj(binjiang_path, cache_dir, tmp_path_factory):
    """The Binjiang plan, and it saved (the command line's follow-ups start from it)."""
    out = tmp_path_factory.mktemp("bj") / "o"
    res = CliRunner().invoke(main, ["plan", "--osm", str(binjiang_path), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    return plan(PlanInputs(osm=binjiang_path), PlanParams(cache_dir=cache_dir)), out / "plan"


FAR = (121.5, 31.2)  # near Shanghai, ~160 km from the Binjiang extract


def _centre(result):
    fac = result.layers["centres"].facilities
    ok = result.layers["centres"].snapped.ok
    row = fac[ok].iloc[0]
    return str(row["id"]), str(row["name"]), (float(row.geometry.x), float(row.geometry.y))


@pytest.mark.slow
@pytest.mark.hangzhou
def test_qa_edits_on_binjiang_are_refused_by_the_engine_and_the_command_line(bj, tmp_path):
    result, saved = bj
    cid, cname, (lon, lat) = _centre(result)
    pt = {"type": "Point", "coordinates": list(FAR)}
    moved = {"type": "Point", "coordinates": [lon, 30.5]}
    doc = _doc(
        ({"edit": "add_facility", "layer": "centres", "id": "n1", "name": "上海站"}, pt),
        ({"edit": "move_facility", "layer": "centres", "id": cid}, moved),
        ({"edit": "add_facility", "layer": "centres", "id": cid}, {"type": "Point", "coordinates": [lon, lat]}),
    )
    with pytest.raises(InputError) as err:
        run_scenario(result, scenario_from_doc(doc, source="far.geojson"))
    msg = str(err.value)
    assert msg.startswith("far.geojson: 3 problems:")
    assert "feature 1 (add_facility): layer centres: the facility at 121.500000, 31.200000 (WGS84) is 15" in msg
    assert f"feature 2 (move_facility): layer centres: the facility at {lon:.6f}, 30.500000 (WGS84) is " in msg
    assert f"feature 3 (add_facility): layer centres already has a facility with id {cid!r} ({cname})" in msg
    path = tmp_path / "far.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    res = CliRunner().invoke(main, ["scenario", str(path), "--plan", str(saved), "--out", str(tmp_path / "s")])
    assert res.exit_code == 2, res.output
    assert "feature 1 (add_facility): layer centres: the facility at 121.500000, 31.200000" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "s").exists()
