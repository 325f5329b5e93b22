"""geo.nearest: nearest facilities and their routes, against known answers and networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from geo.circles import multi_source, point_distances
from geo.nearest import NearestIndex
from geo.network import MIN_ARC_M, network_from_lines


def snap1(net, x, y, max_dist=1000.0):
    return net.snap(np.array([[x, y]]), max_dist=max_dist)


def facilities(net, pts):
    return net.snap(np.asarray(pts, float), max_dist=1000.0)


def nx_graph(net, fac, point):
    """An independent reference: the network as a networkx graph with the query point and
    every facility as extra nodes on their edges (parallel edges keep the shortest)."""
    g = nx.Graph()
    for e in range(net.n_edges):
        u, v, w = int(net.edge_u[e]), int(net.edge_v[e]), max(float(net.edge_len[e]), MIN_ARC_M)
        if u == v:
            continue
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(u, v, weight=w)

    def attach(name, e, a):
        u, v, L = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_len[e])
        g.add_edge(name, u, weight=max(a, MIN_ARC_M)) if u != v else None
        if u == v:
            g.add_edge(name, u, weight=max(min(a, L - a), MIN_ARC_M))
        else:
            g.add_edge(name, v, weight=max(L - a, MIN_ARC_M))

    for i in np.flatnonzero(fac.ok):
        attach(("f", int(i)), int(fac.edge[i]), float(fac.along[i]))
    attach("q", int(point.edge[0]), float(point.along[0]))
    # the query and a facility on the same edge: the stretch between them
    for i in np.flatnonzero(fac.ok & (fac.edge == point.edge[0])):
        g.add_edge("q", ("f", int(i)), weight=max(abs(float(fac.along[i]) - float(point.along[0])), MIN_ARC_M))
    return g


def on_network(net, xy, tol=1e-6):
    d = net.edge_tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)[1]
    return bool(np.all(d < tol))


# --- hand-built graphs with known answers ---------------------------------------------------

@pytest.fixture
def street():
    """A(0,0) - B(100,0) - C(300,0) and a spur B - D(100,50): AB 100 m, BC 200 m, BD 50 m."""
    return network_from_lines([[(0, 0), (100, 0)], [(100, 0), (200, 0), (300, 0)], [(100, 0), (100, 50)]])


def test_nearest_from_labels_on_a_street(street):
    fac = facilities(street, [(100, 40), (280, 0)])  # on the spur 40 m from B; on BC 180 m from B
    reach = multi_source(street, fac)
    idx = NearestIndex(street)
    r = idx.from_labels(reach, snap1(street, 20, 5))  # 80 m to B, then 40 m up the spur
    assert r.facility == 0
    assert r.metres == pytest.approx(120.0)
    assert r.length() == pytest.approx(120.0)
    np.testing.assert_allclose(r.xy, [[20, 0], [100, 0], [100, 40]], atol=1e-9)
    r = idx.from_labels(reach, snap1(street, 250, -3))  # same edge, 30 m along it
    assert (r.facility, r.metres) == (1, pytest.approx(30.0))
    np.testing.assert_allclose(r.xy, [[250, 0], [280, 0]], atol=1e-9)
    r = idx.from_labels(reach, snap1(street, 150, 2))  # 50 m back to B and up the spur: 90 m < 130 m
    assert (r.facility, r.metres) == (0, pytest.approx(90.0))
    np.testing.assert_allclose(r.xy, [[150, 0], [100, 0], [100, 40]], atol=1e-9)
    assert idx.from_labels(reach, snap1(street, 20, 5), limit=100.0) is None


def test_search_k_nearest_on_a_street(street):
    fac = facilities(street, [(100, 40), (280, 0), (10, 0)])
    idx = NearestIndex(street)
    routes = idx.search(fac, snap1(street, 150, 2), k=3, limit=10_000)
    assert [r.facility for r in routes] == [0, 1, 2]
    assert [r.metres for r in routes] == pytest.approx([90.0, 130.0, 140.0])
    assert [r.length() for r in routes] == pytest.approx([90.0, 130.0, 140.0])
    np.testing.assert_allclose(routes[1].xy, [[150, 0], [200, 0], [280, 0]], atol=1e-9)  # the vertex at 200 kept
    np.testing.assert_allclose(routes[2].xy, [[150, 0], [100, 0], [10, 0]], atol=1e-9)
    # a mask leaves out facility 0; the limit cuts what is farther
    assert [r.facility for r in idx.search(fac, snap1(street, 150, 2), k=3, mask=[False, True, True], limit=135)] == [1]
    assert idx.search(fac, snap1(street, 150, 2), k=3, limit=50) == []


def test_same_edge_but_round_is_shorter():
    """A long U-shaped street P..Q (300 m) and a 20 m shortcut P-Q: from 10 m along the U to a
    facility 290 m along it, walking back over the shortcut (10 + 20 + 10 m) beats the U (280 m)."""
    u_street = [(0, 0), (0, 140), (20, 140), (20, 0)]  # 140 + 20 + 140 = 300 m
    net = network_from_lines([u_street, [(0, 0), (20, 0)]])
    fac = facilities(net, [(20, 10)])
    q = snap1(net, -1, 10)
    idx = NearestIndex(net)
    reach = multi_source(net, fac)
    for r in (idx.from_labels(reach, q), idx.search(fac, q, k=1, limit=1000)[0]):
        assert r.metres == pytest.approx(40.0)
        assert r.length() == pytest.approx(40.0)
        np.testing.assert_allclose(r.xy, [[0, 10], [0, 0], [20, 0], [20, 10]], atol=1e-9)
    assert point_distances(net, reach, q)[0][0] == pytest.approx(40.0)


def test_loop_street_goes_the_shorter_way_round():
    """A closed loop street (a square 4 x 50 m from its one node) off a 30 m access way."""
    loop = [(0, 0), (50, 0), (50, 50), (0, 50), (0, 0)]
    net = network_from_lines([loop, [(0, 0), (-30, 0)]])
    fac = facilities(net, [(-25, 0)])
    q = snap1(net, 1, 45)  # 155 m along the loop from its node, 45 m on round the short way
    idx = NearestIndex(net)
    for r in (idx.from_labels(multi_source(net, fac), q), idx.search(fac, q, k=1, limit=1000)[0]):
        assert r.metres == pytest.approx(45.0 + 25.0)
        assert r.length() == pytest.approx(r.metres)
        np.testing.assert_allclose(r.xy[0], [0, 45])
        np.testing.assert_allclose(r.xy[-1], [-25, 0])


# --- the real network against networkx ----------------------------------------------------

@pytest.mark.slow
@pytest.mark.hangzhou
def test_binjiang_routes_match_networkx(binjiang_net):
    net = binjiang_net
    rng = np.random.default_rng(6)
    pick = rng.choice(net.n_nodes, size=40, replace=False)
    fac = facilities(net, net.node_xy[pick] + rng.normal(0, 15, (40, 2)))
    reach = multi_source(net, fac)
    idx = NearestIndex(net)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    pts = lo + rng.random((12, 2)) * (hi - lo)
    checked = 0
    for x, y in pts:
        q = snap1(net, x, y, max_dist=500)
        if not q.ok[0]:
            continue
        g = nx_graph(net, fac, q)
        ref = nx.single_source_dijkstra_path_length(g, "q", weight="weight")
        ref_f = sorted((d, n[1]) for n, d in ref.items() if isinstance(n, tuple) and n[0] == "f")
        r1 = idx.from_labels(reach, q)
        assert r1.metres == pytest.approx(ref_f[0][0], abs=1e-6)
        assert r1.metres == pytest.approx(point_distances(net, reach, q)[0][0])
        routes = idx.search(fac, q, k=5, limit=20_000)
        assert [r.metres for r in routes] == pytest.approx([d for d, _ in ref_f[:5]], abs=1e-6)
        assert routes[0].metres == pytest.approx(r1.metres)
        for r in [r1, *routes]:
            assert r.length() == pytest.approx(r.metres, abs=0.01)  # MIN_ARC_M per arc at most
            np.testing.assert_allclose(r.xy[0], q.xy[0], atol=1e-6)
            np.testing.assert_allclose(r.xy[-1], fac.xy[r.facility], atol=1e-6)
            assert on_network(net, r.xy)
        checked += 1
    assert checked >= 6


def test_facility_on_a_loop_street_is_reached_the_shorter_way():
    loop = [(0, 0), (50, 0), (50, 50), (0, 50), (0, 0)]
    net = network_from_lines([loop, [(0, 0), (-30, 0)]])
    fac = facilities(net, [(1, 45)])  # 155 m along the loop one way, 45 m the other
    q = snap1(net, -25, 1)
    idx = NearestIndex(net)
    for r in (idx.from_labels(multi_source(net, fac), q), idx.search(fac, q, k=1, limit=1000)[0]):
        assert r.metres == pytest.approx(25.0 + 45.0)
        assert r.length() == pytest.approx(r.metres)
        np.testing.assert_allclose(r.xy, [[-25, 0], [0, 0], [0, 45]], atol=1e-9)
