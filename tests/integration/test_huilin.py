"""The Huilin Road (会林路) story on real data: a missing zebra splits a community.

会林路 itself is not in the shared extracts; its situation is. 工人路 (Xiaoshan, in the Binjiang
clip) is a single-carriageway two-way secondary road through the 金浦明苑 compounds, which lie
on both sides of it; no crossing node, junction or footbridge joins its sides within 150 m of
the two points below (checked from the OSM file itself with pyosmium, not with the code under
test). A centre stands on the west side (services on one side), homes on both.

* Without the edit, the walk between the two points 40 m apart is the detour to the nearest
  junction and back; with a planner's zebra (an ``add_link`` between them) it falls to the
  crossing's own length. Both are checked against networkx shortest paths on the same arrays.
* The crossing brings the east side's homes into the centre's circle, and only those: the
  scenario's diff lists them, and their walk times equal the networkx ones.
* With ``crossings="anywhere"`` (the naive graph) the two points are neighbours already.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import shapely

from geo.base import load_base
from geo.circles import metres_for, multi_source, point_distances
from geo.netedit import Link, with_edits
from geo.plan import PlanInputs, PlanParams, plan
from geo.scenarios import scenario_from_doc
from geo.whatif import run_scenario

#: two points 20 m either side of 工人路, 60 m north of its bridge (lon, lat)
WEST = (120.255878, 30.186376)
EAST = (120.256293, 30.186384)
ROAD_WAY = 154489982  # 工人路, highway=secondary
MINUTES = 3.0  # 240 m at 4.8 km/h: the west side's homes near the centre, not the east side's
CLEAR_M = 150.0

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]


@pytest.fixture(scope="module")
def osm_facts(binjiang_path):
    """What the OSM file says around the road, read with pyosmium alone."""
    import osmium

    road_tags, road_nodes = None, []
    for w in osmium.FileProcessor(str(binjiang_path), osmium.osm.WAY).with_filter(osmium.filter.IdFilter([ROAD_WAY])):
        road_tags, road_nodes = dict(w.tags), [n.ref for n in w.nodes]
    road_set = set(road_nodes)
    crossings, shared, locs = [], {}, {}
    for obj in osmium.FileProcessor(str(binjiang_path)).with_locations():
        t = obj.tags
        if obj.is_node():
            if obj.id in road_set:
                locs[obj.id] = (obj.location.lon, obj.location.lat)
            if t.get("highway") in ("crossing", "traffic_signals") or "crossing" in t:
                crossings.append((obj.location.lon, obj.location.lat))
        elif obj.is_way() and "highway" in t and obj.id != ROAD_WAY:
            for n in obj.nodes:
                if n.ref in road_set:
                    shared.setdefault(n.ref, []).append(dict(t))
    return road_tags, [locs[n] for n in road_nodes], road_nodes, np.array(crossings), shared


@pytest.fixture(scope="module")
def huilin(binjiang_path, cache_dir):
    from tests.conftest import toy_facilities

    inputs = PlanInputs(osm=binjiang_path)
    params = PlanParams(minutes=(MINUTES,), cache_dir=cache_dir)
    base = load_base(inputs, params)
    net = base.network
    xy = net.project(np.array([WEST[0]]), np.array([WEST[1]]))[0]
    centre = toy_facilities(net, [{"id": "c1", "name": "金浦党群服务中心", "x": xy[0], "y": xy[1]}], "centres")
    before = plan(inputs, params, base=base, facilities={"centres": (centre, "test")})
    return base, before


def _metric(net, lonlat):
    a = np.asarray(lonlat, float).reshape(-1, 2)
    return net.project(a[:, 0], a[:, 1])


def _walk(net, a_xy, b_xy) -> float:
    """Our walk (m) between two points, each snapped to its nearest edge."""
    sa = net.snap(np.asarray(a_xy).reshape(1, 2), max_dist=100)
    sb = net.snap(np.asarray(b_xy).reshape(1, 2), max_dist=100)
    return float(point_distances(net, multi_source(net, sa), sb)[0][0])


def _reference(net, points: dict, link: tuple | None = None) -> nx.Graph:
    """networkx graph of ``net``'s arrays, every edge cut at the points on it.

    ``points``: key -> metric (x, y), placed on its nearest edge by a brute-force distance to
    every edge (not the STRtree), or key -> (edge, along) when already placed; ``link``: two
    keys joined by a straight edge of the distance between their placed positions.
    """
    lines = net.edge_lines
    cuts: dict[int, list] = {}
    where = {}
    for key, p in points.items():
        if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], (int, np.integer)):
            e, a = int(p[0]), float(p[1])
        else:
            pt = shapely.points(np.asarray(p, float))
            e = int(np.argmin(shapely.distance(lines, pt)))
            a = float(shapely.line_locate_point(lines[e], pt))
        cuts.setdefault(e, []).append((a, key))
        where[key] = np.array(shapely.line_interpolate_point(lines[e], a).coords[0])
    g = nx.Graph()

    def add(a, b, w):
        if a != b and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
            g.add_edge(a, b, weight=w)

    for e in range(net.n_edges):
        chain = [(0.0, ("n", int(net.edge_u[e]))), *sorted(cuts.get(e, []), key=lambda t: t[0]),
                 (float(net.edge_len[e]), ("n", int(net.edge_v[e])))]
        for (a0, k0), (a1, k1) in itertools.pairwise(chain):
            add(k0, k1, a1 - a0)
    if link is not None:
        add(link[0], link[1], float(np.hypot(*(where[link[1]] - where[link[0]]))))
    return g


def _side(road_xy: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """+1 east of the road's centreline (right of its direction of travel), -1 west, per point."""
    line = shapely.linestrings(road_xy)
    pts = shapely.points(xy)
    a = shapely.line_locate_point(line, pts)
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(a - 1, 0)))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(line, a + 1))
    d, r = p1 - p0, xy - p0
    return -np.sign(d[:, 0] * r[:, 1] - d[:, 1] * r[:, 0])


