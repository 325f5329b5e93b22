"""Views a change leaves as drawn (geo.unchanged): kept by a scenario, equal to drawing them again."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.circles import multi_source
from geo.gaps import gap_figures
from geo.netedit import Closure, EditLog, Link, with_edits
from geo.network import Snapped, network_from_lines
from geo.plan import PlanInputs, PlanParams, finish_plan, layer_step, plan
from geo.raster import CircleDrawer, RasterGeometry
from geo.scenarios import apply_scenario, scenario_from_doc
from geo.unchanged import figure_homes, same_drawing, same_uncovered
from geo.whatif import run_scenario
from tests.conftest import grid_net, toy_base, toy_facilities

#: 4.8 km/h for 5 minutes: 400 m
PARAMS = PlanParams(minutes=(5.0,), speed_kmh=4.8)


def ring_streets():
    """A street y=0 from x=0 to 2000, a street y=300 from x=1000 to 2000, joined at both ends.

    A station at (0, 0). Homes: (300, 10) (covered, 300 m) and (1500, 310) (uncovered: 1000 + 300
    + 500 = 1800 m by the west joint; 2000 + 300 + 500 = 2800 m by the east one).
    """
    net = network_from_lines(
        [
            [(0, 0), (1000, 0)],
            [(1000, 0), (2000, 0)],
            [(1000, 0), (1000, 300)],
            [(1000, 300), (2000, 300)],
            [(2000, 0), (2000, 300)],
        ]
    )
    base = toy_base(
        net,
        [[300, 10.0], [1500, 310.0]],
        [10.0, 20.0],
        facilities={"stations": [{"id": "s0", "name": "station 0", "x": 0.0, "y": 0.0}]},
    )
    return plan(PlanInputs(), PARAMS, base=base)


def fc(net, *edits):
    feats = []
    for props, points in edits:
        if points is None:
            feats.append({"type": "Feature", "properties": props, "geometry": None})
            continue
        xy = np.asarray(points, float).reshape(-1, 2)
        coords = net.unproject(xy).tolist()
        geom = (
            {"type": "Point", "coordinates": coords[0]}
            if len(xy) == 1
            else {"type": "LineString", "coordinates": coords}
        )
        feats.append({"type": "Feature", "properties": props, "geometry": geom})
    return {"type": "FeatureCollection", "features": feats}


def drawn_again(before, out):
    """The plan after ``out``'s edits with every view and facility drawn again (no reuse)."""
    a = out.applied
    layers = {n: layer_step(a.network, n, fac, o, a.home_snap, before.params) for n, (fac, o) in a.facilities.items()}
    return finish_plan(
        base=before.base,
        params=before.params,
        net=a.network,
        homes=before.homes,
        home_snap=a.home_snap,
        layers=layers,
        warnings=[],
        area=None,
        notes={},
        say=lambda _: None,
        names=before.home_names,
        land=before.home_land,
    )


def assert_same_frames(a, b):
    assert len(a) == len(b)
    assert all(
        x == y
        for x, y in zip(shapely.to_wkb(a.geometry.to_numpy()), shapely.to_wkb(b.geometry.to_numpy()), strict=True)
    )
    na, nb = (pd.DataFrame(f.drop(columns="geometry")).astype(object) for f in (a, b))
    pd.testing.assert_frame_equal(na.where(na.notna(), None), nb.where(nb.notna(), None), check_dtype=False)


def test_a_closure_beyond_the_limits_keeps_the_view_with_new_walk_times():
    before = ring_streets()
    net = before.network
    out = run_scenario(before, scenario_from_doc(fc(net, ({"edit": "close"}, [(950, 150), (1050, 150)]))))
    assert "stations" not in out.coverage["redrawn"]["views"]
    full = drawn_again(before, out)
    # the far home walks by the east joint now: 2800 m at 80 m a minute
    gaps = out.after.gaps[out.after.gaps["layer"] == "stations"]
    assert gaps["walk_min_centre"].tolist() == [35.0]
    assert before.gaps[before.gaps["layer"] == "stations"]["walk_min_centre"].tolist() == [22.5]
    assert_same_frames(out.after.gaps, full.gaps)
    assert_same_frames(
        out.after.circles[out.after.circles["scope"] == "layer"], full.circles[full.circles["scope"] == "layer"]
    )


def test_a_facility_replaced_in_place_keeps_the_view_with_its_new_name():
    before = ring_streets()
    net = before.network
    sc = fc(
        net,
        ({"edit": "remove_facility", "layer": "stations", "id": "s0"}, None),
        ({"edit": "add_facility", "layer": "stations", "id": "s9", "name": "新站"}, [(0.0, 0.0)]),
    )
    out = run_scenario(before, scenario_from_doc(sc))
    assert "stations" not in out.coverage["redrawn"]["views"]
    assert out.after.gaps["nearest_facility"].tolist() == ["新站"]
    assert before.gaps["nearest_facility"].tolist() == ["station 0"]
    full = drawn_again(before, out)
    assert_same_frames(out.after.gaps, full.gaps)


