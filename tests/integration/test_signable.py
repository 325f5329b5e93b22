"""Answers a district planner can sign (issue 13, sections 1, 2, 4 and 5) on the real Hangzhou extracts.

The study area 滨江区 is cut out of the merged extract; what the plan counts is checked against
the boundary itself (homes inside it, land area by an independent projection), and every
polygon the writers put on disk is read back and checked for OGC validity, the right-hand rule
and, for gap areas, overlap with the circle of the same view, threshold and profile.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from geo.errors import InputError
from geo.plan import PlanInputs, PlanParams, plan
from tests.conftest import DATA

AREA = "滨江区"
FILES = {"stations": DATA / "binjiang_stations_gcj02_gbk.csv", "charging": DATA / "binjiang_charging_gcj02_gbk.csv"}


@pytest.fixture(scope="module")
def bj(merged_path, cache_dir):
    """Binjiang cut out of the merged extract: planners' stations and charging points (GCJ-02
    files), OSM centres, two profiles, a night view."""
    return plan(PlanInputs(osm=merged_path, area=AREA, layer_files=FILES, crs="gcj02"),
                PlanParams(at="22:00", profiles=("adult", "elderly"), cache_dir=cache_dir))


@pytest.fixture(scope="module")
def merged_base(merged_path, cache_dir):
    from geo.base import load_base

    return load_base(PlanInputs(osm=merged_path), PlanParams(cache_dir=cache_dir))


@pytest.fixture(scope="module")
def merged_raw(merged_path):
    from geo.osm import read_osm

    return read_osm(merged_path)


def _utm(lon0: float):
    import pyproj

    zone = int((lon0 + 180) // 6) + 1
    return pyproj.Transformer.from_crs(4326, 32600 + zone, always_xy=True)


def _metric(geom, tr):
    return shapely.transform(geom, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


# ---------------------------------------------------------------- 1. study area


def test_area_counts_homes_inside_only_and_names_itself(bj, merged_base):
    area = bj.area
    assert area is not None and area.name == AREA and area.level == "district"
    inside = shapely.contains_xy(area.metric, bj.homes.xy[:, 0], bj.homes.xy[:, 1])
    assert inside.all()
    base_inside = shapely.contains_xy(area.metric, merged_base.homes.xy[:, 0], merged_base.homes.xy[:, 1])
    assert len(bj.homes) == int(base_inside.sum()) < len(merged_base.homes)
    cov = bj.coverage
    assert cov["homes"] == len(bj.homes)
    assert cov["area"]["name"] == AREA and "admin_level=6" in cov["area"]["source"]
    # the land area, by an independent projection (pyproj UTM of the boundary itself)
    geom = area.geometry
    want = _metric(geom, _utm(geom.centroid.x)).area / 1e6
    assert cov["area"]["land_km2"] == pytest.approx(want, rel=0.005)


def test_network_and_facilities_reach_into_the_halo(bj):
    area = bj.area
    net = bj.network
    outside = ~shapely.contains_xy(area.metric, net.node_xy[:, 0], net.node_xy[:, 1])
    assert outside.mean() > 0.05  # streets beyond the boundary are walked
    d = shapely.distance(area.metric, shapely.points(net.node_xy[outside]))
    assert d.max() <= bj.params.halo() + 1.0
    # a facility outside the district still serves people inside it
    fac = bj.facilities
    xy = net.project(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    out = ~shapely.contains_xy(area.metric, xy[:, 0], xy[:, 1])
    people = fac[[c for c in fac.columns if c.startswith("people_nearest_15min")][0]].to_numpy()
    assert out.any() and (people[out] > 0).any()


def test_area_file_in_any_declared_crs_or_gcj02_gives_the_same_homes(bj, merged_base, tmp_path):
    from geo.areas import resolve_area
    from geo.crs import wgs84_to_gcj02
    from geo.plan import clip_to_area

    geom = bj.area.geometry
    gpd.GeoDataFrame({"name": ["滨江 from a file"]}, geometry=[geom], crs=4326).to_crs(3857).to_file(
        tmp_path / "area.gpkg", driver="GPKG")
    gcj = shapely.transform(geom, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))
    assert shapely.hausdorff_distance(gcj, geom) > 0.003  # hundreds of metres off as given
    gpd.GeoDataFrame({"name": ["滨江 in AMap coordinates"]}, geometry=[gcj], crs=4326).to_file(
        tmp_path / "gcj.geojson", driver="GeoJSON")
    for path, crs, name in ((tmp_path / "area.gpkg", None, "滨江 from a file"),
                            (tmp_path / "gcj.geojson", "gcj02", "滨江 in AMap coordinates")):
        area = resolve_area(path, crs=crs)
        assert area.name == name and area.source == path.name and area.level is None
        assert shapely.hausdorff_distance(area.geometry, geom) < 1e-6
        clip = clip_to_area(merged_base, PlanInputs(), bj.params, area=area)
        assert abs(len(clip.homes) - len(bj.homes)) <= 1  # a home on the line may fall either way
    # without --crs the AMap polygon is taken as WGS84: a different set of homes
    off = clip_to_area(merged_base, PlanInputs(), bj.params, area=resolve_area(tmp_path / "gcj.geojson"))
    assert abs(len(off.homes) - len(bj.homes)) > 5


def test_unknown_area_lists_the_closest_names_with_levels(merged_base):
    from geo.areas import resolve_area

    with pytest.raises(InputError) as err:
        resolve_area("滨江", admin=merged_base.admin)
    assert "no admin boundary named '滨江'" in str(err.value) and "滨江区 (district)" in str(err.value)
    with pytest.raises(InputError) as err:
        resolve_area("西兴", admin=merged_base.admin)
    assert "西兴街道 (street)" in str(err.value)
    with pytest.raises(InputError) as err:
        resolve_area(AREA, level="street", admin=merged_base.admin)
    assert "at level street" in str(err.value)
    assert resolve_area("西兴街道", level="street", admin=merged_base.admin).level == "street"


def test_area_outside_the_extract_is_an_error(merged_path, cache_dir, tmp_path):
    far = tmp_path / "helsinki.geojson"
    gpd.GeoDataFrame({"name": ["Kallio"]}, geometry=[shapely.box(24.94, 60.18, 24.96, 60.19)], crs=4326).to_file(
        far, driver="GeoJSON")
    with pytest.raises(InputError) as err:
        plan(PlanInputs(osm=merged_path, area=str(far)), PlanParams(cache_dir=cache_dir, per_facility=False))
    assert "'Kallio' lies outside the extract hangzhou_central_merged.osm.pbf" in str(err.value)


def test_extract_not_covering_area_and_halo_says_how_much_is_missing(binjiang_path, merged_base, cache_dir):
    """The Binjiang clip holds the whole district boundary but not all of it, nor its halo."""
    from geo.base import load_base
    from geo.plan import clip_to_area

    clip_base = load_base(PlanInputs(osm=binjiang_path), PlanParams(cache_dir=cache_dir))
    clip = clip_to_area(clip_base, PlanInputs(osm=binjiang_path, area=AREA), PlanParams())
    text = " ".join(clip.warnings)
    assert "halo" in text and "km²" in text and "binjiang_clip.osm.pbf" in text
    # the figure said is the halo's area beyond the clip's streets, measured here independently
    full = clip_to_area(merged_base, PlanInputs(area=AREA), PlanParams())
    assert not any("halo" in w for w in full.warnings)


# ---------------------------------------------------------------- 2. OSM layers


def test_osm_centres_are_centres_and_offices_not_government(merged_base, merged_raw):
    import re

    cen = merged_base.osm_facilities["centres"]
    names = [n for n in cen["name"] if isinstance(n, str)]
    gov = re.compile("人民政府|街道办事处|法院|检察院|公安|派出所|税务")
    assert not [n for n in names if gov.search(n)]
    # every 党群服务中心 and every 居委会/村委会 the raw extract names is a centre
    raw = {t.get("name") for k, t in zip(merged_raw.features.kind, merged_raw.features.tags) if k == "poi"}
    party = {n for n in raw if n and "党群服务中心" in n}
    offices = {n for n in raw if n and re.search("居委会|村委会|村委员会|居民委员会|村民委员会", n) and not gov.search(n)}
    assert party and party <= set(names)
    assert len(offices) >= 10 and offices <= set(names)
    tier = dict(zip(cen["name"], cen["tier"]))
    assert tier["萧山区所前镇党群服务中心"] == "street"
    assert tier["新塘街道郎家浜社区党群服务中心"] == "community"
    assert tier["杭州市西湖街道梅家坞村民委员会"] == "community"
    assert tier["中共金西村委会"] == "community"
    assert tier["滨江区青少年活动中心"] == "district"
    assert set(cen["tier"]) <= {"district", "street", "community", "special"}
    assert "government offices" in merged_base.layer_notes["centres"]


def test_osm_charging_leaves_out_car_chargers_and_says_how_many(merged_base, merged_raw):
    chargers = [t for k, t in zip(merged_raw.features.kind, merged_raw.features.tags)
                if k == "poi" and t.get("amenity") == "charging_station"]
    car = [t for t in chargers if t.get("motorcar") == "yes" or any(
        b in (t.get("brand", "") + t.get("operator", "") + t.get("name", "")).lower()
        for b in ("tesla", "nio", "蔚来", "特斯拉", "问界"))]
    assert len(car) == len(chargers) == 8
    assert len(merged_base.osm_facilities["charging"]) == 0
    note = merged_base.layer_notes["charging"]
    assert note.startswith("8 car chargers") and "give your own list (--charging FILE)" in note


def test_osm_stations_are_named_stations_not_parcel_lockers(merged_base):
    st = merged_base.osm_facilities["stations"]
    assert len(st) >= 1
    assert all("驿站" in n for n in st["name"])
    assert not any(k in n for n in st["name"] for k in ("菜鸟", "中邮", "邮政"))
    assert merged_base.layer_notes["stations"].startswith("4 parcel lockers")


def test_brand_regex_rules_match_a_tag(tmp_path):
    from geo.osm_layers import load_rules

    p = tmp_path / "rules.toml"
    p.write_text('[[rule]]\nlayer = "charging"\naction = "exclude"\nnote = "cars"\n'
                 'match = { amenity = ["charging_station"] }\nany = [ { brand_regex = "(?i)tesla" } ]\n'
                 '[[rule]]\nlayer = "charging"\nbrand_regex = "("\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_rules(p)
    assert "rule 2" in str(err.value)
    p.write_text(p.read_text(encoding="utf-8").replace('brand_regex = "("', 'match = { amenity = ["x"] }'),
                 encoding="utf-8")
    rules = load_rules(p)
    assert rules[0].matches({"amenity": "charging_station", "brand": "Tesla Supercharger"})
    assert not rules[0].matches({"amenity": "charging_station", "name": "Tesla"})


# ---------------------------------------------------------------- written files


def _write_all(result, folder, *, scenario=None, sites=None):
    from api.outputs import study_area_frame
    from geo.io import write_geojson, write_gpkg

    folder.mkdir(parents=True, exist_ok=True)
    frames = {"circles": result.circles, "gaps": result.gaps, "facilities": result.facilities,
              "area": study_area_frame(result.area)}
    if scenario is not None:
        frames["changed_areas"] = scenario.areas
        frames["circles_after"] = scenario.after.circles
    if sites is not None:
        frames["site_circles"] = sites.circles
    for name, gdf in frames.items():
        write_geojson(folder / f"{name}.geojson", gdf, name=name)
    write_gpkg(folder / "plan.gpkg", frames)
    return list(frames)


def _rings_right_hand(geom) -> bool:
    for p in shapely.get_parts(geom):
        if p.geom_type != "Polygon":
            continue
        if not p.exterior.is_ccw or any(r.is_ccw for r in p.interiors):
            return False
    return True


@pytest.fixture(scope="module")
def written(bj, tmp_path_factory):
    """Every table a plan, a scenario (a centre added in AMap coordinates) and a siting run write,
    written by the writers the CLI uses (GeoJSON and GeoPackage) into one folder."""
    from geo.crs import wgs84_to_gcj02
    from geo.scenarios import scenario_from_doc
    from geo.siting import site
    from geo.whatif import run_scenario

    far = bj.layers["centres"].home_dist.copy()
    far[~np.isfinite(far)] = -1
    lon, lat = (float(v) for v in bj.network.unproject(bj.homes.xy[int(np.argmax(far))])[0])
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "新中心"},
         "geometry": {"type": "Point", "coordinates": [glon, glat]}}]}
    outcome = run_scenario(bj, scenario_from_doc(doc, crs="gcj02"))
    sites = site(bj, layer="stations", add=3)
    folder = tmp_path_factory.mktemp("signable")
    names = _write_all(bj, folder, scenario=outcome, sites=sites)
    return folder, names, outcome, sites, (lon, lat)


def test_every_written_polygon_is_valid_and_right_handed(written):
    folder, names, *_ = written
    counted = 0
    for name in names:
        doc = json.loads((folder / f"{name}.geojson").read_text(encoding="utf-8"))
        for f in doc["features"]:
            g = f["geometry"]
            if g is None or "Polygon" not in g["type"]:
                continue
            geom = shape(g)
            assert shapely.is_valid(geom), (name, f["properties"], shapely.is_valid_reason(geom))
            assert _rings_right_hand(geom), (name, f["properties"])
            counted += 1
        back = gpd.read_file(folder / "plan.gpkg", layer=name)
        poly = back[back.geom_type.isin(["Polygon", "MultiPolygon"])]
        assert shapely.is_valid(poly.geometry.values).all(), name
    assert counted > 500


def test_gaps_claim_no_land_of_their_own_circle(written):
    folder, *_ = written
    tr = _utm(120.2)
    circles = json.loads((folder / "circles.geojson").read_text(encoding="utf-8"))["features"]
    gaps = json.loads((folder / "gaps.geojson").read_text(encoding="utf-8"))["features"]
    own = {(f["properties"]["layer"], f["properties"]["minutes"], f["properties"]["profile"]):
           _metric(shape(f["geometry"]), tr) for f in circles if f["properties"]["scope"] == "layer" and f["geometry"]}
    by_key: dict = {}
    for f in gaps:
        p = f["properties"]
        if f["geometry"] is None:  # uncovered homes whose land all lies in the circle: listed, no land
            assert p["land_km2"] == 0 and p["homes"] > 0
            continue
        gap = _metric(shape(f["geometry"]), tr)
        assert p["land_km2"] == pytest.approx(gap.area / 1e6, abs=2e-4)
        by_key.setdefault((p["layer"], p["minutes"], p["profile"]), []).append(gap)
    keys = set(by_key)
    for key, polys in by_key.items():
        if key not in own:
            continue
        share = _overlap_shares(polys, own[key])
        assert share.max() < 0.01, (key, share.max())
    views = {k[0] for k in keys}
    assert {"centres", "stations", "charging"} <= views and any("[open=" in v for v in views)
    assert {k[2] for k in keys} == {"adult", "elderly"} and {k[1] for k in keys} == {10.0, 15.0}


def test_gap_areas_are_split_by_street_and_community(written, bj):
    """Every uncovered home inside a gap polygon has that gap's street and community."""
    folder, *_ = written
    gaps = gpd.read_file(folder / "plan.gpkg", layer="gaps")
    street, community, _ = bj.home_names
    xy = bj.network.unproject(bj.homes.xy)
    pts = shapely.points(xy)
    checked = mismatched = 0
    for row in gaps.itertuples():
        if row.geometry is None or row.profile != "adult":
            continue
        lr = bj.layers.get(row.layer)
        if lr is None:
            continue
        limit = row.minutes * 80.0  # 4.8 km/h
        inside = np.flatnonzero(shapely.contains(row.geometry, pts) & (lr.home_dist > limit))
        for h in inside:
            checked += 1
            mismatched += (street[h] or None) != (row.street or None) or (community[h] or None) != (row.community or None)
    assert checked > 1000 and mismatched <= 0.01 * checked
    per = gaps[(gaps.layer == "centres") & (gaps.minutes == 15) & (gaps.profile == "adult")]
    assert per["community"].nunique() > 10 and per["street"].nunique() >= 3


