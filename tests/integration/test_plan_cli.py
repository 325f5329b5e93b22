"""`circles plan` end to end on real OSM data, through the command line."""

import json

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner

from api.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def helsinki_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hel")
    res = CliRunner().invoke(main, ["plan", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    return out


def test_default_run_writes_every_output_and_the_saved_plan(helsinki_run):
    for name in ("coverage.json", "circles.geojson", "gaps.geojson", "facilities.geojson", "map.html",
                 "outputs.json", "plan/manifest.json"):
        assert (helsinki_run / name).stat().st_size > 0, name


def test_coverage_json_has_the_stable_shape(helsinki_run):
    cov = json.loads((helsinki_run / "coverage.json").read_text("utf-8"))
    assert cov["profile"] == "adult" and cov["speed_kmh"] == 4.8
    assert cov["source"].endswith("Helsinki.osm.pbf")
    assert cov["homes_method"].startswith("footprint")
    assert set(cov["layers"]) == {"centres", "stations", "charging"}
    assert cov["layers"]["centres"]["facilities"] == 3  # Helsinki's community centres
    # Helsinki's OSM holds no 驿站 and only car chargers: said so, not filled with look-alikes
    assert cov["layers"]["stations"]["facilities"] == 0 and "--stations FILE" in cov["layers"]["stations"]["note"]
    assert "4 charging stations with no sign of two-wheeler use" in cov["layers"]["charging"]["note"]
    for layer in cov["layers"].values():
        assert isinstance(layer["unsnapped"], list)
        m10, m15 = layer["minutes"]["10"], layer["minutes"]["15"]
        assert m10["homes"] == m15["homes"] == cov["homes"]
        assert 0 <= m10["homes_covered"] <= m15["homes_covered"] <= m15["homes"]
        assert 0 <= m10["people_covered"] <= m15["people_covered"] <= m15["people"]
        assert m10["metres"] == 800.0 and m15["metres"] == 1200.0


def test_circles_are_wgs84_polygons_per_layer_and_threshold(helsinki_run):
    c = gpd.read_file(helsinki_run / "circles.geojson")
    assert c.crs.to_epsg() == 4326
    lon0, lat0, lon1, lat1 = c.total_bounds
    assert 24.8 < lon0 < lon1 < 25.1 and 60.1 < lat0 < lat1 < 60.25  # Helsinki, lon/lat order
    layer_rows = c[c.get("scope", "layer") == "layer"] if "scope" in c else c
    assert {(r.layer, r.minutes) for r in layer_rows.itertuples()} >= {("centres", 10.0), ("centres", 15.0)}
    for layer, grp in layer_rows.groupby("layer"):
        small = grp[grp.minutes == 10].geometry.iloc[0]
        big = grp[grp.minutes == 15].geometry.iloc[0]
        assert small.buffer(-0.5 / 111000).within(big.buffer(1e-6)), layer


def test_gaps_count_the_uncovered_homes(helsinki_run):
    cov = json.loads((helsinki_run / "coverage.json").read_text("utf-8"))
    g = gpd.read_file(helsinki_run / "gaps.geojson")
    for layer, info in cov["layers"].items():
        if info["snapped"] == 0:
            continue  # a layer with nothing placed has no circle to draw its gaps against
        for m, fig in info["minutes"].items():
            sub = g[(g.layer == layer) & (g.minutes == float(m))]
            # covered + uncovered = all homes
            assert fig["homes_covered"] + int(sub.homes.sum()) == fig["homes"], (layer, m)
            assert sub.people.sum() == pytest.approx(fig["people"] - fig["people_covered"], abs=2)


def test_second_run_reloads_the_cached_network(tmp_path):
    from geo.base import load_base
    from geo.plan import PlanInputs, PlanParams

    params = PlanParams(cache_dir=tmp_path / "cache")
    said = []
    a = load_base(PlanInputs(), params, progress=said.append)
    b = load_base(PlanInputs(), params, progress=said.append)
    assert not any("cache" in s for s in said[:-1]) and "reloaded from the cache" in said[-1]
    assert np.array_equal(a.network.edge_len, b.network.edge_len)
    assert np.array_equal(a.homes.people, b.homes.people)
    # the same bytes under another name reuse the cache but report the path given
    import shutil

    copy = tmp_path / "elsewhere.osm.pbf"
    shutil.copy(a.source, copy)
    c = load_base(PlanInputs(osm=copy), params, progress=said.append)
    assert "reloaded from the cache" in said[-1] and c.source == str(copy)


def test_hangzhou_plan_derives_layers_from_osm_tags(binjiang_path, tmp_path):
    res = CliRunner().invoke(main, ["plan", "--osm", str(binjiang_path), "--out", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    cov = json.loads((tmp_path / "coverage.json").read_text("utf-8"))
    assert cov["layers"]["centres"]["facilities"] >= 5  # 党群服务中心 and community centres, no 社区 place nodes
    circles_text = (tmp_path / "circles.geojson").read_text("utf-8")
    assert '"type":"FeatureCollection"' in circles_text
    assert "2026-04-01" <= cov["data_date"] <= "2026-05-08"  # the newest object; the snapshot is of 2026-05-08


def test_facility_files_replace_the_osm_layers(tmp_path):
    src = tmp_path / "centres.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "中心站 A", "tier": "community"},
         "geometry": {"type": "Point", "coordinates": [24.9410, 60.1700]}},
        {"type": "Feature", "properties": {"name": "远处 B", "tier": "street"},
         "geometry": {"type": "Point", "coordinates": [25.5, 60.5]}},
    ]}, ensure_ascii=False), encoding="utf-8")
    res = CliRunner().invoke(main, ["plan", "--centres", str(src), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 0, res.output
    cov = json.loads((tmp_path / "o" / "coverage.json").read_text("utf-8"))
    assert cov["layers"]["centres"]["facilities"] == 2
    assert [u["name"] for u in cov["layers"]["centres"]["unsnapped"]] == ["远处 B"]
    assert "远处 B" in res.output and "not placed on the network" in res.output


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--osm", "nope.osm.pbf"], "nope.osm.pbf: file not found"),
        (["--minutes", "10,abc"], "--minutes: '10,abc' is not a comma-separated list of numbers"),
        (["--minutes", "0,500"], "--minutes: 0 is not a walk time: give minutes above 0 and at most 120"),
        (["--profile", "runner"], "--profile: unknown profile 'runner': expected one of adult, elderly"),
        (["--profile", "adult,adult"], "--profile: adult, adult names a profile twice"),
        (["--profile", "adult,elderly", "--speed", "3"], "--speed 3 gives every profile the same speed"),
        (["--width", "-5"], "--width: -5 m is outside 1..500"),
        (["--width", "nan"], "--width: nan m is outside 1..500"),
        (["--speed", "inf"], "--speed: inf km/h is outside 0.5..10"),
    ],
)
def test_bad_input_gives_a_message_and_exit_2_without_traceback(tmp_path, args, expected):
    res = CliRunner().invoke(main, ["plan", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert expected in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_empty_and_wrong_files_are_named(tmp_path):
    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    res = CliRunner().invoke(main, ["plan", "--osm", str(empty), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "empty.osm.pbf: the file is empty" in res.output
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    res = CliRunner().invoke(main, ["plan", "--osm", str(txt), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unsupported file type '.txt'" in res.output
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"this is not protobuf at all" * 10)
    res = CliRunner().invoke(main, ["plan", "--osm", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "broken.osm.pbf: cannot be read as OpenStreetMap data" in res.output