def test_a_street_added_within_reach_is_drawn_again():
    before = ring_streets()
    net = before.network
    # a path from (200, 0) to the north street's west end: the circle grows, no home changes side
    out = run_scenario(before, scenario_from_doc(fc(net, ({"edit": "add_link"}, [(200, 0), (1000, 300)]))))
    assert "stations" in out.coverage["redrawn"]["views"]
    full = drawn_again(before, out)
    a = out.after.circles[(out.after.circles["scope"] == "layer") & (out.after.circles["layer"] == "stations")]
    b = before.circles[(before.circles["scope"] == "layer") & (before.circles["layer"] == "stations")]
    assert a["area_km2"].iloc[0] > b["area_km2"].iloc[0]  # a change the drawing shows
    assert_same_frames(out.after.gaps, full.gaps)
    assert_same_frames(
        out.after.circles[out.after.circles["scope"] == "layer"], full.circles[full.circles["scope"] == "layer"]
    )


def test_a_facility_edit_keeps_the_other_layers_and_the_network():
    before = ring_streets()
    net = before.network
    sc = scenario_from_doc(fc(net, ({"edit": "add_facility", "layer": "stations"}, [(1500, 300)])))
    applied = apply_scenario(before, sc)
    assert applied.network is net
    assert applied.home_snap is before.home_snap
    out = run_scenario(before, sc)
    assert out.after.layers["centres"] is before.layers["centres"]
    assert out.after.layers["stations"] is not before.layers["stations"]
    full = drawn_again(before, out)
    for name, lr in full.layers.items():
        assert np.array_equal(lr.home_dist, out.after.layers[name].home_dist)
        assert np.array_equal(lr.reach.dist, out.after.layers[name].reach.dist)
    assert_same_frames(out.after.gaps, full.gaps)
    # a network edit makes a copy
    sc = scenario_from_doc(fc(net, ({"edit": "close"}, [(950, 150), (1050, 150)])))
    assert apply_scenario(before, sc).network is not net


def _layer(net, xy):
    fac = toy_facilities(
        net, [{"id": f"f{i}", "name": f"f{i}", "x": x, "y": y} for i, (x, y) in enumerate(xy)], "stations"
    )
    snapped = net.snap(net.project(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()), max_dist=50)
    from geo.plan_types import LayerResult

    reach = multi_source(net, snapped)
    return LayerResult("stations", fac, "test", snapped, [], reach, np.zeros(0), np.zeros(0, np.int64))


def _circles(net, lr, limits):
    geom = RasterGeometry(net, 5.0, pad_m=80.0)
    sn = lr.snapped
    return shapely.to_wkb(
        CircleDrawer(geom, 30.0).layer_circles(lr.reach.dist, limits, sn.edge[sn.ok], sn.along[sn.ok])
    )


@pytest.mark.parametrize(
    ("link", "closure", "same"),
    [
        (None, None, True),
        ([(350, 450), (450, 550)], None, True),  # far from the station (at 0, 0): beyond 300 m
        ([(0, 50), (50, 100)], None, False),  # splits the edges by the station
        ([(100, 0), (200, 100)], None, False),  # joins two reached nodes
        (None, [(450, 480), (450, 520)], True),  # closes an edge of the far corner
        (None, [(50, 90), (50, 110)], False),  # closes a reached edge
    ],
)
def test_same_drawing_against_the_circles_drawn(link, closure, same):
    net = grid_net(6, 100.0)
    limits = [200.0, 300.0]
    before = _layer(net, [(0.0, 0.0)])
    new, log = with_edits(
        net,
        links=[Link(np.array(link, float))] if link else [],
        closures=[Closure(shapely.linestrings(closure))] if closure else [],
    )
    after = _layer(new, [(0.0, 0.0)])
    assert same_drawing(net, new, log, before, after, limits[-1]) is same
    if same:  # the claim checked by drawing both
        assert _circles(net, before, limits).tolist() == _circles(new, after, limits).tolist()


def test_same_drawing_sees_a_moved_facility_and_a_longer_walk():
    net = grid_net(6, 100.0)
    log = EditLog(np.arange(net.n_edges), np.zeros(0, np.int64))
    a = _layer(net, [(0.0, 0.0), (500.0, 500.0)])
    assert same_drawing(net, net, log, a, _layer(net, [(500.0, 500.0), (0.0, 0.0)]), 300.0)  # the same places
    assert not same_drawing(net, net, log, a, _layer(net, [(0.0, 0.0), (500.0, 480.0)]), 300.0)
    assert not same_drawing(net, net, log, a, _layer(net, [(0.0, 0.0)]), 300.0)
    # each condition on its own: a facility elsewhere with the same walk times; a walk time longer
    sn = a.snapped
    moved = Snapped(sn.edge, sn.along + np.array([0.0, -1.0]), sn.dist, sn.ok, sn.xy)
    assert not same_drawing(net, net, log, a, dataclasses.replace(a, snapped=moved), 300.0)
    d = a.reach.dist.copy()
    d[np.flatnonzero(d <= 300.0)[1]] += 1.0
    assert not same_drawing(net, net, log, a, dataclasses.replace(a, reach=dataclasses.replace(a.reach, dist=d)), 300.0)