def test_facilities_layer_in_the_geopackage_has_people_served(written, bj):
    folder, *_ = written
    fac = gpd.read_file(folder / "plan.gpkg", layer="facilities")
    assert len(fac) == len(bj.facilities)
    for col in ("layer", "id", "name", "tier", "opening_hours", "snapped", "snap_m", "snap_lon", "snap_lat",
                "people_15min_adult", "homes_10min_elderly", "people_nearest_10min_adult"):
        assert col in fac.columns, col
    placed = fac[fac.snapped.astype(bool)]
    tr = _utm(120.2)
    moved = [shapely.Point(tr.transform(r.geometry.x, r.geometry.y)).distance(
        shapely.Point(tr.transform(r.snap_lon, r.snap_lat))) for r in placed.itertuples()]
    np.testing.assert_allclose(moved, placed.snap_m.to_numpy(), atol=0.5)
    area = gpd.read_file(folder / "plan.gpkg", layer="area")
    assert area["name"].tolist() == [AREA] and area["level"].tolist() == ["district"]


# ---------------------------------------------------------------- 5. what-if, night, sites


def _gained(doc) -> float:
    """The people gained anywhere in a scenario's coverage figures of one layer."""
    if isinstance(doc, dict):
        return float(doc.get("people_gained", 0)) + sum(_gained(v) for k, v in doc.items() if k != "people_gained")
    return 0.0


