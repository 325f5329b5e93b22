"""Population points far from every home are listed as not assigned, never piled onto one home.

On the real Binjiang extract: a point of 1,000,000 people near Shanghai (160 km away) used to be
given to the nearest home, making its community the top gap area; now it is named in the plan's
warnings and in ``coverage.json`` and its people are said as not assigned. Hand-built homes fix
the 500 m limit exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from click.testing import CliRunner

from api.cli import main
from geo.base import load_base
from geo.demand import POINT_MAX_M, Homes, apply_population
from geo.plan import PlanInputs, PlanParams

SHANGHAI = (121.5, 31.2)


def _homes(xy: list[tuple[float, float]]) -> Homes:
    n = len(xy)
    return Homes(
        np.asarray(xy, float).reshape(-1, 2),
        np.ones(n),
        np.full(n, "building", dtype=object),
        np.arange(n).astype(object),
        "footprint",
    )


def test_a_point_exactly_at_the_limit_is_assigned_one_beyond_is_listed():
    homes = _homes([(0.0, 0.0), (5000.0, 0.0)])
    pts = shapely.points([(POINT_MAX_M, 0.0), (-POINT_MAX_M - 1, 0.0), (5000.0, 10.0)])
    out = apply_population(homes, pts, np.array([100.0, 40.0, 7.0]), source="pop.geojson")
    assert out.people.tolist() == [100.0, 7.0]
    assert [(r["row"], r["people"], r["distance_m"]) for r in out.unassigned["rows"]] == [(2, 40.0, POINT_MAX_M + 1)]
    assert "40 people in 1 points farther than 500 m from every home were not assigned" in out.method
    (warning,) = out.unassigned_warnings()
    assert "pop.geojson feature 2" in warning
    assert "40 people" in warning
    assert "501 m from the nearest home" in warning


def test_with_no_homes_every_point_is_listed_none_dropped():
    out = apply_population(_homes([]), shapely.points([(0.0, 0.0)]), np.array([9.0]), source="p")
    assert out.unassigned["rows"][0]["reason"] == "the plan holds no home"
    assert out.unassigned["rows"][0]["distance_m"] is None
    assert "9 people" in out.unassigned_warnings()[0]


def test_many_rows_are_named_up_to_ten_in_the_warning_a_thousand_in_the_list(monkeypatch):
    monkeypatch.setattr("geo.demand.LISTED_ROWS", 11)
    homes = _homes([(0.0, 0.0)])
    pts = shapely.points([(10_000.0 + i, 0.0) for i in range(12)])
    out = apply_population(homes, pts, np.full(12, 2.0), source="p")
    assert (out.unassigned["features"], out.unassigned["people"], out.unassigned["rows_left_off"]) == (12, 24.0, 1)
    assert [r["row"] for r in out.unassigned["rows"]] == list(range(1, 12))
    (warning,) = out.unassigned_warnings()
    assert "24 people in 12 features" in warning
    assert "and 2 more (the first 11 in coverage.json)" in warning
    assert "feature 10 " in warning
    assert "feature 11 " not in warning


@pytest.mark.slow
@pytest.mark.hangzhou
def test_a_point_160_km_away_is_not_given_to_a_binjiang_home(binjiang_path, cache_dir, tmp_path):
    base = load_base(PlanInputs(osm=binjiang_path), PlanParams(cache_dir=cache_dir))
    at = int(np.argmax(base.homes.people))
    lon, lat = base.network.unproject(base.homes.xy[at : at + 1])[0]
    pop = tmp_path / "pop.geojson"
    feats = [
        {
            "type": "Feature",
            "properties": {"population": 1234},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        },
        {
            "type": "Feature",
            "properties": {"population": 1_000_000},
            "geometry": {"type": "Point", "coordinates": list(SHANGHAI)},
        },
    ]
    pop.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    out = tmp_path / "o"
    res = CliRunner().invoke(
        main, ["plan", "--osm", str(binjiang_path), "--population", str(pop), "--out", str(out), "-q"]
    )
    assert res.exit_code == 0, res.output
    cov = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert cov["people"] == 1234  # the near point only; before, 1,001,234 (the far one piled onto a home)
    assert (cov["people_unassigned"]["features"], cov["people_unassigned"]["people"]) == (1, 1_000_000.0)
    (row,) = cov["people_unassigned"]["rows"]
    assert (row["row"], row["lon"], row["lat"], row["people"]) == (2, *SHANGHAI, 1_000_000.0)
    assert 150_000 < row["distance_m"] < 170_000
    assert "1000000 people in 1 points farther than 500 m from every home were not assigned" in cov["homes_method"]
    assert "feature 2 at 121.50000, 31.20000: 1,000,000 people" in res.output
    gaps = json.loads((out / "gaps.geojson").read_text(encoding="utf-8"))["features"]
    assert max((f["properties"].get("people") or 0) for f in gaps) <= 1234


@pytest.mark.slow
@pytest.mark.hangzhou
def test_with_a_study_area_points_outside_it_are_not_piled_onto_its_edge_homes(binjiang_path, cache_dir, tmp_path):
    base = load_base(PlanInputs(osm=binjiang_path), PlanParams(cache_dir=cache_dir))
    at = int(np.argmax(base.homes.people))
    x, y = base.homes.xy[at]
    box = shapely.box(x - 300, y - 300, x + 300, y + 300)
    ring = base.network.unproject(np.asarray(box.exterior.coords)).tolist()
    area = tmp_path / "area.geojson"
    area.write_text(
        json.dumps(
            {"type": "Feature", "properties": {"name": "box"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}
        ),
        encoding="utf-8",
    )
    # a point at the box's home, and one 350 m east of it: outside the box, within 500 m of its homes
    lonlat = base.network.unproject(np.array([[x, y], [x + 350, y]]))
    feats = [
        {"type": "Feature", "properties": {"population": p}, "geometry": {"type": "Point", "coordinates": list(c)}}
        for p, c in zip((100, 50), lonlat.tolist(), strict=True)
    ]
    pop = tmp_path / "pop.geojson"
    pop.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    out = tmp_path / "o"
    res = CliRunner().invoke(
        main,
        ["plan", "--osm", str(binjiang_path), "--area", str(area), "--population", str(pop), "--out", str(out), "-q"],
    )
    assert res.exit_code == 0, res.output
    cov = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert cov["people"] == 100  # before: 150, the outside point piled onto the box's edge homes
    u = cov["people_unassigned"]
    assert (u["features"], u["rows"], u["outside_area"]) == (0, [], {"features": 1, "people": 50.0})
    assert "50 people in 1 points of the population file lie outside the study area and are not counted" in res.output
