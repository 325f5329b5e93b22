"""Circle polygons on hand-built graphs with known answers."""

import networkx as nx
import numpy as np
import pytest
import shapely

from geo.circles import multi_source, per_source
from geo.network import network_from_lines
from geo.polygons import (
    circle_polygon, cut_lines, facility_polygons, layer_polygons, reached_intervals, source_intervals,
)


@pytest.fixture
def bent():
    """A(0,0) - B(100,0) straight; B - C bends: (100,0) -> (200,0) -> (200,200). BC is 300 m."""
    return network_from_lines([[(0, 0), (100, 0)], [(100, 0), (200, 0), (200, 200)]])


def test_partial_edge_is_cut_at_the_right_length_along_its_real_geometry(bent):
    fac = bent.snap(np.array([[0.0, 0.0]]), max_dist=1)
    reach = multi_source(bent, fac)
    e, s, t = reached_intervals(bent, reach.dist, 250.0, fac)
    lines = cut_lines(bent, e[t > s], s[t > s], t[t > s])
    total = sum(g.length for g in lines if g.length > 1e-6)
    # AB (100 m) once from A's node, once as the facility's own stretch; BC up to 150 m
    assert sorted(round(g.length, 6) for g in lines if g.length > 1e-6) == [100.0, 100.0, 150.0]
    assert total == pytest.approx(350.0)
    cut = [g for g in lines if abs(g.length - 150) < 1e-6][0]
    assert shapely.get_coordinates(cut)[-1] == pytest.approx([200.0, 50.0])  # round the bend
    poly = circle_polygon(bent, reach.dist, 250.0, facilities=fac, width_m=30.0)
    assert poly.contains(shapely.Point(200, 79)) and not poly.contains(shapely.Point(200, 81))
    assert poly.contains(shapely.Point(171, 40)) and not poly.contains(shapely.Point(169, 120))


def test_per_facility_intervals_match_the_layer_ones_for_a_single_facility(bent):
    fac = bent.snap(np.array([[50.0, 0.0]]), max_dist=1)
    d = per_source(bent, fac, limit=1000)
    a = source_intervals(bent, d.indices, d.data, 200.0, fac)
    b = reached_intervals(bent, multi_source(bent, fac).dist, 200.0, fac)
    key = lambda x: sorted((int(e), round(s, 6), round(t, 6)) for e, s, t in zip(*x) if t > s)  # noqa: E731
    assert key(a) == key(b)


def square(side=400.0):
    return network_from_lines([[(0, 0), (side, 0)], [(side, 0), (side, side)],
                               [(side, side), (0, side)], [(0, side), (0, 0)]])


def test_a_hole_is_kept_inside_a_block_wider_than_twice_the_width():
    net = square()
    fac = net.snap(np.array([[0.0, 0.0]]), max_dist=1)
    reach = multi_source(net, fac)
    poly = circle_polygon(net, reach.dist, 900.0, facilities=fac, width_m=30.0)
    assert len(poly.interiors) == 1
    assert shapely.Polygon(poly.interiors[0]).area == pytest.approx(340.0**2, rel=1e-9)
    assert not poly.contains(shapely.Point(200, 200))
    # wider than half the block: the hole closes
    wide = circle_polygon(net, reach.dist, 900.0, facilities=fac, width_m=210.0)
    assert len(wide.interiors) == 0 and wide.contains(shapely.Point(200, 200))
    # not far enough to go round: no ring, so no hole
    short = circle_polygon(net, reach.dist, 700.0, facilities=fac, width_m=30.0)
    assert len(short.interiors) == 0 and not short.contains(shapely.Point(400, 400))


def test_per_source_distances_equal_networkx_single_source_lengths():
    rng = np.random.default_rng(3)
    pts = rng.uniform(0, 1000, size=(30, 2)).round(1)
    lines = [[tuple(pts[i]), tuple(pts[j])] for i in range(30) for j in range(i + 1, 30) if rng.random() < 0.12]
    net = network_from_lines(lines)
    g = nx.Graph()
    for e in range(net.n_edges):
        u, v, w = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_len[e])
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(u, v, weight=w)
    nodes = rng.choice(net.n_nodes, 5, replace=False)
    fac = net.snap(net.node_xy[nodes], max_dist=1)
    d = per_source(net, fac, limit=700.0, chunk=2)
    for i, n in enumerate(nodes):
        ref = nx.single_source_dijkstra_path_length(g, int(n), cutoff=700.0)
        row = d.getrow(i)
        got = dict(zip(row.indices.tolist(), row.data.tolist()))
        near = {k: v for k, v in ref.items() if v <= 700.0 - 1e-6}
        assert set(near) <= set(got)
        for k, v in near.items():
            assert got[k] == pytest.approx(v, abs=2e-3)  # facility on a node: a 1e-3 m virtual arc


def test_facility_polygons_are_nested_and_unsnapped_ones_empty(bent):
    fac = bent.snap(np.array([[0.0, 0.0], [200.0, 150.0], [5000.0, 5000.0]]), max_dist=50)
    polys = facility_polygons(bent, fac, [100.0, 250.0], width_m=20.0)
    assert polys.shape == (3, 2)
    for i in (0, 1):
        assert polys[i, 0].difference(polys[i, 1]).area < 1e-6
        assert polys[i, 1].area > polys[i, 0].area > 0
    assert polys[2, 0].is_empty and polys[2, 1].is_empty
    with pytest.raises(ValueError, match="ascending"):
        facility_polygons(bent, fac, [250.0, 100.0])


def test_layer_circle_is_the_union_of_the_facility_circles(bent):
    fac = bent.snap(np.array([[0.0, 0.0], [200.0, 150.0]]), max_dist=50)
    per = facility_polygons(bent, fac, [120.0], width_m=25.0)
    layer = layer_polygons(bent, multi_source(bent, fac).dist, [120.0], facilities=fac, width_m=25.0)[0]
    assert shapely.symmetric_difference(shapely.union_all(per[:, 0]), layer).area < 1e-3