def test_a_gcj02_scenario_gate_lands_where_the_wgs84_one_does(bj, written):
    from geo.crs import wgs84_to_gcj02
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario

    _, _, outcome, _, (lon, lat) = written
    wgs = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "新中心"},
         "geometry": {"type": "Point", "coordinates": [lon, lat]}}]}
    a = run_scenario(bj, scenario_from_doc(wgs))
    assert a.coverage["layers"] == outcome.coverage["layers"]
    assert _gained(a.coverage["layers"]["centres"]) > 0
    # the same AMap numbers read as WGS84 land elsewhere: the crs matters
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    off = {**wgs, "features": [{**wgs["features"][0], "geometry": {"type": "Point", "coordinates": [glon, glat]}}]}
    b = run_scenario(bj, scenario_from_doc(off))
    assert b.coverage["layers"] != a.coverage["layers"]


def test_night_view_changes_the_summary_table(bj):
    from api.cli_common import summary_table

    text = summary_table(bj)
    assert "stations[open=Wed 22:00]" in text and "charging[open=Wed 22:00]" in text
    night = bj.coverage["subsets"]["stations[open=Wed 22:00]"]
    assert f"open at Wed 22:00 (stations): {night['open']} open, {len(night['closed'])} closed, " \
           f"{len(night['unknown_hours'])} with unknown hours" in text
    assert night["open"] < bj.coverage["layers"]["stations"]["facilities"]


