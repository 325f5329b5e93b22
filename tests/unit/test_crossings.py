"""The crossing model on hand-built roads with known walks (geo.crossings).

One east-west secondary road, 2 km long, along y = 0 (metres in UTM 51N near Hangzhou), with
things meeting it that are or are not places to cross. Walks between points on the two sides
are known by hand: straight across where a crossing exists, round by the nearest crossing
where none does. The sides are drawn :data:`geo.crossings.SIDE_OFFSET_M` from the centreline,
so a known walk is exact up to a few offsets (tolerance ``TOL``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from geo.circles import multi_source, point_distances
from geo.crossings import (
    BARRIER,
    CROSSING_WAY,
    OTHER,
    PUBLIC,
    SERVICE,
    SIDE_OFFSET_M,
    is_crossing_node,
    split_sides,
    walk_ways,
    way_class,
)
from geo.network import build_network, network_from_lines, transformer
from geo.osm import Features, OsmExtract, WalkWays

#: a point in Binjiang, the origin of the hand-built metres
ORIGIN = transformer(4326, 32651).transform(120.2, 30.2)
TOL = 4 * SIDE_OFFSET_M + 0.5

#: node id -> (x, y) metres from ORIGIN
NODES = {
    # the road: a zebra (tagged node) at x = 100, nothing else tagged
    1: (0, 0), 2: (100, 0), 3: (200, 0), 5: (150, 0), 6: (600, 0), 7: (700, 0), 8: (800, 0), 9: (900, 0),
    4: (2000, 0),
    # footways ending at node 3 from the north and from the south (two ways: not a crossing)
    10: (250, 50), 11: (250, -50),
    # a footway from the north and a driveway from the south meeting the road at node 5
    13: (150, 40), 12: (150, -40),
    # a residential street across the road at node 6
    60: (600, 100), 61: (600, -100),
    # a residential street from the north (a T junction) and a footway from the south at node 7
    70: (700, 100), 71: (700, -50),
    # one footway going straight across at node 8 (a crossing mapped without its tag)
    80: (800, 50), 81: (800, -50),
    # a footway=crossing way across at node 9, footways to it from both sides
    90: (900, 10), 91: (900, -10), 92: (900, 50), 93: (900, -50),
}
ROAD = ([1, 2, 5, 3, 6, 7, 8, 9, 4], "secondary", BARRIER)
WAYS = [
    ROAD,
    ([10, 3], "footway", OTHER), ([11, 3], "footway", OTHER),
    ([13, 5], "footway", OTHER), ([12, 5], "service", SERVICE),
    ([60, 6, 61], "residential", PUBLIC),
    ([70, 7], "residential", PUBLIC), ([71, 7], "footway", OTHER),
    ([80, 8, 81], "footway", OTHER),
    ([90, 9, 91], "footway", CROSSING_WAY), ([92, 90], "footway", OTHER), ([93, 91], "footway", OTHER),
]


def make_ways(ways=WAYS, nodes=NODES, crossings=(2,)) -> WalkWays:
    ids, xs, ys, off, hw = [], [], [], [0], []
    for seq, highway, _ in ways:
        for n in seq:
            ids.append(n)
            xs.append(nodes[n][0] + ORIGIN[0])
            ys.append(nodes[n][1] + ORIGIN[1])
        off.append(len(ids))
        hw.append(highway)
    lon, lat = transformer(32651, 4326).transform(np.array(xs), np.array(ys))
    return WalkWays(node_ids=np.array(ids, np.int64), lon=lon, lat=lat, offsets=np.array(off, np.int64),
                    way_ids=np.arange(len(ways), dtype=np.int64), highway=hw, name=[""] * len(ways),
                    road_class=np.array([c for _, _, c in ways], np.int8),
                    crossing_nodes=np.array(crossings, np.int64))


def walk(net, a, b) -> float:
    """Walk (m) between two points given in metres from ORIGIN, each snapped to its nearest edge
    (from the snapped positions: the step from a point onto its edge is not counted)."""
    pa = net.snap(np.array([[a[0] + ORIGIN[0], a[1] + ORIGIN[1]]]), max_dist=500)
    pb = net.snap(np.array([[b[0] + ORIGIN[0], b[1] + ORIGIN[1]]]), max_dist=500)
    reach = multi_source(net, pa)
    d, _ = point_distances(net, reach, pb)
    return float(d[0])


@pytest.fixture(scope="module")
def strict():
    return build_network(make_ways())


@pytest.fixture(scope="module")
def anywhere():
    return build_network(make_ways_anywhere())


def make_ways_anywhere():
    ext = OsmExtract(source="hand", data_date=None, ways=make_ways(), features=Features())
    return walk_ways(ext, crossings="anywhere")


def test_the_network_is_built_in_the_metric_crs_of_the_hand_made_coordinates(strict):
    assert strict.crs == 32651


def test_footways_ending_at_the_road_from_both_sides_do_not_cross_it(strict, anywhere):
    # 10 -> node 3 -> 11 straight: 2 * 70.7; strict: along the north side to the zebra at x = 100,
    # back along the south side: 70.7 + 100 + 100 + 70.7
    assert walk(anywhere, NODES[10], NODES[11]) == pytest.approx(2 * np.hypot(50, 50), abs=0.01)
    assert walk(strict, NODES[10], NODES[11]) == pytest.approx(2 * np.hypot(50, 50) + 200, abs=TOL)


def test_a_driveway_is_not_a_crossing(strict, anywhere):
    assert walk(anywhere, NODES[13], NODES[12]) == pytest.approx(80, abs=0.01)
    assert walk(strict, NODES[13], NODES[12]) == pytest.approx(40 + 50 + 50 + 40, abs=TOL)


def test_junctions_with_public_streets_are_crossings(strict):
    assert walk(strict, NODES[60], NODES[61]) == pytest.approx(200, abs=TOL)
    assert walk(strict, NODES[70], NODES[71]) == pytest.approx(150, abs=TOL)


def test_a_footway_across_and_a_crossing_way_are_crossings(strict):
    assert walk(strict, NODES[80], NODES[81]) == pytest.approx(100, abs=TOL)
    assert walk(strict, NODES[92], NODES[93]) == pytest.approx(100, abs=TOL)


def test_points_snap_to_the_side_they_stand_on(strict):
    # two points 20 m either side of the road at x = 400 (between node 3 and the junction at 6):
    # the nearest crossing is the junction at x = 600 (200 m on) or the zebra at 100 (300 back)
    north, south = (400, 20), (400, -20)
    d = walk(strict, north, south)
    assert d == pytest.approx(200 + 200, abs=TOL)
    # a point on the north side reaches the north footway at node 3 without crossing
    assert walk(strict, north, NODES[10]) == pytest.approx(200 + np.hypot(50, 50), abs=TOL)
    assert walk(strict, south, NODES[11]) == pytest.approx(200 + np.hypot(50, 50), abs=TOL)


def test_the_zebra_node_joins_the_sides(strict):
    assert walk(strict, (100, 20), (100, -20)) == pytest.approx(0, abs=TOL)
    assert walk(strict, (110, 20), (110, -20)) == pytest.approx(20, abs=TOL)


def test_the_road_end_joins_the_sides():
    # no crossing at all: the sides meet only at the road's two ends (x = 0 and x = 2000)
    ways = [ROAD, ([10, 3], "footway", OTHER), ([11, 3], "footway", OTHER)]
    net = build_network(make_ways(ways, crossings=()))
    assert walk(net, NODES[10], NODES[11]) == pytest.approx(2 * (np.hypot(50, 50) + 200), abs=TOL)


def test_split_sides_counts_and_keeps_other_edges():
    net = build_network(make_ways(), largest_component=False)
    plain = build_network(make_ways_anywhere(), largest_component=False)
    # the split road nodes: 5, 3 (mid-block meetings) and every bare road node — 2, 6, 7, 8, 9 are crossings
    twice = np.bincount(np.unique(net.node_osm, return_inverse=True)[1].ravel())
    split_osm = sorted(np.unique(net.node_osm)[twice == 2].tolist())
    assert split_osm == [3, 5]
    # the zebra (node 2, on the road only) becomes a graph node, and 3 and 5 get a second side
    assert net.n_nodes == plain.n_nodes + 1 + 2
    # the road is cut at the zebra (+1 edge), and its edges at a split node are doubled: 2-5, 5-3, 3-6
    assert net.n_edges == plain.n_edges + 1 + 3
    # non-road edges keep their lengths up to the side offset
    road = net.edge_highway == "secondary"
    assert np.isclose(net.edge_len[~road].sum(), plain.edge_len[plain.edge_highway != "secondary"].sum(),
                      atol=4 * SIDE_OFFSET_M)


def test_split_sides_on_a_network_without_barriers_changes_nothing():
    net = network_from_lines([[(0, 0), (100, 0)], [(100, 0), (100, 50)]])
    out, stats = split_sides(net, np.arange(net.n_edges), np.full(net.n_edges, OTHER, np.int8),
                             np.zeros(0, np.int64))
    assert stats["split_nodes"] == 0
    assert out.n_edges == net.n_edges
    assert np.array_equal(out.edge_len, net.edge_len)
    assert np.array_equal(out.geom_xy, net.geom_xy)


@pytest.mark.parametrize(("tags", "want"), [
    ({"highway": "secondary"}, BARRIER),
    ({"highway": "primary_link"}, BARRIER),
    ({"highway": "trunk", "oneway": "yes"}, BARRIER),
    ({"highway": "tertiary"}, PUBLIC),
    ({"highway": "tertiary", "lanes": "4"}, BARRIER),
    ({"highway": "tertiary", "lanes": "2;4"}, BARRIER),
    ({"highway": "tertiary", "lanes": "many"}, PUBLIC),
    ({"highway": "tertiary", "divider": "barrier"}, BARRIER),
    ({"highway": "tertiary", "divider": "dashed_line"}, PUBLIC),
    ({"highway": "tertiary", "dual_carriageway": "yes"}, BARRIER),
    ({"highway": "residential"}, PUBLIC),
    ({"highway": "service", "service": "driveway"}, SERVICE),
    ({"highway": "service"}, SERVICE),
    ({"highway": "residential", "access": "private", "foot": "yes"}, SERVICE),
    ({"highway": "footway", "footway": "crossing"}, CROSSING_WAY),
    ({"highway": "footway", "footway": "sidewalk"}, OTHER),
    ({"highway": "steps"}, OTHER),
])
def test_way_classes(tags, want):
    assert way_class(tags) == want


@pytest.mark.parametrize(("tags", "want"), [
    ({"highway": "crossing"}, True), ({"highway": "traffic_signals"}, True), ({"crossing": "zebra"}, True),
    ({"crossing": "no"}, False), ({"highway": "crossing", "crossing": "no"}, False), ({"barrier": "gate"}, False),
    ({"highway": "stop"}, False),
])
def test_crossing_nodes(tags, want):
    assert is_crossing_node(tags) is want


def test_unknown_mode_is_refused():
    ext = OsmExtract(source="hand", data_date=None, ways=make_ways(), features=Features())
    with pytest.raises(ValueError, match="strict, anywhere"):
        walk_ways(ext, crossings="sometimes")


def test_dual_carriageway_is_crossed_at_the_junction():
    # two one-way carriageways 20 m apart (y = 0 and y = -20), a residential street across both at
    # x = 500; footways from the north to the north carriageway and from the south to the south one
    nodes = {101: (0, 0), 102: (300, 0), 103: (500, 0), 104: (1000, 0),
             201: (1000, -20), 202: (500, -20), 203: (300, -20), 204: (0, -20),
             301: (500, 50), 302: (500, -70), 401: (300, 50), 402: (300, -70)}
    ways = [([101, 102, 103, 104], "secondary", BARRIER), ([201, 202, 203, 204], "secondary", BARRIER),
            ([301, 103, 202, 302], "residential", PUBLIC), ([401, 102], "footway", OTHER),
            ([402, 203], "footway", OTHER)]
    strict = build_network(make_ways(ways, nodes, crossings=()))
    ext = OsmExtract(source="hand", data_date=None, ways=make_ways(ways, nodes, crossings=()), features=Features())
    anywhere = build_network(walk_ways(ext, crossings="anywhere"))
    # as before the model: the carriageways share no node at x = 300, so both walk round by x = 500
    assert walk(anywhere, nodes[401], nodes[402]) == pytest.approx(50 + 200 + 20 + 200 + 50, abs=0.01)
    assert walk(strict, nodes[401], nodes[402]) == pytest.approx(50 + 200 + 20 + 200 + 50, abs=TOL)
    # the junction joins every side: north of the north carriageway to the median side of it
    assert walk(strict, nodes[401], (300, -6)) == pytest.approx(50 + 200 + 200, abs=TOL)


def test_a_new_zebra_joins_the_two_sides(strict):
    from geo.netedit import Link, with_edits

    # a what-if zebra at x = 250, drawn from 10 m north to 10 m south of the centreline
    line = np.array([[250 + ORIGIN[0], 10 + ORIGIN[1]], [250 + ORIGIN[0], -10 + ORIGIN[1]]])
    new, log = with_edits(strict, links=[Link(line)])
    e = int(log.links[0])
    ends_y = new.node_xy[[new.edge_u[e], new.edge_v[e]], 1] - ORIGIN[1]
    # each end joined the side it lies on (the sides are drawn up to SIDE_OFFSET_M off the centreline,
    # closing in on the junction at x = 600 where they meet)
    assert 0 < ends_y[0] <= SIDE_OFFSET_M
    assert -SIDE_OFFSET_M <= ends_y[1] < 0
    assert new.edge_len[e] == pytest.approx(ends_y[0] - ends_y[1], abs=0.01)
    before = walk(strict, NODES[10], NODES[11])
    after = walk(new, NODES[10], NODES[11])
    # 10 -> node 3 (north) -> 50 m east -> zebra -> 50 m west -> node 3 (south) -> 11
    assert after == pytest.approx(2 * np.hypot(50, 50) + 100 + 2 * SIDE_OFFSET_M, abs=TOL)
    assert before - after == pytest.approx(100, abs=TOL)


def test_a_wait_at_signals_is_paid_once_per_road_crossed():
    # two secondary roads crossing at a signalised junction (node 500); corners NE, NW, SW, SE
    nodes = {500: (0, 0), 501: (200, 0), 502: (0, 200), 503: (-200, 0), 504: (0, -200)}
    ways = [([503, 500, 501], "secondary", BARRIER), ([504, 500, 502], "secondary", BARRIER)]
    ww = make_ways(ways, nodes, crossings=(500,))
    free = build_network(ww)
    ww = dataclasses.replace(ww, signal_nodes=np.array([500], np.int64))
    wait = 60.0
    assert build_network(ww).n_edges == free.n_edges  # no wait: a free crossing as before
    lights = build_network(ww, signal_wait_m=wait)
    ne, nw, sw = (50, 10), (-50, 10), (-50, -10)
    assert walk(free, ne, nw) == pytest.approx(100, abs=TOL)
    assert walk(lights, ne, nw) == pytest.approx(100 + wait, abs=TOL)  # across the north arm
    assert walk(lights, ne, sw) == pytest.approx(100 + 2 * wait, abs=TOL)  # two arms, either way round
    # walking along one side past the junction crosses no road: no wait
    assert walk(lights, ne, (10, 50)) == pytest.approx(100, abs=TOL)
    assert (lights.edge_highway == "crossing").sum() == 4


def test_a_wait_at_a_signalised_zebra_mid_block():
    ww = dataclasses.replace(make_ways(), signal_nodes=np.array([2], np.int64))
    net = build_network(ww, signal_wait_m=45.0)
    assert walk(net, (110, 20), (110, -20)) == pytest.approx(20 + 45, abs=TOL)
    assert walk(net, (110, 20), (300, 20)) == pytest.approx(190, abs=TOL)  # along the side: no wait
    assert (net.edge_highway == "crossing").sum() == 1


def test_the_crossing_options_are_checked_and_kept_in_the_saved_plan_settings():
    from geo.errors import InputError
    from geo.plan import PlanParams, check_params
    from geo.saved import _params_doc, _params_from

    with pytest.raises(InputError) as err:
        check_params(PlanParams(crossings="sometimes", signal_wait_s=-5))
    text = str(err.value)
    assert "--crossings: 'sometimes': expected strict" in text
    assert "--signal-wait: -5 s is outside 0..300" in text
    params = PlanParams(crossings="anywhere", signal_wait_s=30.0)
    doc = _params_doc(params)
    assert (doc["crossings"], doc["signal_wait_s"]) == ("anywhere", 30.0)
    assert _params_from(doc) == dataclasses.replace(params, cache_dir=None)
    # the wait is walking metres at the first profile's speed, and only with strict crossings
    assert PlanParams(signal_wait_s=30.0).signal_wait_m() == pytest.approx(30 * 4.8 / 3.6)
    assert params.signal_wait_m() == 0.0


@pytest.mark.parametrize("drawn", ["reversed", "two ways meeting head-on at node 3", "two ways leaving node 5"])
def test_the_sides_do_not_depend_on_how_the_road_is_drawn(drawn):
    road = ROAD[0]
    if drawn == "reversed":
        roads = [(road[::-1], "secondary", BARRIER)]
    elif drawn == "two ways meeting head-on at node 3":
        roads = [([1, 2, 5, 3], "secondary", BARRIER), ([4, 9, 8, 7, 6, 3], "secondary", BARRIER)]
    else:
        roads = [([5, 2, 1], "secondary", BARRIER), ([5, 3, 6, 7, 8, 9, 4], "secondary", BARRIER)]
    net = build_network(make_ways([*roads, *WAYS[1:]]))
    assert walk(net, NODES[10], NODES[11]) == pytest.approx(2 * np.hypot(50, 50) + 200, abs=TOL)
    assert walk(net, NODES[13], NODES[12]) == pytest.approx(40 + 50 + 50 + 40, abs=TOL)
    assert walk(net, (400, 20), (400, -20)) == pytest.approx(400, abs=TOL)
    assert walk(net, (400, 20), NODES[10]) == pytest.approx(200 + np.hypot(50, 50), abs=TOL)
    assert walk(net, NODES[60], NODES[61]) == pytest.approx(200, abs=TOL)
