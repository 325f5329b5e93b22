"""Grid circles (geo.raster) against the exact buffer union, on hand-built networks.

Each test compares two constructions that share no drawing code: the raster one (OpenCV
thick lines, traced back) and the exact one (GEOS union of buffers), or a raster result with a
figure computed by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.circles import per_source
from geo.grid import Lattice, build_polygons, pool_cells, trace
from geo.network import Snapped, network_from_lines
from geo.polygons import facility_polygons
from geo.raster import DEFAULT_CELL_M, CircleDrawer, RasterGeometry
from tests.conftest import grid_net

W = 30.0


def _at(net, edge: int, along: float) -> Snapped:
    return Snapped(np.array([edge]), np.array([along]), np.zeros(1), np.ones(1, bool), np.zeros((1, 2)))


def _both(net, fac: Snapped, limits, cell: float = 3.75):
    d = per_source(net, fac, limit=max(limits))
    raster = CircleDrawer(RasterGeometry(net, cell), W).source_circles(d, limits, fac.edge, fac.along)
    exact = facility_polygons(net, fac, limits, dist=d, width_m=W)
    return raster, exact


def test_a_straight_street_is_a_stadium_of_the_right_size():
    """One 400 m street reached whole: the circle is a 400 x 60 m stadium (area known by hand)."""
    net = network_from_lines([[(0, 0), (400, 0)]])
    fac = _at(net, 0, 200.0)
    raster, _ = _both(net, fac, [1000.0])
    poly = raster[0, 0]
    truth = 400 * 2 * W + np.pi * W**2
    assert poly.is_valid
    assert abs(poly.area - truth) / truth < 0.02
    xmin, ymin, xmax, ymax = poly.bounds
    assert xmin == pytest.approx(-W, abs=3.75 * 1.5) and xmax == pytest.approx(400 + W, abs=3.75 * 1.5)
    assert ymin == pytest.approx(-W, abs=3.75 * 1.5) and ymax == pytest.approx(W, abs=3.75 * 1.5)


@pytest.mark.parametrize("angle", [0.0, 18.0, 45.0, 71.0])
def test_no_bias_wherever_the_street_lies_on_the_grid(angle):
    """A 2 km street at a given angle, shifted by fractions of a cell: each circle is within
    1.5 cells of the exact stadium, and their mean area is the exact one within 1.5 % (a cell
    boundary passes at most half a cell from the true one, on either side)."""
    a = np.radians(angle)
    ratios = []
    for dx, dy in [(0.0, 0.0), (0.4, 1.3), (1.9, 3.1), (2.6, 0.7), (3.3, 2.2), (1.1, 1.9)]:
        p0 = np.array([1000 + dx, 1000 + dy])
        net = network_from_lines([[tuple(p0), tuple(p0 + 2000 * np.array([np.cos(a), np.sin(a)]))]])
        raster, exact = _both(net, _at(net, 0, 10.0), [5000.0])
        r, e = raster[0, 0], exact[0, 0]
        assert shapely.hausdorff_distance(r.exterior, e.exterior) < 1.5 * 3.75
        ratios.append(r.area / e.area)
    assert abs(np.mean(ratios) - 1) < 0.015


def test_an_edge_longer_than_the_window_is_cut_where_time_runs_out():
    """A 5 km street reached 600 m either way from its middle: the circle ends 600 m + width out."""
    net = network_from_lines([[(0, 0), (5000, 0)]])
    raster, exact = _both(net, _at(net, 0, 2500.0), [600.0])
    xmin, _, xmax, _ = raster[0, 0].bounds
    assert xmin == pytest.approx(2500 - 600 - W, abs=6) and xmax == pytest.approx(2500 + 600 + W, abs=6)
    assert shapely.hausdorff_distance(raster[0, 0].exterior, exact[0, 0].exterior) < 1.5 * 3.75


def jittered_grid(n: int = 14, step: float = 150.0, jitter: float = 12.0, seed: int = 5):
    """A street grid whose corners are moved by up to ``jitter`` metres: streets at every angle
    and every offset to the cells, as on a real map (an exact grid puts them all on one offset)."""
    rng = np.random.default_rng(seed)
    p = np.stack(np.meshgrid(np.arange(n) * step, np.arange(n) * step), -1) + rng.uniform(-jitter, jitter, (n, n, 2))
    lines = []
    for i in range(n):
        for j in range(n - 1):
            lines += [[tuple(p[i, j]), tuple(p[i, j + 1])], [tuple(p[j, i]), tuple(p[j + 1, i])]]
    return network_from_lines(lines)


@pytest.mark.parametrize(("cell", "share"), [(DEFAULT_CELL_M, 0.03), (3.75, 0.03), (5.0, 0.04)])
def test_faithful_to_the_exact_union_on_a_grid(cell, share):
    """Circles on a street grid of 150 m blocks: at the default cell (3.33 m) and at 3.75 m the
    symmetric difference with the exact union is within 3 % of its area (4 % at 5 m); no point of either
    is farther than 1.5 cells from the other (holes under (2 cells)^2 aside)."""
    net = jittered_grid()
    fac = Snapped(np.array([120, 200, 301]), np.array([30.0, 55.0, 80.0]), np.zeros(3), np.ones(3, bool),
                  np.zeros((3, 2)))
    raster, exact = _both(net, fac, [800.0, 1200.0], cell)
    for r, e in zip(raster.ravel(), exact.ravel()):
        assert r.is_valid
        assert shapely.symmetric_difference(r, e).area / e.area < share
        tol = 1.5 * cell
        assert shapely.difference(r, shapely.buffer(e, tol)).area < (2 * cell) ** 2
        assert shapely.difference(e, shapely.buffer(r, tol)).area < (2 * cell) ** 2


def test_ten_minutes_lie_inside_fifteen_by_construction():
    net = grid_net(10, 80.0)
    fac = Snapped(np.array([3, 77]), np.array([10.0, 40.0]), np.zeros(2), np.ones(2, bool), np.zeros((2, 2)))
    raster, _ = _both(net, fac, [180.0, 260.0, 400.0])
    for row in raster:
        for inner, outer in zip(row[:-1], row[1:]):
            assert shapely.difference(inner, outer).area == 0.0


def test_a_circle_at_the_edge_of_the_network_stays_whole():
    """A facility at the extract's corner: the circle reaches the grid's edge without being cut."""
    net = grid_net(4, 100.0)
    raster, exact = _both(net, _at(net, 0, 0.0), [2000.0])
    r, e = raster[0, 0], exact[0, 0]
    assert r.bounds[0] == pytest.approx(-W, abs=1.5 * 3.75) and r.bounds[1] == pytest.approx(-W, abs=1.5 * 3.75)
    assert shapely.difference(e, shapely.buffer(r, 1.5 * 3.75)).area < (2 * 3.75) ** 2


def test_a_network_too_large_for_one_canvas_draws_the_same(monkeypatch):
    """The per-circle canvas used on very large networks gives the same polygons."""
    import geo.raster as R

    net = grid_net(8, 100.0)
    fac = Snapped(np.array([5, 30]), np.array([20.0, 60.0]), np.zeros(2), np.ones(2, bool), np.zeros((2, 2)))
    d = per_source(net, fac, limit=500.0)
    whole = CircleDrawer(RasterGeometry(net, 3.75), W).source_circles(d, [300.0, 500.0], fac.edge, fac.along)
    monkeypatch.setattr(R, "MAX_CANVAS_CELLS", 100)
    local = CircleDrawer(RasterGeometry(net, 3.75), W).source_circles(d, [300.0, 500.0], fac.edge, fac.along)
    for a, b in zip(whole.ravel(), local.ravel()):
        assert a.equals(b)


def test_layer_circle_is_the_union_of_the_facilities_circles():
    """Two constructions on the same grid: the dissolved layer circle (one drawing of the
    nearest-facility reach) and the union of each facility's own circle."""
    from geo.circles import multi_source

    net = grid_net(9, 100.0)
    fac = Snapped(np.array([7, 61]), np.array([30.0, 80.0]), np.zeros(2), np.ones(2, bool), np.zeros((2, 2)))
    reach = multi_source(net, fac)
    drawer = CircleDrawer(RasterGeometry(net, 3.75), W)
    layer = drawer.layer_circles(reach.dist, [350.0], fac.edge, fac.along)[0]
    per = drawer.source_circles(per_source(net, fac, limit=350.0), [350.0], fac.edge, fac.along)
    union = shapely.union_all(per[:, 0])
    assert shapely.symmetric_difference(layer, union).area / union.area < 0.005


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.2, 0.7))
def test_tracing_any_mask_gives_valid_nested_polygons(seed, density):
    """Random blobs (pinches, one-cell walls, spurs and holes everywhere): every traced polygon is
    valid, and a mask holding another traces to a polygon holding the other's."""
    rng = np.random.default_rng(seed)
    lat = Lattice(0.0, 0.0, 1.0, 42, 42)
    small = np.zeros((42, 42), np.uint8)
    small[3:-3, 3:-3] = rng.random((36, 36)) < density
    big = small | (np.pad(rng.random((36, 36)) < 0.3, 3).astype(np.uint8))
    a = small.copy()
    poly_a = build_polygons(lat, [trace(a, 0, 0)])[0]
    b = big | a  # the cells drawn while tracing the smaller stay for the larger
    poly_b = build_polygons(lat, [trace(b, 0, 0)])[0]
    assert poly_a.is_valid and poly_b.is_valid
    assert shapely.difference(poly_a, poly_b).area < 1e-9


