"""The base map drawn from the extract: what the OSM pass keeps for it, and what the map draws."""

import json
import re

import numpy as np
import pytest
import shapely

from geo.basemap import basemap_tables
from geo.osm import read_osm
from maps.display import M_PER_DEG, decode_lines, encode_lines

# a hand-written extract: a residential street and a footway, a pond (closed way), a lake
# (multipolygon relation with an island), a canal line, a park, a wood, a lawn (not drawn)
OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="30.2000" lon="120.2000"/><node id="2" lat="30.2000" lon="120.2040"/>
  <node id="3" lat="30.2010" lon="120.2020"/><node id="4" lat="30.1990" lon="120.2020"/>
  <node id="10" lat="30.2020" lon="120.2000"/><node id="11" lat="30.2020" lon="120.2010"/>
  <node id="12" lat="30.2030" lon="120.2010"/><node id="13" lat="30.2030" lon="120.2000"/>
  <node id="20" lat="30.1900" lon="120.2000"/><node id="21" lat="30.1900" lon="120.2100"/>
  <node id="22" lat="30.1960" lon="120.2100"/><node id="23" lat="30.1960" lon="120.2000"/>
  <node id="24" lat="30.1920" lon="120.2040"/><node id="25" lat="30.1920" lon="120.2060"/>
  <node id="26" lat="30.1940" lon="120.2060"/><node id="27" lat="30.1940" lon="120.2040"/>
  <node id="30" lat="30.2050" lon="120.1950"/><node id="31" lat="30.2050" lon="120.2150"/>
  <node id="40" lat="30.2100" lon="120.2000"/><node id="41" lat="30.2100" lon="120.2020"/>
  <node id="42" lat="30.2120" lon="120.2020"/><node id="43" lat="30.2120" lon="120.2000"/>
  <node id="50" lat="30.2150" lon="120.2000"/><node id="51" lat="30.2150" lon="120.2010"/>
  <node id="52" lat="30.2160" lon="120.2010"/>
  <node id="60" lat="30.2200" lon="120.2000"/><node id="61" lat="30.2200" lon="120.2010"/>
  <node id="62" lat="30.2210" lon="120.2010"/>
  <way id="100"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/><tag k="name" v="测试路"/></way>
  <way id="101"><nd ref="3"/><nd ref="4"/><tag k="highway" v="footway"/></way>
  <way id="200"><nd ref="10"/><nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="10"/>
    <tag k="natural" v="water"/><tag k="water" v="pond"/></way>
  <way id="201"><nd ref="20"/><nd ref="21"/><nd ref="22"/><nd ref="23"/><nd ref="20"/></way>
  <way id="202"><nd ref="24"/><nd ref="25"/><nd ref="26"/><nd ref="27"/><nd ref="24"/></way>
  <relation id="300"><member type="way" ref="201" role="outer"/><member type="way" ref="202" role="inner"/>
    <tag k="type" v="multipolygon"/><tag k="natural" v="water"/><tag k="name" v="测试湖"/></relation>
  <way id="203"><nd ref="30"/><nd ref="31"/><tag k="waterway" v="canal"/><tag k="name" v="测试河"/></way>
  <way id="204"><nd ref="40"/><nd ref="41"/><nd ref="42"/><nd ref="43"/><nd ref="40"/>
    <tag k="leisure" v="park"/><tag k="name" v="测试公园"/></way>
  <way id="205"><nd ref="50"/><nd ref="51"/><nd ref="52"/><nd ref="50"/><tag k="natural" v="wood"/></way>
  <way id="206"><nd ref="60"/><nd ref="61"/><nd ref="62"/><nd ref="60"/><tag k="landuse" v="grass"/></way>
