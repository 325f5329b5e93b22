"""Edge lines made for some edges only, closures found without a tree, and lines an edited copy inherits.

Each is checked against the way it is done otherwise (the whole lines array, the STRtree's query,
the lines made from scratch), on a tangle of random polylines and on shapes that only touch.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.netedit import Closure, Link, with_edits
from geo.network import inherit_lines, network_from_lines


def _tangle(seed: int = 7, n: int = 120):
    """Random polylines of 2-5 vertices in a 1 km square, on whole metres (so shapes can touch exactly)."""
    rng = np.random.default_rng(seed)
    lines = [np.round(rng.uniform(0, 1000, size=(int(rng.integers(2, 6)), 2))) for _ in range(n)]
    return network_from_lines(lines)


def _probes(net):
    """Geometries to close with: random lines and polygons, and shapes touching edges at a vertex or along a side."""
    rng = np.random.default_rng(3)
    out = []
    for _ in range(60):
        a = rng.uniform(-50, 1050, 2)
        out.append(shapely.linestrings([a, a + rng.uniform(-80, 80, 2)]))
        out.append(shapely.box(*a, *(a + rng.uniform(1, 60, 2))))
    v = net.geom_xy[net.geom_start[5]]
    out.append(shapely.points(v))  # an edge's end exactly
    out.append(shapely.box(v[0], v[1], v[0] + 10, v[1] + 10))  # a corner on it
    out.append(shapely.linestrings([v, v + 5.0]))  # starting on it
    out.append(shapely.box(2000, 2000, 2001, 2001))  # nowhere
    out.append(shapely.box(-10, -10, 1010, 1010))  # everything
    return out


def test_lines_of_some_edges_are_those_of_all():
    net = _tangle()
    some = np.array([0, 3, 3, net.n_edges - 1])
    assert shapely.equals_exact(net.lines_of(some), net.edge_lines[some], 0).all()
    assert len(net.lines_of(np.zeros(0, np.int64))) == 0


def test_edges_meeting_a_geometry_are_those_the_tree_finds():
    net = _tangle()
    probes = _probes(net)
    found = [net.edges_meeting(g) for g in probes]  # before any tree: from the edges' extents
    assert "edge_tree" not in net.__dict__
    total = 0
    for g, got in zip(probes, found, strict=True):
        want = np.sort(net.edge_tree.query(g, predicate="intersects"))
        assert got.tolist() == want.tolist(), g.wkt
        total += len(got)
    assert total > 50  # the probes do meet edges
    assert len(found[-1]) == net.n_edges
    assert len(found[-2]) == 0
    # with the tree built, the same from the tree
    assert [net.edges_meeting(g).tolist() for g in probes] == [f.tolist() for f in found]


def test_edge_extent_is_each_lines_bounds():
    net = _tangle()
    lo, hi = net.edge_extent
    b = shapely.bounds(net.edge_lines)
    assert np.array_equal(lo, b[:, :2])
    assert np.array_equal(hi, b[:, 2:])


@pytest.mark.parametrize(("with_link", "base_lines"), [(True, True), (True, False), (False, False)])
def test_an_edited_copy_has_the_lines_made_from_scratch_with_or_without_its_bases(with_link, base_lines):
    net = _tangle()
    if base_lines:
        assert len(net.edge_lines) == net.n_edges  # made before the edit (a plan snapped its homes)
    closure = Closure(shapely.linestrings([[400, -10], [400, 1010]]))
    links = [Link(np.array([[100.5, 100.5], [900.5, 850.5]]))] if with_link else []
    edited, log = with_edits(net, links=links, closures=[closure])
    assert len(log.closed) > 0
    assert len(log.links) == len(links)
    # neither a link's two ends nor a closure make the base's lines; made before, they are inherited
    assert ("edge_lines" in net.__dict__) is base_lines
    assert ("edge_lines" in edited.__dict__) is base_lines
    fresh = _rebuilt(edited)
    assert shapely.equals_exact(edited.edge_lines, fresh.edge_lines, 0).all()
    pts = shapely.points(np.random.default_rng(1).uniform(0, 1000, size=(200, 2)))
    a = edited.edge_tree.query_nearest(pts, return_distance=True, all_matches=False)
    b = fresh.edge_tree.query_nearest(pts, return_distance=True, all_matches=False)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])


def test_inherit_lines_needs_the_bases_lines():
    net = _tangle()
    copy = _rebuilt(net)
    assert inherit_lines(copy, net, np.arange(net.n_edges)) is copy
    assert "edge_lines" not in copy.__dict__


def _rebuilt(net):
    """The same network made again from its arrays (no lines or tree made yet)."""
    import dataclasses

    return dataclasses.replace(net)
