"""Display geometry: simplified within tolerance, small holes dropped, compact encoding exact."""

import json

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from maps.display import (
    M_PER_DEG, decode_polygons, display_polygons, encode_polygons, encoded_collection_text, safe_json,
)

LAT = 30.2
KX = M_PER_DEG * np.cos(np.radians(LAT))  # metres per degree of longitude


def to_deg(xy_m, lon0=120.2, lat0=LAT):
    xy = np.asarray(xy_m, float)
    return np.c_[lon0 + xy[:, 0] / KX, lat0 + xy[:, 1] / M_PER_DEG]


def wiggly_square(side_m=400.0, n=400, amp_m=0.5):
    """A square outline with n vertices per side wobbling by amp_m: simplifies to ~4 corners."""
    t = np.linspace(0, 1, n, endpoint=False)
    rng = np.random.default_rng(1)
    sides = [np.c_[t * side_m, 0 * t], np.c_[0 * t + side_m, t * side_m],
             np.c_[(1 - t) * side_m, 0 * t + side_m], np.c_[0 * t, (1 - t) * side_m]]
    xy = np.vstack(sides) + rng.uniform(-amp_m, amp_m, (4 * n, 2))
    return xy


def test_simplified_outline_stays_within_the_tolerance_and_sheds_vertices():
    poly = shapely.Polygon(to_deg(wiggly_square()))
    (out,) = display_polygons([poly], lat=LAT, tolerance_m=5.0)
    assert shapely.get_num_coordinates(out) < 40 < shapely.get_num_coordinates(poly)
    # Hausdorff distance in metres (degrees scaled per axis): tolerance + rounding (1e-5 deg ≈ 1.1 m)
    a = shapely.transform(poly, lambda c: c * [KX, M_PER_DEG])
    b = shapely.transform(out, lambda c: c * [KX, M_PER_DEG])
    assert shapely.hausdorff_distance(a, b) <= 5.0 + 1.2
    assert abs(a.area - b.area) / a.area < 0.02


def test_holes_below_the_threshold_are_filled_and_larger_ones_kept():
    shell = to_deg([(0, 0), (500, 0), (500, 500), (0, 500)])
    small = to_deg([(100, 100), (110, 100), (110, 110), (100, 110)])  # 100 m²
    big = to_deg([(300, 300), (400, 300), (400, 400), (300, 400)])  # 10,000 m²
    poly = shapely.Polygon(shell, [small, big])
    (out,) = display_polygons([poly], lat=LAT, min_hole_m2=400.0)
    assert len(out.geoms) == 1 and len(out.geoms[0].interiors) == 1
    hole = shapely.Polygon(out.geoms[0].interiors[0])
    assert hole.contains(shapely.Point(to_deg([(350, 350)])[0]))


def test_parts_smaller_than_the_tolerance_vanish_and_none_passes_through():
    tiny = shapely.Polygon(to_deg([(0, 0), (1, 0), (1, 1), (0, 1)]))  # 1 m square: collapses at 5 m
    real = shapely.Polygon(to_deg([(100, 100), (300, 100), (300, 300), (100, 300)]))
    out = display_polygons([shapely.MultiPolygon([tiny, real]), tiny, None, shapely.Polygon()], lat=LAT)
    assert len(out[0].geoms) == 1 and out[0].geoms[0].contains(shapely.Point(to_deg([(200, 200)])[0]))
    assert out[1] is None and out[2] is None and out[3] is None


def test_encoding_decodes_to_the_displayed_polygons_exactly():
    shell = to_deg(wiggly_square(800, 200, 3.0))
    hole = to_deg([(300, 300), (500, 300), (500, 500), (300, 500)])
    other = shapely.Polygon(to_deg([(1000, 0), (1200, 0), (1200, 150), (1000, 150)]))
    geoms = [shapely.MultiPolygon([shapely.Polygon(shell, [hole]), other]), None, other]
    shown = display_polygons(geoms, lat=LAT)
    encoded = encode_polygons(geoms, lat=LAT)
    assert encoded[1] is None
    for g, text in zip(shown[[0, 2]], [encoded[0], encoded[2]]):
        polys = decode_polygons(text)
        assert len(polys) == len(g.geoms)
        for p, rings in zip(g.geoms, polys):
            expect = [np.asarray(p.exterior.coords)] + [np.asarray(r.coords) for r in p.interiors]
            assert len(rings) == len(expect)
            for r, e in zip(rings, expect):
                np.testing.assert_allclose(r, e, atol=1e-9)
    # integers only, steps after the first vertex small: the text is compact
    flat = json.loads(encoded[2])[0][0]
    assert all(isinstance(v, int) for v in flat) and max(abs(v) for v in flat[2:]) < 10**4


def test_collection_text_keeps_chinese_and_cannot_close_the_script():
    text = encoded_collection_text(
        [encode_polygons([shapely.Polygon(to_deg([(0, 0), (90, 0), (90, 90)]))], lat=LAT)[0], None],
        [{"n": "滨江区</script><b>"}, {"n": "gone"}],
    )
    assert "</script" not in text and "滨江区" in text
    doc = json.loads(text)
    assert doc["s"] == 10**5 and len(doc["f"]) == 1 and doc["f"][0][0]["n"] == "滨江区</script><b>"
    assert safe_json({"a": np.int64(3), "b": ("x",)}) == '{"a":3,"b":["x"]}'


