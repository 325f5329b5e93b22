"""What a plan says instead of failing or dropping silently, on the real Binjiang extract: the
rows of a facility file outside the study area, and per-facility circles beyond the memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geo.plan
from geo.memory import _cgroup_left, per_facility_bytes
from geo.plan import PlanInputs, PlanParams, plan

DATA = Path(__file__).resolve().parents[1] / "data"
STATIONS = DATA / "binjiang_stations_gcj02_gbk.csv"


def test_rows_of_a_facility_file_outside_the_study_area_are_named(binjiang_path, cache_dir):
    """A street's plan uses the stations of the file within its halo; the others are named in a
    warning (each with its file and row), their number and the file's: none vanish silently."""
    from geo.layers import read_facilities

    rows = read_facilities(STATIONS, layer="stations", crs="gcj02").facilities
    res = plan(PlanInputs(osm=binjiang_path, area="浦沿街道", layer_files={"stations": STATIONS}, crs="gcj02"),
               PlanParams(per_facility=False, cache_dir=cache_dir))
    used = len(res.layers["stations"].facilities)
    assert 0 < used < len(rows)
    said = [w for w in res.warnings if w.startswith("stations: ") and "outside the study area" in w]
    assert len(said) == 1
    assert f"{len(rows) - used} of the {len(rows)} facilities" in said[0]
    left = rows[~rows["id"].isin(set(res.layers["stations"].facilities["id"]))]
    for r in left.head(10).itertuples():
        assert str(r.source) in said[0]


def test_per_facility_circles_beyond_the_memory_are_left_out_with_a_warning(binjiang_path, cache_dir, monkeypatch):
    """With less memory available than the per-facility circles would take, the plan leaves them
    out and says so; coverage and the dissolved circles are those of a plan that draws them."""
    inputs = PlanInputs(osm=binjiang_path, layer_files={"stations": STATIONS}, crs="gcj02")
    full = plan(inputs, PlanParams(cache_dir=cache_dir))
    n = int(sum(lr.snapped.ok.sum() for lr in full.layers.values()))
    need = per_facility_bytes(n, thresholds=len(full.params.limits()), cell_m=full.params.cell())
    monkeypatch.setattr(geo.plan, "available_memory", lambda: int(need))  # need > half of it
    short = plan(inputs, PlanParams(cache_dir=cache_dir))
    assert (full.circles["scope"] == "facility").any()
    assert not (short.circles["scope"] == "facility").any()
    assert not short.params.per_facility
    assert any(w.startswith("per-facility circles left out:") and f"{n:,} facilities" in w for w in short.warnings)
    assert short.coverage["layers"] == full.coverage["layers"]
    a, b = (r.circles[r.circles["scope"] != "facility"].reset_index(drop=True) for r in (full, short))
    assert len(a) == len(b) > 0
    assert a.geometry.normalize().geom_equals_exact(b.geometry.normalize(), tolerance=1e-9).all()
    monkeypatch.setattr(geo.plan, "available_memory", lambda: int(2.5 * need))  # fits: drawn
    assert (plan(inputs, PlanParams(cache_dir=cache_dir)).circles["scope"] == "facility").any()


@pytest.mark.parametrize(("limit", "current", "want"), [("max\n", "100", None), ("1000\n", "250\n", 750), ("5", "9", 0)])
def test_the_control_groups_memory_limit_bounds_what_is_available(tmp_path, limit, current, want):
    (tmp_path / "memory.max").write_text(limit)
    (tmp_path / "memory.current").write_text(current)
    assert _cgroup_left(tmp_path) == want


def test_an_area_file_s_repairs_leftovers_and_emptiness_are_said(binjiang_path, cache_dir, tmp_path):
    """A self-intersecting (bow-tie) area is repaired and the plan says so; points and lines in an
    area file are named as not part of it; an area holding no homes says why its shares are 0."""
    import json

    def area(name, features):
        path = tmp_path / f"{name}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": g} for g in features]}), encoding="utf-8")
        return path

    box = {"type": "Polygon", "coordinates": [[[120.17, 30.18], [120.21, 30.18], [120.21, 30.21], [120.17, 30.21],
                                               [120.17, 30.18]]]}
    bowtie = {"type": "Polygon", "coordinates": [[[120.17, 30.18], [120.21, 30.21], [120.21, 30.18], [120.17, 30.21],
                                                  [120.17, 30.18]]]}
    tiny = {"type": "Polygon", "coordinates": [[[120.2, 30.2], [120.20001, 30.2], [120.20001, 30.20001],
                                                [120.2, 30.20001], [120.2, 30.2]]]}
    mixed = [box, {"type": "Point", "coordinates": [120.2, 30.2]},
             {"type": "LineString", "coordinates": [[120.2, 30.2], [120.21, 30.21]]}]
    params = PlanParams(per_facility=False, cache_dir=cache_dir)

    def said(path):
        return plan(PlanInputs(osm=binjiang_path, area=str(path)), params)

    res = said(area("bowtie", [bowtie]))
    assert any("bowtie.geojson: feature 1 is not a valid polygon (Self-intersection" in w for w in res.warnings)
    assert len(res.homes) > 0
    res = said(area("mixed", mixed))
    assert any("mixed.geojson: 2 features that are not polygons" in w and "feature 2 (Point), feature 3 (LineString)" in w
               for w in res.warnings)
    assert not any("not a valid polygon" in w for w in res.warnings)
    res = said(area("tiny", [tiny]))
    assert len(res.homes) == 0
    assert any("holds none of the extract's homes" in w for w in res.warnings)