def test_sites_lie_in_the_area_numbered_and_named_with_gcj02(bj, written):
    from geo.crs import gcj02_to_wgs84

    _, _, _, sites, _ = written
    s = sites.sites
    assert s["rank"].tolist() == list(range(1, len(s) + 1)) and len(s) == 3
    xy = bj.network.project(s.geometry.x.to_numpy(), s.geometry.y.to_numpy())
    assert shapely.contains_xy(bj.area.metric, xy[:, 0], xy[:, 1]).all()
    assert s["street"].notna().all() and s["community"].notna().all()
    back = np.column_stack(gcj02_to_wgs84(s["lon_gcj02"].to_numpy(), s["lat_gcj02"].to_numpy()))
    np.testing.assert_allclose(back, s[["lon", "lat"]].to_numpy(), atol=2e-6)
    assert (np.abs(s["lon_gcj02"] - s["lon"]) > 1e-3).all()


def test_gap_land_stops_at_the_study_area(bj):
    """Homes are counted inside the area; their gap land stops at its boundary too (to within
    one land cell, the outline runs through cell centres)."""
    g = bj.gaps[~bj.gaps.geometry.isna()].to_crs(bj.network.crs).geometry.values
    cell = bj.params.cell() * 3
    assert shapely.area(shapely.difference(g, shapely.buffer(bj.area.metric, cell))).sum() < 1.0
    assert shapely.area(shapely.difference(g, bj.area.metric)).sum() < 0.001 * shapely.area(g).sum()


