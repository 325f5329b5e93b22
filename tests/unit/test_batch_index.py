"""The partition's indexes (geo.batch_index): the points inside a polygon found through bands of y
equal those shapely finds testing every point; a network cut from its kept nodes equals
subnetwork's."""

import numpy as np
import shapely

from geo.batch_index import Incidence, Sorted
from geo.network import NETWORK_ARRAYS, subnetwork
from tests.conftest import grid_net


def test_the_points_inside_a_polygon_are_those_shapely_finds_among_all():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 10_000, (40_000, 2))
    xy[:50] = np.round(xy[:50] / 1000) * 1000  # points on band edges and polygon corners
    xy[50, 1] = np.nan  # a point without a place is inside nothing
    xy[51, 0] = np.nan
    index = Sorted(xy)
    assert index.n_bands > 1
    polys = [
        shapely.box(1000, 1000, 3000, 2000),
        shapely.box(0, 0, 10_000, 10_000),
        shapely.Point(5000, 5000).buffer(2500),
        shapely.Polygon([(0, 0), (9000, 1000), (2000, 9500)]),
        shapely.box(-500, 9000, 500, 12_000),  # beyond the points' bounds
        shapely.box(20_000, 20_000, 21_000, 21_000),  # away from every point
        shapely.Polygon(),
        None,
    ]
    for poly in polys:
        got = index.inside(poly)
        want = (
            np.zeros(0, np.int64)
            if poly is None or poly.is_empty
            else np.flatnonzero(shapely.contains_xy(poly, xy[:, 0], xy[:, 1]))
        )
        assert got.dtype == np.int64
        assert np.array_equal(got, want), poly
    assert len(Sorted(np.zeros((0, 2))).inside(polys[0])) == 0
    one = Sorted(np.array([[5.0, 5.0]]))
    assert one.inside(shapely.box(0, 0, 10, 10)).tolist() == [0]


def test_a_network_cut_from_its_nodes_equals_subnetwork():
    net = grid_net(9)
    cut = Incidence(net)
    rng = np.random.default_rng(5)
    for share in (0.1, 0.5, 0.9):
        for _ in range(5):
            nodes = np.flatnonzero(rng.random(net.n_nodes) < share)
            keep = np.zeros(net.n_nodes, bool)
            keep[nodes] = True
            if not (keep[net.edge_u] & keep[net.edge_v]).any():
                assert cut.cut(nodes) is None
                continue
            want, got = subnetwork(net, keep), cut.cut(nodes)
            assert got is not None
            for f in NETWORK_ARRAYS:
                a, b = getattr(want, f), getattr(got, f)
                assert a.dtype == b.dtype, (share, f)
                assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (share, f)
    assert cut.cut(np.zeros(0, np.int64)) is None
    assert cut.cut(np.arange(net.n_nodes)) is net
