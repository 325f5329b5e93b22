"""On-demand facility circles, layer circles over worker processes, plans without
per-facility circles (hand-built graphs, and the real Binjiang network)."""

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.circles import metres_for, multi_source, per_source, point_distances
from geo.errors import InputError, UnknownNameError
from geo.plan import LayerResult, PlanParams
from tests.conftest import grid_net
from geo.polygons import facility_circle, facility_polygons, layer_polygons, many_layer_polygons


def grid(n=5, step=100.0):
    return grid_net(n, step)


def layer_result(net, xy, name="centres"):
    snapped = net.snap(np.asarray(xy, float), max_dist=50)
    lonlat = net.unproject(snapped.xy)
    fac = gpd.GeoDataFrame({"id": [f"f{i}" for i in range(len(xy))], "name": [f"n{i}" for i in range(len(xy))],
                            "tier": ["community"] * len(xy)},
                           geometry=gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]), crs=4326)
    reach = multi_source(net, snapped)
    hd, hs = point_distances(net, reach, snapped)
    return LayerResult(name, fac, "test", snapped, [], reach, hd, hs)


def fake_result(net, layers, params):
    return SimpleNamespace(network=net, layers=layers, params=params)


def test_facility_circle_is_the_plans_per_facility_circle():
    net = grid()
    params = PlanParams(minutes=(2.0, 4.0), width_m=20.0)
    lr = layer_result(net, [(50.0, 0.0), (200.0, 250.0)])
    res = fake_result(net, {"centres": lr}, params)
    limits = [metres_for(m, 4.8) for m in params.minutes]
    per = facility_polygons(net, lr.snapped, limits, width_m=20.0, workers=1)
    for i in range(2):
        for j, m in enumerate(params.minutes):
            got = facility_circle(res, "centres", i, m, metric=True)
            assert shapely.symmetric_difference(got, per[i, j]).area < 1e-6 * per[i, j].area
            wgs = facility_circle(res, "centres", i, m)
            lon, lat = shapely.get_coordinates(wgs).T
            assert np.allclose(net.project(lon, lat), shapely.get_coordinates(got), atol=1e-4)
    # any walk time, not only the plan's thresholds; the elderly walk less far
    mid = facility_circle(res, "centres", 0, 3.0, metric=True)
    assert per[0, 0].area < mid.area < per[0, 1].area
    assert facility_circle(res, "centres", 0, 4.0, "elderly", metric=True).area < per[0, 1].area


def test_facility_circle_errors_name_the_bad_value():
    net = grid()
    res = fake_result(net, {"centres": layer_result(net, [(50.0, 0.0), (9000.0, 9000.0)])}, PlanParams())
    with pytest.raises(UnknownNameError, match="stations"):
        facility_circle(res, "stations", 0, 10)
    with pytest.raises(UnknownNameError, match="cyclist"):
        facility_circle(res, "centres", 0, 10, "cyclist")
    with pytest.raises(InputError, match=r"facility_index: 5 is outside 0..1"):
        facility_circle(res, "centres", 5, 10)
    with pytest.raises(InputError, match="minutes: 0 is not a positive"):
        facility_circle(res, "centres", 0, 0)
    assert facility_circle(res, "centres", 1, 10).is_empty  # not placed on the network


def test_layer_circles_over_worker_processes_equal_the_serial_ones():
    net = grid(6)
    jobs = []
    for xy in ([(0.0, 0.0)], [(250.0, 300.0), (500.0, 100.0)], [(120.0, 400.0)]):
        s = net.snap(np.array(xy), max_dist=50)
        jobs.append((multi_source(net, s).dist, s))
    par = many_layer_polygons(net, jobs, [150.0, 320.0], width_m=25.0, workers=2)
    for (d, s), polys in zip(jobs, par):
        ser = layer_polygons(net, d, [150.0, 320.0], facilities=s, width_m=25.0)
        assert len(polys) == 2
        for a, b in zip(polys, ser):
            assert a.area > 0 and shapely.symmetric_difference(a, b).area < 1e-9 * b.area