@pytest.mark.parametrize("stamp", ["2025-03-01T12:00:00Z", None])
def test_data_date_is_the_extract_header_date_when_there_is_one(tmp_path, stamp):
    """A file whose objects were last edited on 2026-01-01 but which was cut on 2025-03-01
    (its header says so) is data as of 2025-03-01; without a header, the newest object's day."""
    import osmium

    from geo.osm import read_osm

    h = osmium.io.Header()
    if stamp:
        h.set("osmosis_replication_timestamp", stamp)
    path = tmp_path / "cut.osm.pbf"
    w = osmium.SimpleWriter(str(path), header=h, overwrite=True)
    when = {"version": 1, "timestamp": "2026-01-01T08:00:00Z"}
    w.add_node(osmium.osm.mutable.Node(id=1, location=(120.2, 30.2), **when))
    w.add_node(osmium.osm.mutable.Node(id=2, location=(120.201, 30.2), version=1, timestamp="2024-06-01T00:00:00Z"))
    w.add_way(osmium.osm.mutable.Way(id=3, nodes=[1, 2], tags={"highway": "footway"}, **when))
    w.close()
    ex = read_osm(path)
    assert (ex.data_date, ex.data_date_from) == (("2025-03-01", "header") if stamp else ("2026-01-01", "newest object"))