</osm>
"""


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    path = tmp_path_factory.mktemp("osm") / "basemap.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    return basemap_tables(read_osm(path))


def test_osm_pass_keeps_streets_water_rivers_and_parks_but_not_footways_or_lawns(tables):
    streets = tables["streets"]
    assert streets["name"].tolist() == ["测试路"] and streets["class"].tolist() == ["minor"]
    water = tables["water"].set_index("name", drop=False)
    assert len(water) == 2 and "测试湖" in water.index
    lake = water.loc["测试湖"].geometry
    # the island (inner ring) is a hole: the lake's area is the outer rectangle less the island
    outer = shapely.box(120.2000, 30.1900, 120.2100, 30.1960).area
    island = shapely.box(120.2040, 30.1920, 120.2060, 30.1940).area
    assert lake.area == pytest.approx(outer - island)
    assert tables["waterways"]["name"].tolist() == ["测试河"] and tables["waterways"]["kind"].tolist() == ["canal"]
    assert sorted(tables["green"]["kind"]) == ["park", "wood"]  # the lawn is not a park
    assert set(tables) == {"streets", "water", "waterways", "green"}


def test_line_encoding_round_trips_within_the_tolerance():
    t = np.linspace(0, 1, 500)
    lon = 120.2 + 0.01 * t
    lat = 30.2 + 0.002 * np.sin(6 * t) + np.random.default_rng(2).uniform(-1e-6, 1e-6, len(t))
    line = shapely.linestrings(np.c_[lon, lat])
    text = encode_lines([line, None], tolerance_m=4.0)
    (back,) = decode_lines(text)
    assert 2 <= len(back) < 100  # simplified: far fewer vertices
    kx = M_PER_DEG * np.cos(np.radians(30.2))
    dist_m = shapely.distance(shapely.points(back), line) * kx  # an upper bound in metres at this latitude
    assert dist_m.max() < 1.5  # vertices are rounded (~1 m) vertices of the line
    assert shapely.hausdorff_distance(shapely.linestrings(back), line) * kx < 4.0 + 1.5
    assert encode_lines([]) is None and encode_lines([shapely.linestrings([[0, 0], [0, 0]])]) is None


@pytest.fixture(scope="module")
def basemap(binjiang_plan):
    from maps.basemap import basemap_data

    return basemap_data(binjiang_plan)


def _decoded(text: str):
    from maps.display import SCALE

    doc = json.loads(text)
    assert doc["s"] == SCALE
    return doc


@pytest.mark.slow
@pytest.mark.hangzhou
def test_binjiang_basemap_draws_streets_water_parks_within_the_view(basemap, binjiang_plan):
    kinds = [k for k, _ in basemap.layers]
    for kind in ("green", "water", "waterways", "admin.8", "streets.minor", "streets.major"):
        assert kind in kinds, kind
    assert kinds.index("green") < kinds.index("streets.minor") < kinds.index("streets.major")  # streets on top
    lon0, lat0, lon1, lat1 = binjiang_plan.network.bbox_lonlat()
    pad = 0.01
    streets = dict(basemap.layers)["streets.major"]
    doc = _decoded(streets)
    assert doc["t"] == "l"
    lines = decode_lines(json.dumps(doc["f"][0][1]))
    xy = np.vstack(lines)
    assert (xy[:, 0] >= lon0 - pad).all() and (xy[:, 0] <= lon1 + pad).all()
    assert (xy[:, 1] >= lat0 - pad).all() and (xy[:, 1] <= lat1 + pad).all()
    # every drawn vertex lies on (within ~5 m of) a major street of the extract
    table = binjiang_plan.base.extras["streets"]
    major = shapely.union_all(table[table["class"] == "major"].geometry.values)
    kx = M_PER_DEG * np.cos(np.radians(30.2))
    sample = xy[:: max(1, len(xy) // 2000)]
    assert (shapely.distance(shapely.points(sample), major) * kx).max() < 5.0


@pytest.mark.slow
@pytest.mark.hangzhou
def test_street_labels_sit_on_their_street_upright(basemap, binjiang_plan):
    from maps.basemap import LABEL_CLASSES

    doc = json.loads(basemap.labels)
    names, points = doc["n"], np.asarray(doc["p"])
    assert len(points) > 100
    table = binjiang_plan.base.extras["streets"]
    kx = M_PER_DEG * np.cos(np.radians(30.2))
    street_cls = [LABEL_CLASSES.index("major"), LABEL_CLASSES.index("minor")]
    on_street = points[np.isin(points[:, 4], street_cls)]
    assert len(on_street) > 50
    assert (np.abs(on_street[:, 2]) <= 90).all()  # text never upside down
    for x, y, _, ni, _ in on_street[:: max(1, len(on_street) // 60)]:
        same = table[table["name"] == names[ni]].geometry.values
        assert len(same), names[ni]
        d = shapely.distance(shapely.Point(x / doc["s"], y / doc["s"]), shapely.union_all(same)) * kx
        assert d < 3.0, (names[ni], d)
    # the admin street offices (街道) of the view are named
    areas = {names[p[3]] for p in points if p[4] == LABEL_CLASSES.index("area")}
    assert any(re.search("街道$", n) for n in areas), areas


@pytest.mark.slow
@pytest.mark.hangzhou
def test_study_area_outline_follows_the_boundary(binjiang_path, cache_dir):
    from geo.plan import PlanInputs, PlanParams, plan
    from maps.render import map_html

    res = plan(PlanInputs(osm=binjiang_path, area="长河街道"), PlanParams(cache_dir=cache_dir, per_facility=False))
    html = map_html(res, tiles="none")
    from tests.maps.test_render import overlay_names

    assert "研究范围：长河街道" in overlay_names(html)
    text = re.search(r'SC\.outline\("outline", group_\d+, (\{.*?\})\);', html).group(1)
    doc = _decoded(text)
    xy = np.vstack(decode_lines(json.dumps(doc["f"][0][1])))
    kx = M_PER_DEG * np.cos(np.radians(30.2))
    ring = shapely.boundary(res.area.geometry)
    assert (shapely.distance(shapely.points(xy), ring) * kx).max() < 12.0  # simplified by 8 m, rounded to ~1 m
    # and it goes all the way round: the outline's length is the boundary's, less what simplifying cut
    drawn = sum(shapely.length(shapely.linestrings(p)) for p in decode_lines(json.dumps(doc["f"][0][1])))
    assert 0.9 * shapely.length(ring) < drawn <= shapely.length(ring) * 1.001


def _plain_spaced(at: np.ndarray, group: np.ndarray, d: float) -> list[int]:
    """The plain way: each point kept unless one kept before it in its group lies closer than ``d``."""
    kept: dict[int, list[np.ndarray]] = {}
    out = []
    for j in range(len(at)):
        near = kept.setdefault(int(group[j]), [])
        if any(np.hypot(*(at[j] - q)) < d for q in near):
            continue
        near.append(at[j])
        out.append(j)
    return out


def test_spaced_labels_keep_what_a_point_by_point_check_keeps():
    from maps.basemap import _spaced

    rng = np.random.default_rng(7)
    at = rng.uniform(0, 2000, (400, 2))
    group = rng.integers(0, 6, 400)
    assert _spaced(at, group, 150.0).tolist() == _plain_spaced(at, group, 150.0)
    assert _spaced(np.zeros((0, 2)), np.zeros(0, np.int64), 150.0).tolist() == []


def test_labels_along_join_same_named_pieces_and_keep_their_spacing():
    from maps.basemap import LABEL_CLASSES, _Labels

    labels = _Labels(30.0)
    deg = 1 / labels.kx  # one metre east, in degrees
    lines = np.asarray(
        [
            shapely.LineString([(0, 0), (700 * deg, 0)]),
            shapely.LineString([(700 * deg, 0), (2000 * deg, 0)]),  # the same street, on from the first
            shapely.LineString([(0, 0.01), (500 * deg, 0.01)]),
            shapely.LineString([(0, 0.02), (50 * deg, 0.02)]),  # too short to label
        ],
        dtype=object,
    )
    labels.along(lines, ["A路", "A路", "B路", "C路"], "minor", 450.0)
    doc = json.loads(labels.text())
    by_name = {n: [p for p in doc["p"] if doc["n"][p[3]] == n] for n in doc["n"]}
    assert sorted(by_name) == ["A路", "B路"]
    assert len(by_name["A路"]) == 4  # 2000 m joined: one label per 450 m, spaced 500 m apart (apart: 1 + 2)
    assert len(by_name["B路"]) == 1
    xs = sorted(p[0] / doc["s"] / deg for p in by_name["A路"])
    assert np.allclose(np.diff(xs), 500.0, atol=1.0)
    assert all(p[2] == 0 and p[4] == LABEL_CLASSES.index("minor") for p in doc["p"])


def test_spaced_labels_with_many_names_of_one_label_keep_what_a_point_by_point_check_keeps():
    from maps.basemap import _spaced

    rng = np.random.default_rng(11)
    at = rng.uniform(0, 3000, (500, 2))
    group = np.r_[rng.integers(0, 400, 450), np.full(50, 7)]  # most names once, one name many times
    expected = _plain_spaced(at, group, 400.0)
    assert _spaced(at, group, 400.0).tolist() == expected
    assert len(expected) < len(at)


def _clip_plainly(geoms, box):
    """What the base layer's cut was first written as: every geometry meeting the box clipped by it."""
    ok = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    ok[ok] &= shapely.intersects(geoms[ok], shapely.box(*box))
    idx = np.flatnonzero(ok)
    clipped = shapely.clip_by_rect(geoms[idx], *box)
    keep = ~shapely.is_empty(clipped)
    return clipped[keep], idx[keep]


