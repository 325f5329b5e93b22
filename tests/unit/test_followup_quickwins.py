"""The follow-up commands' quick paths give the same answers as the slow ones."""

from __future__ import annotations

import subprocess
import sys


def test_engine_modules_leave_optional_imports_to_their_use() -> None:
    """geo.osm, geo.scenarios and geo.gaps import osmium, yaml and scipy.spatial only where used."""
    code = (
        "import sys, geo.osm, geo.scenarios, geo.gaps\n"
        "print(','.join(m for m in ('osmium', 'yaml', 'scipy.spatial') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_settle_freezes_the_heap_for_the_command_only() -> None:
    """A follow-up freezes what it loaded while it runs and hands it back when its context closes."""
    import gc

    import click
    from click.testing import CliRunner

    from api import cli_followups

    seen: list[int] = []

    @click.command()
    def cmd() -> None:
        cli_followups._settle()
        seen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    assert CliRunner().invoke(cmd, []).exit_code == 0
    assert seen
    assert seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_settle_leaves_a_callers_frozen_objects_frozen() -> None:
    """A caller that froze its own heap (e.g. a server before forking) keeps it frozen after a follow-up."""
    import gc

    import click
    from click.testing import CliRunner

    from api import cli_followups

    @click.command()
    def cmd() -> None:
        cli_followups._settle()

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert CliRunner().invoke(cmd, []).exit_code == 0
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


def test_serve_does_not_freeze_the_heap() -> None:
    """``circles serve`` lives on: it never freezes (only the short follow-ups do)."""
    import ast
    import inspect

    from api import cli_followups

    tree = ast.parse(inspect.getsource(cli_followups))
    calls = {
        f.name: {c.func.id for c in ast.walk(f) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        for f in tree.body
        if isinstance(f, ast.FunctionDef)
    }
    assert "_settle" not in calls["serve_cmd"]
    for name in ("scenario_run", "site_cmd", "map_cmd"):
        assert "_settle" in calls[name]


def _toy_before():
    from geo.network import network_from_lines
    from geo.plan import PlanInputs, PlanParams, plan
    from tests.conftest import toy_base

    net = network_from_lines([[(0, 0), (200, 0), (400, 0)], [(0, 100), (200, 100), (400, 100)]])
    base = toy_base(
        net,
        [[50, 110.0], [350, 110.0], [300, -10.0]],
        [10.0, 20.0, 5.0],
        facilities={
            "stations": [
                {"id": "s0", "name": "stations 0", "x": 0.0, "y": 0.0},
                {"id": "s1", "name": "stations 1", "x": 400.0, "y": 100.0},
            ]
        },
    )
    return plan(PlanInputs(), PlanParams(minutes=(4.0,), speed_kmh=4.8), base=base)


def _contexts(before, redraw_views: frozenset, redraw_rows: dict):
    """The draw context of ``before`` redrawing only what is named, and the same context made eagerly."""
    import dataclasses

    import numpy as np

    from geo.circles import per_source
    from geo.frames import _gap_homes, draw_context
    from geo.network import Snapped
    from geo.raster import RasterGeometry
    from geo.whatif import Reuse

    params, net = before.params, before.network
    facilities = {
        n: np.asarray(redraw_rows.get(n, np.zeros(len(lr.facilities), bool))) for n, lr in before.layers.items()
    }
    reuse = Reuse(before, redraw_views, facilities)
    dists = {}
    for n, lr in before.layers.items():
        sn = lr.snapped
        sn = Snapped(sn.edge, sn.along, sn.dist, sn.ok & facilities[n], sn.xy)
        if sn.ok.any():
            dists[n] = per_source(net, sn, limit=params.limits()[-1][0])
    kw = {"params": params, "homes": before.homes, "names": before.home_names, "land": before.home_land}
    ctx = draw_context(net=net, layers=before.layers, subsets=before.subsets, dists=dists, reuse=reuse, area=None, **kw)
    geom = RasterGeometry(net, params.cell(), pad_m=params.draw_pad_m())
    eager = dataclasses.replace(ctx, geometry=geom, gap_homes=_gap_homes(geom, area=None, **kw))
    return ctx, eager, reuse


def _frames(ctx, before, reuse):
    from geo.frames import circle_and_gap_frames

    return circle_and_gap_frames(ctx, params=before.params, layers=before.layers, subsets=before.subsets, reuse=reuse)


def test_draw_context_builds_the_grid_and_land_only_when_drawing() -> None:
    """Nothing to draw: no grid and no land cells, and the same frames as the eager context's."""
    import numpy as np

    before = _toy_before()
    cases = [
        (frozenset(), {}, False, False),  # nothing redrawn
        (frozenset(), {"stations": np.array([False, True])}, True, False),  # one facility: a grid, no gap homes
        (frozenset({"stations"}), {}, True, True),  # a layer view: both
    ]
    for views, rows, grid, gap_homes in cases:
        lazy, eager, reuse = _contexts(before, views, rows)
        assert (lazy.geometry is not None) is grid
        assert (lazy.gap_homes is not None) is gap_homes
        (c0, g0), (c1, g1) = _frames(lazy, before, reuse), _frames(eager, before, reuse)
        assert c0.drop(columns="geometry").equals(c1.drop(columns="geometry"))
        assert c0.geometry.geom_equals_exact(c1.geometry, 0).all()
        assert g0.drop(columns="geometry").equals(g1.drop(columns="geometry"))
        assert len(g0) == len(g1) == 1  # the one gap: kept, or drawn again (which needs the gap homes)
        assert g0.geometry.geom_equals_exact(g1.geometry, 0).all()


def _tiered_before():
    from geo.network import network_from_lines
    from geo.plan import PlanInputs, PlanParams, plan
    from tests.conftest import toy_base

    net = network_from_lines([[(0, 0), (200, 0), (400, 0)], [(0, 100), (200, 100), (400, 100)]])
    centres = [
        {"id": "c0", "name": "centre 0", "tier": "community", "x": 0.0, "y": 0.0},
        {"id": "c1", "name": "centre 1", "tier": "street", "x": 400.0, "y": 100.0},
        {"id": "c2", "name": "centre 2", "tier": "community", "x": 200.0, "y": 100.0},
    ]
    base = toy_base(
        net,
        [[50, 110.0], [350, 110.0], [300, -10.0]],
        [10.0, 20.0, 5.0],
        facilities={"centres": centres, "stations": [{"id": "s0", "name": "stations 0", "x": 0.0, "y": 0.0}]},
    )
    return plan(PlanInputs(), PlanParams(minutes=(4.0,), speed_kmh=4.8), base=base)


def _fc(net, props: dict, xy: list) -> dict:
    import numpy as np

    coords = net.unproject(np.array(xy, float)).tolist()
    geom = (
        {"type": "Point", "coordinates": coords[0]} if len(xy) == 1 else {"type": "LineString", "coordinates": coords}
    )
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props, "geometry": geom}]}