def test_without_per_facility_circles_only_the_layer_circles_are_drawn():
    from geo.report import circles_frame

    net = grid()
    layers = {"centres": layer_result(net, [(50.0, 0.0), (200.0, 250.0)]),
              "stations": layer_result(net, [(400.0, 350.0)], "stations")}
    full = circles_frame(net, layers, PlanParams(minutes=(2.0, 4.0)))
    lean = circles_frame(net, layers, PlanParams(minutes=(2.0, 4.0), per_facility=False))
    assert sorted(full.scope.value_counts().items()) == [("facility", 6), ("layer", 4)]
    assert set(lean.scope) == {"layer"} and len(lean) == 4
    a = full[full.scope == "layer"].reset_index(drop=True)
    assert (a[["layer", "minutes"]] == lean[["layer", "minutes"]]).all().all()
    assert all(shapely.equals_exact(x, y, 1e-9) for x, y in zip(a.geometry, lean.geometry))


@pytest.mark.slow
@pytest.mark.hangzhou
def test_on_demand_circles_match_the_batch_ones_on_binjiang(binjiang_net):
    net = binjiang_net
    rng = np.random.default_rng(7)
    idx = rng.choice(net.n_nodes, 4, replace=False)
    snapped = net.snap(net.node_xy[idx] + 6.0, max_dist=300)
    lr = LayerResult("stations", None, "test", snapped, [], multi_source(net, snapped), np.zeros(0), np.zeros(0))
    params = PlanParams()
    res = fake_result(net, {"stations": lr}, params)
    limits = [metres_for(m, 4.8) for m in params.minutes]
    per = facility_polygons(net, snapped, limits, dist=per_source(net, snapped, limit=limits[-1]), workers=1)
    for i in np.flatnonzero(snapped.ok):
        for j, m in enumerate(params.minutes):
            got = facility_circle(res, "stations", int(i), m, metric=True)
            assert got.area > 1e5
            assert shapely.symmetric_difference(got, per[i, j]).area < 1e-6 * per[i, j].area


@pytest.mark.hangzhou
def test_cell_unions_draw_the_same_land_on_binjiang(binjiang_net):
    net = binjiang_net
    rng = np.random.default_rng(11)
    snapped = net.snap(net.node_xy[rng.choice(net.n_nodes, 5, replace=False)] + 4.0, max_dist=300)
    limits = [800.0, 1200.0]
    dist = per_source(net, snapped, limit=limits[-1])
    plain = facility_polygons(net, snapped, limits, dist=dist, workers=1, cells=False)
    celled = facility_polygons(net, snapped, limits, dist=dist, workers=1, cells=True)
    for a, b in zip(plain[snapped.ok].ravel(), celled[snapped.ok].ravel()):
        assert a.area > 1e5 and shapely.symmetric_difference(a, b).area <= 1e-6 * a.area
    d = multi_source(net, snapped).dist
    from geo.polygons import cell_unions

    cells = cell_unions(net, 30.0)
    for a, b in zip(layer_polygons(net, d, limits, facilities=snapped),
                    layer_polygons(net, d, limits, facilities=snapped, cells=cells)):
        assert shapely.symmetric_difference(a, b).area <= 1e-6 * a.area
    # many cells are reached whole by the layer: the cells really stand in for edges
    from geo.polygons import reached_intervals

    e, s, t = reached_intervals(net, d, limits[-1], snapped)
    whole = np.unique(e[(s <= 1e-9) & (t >= net.edge_len[e] - 1e-9)])
    assert cells.full(whole).sum() > 20


@pytest.mark.parametrize("workers", [1, 2])
def test_drawing_reports_progress_up_to_every_polygon(workers):
    from geo.polygons import circle_sets

    net = grid()
    lr = layer_result(net, [(50.0, 0.0), (200.0, 250.0), (400.0, 100.0)])
    seen = []
    layer_polys, fac_polys = circle_sets(net, [(lr.reach.dist, lr.snapped)], [(lr.snapped, None)], [100.0, 200.0],
                                         width_m=20.0, workers=workers, progress=lambda d, t: seen.append((d, t)))
    assert [t for _, t in seen] == [8] * len(seen)  # (1 layer + 3 facilities) x 2 limits
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 8 and len(layer_polys[0]) == 2 and fac_polys[0].shape == (3, 2)


def test_the_cli_progress_bar_shows_details_without_counting_steps():
    from api.cli import Steps

    steps = Steps(total=3, enabled=True)  # (stderr: captured by pytest)
    steps("drawing service circles")
    steps.detail("drawing service circles: 4/8 polygons")
    assert steps.bar.n == 1 and steps.bar.desc == "drawing service circles: 4/8 polygons"
    steps.close()