def test_same_drawing_sees_a_new_edge_between_reached_nodes_that_shortens_no_walk():
    net = grid_net(6, 100.0)
    before = _layer(net, [(0.0, 0.0)])
    # (100, 0) to (200, 100): 141 m, and a 500 m wait: no walk is shorter, but the link is drawn
    new, log = with_edits(net, links=[Link(np.array([[100.0, 0.0], [200.0, 100.0]]), penalty_m=500.0)])
    after = _layer(new, [(0.0, 0.0)])
    assert np.array_equal(before.reach.dist, after.reach.dist)
    assert not same_drawing(net, new, log, before, after, 300.0)
    assert _circles(net, before, [300.0]).tolist() != _circles(new, after, [300.0]).tolist()


def test_same_uncovered():
    b = np.array([100.0, 250.0, np.inf])
    assert same_uncovered(b, np.array([120.0, 290.0, 900.0]), [200.0, 300.0])
    assert not same_uncovered(b, np.array([100.0, 310.0, np.inf]), [200.0, 300.0])
    assert not same_uncovered(b, np.array([100.0, 200.0, np.inf]), [200.0, 300.0])


def test_gap_figures_are_the_rows_of_the_drawn_gaps(binjiang_plan):
    """gap_figures gives the plan's own gap rows (all but the land), limit by limit, in group order."""
    before = binjiang_plan
    params = before.params
    gh = figure_homes(before)
    from geo.drawing import LayerJob

    for name, lr in before.layers.items():
        job = LayerJob.of_layer(name, lr)
        limits = params.limits()
        rows = gap_figures(gh, job, [m for m, _, _ in limits], [(mi, p, params.speeds()[p]) for _, mi, p in limits])
        for (_, mi, p), got in zip(limits, rows, strict=True):
            old = before.gaps[
                (before.gaps["layer"] == name) & (before.gaps["minutes"] == mi) & (before.gaps["profile"] == p)
            ]
            new = pd.DataFrame(got)
            assert len(new) == len(old)
            if not len(new):
                continue
            new = new.iloc[np.argsort(-new["people"].to_numpy(), kind="stable")]
            for c in ("homes", "people", "walk_min_centre", "walk_min_max", "nearest_facility", "street", "community"):
                x = new[c].astype(object).where(new[c].notna(), None).tolist()
                y = old[c].astype(object).where(old[c].notna(), None).tolist()
                assert x == y, (name, mi, c)


def test_changed_group_rows_are_those_of_all_the_groups(binjiang_plan):
    """The rows made from the changed homes alone are the rows of their groups among all the groups."""
    from geo.drawing import LayerJob
    from geo.gaps import changed_group_rows

    before = binjiang_plan
    params = before.params
    gh = figure_homes(before)
    limits = params.limits()
    speeds = params.speeds()
    from tests.integration.test_whatif_kept import random_edits

    checked = 0
    edits = [e for e in random_edits(before, 2, 8) if e["edit"] in ("add_link", "close")]
    for name, edit in ((n, e) for e in edits for n in before.layers):
        out = run_scenario(before, scenario_from_doc({"edits": [edit]}))
        bjob, ajob = LayerJob.of_layer(name, before.layers[name]), LayerJob.of_layer(name, out.after.layers[name])
        for m, mi, p in limits:
            label = (mi, p, speeds[p])
            full_b = gap_figures(gh, bjob, [m], [label])[0]
            full_a = gap_figures(gh, ajob, [m], [label])[0]
            changed = np.flatnonzero(~(bjob.home_dist <= m) & (bjob.home_dist != ajob.home_dist))
            if not len(changed) or not same_uncovered(bjob.home_dist, ajob.home_dist, [m]):
                continue
            pairs = changed_group_rows(gh, bjob, ajob, m, label, changed)
            assert pairs is not None
            want = [(b, a) for b, a in zip(full_b, full_a, strict=True) if b != a]
            # every group whose row changed, and only groups of all the groups, with their rows
            assert all(pair in list(zip(full_b, full_a, strict=True)) for pair in pairs)
            assert all(pair in pairs for pair in want)
            checked += bool(want)
    assert checked > 0  # some rows changed


def test_extent_is_the_smallest_and_largest_of_each_column():
    from geo.grid import extent

    rng = np.random.default_rng(3)
    for xy in (rng.normal(size=(1000, 2)) * 1e5, np.array([[-3.5, 7.25]]), grid_net(3, 50.0).geom_xy):
        lo, hi = extent(xy)
        assert np.array_equal(lo, xy.min(axis=0))
        assert np.array_equal(hi, xy.max(axis=0))