def test_the_road_is_a_single_carriageway_secondary_with_no_crossing_near(osm_facts, huilin):
    tags, coords, nodes, crossings, shared = osm_facts
    net = huilin[0].network
    assert tags["highway"] == "secondary"
    assert tags.get("oneway", "no") == "no"
    assert tags["name"] == "工人路"
    mid = _metric(net, [WEST, EAST]).mean(axis=0)
    assert np.hypot(*(_metric(net, crossings) - mid).T).min() > CLEAR_M
    # every node of the road within 150 m that another highway way uses is the road going on
    # (its bridge, 竹蓬桥): no junction, driveway or path joins it there
    road_xy = _metric(net, coords)
    for n, xy in zip(nodes, road_xy, strict=True):
        if np.hypot(*(xy - mid)) <= CLEAR_M:
            assert all(t["highway"] == "secondary" for t in shared.get(n, [])), (n, shared.get(n))
    # the two points lie on opposite sides of it
    assert list(_side(road_xy, _metric(net, [WEST, EAST]))) == [-1, 1]


def test_the_walk_across_is_the_detour_then_the_crossing(huilin):
    base, _ = huilin
    net = base.network
    w, e = _metric(net, [WEST, EAST])
    detour = _walk(net, w, e)
    ref = nx.shortest_path_length(_reference(net, {"w": w, "e": e}), "w", "e", weight="weight")
    assert detour == pytest.approx(ref, abs=0.01)
    # any way across passes a crossing more than 150 m from the points' midpoint, and back
    assert detour > 2 * (CLEAR_M - np.hypot(*(w - e)) / 2)
    # the planner's zebra between the two points
    new, log = with_edits(net, links=[Link(np.vstack([w, e]), name="工人路 zebra")])
    crossing_m = float(new.edge_len[log.links[0]])
    after = _walk(new, w, e)
    assert after == pytest.approx(crossing_m, abs=0.01)
    assert crossing_m < np.hypot(*(w - e))  # from side to side, shorter than the two points' distance
    ref_after = nx.shortest_path_length(_reference(net, {"w": w, "e": e}, link=("w", "e")), "w", "e",
                                        weight="weight")
    assert after == pytest.approx(ref_after, abs=0.01)
    assert detour > 10 * after


def test_the_naive_graph_crosses_anywhere(binjiang_path):
    from geo.crossings import walk_ways
    from geo.network import build_network
    from geo.osm import read_osm

    net = build_network(walk_ways(read_osm(binjiang_path), crossings="anywhere"))
    w, e = _metric(net, [WEST, EAST])
    assert _walk(net, w, e) < 5.0  # both points snap onto the one centreline, a step apart