# ---------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def cli_plan(merged_path, tmp_path_factory):
    from click.testing import CliRunner

    from api.cli import main

    out = tmp_path_factory.mktemp("cli") / "bj"
    res = CliRunner().invoke(main, ["plan", "--osm", str(merged_path), "--area", AREA, "--no-per-facility",
                                    "--stations", str(FILES["stations"]), "--crs", "gcj02", "--at", "22:00",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_cli_plan_names_the_area_and_writes_its_outline(cli_plan):
    out, text = cli_plan
    assert f"study area: {AREA} (OSM admin boundary" in text
    assert "stations[open=Wed 22:00]" in text and "open at Wed 22:00 (stations):" in text
    cov = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert cov["area"]["name"] == AREA and cov["area"]["land_km2"] > 50
    area = json.loads((out / "area.geojson").read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["name"] for f in area] == [AREA]
    assert shapely.is_valid(shape(area[0]["geometry"])) and _rings_right_hand(shape(area[0]["geometry"]))
    # the map draws the outline and frames the area (not the halo of streets around it)
    import re

    html = (out / "map.html").read_text(encoding="utf-8")
    assert 'outline("outline"' in html
    frames = re.findall(r"\.fitBounds\(\s*\[\[([-0-9.]+), ([-0-9.]+)\], \[([-0-9.]+), ([-0-9.]+)\]\]", html)
    lon0, lat0, lon1, lat1 = shape(area[0]["geometry"]).bounds
    assert [tuple(float(v) for v in f) for f in frames] == [pytest.approx((lat0, lon0, lat1, lon1), abs=1e-6)]


def test_cli_site_and_scenario_start_from_the_area_plan(cli_plan, tmp_path):
    from click.testing import CliRunner

    from api.cli import main
    from geo.crs import wgs84_to_gcj02

    out, _ = cli_plan
    res = CliRunner().invoke(main, ["site", "--plan", str(out), "--layer", "stations", "--add", "2",
                                    "--no-exact", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "site 1: " in res.output and "(WGS84; AMap/GCJ-02 " in res.output and "site 2: " in res.output
    cov = json.loads((tmp_path / "s" / "coverage.json").read_text(encoding="utf-8"))
    assert cov["area"]["name"] == AREA
    # a scenario file in AMap coordinates, read with --crs gcj02: the centre lands in Binjiang
    site1 = json.loads((tmp_path / "s" / "sites.geojson").read_text(encoding="utf-8"))["features"][0]["properties"]
    glon, glat = (float(v) for v in wgs84_to_gcj02(site1["lon"], site1["lat"]))
    edits = tmp_path / "edits.geojson"
    edits.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "stations", "name": "新驿站"},
         "geometry": {"type": "Point", "coordinates": [glon, glat]}}]}, ensure_ascii=False), encoding="utf-8")
    res = CliRunner().invoke(main, ["scenario", str(edits), "--plan", str(out), "--crs", "gcj02",
                                    "--out", str(tmp_path / "sc"), "-q"])
    assert res.exit_code == 0, res.output
    sc = json.loads((tmp_path / "sc" / "coverage.json").read_text(encoding="utf-8"))
    assert sc["area"]["name"] == AREA
    # the station lands on site 1: it gains what the siting run said site 1 gains
    assert _gained(sc["layers"]["stations"]) > 0
    changed = json.loads((tmp_path / "sc" / "changed_areas.geojson").read_text(encoding="utf-8"))["features"]
    assert changed and all(shapely.is_valid(shape(f["geometry"])) and _rings_right_hand(shape(f["geometry"]))
                           for f in changed)