def test_cut_to_the_view_takes_what_lies_inside_as_clip_by_rect_makes_it(binjiang_plan):
    from maps.basemap import _clip_geoms, _extent

    square = shapely.box(0.2, 0.2, 0.4, 0.4)
    hole = shapely.box(0.25, 0.25, 0.3, 0.3)
    made = [
        shapely.LineString([(0.1, 0.1), (0.5, 0.6)]),  # inside
        shapely.LineString([(0.5, 0.5), (1.5, 0.5)]),  # across the edge
        shapely.LineString([(2, 2), (3, 3)]),  # outside
        shapely.LineString([(0, 0.5), (0.5, 0.5)]),  # ends on the edge
        shapely.Polygon(square.exterior.coords, [hole.exterior.coords]),
        shapely.MultiPolygon([square]),  # one part: clip_by_rect gives the polygon
        shapely.MultiPolygon([square, shapely.box(0.6, 0.6, 0.7, 0.7)]),
        shapely.MultiPolygon([square, shapely.box(0.9, 0.9, 1.7, 1.7)]),  # across the edge
        shapely.MultiLineString([[(0.1, 0.1), (0.2, 0.2)]]),
        shapely.Point(0.5, 0.5),
        shapely.Polygon(),
        None,
    ]
    cases = [(np.asarray(made, dtype=object), (0.0, 0.0, 1.0, 1.0))]
    box = _extent(binjiang_plan)
    for table in [*binjiang_plan.base.extras.values(), binjiang_plan.base.admin]:
        cases.append((np.asarray(table.geometry.values, dtype=object), box))
    for geoms, view in cases:
        got, idx = _clip_geoms(geoms, view)
        want, want_idx = _clip_plainly(geoms, view)
        assert idx.tolist() == want_idx.tolist()
        assert shapely.to_wkb(got).tolist() == shapely.to_wkb(want).tolist()
    assert len(cases[0][0][_clip_geoms(*cases[0])[1]]) == 9


