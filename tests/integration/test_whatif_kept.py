"""Scenarios on the Binjiang plan keep what their edits leave as drawn, and equal a plan drawn again.

Each edit kind of ``bench/whatif.py`` (a crosswalk, a barrier across a bridge, a new station) and
seeded random edits (stations added and removed, links, closures): the scenario's circles, gap
areas and coverage equal those of the plan after drawn again in full (every view and facility).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.scenarios import scenario_from_doc
from geo.whatif import run_scenario
from tests.unit.test_unchanged import drawn_again

CROSSWALK = [[120.191241, 30.191322], [120.191057, 30.191259]]
BRIDGE_BARRIER = [[120.257624, 30.187566], [120.257631, 30.188287]]


def _values(f):
    v = pd.DataFrame(f.drop(columns="geometry")).astype(object)
    return v.where(v.notna(), None)


#: a scenario lists the facility circles it drew before those it kept (rows in another order)
CIRCLE_KEY = ["scope", "layer", "facility_id", "minutes", "profile"]


def assert_same(out, full):
    for what in ("circles", "gaps"):
        a, b = getattr(out.after, what), getattr(full, what)
        if what == "circles":
            a, b = (f.sort_values(CIRCLE_KEY, kind="stable").reset_index(drop=True) for f in (a, b))
        assert len(a) == len(b), what
        wa, wb = shapely.to_wkb(a.geometry.to_numpy()), shapely.to_wkb(b.geometry.to_numpy())
        assert all(x == y for x, y in zip(wa, wb, strict=True)), what
        pd.testing.assert_frame_equal(_values(a), _values(b), check_dtype=False)
    for name, lr in full.layers.items():
        assert np.array_equal(lr.home_dist, out.after.layers[name].home_dist), name


def random_edits(before, seed: int, n: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    net = before.network
    ll = net.node_lonlat
    out = []
    for k in range(n):
        kind = ("add_facility", "remove_facility", "add_link", "close")[k % 4]
        i = int(rng.integers(net.n_nodes))
        if kind == "add_facility":
            out.append({"edit": kind, "layer": "stations", "at": [float(ll[i, 0]) + 1e-5, float(ll[i, 1])]})
        elif kind == "remove_facility":
            ids = before.layers["stations"].facilities["id"].astype(str).to_numpy()
            out.append({"edit": kind, "layer": "stations", "id": str(rng.choice(ids))})
        elif kind == "add_link":
            d = np.hypot(*(net.node_xy - net.node_xy[i]).T)
            d[d <= 20] = np.inf
            j = int(np.argmin(d))  # the nearest node more than 20 m away
            out.append({"edit": kind, "penalty_s": 20, "line": [ll[i].tolist(), ll[j].tolist()]})
        else:
            g = net.edge_coords(int(rng.integers(net.n_edges)), lonlat=True)
            mid = g[len(g) // 2] if len(g) > 2 else g.mean(axis=0)
            a = g[0] - g[-1]
            perp = np.array([-a[1], a[0]]) / (np.hypot(*a) + 1e-12) * 2e-4
            out.append({"edit": kind, "line": [(mid - perp).tolist(), (mid + perp).tolist()]})
    return out


def test_the_bench_edits_equal_a_plan_drawn_again(binjiang_plan):
    before = binjiang_plan
    kept = {}
    for label, edit in {
        "crosswalk": {"edit": "add_link", "penalty_s": 30, "line": CROSSWALK},
        "bridge": {"edit": "close", "line": BRIDGE_BARRIER},
        "station": {"edit": "add_facility", "layer": "stations", "at": [120.2, 30.2]},
    }.items():
        out = run_scenario(before, scenario_from_doc({"edits": [edit]}, source=label))
        assert_same(out, drawn_again(before, out))
        kept[label] = set(before.layers) - set(out.coverage["redrawn"]["views"])
    # the bridge is beyond every layer's reach: no layer is drawn again; the new station's layer is
    assert kept["bridge"] == set(before.layers)
    assert kept["station"] == set(before.layers) - {"stations"}


@pytest.mark.parametrize("seed", [1, 2])
def test_random_edits_equal_a_plan_drawn_again(binjiang_plan, seed):
    before = binjiang_plan
    kept = 0
    for edit in random_edits(before, seed, 8):
        out = run_scenario(before, scenario_from_doc({"edits": [edit]}, source=f"seed {seed}"))
        assert_same(out, drawn_again(before, out))
        if edit["edit"] in ("add_link", "close"):
            kept += len(set(before.layers) - set(out.coverage["redrawn"]["views"]))
    assert kept > 0  # network edits whose layers were kept, not drawn again