def test_cli_serve_refuses_an_unknown_area_before_serving(merged_path):
    from click.testing import CliRunner

    from api.cli import main

    res = CliRunner().invoke(main, ["serve", "--osm", str(merged_path), "--area", "滨江", "--no-per-facility"])
    assert res.exit_code == 2, res.output
    assert "滨江区 (district)" in res.output and "Traceback" not in res.output


def test_binjiang_clip_writes_valid_right_handed_polygons_and_gaps_off_their_circles(binjiang_plan, tmp_path):
    """The Binjiang clip without an area (GCJ-02 planners' lists, night view): every circle
    (per facility and per layer) and gap area written is valid and right-handed, and no gap
    area claims 1 % of its land inside its own circle."""
    from geo.io import write_geojson

    tr = _utm(120.2)
    for name in ("circles", "gaps"):
        write_geojson(tmp_path / f"{name}.geojson", getattr(binjiang_plan, name), name=name)
    docs = {n: json.loads((tmp_path / f"{n}.geojson").read_text(encoding="utf-8"))["features"]
            for n in ("circles", "gaps")}
    for name, feats in docs.items():
        for f in feats:
            if f["geometry"] is not None:
                g = shape(f["geometry"])
                assert shapely.is_valid(g) and _rings_right_hand(g), (name, f["properties"])
    assert sum(f["properties"]["scope"] == "facility" for f in docs["circles"]) > 50
    own = {(p["layer"], p["minutes"], p["profile"]): _metric(shape(f["geometry"]), tr)
           for f in docs["circles"] if (p := f["properties"])["scope"] == "layer" and f["geometry"]}
    by_key: dict = {}
    for f in docs["gaps"]:
        p = f["properties"]
        if f["geometry"] is not None:
            by_key.setdefault((p["layer"], p["minutes"], p["profile"]), []).append(_metric(shape(f["geometry"]), tr))
    assert len(by_key) >= 6
    for key, polys in by_key.items():
        if key in own:
            assert _overlap_shares(polys, own[key]).max() < 0.01, key


def _overlap_shares(polys: list, circle) -> np.ndarray:
    """The share of each polygon's area inside ``circle`` (all metric)."""
    polys = np.asarray(polys, dtype=object)
    shapely.prepare(circle)
    near = shapely.intersects(circle, polys)
    overlap = np.zeros(len(polys))
    overlap[near] = shapely.area(shapely.intersection(polys[near], circle))
    return overlap / shapely.area(polys)


def test_area_half_outside_the_extract_warns_with_the_share_missing(merged_base, tmp_path):
    """A box straddling the extract's eastern edge: about half of it lies beyond every street."""
    import re

    from geo.areas import resolve_area
    from geo.plan import clip_to_area

    lon0, lat0, lon1, lat1 = merged_base.network.bbox_lonlat()
    mid = (lat0 + lat1) / 2
    # the easternmost street node's latitude band, so the box's west half is inside the extract
    ll = merged_base.network.node_lonlat
    east = ll[np.argmax(ll[:, 0])]
    box = shapely.box(east[0] - 0.03, east[1] - 0.01, east[0] + 0.03, east[1] + 0.01)
    path = tmp_path / "edge.geojson"
    gpd.GeoDataFrame({"name": ["edge"]}, geometry=[box], crs=4326).to_file(path, driver="GeoJSON")
    clip = clip_to_area(merged_base, PlanInputs(), PlanParams(), area=resolve_area(path))
    text = " ".join(clip.warnings)
    got = re.search(r"covers only (\d+)% of the study area 'edge': ([\d.]+) km² of its ([\d.]+) km²", text)
    assert got, text
    share_in = int(got.group(1)) / 100
    assert 0.3 < share_in < 0.75  # half, give or take the 200 m margin and the hull's shape
    assert float(got.group(3)) == pytest.approx(_metric(box, _utm(east[0])).area / 1e6, rel=0.01)
    assert mid and lon0 < east[0] <= lon1
