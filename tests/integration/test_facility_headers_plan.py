"""A Binjiang plan from a facility file whose headers name its coordinate system (经度(高德)) and
that gives no --crs is the plan of the same file given with --crs gcj02 (it was read as WGS84,
its stations half a kilometre off)."""

from __future__ import annotations

from pathlib import Path

from geo.plan import PlanInputs, PlanParams, plan

DATA = Path(__file__).resolve().parents[1] / "data"
STATIONS = DATA / "binjiang_stations_gcj02_gbk.csv"


def test_a_gcj02_header_plans_as_crs_gcj02(binjiang_path, cache_dir, tmp_path):
    text = STATIONS.read_bytes().decode("gbk")
    head, rest = text.split("\n", 1)
    assert head.startswith("名称,经度,纬度,")
    headed = tmp_path / STATIONS.name  # the same name: the same sources in coverage.json
    headed.write_text(head.replace("经度,纬度", "经度(高德),纬度(高德)", 1) + "\n" + rest, encoding="utf-8")
    params = PlanParams(per_facility=False, cache_dir=cache_dir)
    given = plan(PlanInputs(osm=binjiang_path, layer_files={"stations": STATIONS}, crs="gcj02"), params)
    named = plan(PlanInputs(osm=binjiang_path, layer_files={"stations": headed}), params)
    a, b = given.layers["stations"].facilities, named.layers["stations"].facilities
    assert len(a) == len(b) > 10
    assert a.geometry.x.tolist() == b.geometry.x.tolist()
    assert a.geometry.y.tolist() == b.geometry.y.tolist()
    assert named.coverage["layers"] == given.coverage["layers"]
    assert any("coordinates read as GCJ-02, as the headers 经度(高德), 纬度(高德) say" in w for w in named.warnings)
