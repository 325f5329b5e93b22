"""Circles computed two independent ways must agree (hypothesis): the grid construction and the
exact buffer union; the dissolved layer circle (one search from every facility) and the union of
each facility's own circle (one search each); and what a circle claims against the walk times."""

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.circles import multi_source, per_source
from geo.polygons import QUAD_SEGS, ExactDrawer, facility_polygons, layer_polygons
from geo.raster import CircleDrawer, RasterGeometry
from tests.unit.test_raster import jittered_grid

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GRID = jittered_grid(8, 100.0, jitter=9.0, seed=11)
RASTER = RasterGeometry(GRID, 3.75)
points = st.lists(st.tuples(st.floats(0, 700), st.floats(0, 700)), min_size=1, max_size=4)
limits = st.lists(st.floats(150, 900), min_size=2, max_size=3, unique=True).map(sorted)


def raster_circles(net, fac, lims, width, geom=None):
    geom = geom or RasterGeometry(net, width / 9)
    return CircleDrawer(geom, width).source_circles(per_source(net, fac, limit=max(lims)), lims, fac.edge, fac.along)


@SETTINGS
@given(points, limits)
def test_grid_circles_agree_with_the_exact_union(pts, lims):
    """Every grid circle lies within 1.5 cells of the exact one and the exact one within 1.5
    cells of it (holes under (2 cells)^2 aside)."""
    fac = GRID.snap(np.array(pts), max_dist=100)
    raster = CircleDrawer(RASTER, 30.0).source_circles(per_source(GRID, fac, limit=max(lims)), lims, fac.edge,
                                                       fac.along)
    exact = facility_polygons(GRID, fac, lims, width_m=30.0)
    tol = 1.5 * 3.75
    for i in np.flatnonzero(fac.ok):
        for r, e in zip(raster[i], exact[i]):
            assert r.is_valid
            assert shapely.difference(r, shapely.buffer(e, tol)).area < 4 * 3.75**2
            assert shapely.difference(e, shapely.buffer(r, tol)).area < 4 * 3.75**2


@SETTINGS
@given(points, limits)
def test_shorter_walks_lie_inside_longer_ones_across_constructions(pts, lims):
    """Nesting checked where it is not built in: the grid circle of a shorter walk against the
    exact circle of a longer one, and the other way round (the grid nests its own by construction)."""
    fac = GRID.snap(np.array(pts), max_dist=100)
    raster = CircleDrawer(RASTER, 30.0).source_circles(per_source(GRID, fac, limit=max(lims)), lims, fac.edge,
                                                       fac.along)
    exact = facility_polygons(GRID, fac, lims, width_m=30.0)
    tol = 1.5 * 3.75
    for i in np.flatnonzero(fac.ok):
        for short in range(len(lims) - 1):
            for long in range(short + 1, len(lims)):
                assert shapely.difference(raster[i, short], shapely.buffer(exact[i, long], tol)).area < 4 * 3.75**2
                assert shapely.difference(exact[i, short], shapely.buffer(raster[i, long], tol)).area < 4 * 3.75**2
                assert exact[i, short].area < exact[i, long].area + 1e-6


@SETTINGS
@given(points, limits, st.sampled_from([15.0, 30.0, 60.0]))
def test_the_layer_circle_is_the_union_of_the_facility_circles(pts, lims, width):
    """Grid: one drawing of the nearest-facility walk times against the union of each
    facility's own drawing (own searches); they differ only by cells drawn to keep rings simple."""
    fac = GRID.snap(np.array(pts), max_dist=100)
    geom = RasterGeometry(GRID, width / 8)
    per = raster_circles(GRID, fac, lims, width, geom)
    layer = CircleDrawer(geom, width).layer_circles(multi_source(GRID, fac).dist, lims, fac.edge[fac.ok],
                                                    fac.along[fac.ok])
    ok = np.flatnonzero(fac.ok)
    for j in range(len(lims)):
        union = shapely.union_all(per[ok, j])
        # what one drawing has and the other lacks: only the few cells filled around a point
        # where drawn cells touch at a corner (so rings stay simple), next to what both draw
        assert shapely.symmetric_difference(union, layer[j]).area <= 0.01 * layer[j].area
        for a, b in ((union, layer[j]), (layer[j], union)):
            assert shapely.difference(a, shapely.buffer(b, 2.5 * geom.cell)).area <= 1e-6