def test_views_of_unchanged_layers_are_kept_and_equal_a_recompute() -> None:
    """A facility edit keeps the other layers' views (the same objects), equal to searching them again."""
    import numpy as np

    from geo.coverage import kept_views, views
    from geo.plan import _layer_result
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario

    before = _tiered_before()
    assert {k for k in before.subsets if k.startswith("centres[")} == {
        "centres[tier=community]",
        "centres[tier=street]",
    }
    net = before.network
    out = run_scenario(before, scenario_from_doc(_fc(net, {"edit": "add_facility", "layer": "stations"}, [[300, 0]])))
    after = out.after
    assert after.network is net
    fresh, _ = views(net, after.layers, after.home_snap, after.params, layer_result=_layer_result)
    assert set(fresh) == set(after.subsets)
    for k, lr in after.subsets.items():
        if k.startswith("centres["):
            assert lr is before.subsets[k]  # kept, not searched again
        np.testing.assert_array_equal(lr.home_dist, fresh[k].home_dist)
        np.testing.assert_array_equal(lr.home_src, fresh[k].home_src)
        np.testing.assert_array_equal(lr.reach.dist, fresh[k].reach.dist)
    # a network edit keeps nothing: a tier's nearest centre can change where the layer's does not
    link = run_scenario(before, scenario_from_doc(_fc(net, {"edit": "add_link"}, [[100, 0], [100, 100]])))
    assert link.after.network is not net
    assert kept_views(before, net=link.after.network, layers=link.after.layers, home_snap=link.after.home_snap) == {}
    assert all(link.after.subsets[k] is not before.subsets[k] for k in before.subsets)


def test_drawing_in_process_equals_drawing_in_workers() -> None:
    """Drawn in this process (geometries kept as they are) or in a pool (WKB there and back): the same."""
    import numpy as np
    import shapely

    from geo.drawing import _can_fork, draw

    before = _tiered_before()
    ctx, _, _ = _contexts(
        before,
        frozenset(before.layers) | frozenset(before.subsets),
        {n: lr.snapped.ok for n, lr in before.layers.items()},
    )
    here = draw(ctx, workers=1)
    assert _can_fork()
    pooled = draw(ctx, workers=2)
    assert here.layers.keys() == pooled.layers.keys() == {"centres", "stations"}
    for k in here.layers:
        assert shapely.equals_exact(np.array(here.layers[k]), np.array(pooled.layers[k]), 0).all()
        rows0, g0 = here.gaps[k]
        rows1, g1 = pooled.gaps[k]
        assert rows0 == rows1
        assert [g is None for g in g0] == [g is None for g in g1]
        assert all(shapely.equals_exact(a, b, 0) for a, b in zip(g0, g1, strict=True) if a is not None)
    assert here.facilities.keys() == pooled.facilities.keys()
    for k, arr in here.facilities.items():
        assert arr.shape == pooled.facilities[k].shape
        assert shapely.equals_exact(arr, pooled.facilities[k], 0).all()
        assert not shapely.is_empty(arr[before.layers[k].snapped.ok]).any()


def test_script_end_check_finds_what_lowercasing_found() -> None:
    """The saved map parts' script check finds exactly what ``"</" in text.lower()`` and the rest found."""
    import itertools

    import pytest

    from maps.parts import _script_json

    def lowered(t: str) -> bool:
        low = t.lower()
        return "</" in low or "<!--" in low or "<script" in low

    words = ["</", "<!--", "<script", "<SCRIPT", "<ScRiPt", "< /", "<!-", "<scrip"]
    odd = ["İ", "ſ", "K", "ß", "a", "<", "/"]  # letters whose lower case is or is near ASCII
    texts = [w[:i] + c + w[i + k :] for w, c, k in itertools.product(words, odd, (0, 1)) for i in range(len(w) + 1)]
    for t in [*words, *texts]:
        doc = f'"{t}"'
        if lowered(doc):
            with pytest.raises(ValueError, match="end the page"):
                _script_json(doc)
        else:
            assert _script_json(doc) == doc
