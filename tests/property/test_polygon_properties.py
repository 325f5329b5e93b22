"""Invariants of circle polygons (hypothesis): nesting of thresholds, per-facility union =
dissolved layer circle, on a hand-built grid and on the real Binjiang network."""

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.circles import multi_source, per_source
from tests.conftest import grid_net
from geo.polygons import facility_polygons, layer_polygons

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def grid(n=6, step=100.0):
    return grid_net(n, step)


GRID = grid()
points = st.lists(st.tuples(st.floats(0, 500), st.floats(0, 500)), min_size=1, max_size=5)
limits = st.lists(st.floats(20, 900), min_size=2, max_size=3, unique=True).map(sorted)


def check(net, fac, lims, width):
    per = facility_polygons(net, fac, lims, width_m=width, workers=1)
    layer = layer_polygons(net, multi_source(net, fac).dist, lims, facilities=fac, width_m=width)
    ok = np.flatnonzero(fac.ok)
    for j in range(len(lims) - 1):
        for i in ok:  # each smaller circle inside the larger one of the same facility
            assert shapely.difference(per[i, j], per[i, j + 1]).area < 1e-2  # float noise of overlay
        assert shapely.difference(layer[j], layer[j + 1]).area < 1e-2
    for j in range(len(lims)):
        union = shapely.union_all(per[ok, j])
        # same stretches; only the rounding of cut ends' caps differs
        assert shapely.symmetric_difference(union, layer[j]).area <= 1e-6 * layer[j].area + 1.0


@SETTINGS
@given(points, limits, st.sampled_from([10.0, 30.0, 60.0]))
def test_nesting_and_union_on_a_grid(pts, lims, width):
    fac = GRID.snap(np.array(pts), max_dist=100)
    check(GRID, fac, lims, width)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=6, unique=True))
def test_nesting_and_union_on_binjiang(binjiang_net, seeds):
    net = binjiang_net
    idx = np.array([s % net.n_nodes for s in seeds])
    fac = net.snap(net.node_xy[idx] + 7.0, max_dist=300)
    check(net, fac, [800.0, 1200.0], 30.0)


@SETTINGS
@given(points, st.floats(50, 900))
def test_a_node_is_inside_a_facility_circle_iff_it_is_reached_or_near_a_reached_street(pts, lim):
    fac = GRID.snap(np.array(pts), max_dist=100)
    per = facility_polygons(GRID, fac, [lim], width_m=30.0, workers=1)
    d = per_source(GRID, fac, limit=lim)
    for i in np.flatnonzero(fac.ok):
        row = d.getrow(i)
        reached = row.indices[row.data <= lim]
        inside = shapely.contains_xy(per[i, 0].buffer(1e-6), *GRID.node_xy.T)
        assert inside[reached].all()
        # nodes more than 30 m (+ a 100 m edge) away from any reached node are never claimed
        far = np.ones(GRID.n_nodes, bool)
        for n in reached:
            far &= np.hypot(*(GRID.node_xy - GRID.node_xy[n]).T) > 131.0
        assert not inside[far].any()


@SETTINGS
@given(points, limits, st.sampled_from([10.0, 30.0, 60.0]))
def test_cell_unions_draw_the_same_land(pts, lims, width):
    """Fully reached cells standing in for their edges change nothing but the speed."""
    from geo.polygons import cell_unions

    fac = GRID.snap(np.array(pts), max_dist=100)
    plain = facility_polygons(GRID, fac, lims, width_m=width, workers=1, cells=False)
    celled = facility_polygons(GRID, fac, lims, width_m=width, workers=1, cells=True)
    d = multi_source(GRID, fac).dist
    cells = cell_unions(GRID, width)
    assert cells.full(np.arange(GRID.n_edges)).all() and cells.n_cells > 4
    layer = layer_polygons(GRID, d, lims, facilities=fac, width_m=width)
    layer_c = layer_polygons(GRID, d, lims, facilities=fac, width_m=width, cells=cells)
    for a, b in [*zip(plain.ravel(), celled.ravel()), *zip(layer, layer_c)]:
        assert shapely.symmetric_difference(a, b).area <= 1e-9 * max(a.area, 1.0)