@SETTINGS
@given(points, limits, st.sampled_from([10.0, 30.0, 60.0]))
def test_exact_layer_circle_is_the_union_of_the_facility_circles(pts, lims, width):
    fac = GRID.snap(np.array(pts), max_dist=100)
    per = facility_polygons(GRID, fac, lims, width_m=width)
    layer = layer_polygons(GRID, multi_source(GRID, fac).dist, lims, facilities=fac, width_m=width)
    ok = np.flatnonzero(fac.ok)
    for j in range(len(lims)):
        union = shapely.union_all(per[ok, j])
        # same stretches; only the polygonal arcs of caps and joins differ where the two
        # constructions cut the same land at other places: slivers no wider than an arc's sagitta
        sagitta = width * (1.0 - np.cos(np.pi / (4 * QUAD_SEGS)))
        assert shapely.symmetric_difference(union, layer[j]).area <= sagitta * layer[j].length + 1.0


@pytest.mark.slow
@pytest.mark.hangzhou
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=6, unique=True))
def test_grid_and_exact_agree_on_binjiang(binjiang_net, seeds):
    net = binjiang_net
    idx = np.array([s % net.n_nodes for s in seeds])
    fac = net.snap(net.node_xy[idx] + 7.0, max_dist=300)
    lims = [800.0, 1200.0]
    raster = raster_circles(net, fac, lims, 30.0)
    exact = facility_polygons(net, fac, lims, width_m=30.0)
    for i in np.flatnonzero(fac.ok):
        for r, e in zip(raster[i], exact[i]):
            assert r.is_valid
            assert shapely.symmetric_difference(r, e).area <= 0.03 * e.area


@SETTINGS
@given(points, st.floats(50, 900))
def test_a_circle_claims_the_nodes_it_reaches_and_nothing_far_from_them(pts, lim):
    """Against the walk distances (networkx-checked elsewhere): every reached node inside, no
    node farther than the width plus a block from every reached node."""
    fac = GRID.snap(np.array(pts), max_dist=100)
    for polys in (raster_circles(GRID, fac, [lim], 30.0), facility_polygons(GRID, fac, [lim], width_m=30.0)):
        d = per_source(GRID, fac, limit=lim)
        for i in np.flatnonzero(fac.ok):
            row = d.getrow(i)
            reached = row.indices[row.data <= lim]
            inside = shapely.contains_xy(polys[i, 0].buffer(2.0), *GRID.node_xy.T)
            assert inside[reached].all()
            far = np.ones(GRID.n_nodes, bool)
            # far from every reached node and from the facility itself (which may reach none)
            for xy in [*GRID.node_xy[reached], fac.xy[i]]:
                far &= np.hypot(*(GRID.node_xy - xy).T) > 30.0 + 115.0 + 6.0
            assert not inside[far].any()


@SETTINGS
@given(points, limits, st.sampled_from([10.0, 30.0, 60.0]))
def test_cell_unions_draw_the_same_land(pts, lims, width):
    """Exact: fully reached cells standing in for their edges change nothing but the speed."""
    fac = GRID.snap(np.array(pts), max_dist=100)
    plain = facility_polygons(GRID, fac, lims, drawer=ExactDrawer(GRID, width))
    celled = facility_polygons(GRID, fac, lims, drawer=ExactDrawer(GRID, width, cells=True))
    d = multi_source(GRID, fac).dist
    layer = layer_polygons(GRID, d, lims, facilities=fac, width_m=width)
    layer_c = layer_polygons(GRID, d, lims, facilities=fac, drawer=ExactDrawer(GRID, width, cells=True))
    for a, b in [*zip(plain.ravel(), celled.ravel()), *zip(layer, layer_c)]:
        assert shapely.symmetric_difference(a, b).area <= 1e-9 * max(a.area, 1.0)