@pytest.mark.parametrize("bad", [object()])
def test_safe_json_refuses_what_it_cannot_write(bad):
    with pytest.raises(TypeError):
        safe_json({"x": bad})


def _encoded_from_display(geom):
    """The text of one geometry made from display_polygons' rounded rings, ring by ring with str."""
    from maps.display import SCALE

    polys = []
    for p in geom.geoms:
        rings = []
        for ring in [p.exterior, *p.interiors]:
            ints = np.round(np.asarray(ring.coords) * SCALE).astype(np.int64)[:-1]
            steps = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64))
            steps[0] = ints[0]
            rings.append("[" + ",".join(str(v) for v in steps.ravel().tolist()) + "]")
        polys.append("[" + ",".join(rings) + "]")
    return "[" + ",".join(polys) + "]"


def test_encoded_polygons_are_the_displayed_ones_written_ring_by_ring():
    rng = np.random.default_rng(3)
    geoms = [None, shapely.Polygon()]
    for k in range(60):
        side, n, wobble = rng.uniform(20, 600), int(rng.integers(3, 60)), rng.uniform(0, 8)
        xy = to_deg(wiggly_square(side, n, wobble), lon0=120.2 + k / 50)
        hole = to_deg([(150, 150), (250, 150), (250, 250), (150, 250)], lon0=120.2 + k / 50)
        poly = shapely.Polygon(xy, [hole] if k % 3 == 0 else [])
        if k % 4 == 0:  # a part west of 0° and south of the equator too: minus signs
            geoms.append(shapely.MultiPolygon([poly, shapely.Polygon(to_deg(wiggly_square(300, 9), -0.001, -0.002))]))
        else:
            geoms.append(poly)
    geoms.append(shapely.Polygon(to_deg([(0, 0), (1, 0), (1, 1), (0, 1)])))  # vanishes
    shown = display_polygons(geoms, lat=LAT)
    encoded = encode_polygons(geoms, lat=LAT)
    assert [None if g is None else _encoded_from_display(g) for g in shown] == encoded
    assert encoded[0] is None and encoded[1] is None and encoded[-1] is None
    assert encoded[1:-1].count(None) == 1 and sum(t is not None and "-" in t for t in encoded) >= 15


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.lists(st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=6), min_size=1, max_size=4),
        min_size=1,
        max_size=5,
    )
)
def test_nested_text_writes_what_json_writes(chunks):
    from maps.display import _nested_text

    values, opens, closes, ends, at = [], [], [], [], 0
    for chunk in chunks:  # each chunk a list of lists of numbers
        for j, flat in enumerate(chunk):
            opens.append((at, 1 + (j == 0)))
            closes.append((at + len(flat) - 1, 1 + (j == len(chunk) - 1)))
            values += flat
            at += len(flat)
        ends.append(at - 1)
    text, cuts = _nested_text(
        np.asarray(values, np.int64),
        opens=tuple(np.asarray(x) for x in zip(*opens)),
        closes=tuple(np.asarray(x) for x in zip(*closes)),
        chunk_ends=ends,
    )
    expect = [json.dumps(c, separators=(",", ":")) for c in chunks]
    assert text == "".join(expect)
    assert cuts.tolist() == np.cumsum([len(e) for e in expect]).tolist()


def test_encoded_lines_are_the_same_whether_or_not_a_part_needs_splitting():
    from maps.display import decode_lines, encode_lines

    rng = np.random.default_rng(5)
    lines = [
        shapely.LineString(np.cumsum(rng.normal(0, 3e-4, (n, 2)), axis=0) + np.array([0.001, -0.001]))
        for n in rng.integers(2, 30, 200)
    ]
    lines.append(shapely.LineString())
    alone = encode_lines(lines, tolerance_m=4.0)  # single lines only: their own parts
    split = encode_lines([*lines, shapely.Point(1, 1), shapely.MultiLineString()], tolerance_m=4.0)
    assert alone == split and "-" in alone
    assert len(decode_lines(alone)) > 150


def test_own_parts_are_those_get_parts_gives():
    from maps.display import own_parts

    a, b, c = (shapely.box(k, 0, k + 0.5, 1) for k in range(3))
    line, other = shapely.LineString([(0, 0), (1, 1)]), shapely.LineString([(2, 2), (3, 1)])
    for geoms, single in (
        ([a, shapely.MultiPolygon([b, c]), shapely.MultiPolygon([a]), b, shapely.MultiPolygon([c, a, b])], 3),
        ([a, b, c], 3),
        ([shapely.MultiPolygon([a, b])], 3),
        ([shapely.MultiPolygon([a, b]), shapely.Polygon(), shapely.MultiPolygon()], 3),
        ([line, shapely.MultiLineString([line, other]), shapely.LineString(), shapely.Point(1, 1), other], 1),
        ([line, shapely.GeometryCollection([line, a]), shapely.MultiLineString(), other], 1),
        ([], 1),
    ):
        arr = np.asarray(geoms, dtype=object)
        parts, idx = own_parts(arr, single)
        want, want_idx = shapely.get_parts(arr, return_index=True)
        assert idx.tolist() == want_idx.tolist()
        assert shapely.to_wkb(parts).tolist() == shapely.to_wkb(want).tolist()