def test_the_crossing_brings_the_east_side_into_the_circle(huilin, osm_facts):
    _base, before = huilin
    net = before.network
    assert before.coverage["crossings"] == "strict"
    sc = scenario_from_doc({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_link", "name": "工人路 zebra"},
         "geometry": {"type": "LineString", "coordinates": [list(WEST), list(EAST)]}}]})
    out = run_scenario(before, sc)
    f = out.coverage["layers"]["centres"]["minutes"][f"{MINUTES:g}"]
    assert f["homes_gained"] > 0
    assert f["homes_lost"] == 0
    # who gains: homes east of the road, all of them
    gained = out.homes[(out.homes["layer"] == "centres") & (out.homes["change"] == "gain")]
    assert len(gained) == f["homes_gained"]
    road_xy = _metric(net, osm_facts[1])
    assert set(_side(road_xy, _metric(net, np.column_stack([gained.geometry.x, gained.geometry.y])))) == {1}
    # their walk times, and every home's, as networkx finds them on the same arrays
    snap = before.home_snap
    fac = before.layers["centres"].snapped
    limit = metres_for(MINUTES, before.params.speeds()["adult"])
    w, e = _metric(net, [WEST, EAST])
    pts = {("h", int(i)): (int(snap.edge[i]), float(snap.along[i])) for i in np.flatnonzero(snap.ok)}
    pts[("f", 0)] = (int(fac.edge[0]), float(fac.along[0]))
    pts.update({"w": w, "e": e})
    for link, got in ((None, before.layers["centres"].home_dist), (("w", "e"), out.after.layers["centres"].home_dist)):
        d = nx.single_source_dijkstra_path_length(_reference(net, pts, link=link), ("f", 0), cutoff=3 * limit,
                                                  weight="weight")
        ref = np.array([d.get(("h", int(i)), np.inf) for i in range(len(snap))])
        near = ref <= 2 * limit
        assert near.sum() > 0
        assert np.allclose(got[near], ref[near], atol=0.01, rtol=0)
        assert np.all(got[~near] > 2 * limit - 0.01)
    gained_ref = (before.layers["centres"].home_dist > limit) & (out.after.layers["centres"].home_dist <= limit)
    assert int(gained_ref.sum()) == f["homes_gained"]


def test_homes_snap_to_the_side_of_the_road_they_stand_on(huilin, binjiang_path):
    """Every home snapped onto a big road's side lies on that side of the road's centreline (the
    centreline from the naive network, the side by a cross product: not the snapping code)."""
    from geo.crossings import BARRIER_HIGHWAY, walk_ways
    from geo.network import build_network
    from geo.osm import read_osm

    base, _ = huilin
    net = base.network
    naive = build_network(walk_ways(read_osm(binjiang_path), crossings="anywhere"))
    snap = net.snap(base.homes.xy, max_dist=500)
    on = np.flatnonzero(snap.ok & np.isin(net.edge_highway[np.maximum(snap.edge, 0)], list(BARRIER_HIGHWAY)))
    centre = naive.edge_lines[np.isin(naive.edge_highway, list(BARRIER_HIGHWAY))]
    tree = shapely.STRtree(centre)

    def side(xy):
        pts = shapely.points(xy)
        line = centre[tree.nearest(pts)]
        a = shapely.line_locate_point(line, pts)
        p0 = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(a - 0.5, 0)))
        p1 = shapely.get_coordinates(shapely.line_interpolate_point(line, a + 0.5))
        d, r = p1 - p0, xy - p0
        return np.sign(d[:, 0] * r[:, 1] - d[:, 1] * r[:, 0]), tree.nearest(pts), shapely.distance(line, pts)

    home_side, home_line, home_off = side(base.homes.xy[on])
    snap_side, snap_line, snap_off = side(snap.xy[on])
    # comparable: both measured against the same centreline, clear of it (not where the sides meet)
    check = (home_line == snap_line) & (home_off > 1.0) & (snap_off > 1.0)
    assert check.sum() > 500
    assert np.array_equal(home_side[check], snap_side[check])