def _digest_plainly(table):
    """table_digest as first written: every value of a column through str, joined in Python."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(str(len(table)).encode())
    for col in ("name", "class", "admin_level"):
        if col in table:
            h.update(f"\x00{col}\x00".encode() + "\x00".join(map(str, table[col].tolist())).encode())
    wkb = shapely.to_wkb(np.asarray(table.geometry.values, dtype=object))
    h.update(b"\x00".join(b"" if w is None else w for w in wkb))
    return h.hexdigest()


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", "string[python]", object])
def test_table_digest_writes_each_value_as_str_does(dtype):
    import geopandas as gpd
    import pandas as pd

    from geo.basemap import table_digest

    names = pd.Series(["滨江路", None, "", "x\x00y", "nan"] * 40, dtype=dtype)
    table = gpd.GeoDataFrame(
        {"name": names, "class": pd.Series(["major", "minor"] * 100, dtype=dtype)},
        geometry=[shapely.LineString([(i, 0), (i, 1)]) if i % 7 else None for i in range(200)],
    )
    seen = {table_digest(table)}
    assert table_digest(table) == _digest_plainly(table)
    empty = table.iloc[:0]
    assert table_digest(empty) == _digest_plainly(empty)
    split = pd.concat([table.iloc[:50], table.iloc[50:]])  # (Arrow may hold a column in chunks)
    assert table_digest(split) == _digest_plainly(table)
    table.loc[3, "name"] = "滨江"
    seen.add(table_digest(table))
    assert len(seen) == 2


def test_table_digest_of_lines_written_from_their_coordinates_is_the_wkb_one():
    from geo.basemap import _joined_wkb, _lines_wkb

    rng = np.random.default_rng(4)
    lines = [shapely.LineString(rng.normal(120, 1, (n, 2))) for n in rng.integers(2, 40, 300)]
    lines.append(shapely.LineString([(-1e-300, 5e300), (np.inf, -0.0)]))
    arr = np.asarray(lines, dtype=object)
    plain = b"\x00".join(shapely.to_wkb(arr).tolist())
    assert _lines_wkb(arr) == plain
    assert _joined_wkb(arr) == plain
    assert _lines_wkb(arr[:1]) == shapely.to_wkb(arr[0])
    # anything else: shapely's own WKB, a missing geometry none
    for other in (shapely.LineString(), shapely.LineString([(0, 0, 1), (1, 1, 2)]), shapely.Point(1, 2), None):
        mixed = np.asarray([*lines[:5], other], dtype=object)
        assert _lines_wkb(mixed) is None
        assert _joined_wkb(mixed) == b"\x00".join(b"" if w is None else w for w in shapely.to_wkb(mixed).tolist())


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", "string[python]", object])
def test_names_are_the_text_names_of_the_rows_asked_for(dtype):
    import geopandas as gpd
    import pandas as pd

    from maps.basemap import _names

    values = ["滨江路", None, "", "  ", "\u3000", " 江南大道 ", "x"] * 30
    table = gpd.GeoDataFrame({"name": pd.Series(values, dtype=dtype)}, geometry=[None] * len(values))
    idx = np.asarray([5, 0, 1, 2, 3, 4, 6, 200, 7, 0], np.int64)
    plain = [v if isinstance(v, str) and v.strip() else None for v in (values[i] for i in idx)]
    assert _names(table, idx) == plain == [" 江南大道 ", "滨江路", None, None, None, None, "x", None, "滨江路", "滨江路"]
    split = pd.concat([table.iloc[:100], table.iloc[100:]])  # (Arrow may hold a column in chunks)
    assert _names(split, idx) == plain
    assert _names(table, np.zeros(0, np.int64)) == []
    assert _names(table.drop(columns="name"), idx) == [None] * len(idx)