def test_pooling_marks_a_block_when_any_of_its_cells_is_drawn():
    rng = np.random.default_rng(3)
    m = (rng.random((31, 40)) < 0.05).astype(np.uint8)
    r0, c0, pooled = pool_cells(m, 7, 5, 3)
    full = np.zeros((7 + 31 + 3, 5 + 40 + 3), np.uint8)
    full[7:38, 5:45] = m
    for i in range(pooled.shape[0]):
        for j in range(pooled.shape[1]):
            block = full[(r0 + i) * 3:(r0 + i + 1) * 3, (c0 + j) * 3:(c0 + j + 1) * 3]
            assert pooled[i, j] == block.max()


def test_a_sparse_layer_drawn_as_clusters_is_the_layer_drawn_on_one_window(monkeypatch):
    """Facilities far apart: their streets are drawn and traced as clusters of their own, and
    give the same polygons and the same pooled cells (for the gap areas) as one window over all."""
    import geo.raster as R
    from geo.circles import multi_source

    net = grid_net(30, 100.0)  # 2.9 km a side; two facilities in opposite corners
    far = [int(np.argmin(np.hypot(*(net.node_xy[net.edge_u] - xy).T))) for xy in ((150, 150), (2750, 2750))]
    fac = Snapped(np.array(far), np.array([30.0, 60.0]), np.zeros(2), np.ones(2, bool), np.zeros((2, 2)))
    reach = multi_source(net, fac)
    drawer = CircleDrawer(RasterGeometry(net, 3.75), W)
    edges = np.flatnonzero(np.isfinite(reach.dist[net.edge_u]) & (reach.dist[net.edge_u] <= 600.0))
    assert drawer._clusters(edges, fac.edge)[2] == 2

    def drawn():
        masks: list = []
        polys = drawer.layer_circles(reach.dist, [400.0, 600.0], fac.edge, fac.along, masks=masks)
        cells = [set(zip(*(np.nonzero(m[2]) + np.array([[m[0]], [m[1]]])).tolist())) for m in masks]
        return polys, cells

    apart = drawn()
    orig = R.CircleDrawer._clusters
    monkeypatch.setattr(
        R.CircleDrawer, "_clusters", lambda self, es, own: (np.zeros(len(es), np.int64), np.zeros(len(own), np.int64), 1)
    )
    together = drawn()
    assert orig is not R.CircleDrawer._clusters
    for a, b in zip(apart[0], together[0], strict=True):
        assert a.equals(b) and a.is_valid and len(getattr(a, "geoms", [a])) == 2
    assert apart[1] == together[1]
