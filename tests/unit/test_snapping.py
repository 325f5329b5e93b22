"""The snapping rule, three ways: the STRtree of every edge, the few-points path without it, and
the facilities' snaps taken over from a plan before an edit (:func:`geo.netedit.snap_again`).

Each is checked against a brute-force reference written here: the distance from the point to
every edge's line, the nearest within the limit, and of equally near edges the lowest-numbered.
Points sit at random, exactly on junctions (where several edges are equally near) and on edges.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.netedit import Closure, Link, snap_again, with_edits
from geo.network import Network, network_from_lines
from geo.snapping import FEW_POINTS


def _reference(net: Network, xy: np.ndarray, max_dist: float, among: np.ndarray | None = None):
    """``(edge, distance)`` of each point by brute force (-1, inf: none within ``max_dist``)."""
    lines = net.lines_of(np.arange(net.n_edges))
    allowed = np.zeros(net.n_edges, bool)
    allowed[np.arange(net.n_edges) if among is None else among] = True
    edge, dist = np.full(len(xy), -1), np.full(len(xy), np.inf)
    for i, p in enumerate(shapely.points(xy)):
        d = np.where(allowed, shapely.distance(p, lines), np.inf)
        best = d.min()
        if best <= max_dist:
            edge[i], dist[i] = int(np.flatnonzero(d == best)[0]), best
    return edge, dist


def _tangle(seed: int = 11, n: int = 2000) -> Network:
    """Short random polylines in a 5 km square, on whole metres, many meeting at shared vertices."""
    rng = np.random.default_rng(seed)
    pts = np.round(rng.uniform(0, 5000, size=(1500, 2)))
    near = np.argsort(np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)), axis=1)[:, 1:5]
    lines = []
    for _ in range(n):
        a = int(rng.integers(len(pts)))
        b = int(near[a, rng.integers(4)])
        c = int(near[b, rng.integers(4)])
        lines.append(pts[[a, b, c] if c != a and rng.random() < 0.5 else [a, b]])
    return network_from_lines(lines)


def _probes(net: Network, seed: int = 5) -> np.ndarray:
    """Random points, the junctions themselves (ties), and points on edges."""
    rng = np.random.default_rng(seed)
    lo, hi = net.node_xy.min(axis=0) - 60, net.node_xy.max(axis=0) + 60
    on = shapely.get_coordinates(shapely.line_interpolate_point(net.lines_of(np.arange(0, net.n_edges, 7)), 0.5, True))
    return np.vstack([rng.uniform(lo, hi, size=(40, 2)), net.node_xy[:: max(1, net.n_nodes // 40)], on[:40]])


def _fresh(net: Network) -> Network:
    """The same network without its cached lines and tree (as read from a saved plan)."""
    import dataclasses

    return dataclasses.replace(net)


@pytest.mark.parametrize("max_dist", [15.0, 80.0, 1e9])
def test_both_paths_give_the_reference(max_dist):
    net = _tangle()
    xy = _probes(net)
    want_edge, want_dist = _reference(net, xy, max_dist)
    assert (want_edge >= 0).sum() > 10
    by_tree = net.snap(xy, max_dist=max_dist)  # many points: one query of the tree
    np.testing.assert_array_equal(by_tree.edge, want_edge)
    np.testing.assert_array_equal(by_tree.dist, want_dist)
    for i in range(0, len(xy), FEW_POINTS):  # a few at a time, on a network with no tree made
        fresh = _fresh(net)
        few = fresh.snap(xy[i : i + FEW_POINTS], max_dist=max_dist)
        assert "edge_tree" not in fresh.__dict__ or max_dist == 1e9
        np.testing.assert_array_equal(few.edge, want_edge[i : i + FEW_POINTS])
        np.testing.assert_array_equal(few.along, by_tree.along[i : i + FEW_POINTS])
        np.testing.assert_array_equal(few.xy, by_tree.xy[i : i + FEW_POINTS])


def test_junction_ties_go_to_the_lowest_edge():
    # four streets meeting at (0, 0): a point there is as near all four
    net = network_from_lines([[(0, 0), (100, 0)], [(0, 0), (0, 100)], [(-100, 0), (0, 0)], [(0, -100), (0, 0)]])
    at = np.array([[0.0, 0.0], [-5.0, -5.0]])
    want, _ = _reference(net, at, 50.0)
    assert _fresh(net).snap(at, max_dist=50.0).edge.tolist() == want.tolist()
    assert net.snap(np.repeat(at, 20, axis=0), max_dist=50.0).edge.tolist() == np.repeat(want, 20).tolist()


def test_link_ends_choose_among_open_edges():
    net = _tangle(seed=3)
    closed = np.arange(0, net.n_edges, 3)
    among = np.setdiff1d(np.arange(net.n_edges), closed)
    xy = _probes(net, seed=9)[:FEW_POINTS]
    from geo.snapping import nearest_edges

    pi, ei, d = nearest_edges(_fresh(net), shapely.points(xy), xy, 40.0, among=among)
    want_edge, want_dist = _reference(net, xy, 40.0, among)
    got = np.full(len(xy), -1)
    got[pi] = ei
    np.testing.assert_array_equal(got, want_edge)
    np.testing.assert_array_equal(d, want_dist[pi])


def test_snap_again_is_snapping_again_after_edits():
    """Facilities snapped before an edit, taken over onto the edited network: as if snapped there."""
    net = _tangle(seed=21)
    xy = _probes(net, seed=4)
    old = net.snap(xy, max_dist=60.0)
    rng = np.random.default_rng(2)
    same = np.arange(len(xy))
    same[rng.choice(len(xy), 12, replace=False)] = -1  # new or moved facilities
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    links = [Link(rng.uniform(lo, hi, size=(2, 2)), label=f"link {k}") for k in range(4)]
    # a link passing 0.3 m from facilities a few metres from their street: they take it
    for k in [int(k) for k in np.flatnonzero((same >= 0) & old.ok & (old.dist > 5))[:3]]:
        p = xy[k]
        links.append(Link(p + np.array([[-40, 0.3], [-5, 0.3], [5, 0.3], [40, 0.3]]), label=f"by facility {k}"))
    # closed: the edges of a few facilities (snapped again elsewhere) and a few others
    hit = np.concatenate([old.edge[old.ok][:6], [3, 40, 400]])
    mids = shapely.line_interpolate_point(net.lines_of(hit), 0.5, normalized=True)
    closures = [Closure(shapely.buffer(m, 0.5), label=f"closure {k}") for k, m in enumerate(mids)]
    problems: list[str] = []
    edited, log = with_edits(net, links=links, closures=closures, snap_max_m=200.0, problems=problems)
    assert not problems, problems
    assert len(log.links)
    assert len(log.closed)
    for new_net, lg in ((_fresh(edited), log), (_fresh(net), None)):
        got = snap_again(old, same, new_net, xy, max_dist=60.0, log=lg)
        want = new_net.snap(xy, max_dist=60.0)
        np.testing.assert_array_equal(got.edge, want.edge)
        np.testing.assert_array_equal(got.ok, want.ok)
        np.testing.assert_allclose(got.along, want.along, atol=1e-9)
        np.testing.assert_allclose(got.dist, want.dist)
    moved = snap_again(old, same, edited, xy, max_dist=60.0, log=log).edge
    assert (moved >= int((log.edge_map >= 0).sum())).any(), "no facility took an added edge: the test is too weak"


def test_far_points_widen_the_search_without_the_tree():
    """The distance to the nearest way however far (an unplaced facility's note): no tree made."""
    net = _tangle(seed=8)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    far = np.array([[lo[0] - 3000.0, lo[1] - 2000.0], [hi[0] + 900.0, (lo[1] + hi[1]) / 2], [lo[0] + 10.0, lo[1] + 10.0]])
    fresh = _fresh(net)
    got = fresh.snap(far, max_dist=1e9)
    assert "edge_tree" not in fresh.__dict__
    want_edge, want_dist = _reference(net, far, 1e9)
    np.testing.assert_array_equal(got.edge, want_edge)
    np.testing.assert_array_equal(got.dist, want_dist)
    assert got.dist[0] > 2000
    # within a limit shorter than the first reach, and longer: the same as the tree
    for limit in (50.0, 1000.0, 2500.0):
        np.testing.assert_array_equal(_fresh(net).snap(far, max_dist=limit).edge, net.snap(np.repeat(far, 10, axis=0), max_dist=limit).edge[::10])


def test_a_point_without_coordinates_is_refused_on_both_paths():
    import shapely.errors

    net = _tangle(seed=8)
    bad = np.array([[np.nan, np.nan], [10.0, 10.0]])
    with pytest.raises(shapely.errors.GEOSException):
        _fresh(net).snap(bad, max_dist=50.0)  # a few points, no tree yet
    with pytest.raises(shapely.errors.GEOSException):
        net.snap(np.repeat(bad, 20, axis=0), max_dist=50.0)
