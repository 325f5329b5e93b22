"""What-if speed: recompute coverage after one edit, without rebuilding anything from the OSM file.

On the Hangzhou merged extract (default), with the plan loaded once (network cached), times the
median of ``reps`` runs of :func:`geo.scenarios.run_scenario` for one edit of each kind — a
crosswalk (``add_link``), a bridge closure (``close``) and a new station (``add_facility``) —
against what it replaces, a full :func:`geo.plan.plan` (walk times, circles, gaps), and the
siting of 5 stations (:func:`geo.siting.site`, greedy and, when small, the exact solve).

Usage: ``python -m bench.whatif [path.osm.pbf]``.
"""

from __future__ import annotations

import dataclasses

import sys
import time
from pathlib import Path

from bench.common import MERGED, fmt_s, table, timed

#: a crosswalk across 长河路 at 秋溢路 (Binjiang), a barrier across 西大浦桥, a new station
EDITS = {
    "add_link (crosswalk, 30 s wait)": {"edit": "add_link", "penalty_s": 30,
                                        "line": [[120.191241, 30.191322], [120.191057, 30.191259]]},
    "close (barrier across a bridge)": {"edit": "close", "line": [[120.257624, 30.187566], [120.257631, 30.188287]]},
    "add_facility (a station)": {"edit": "add_facility", "layer": "stations", "at": [120.2, 30.2]},
}


def run(path: Path | None = None, *, reps: int = 5) -> dict:
    """Seconds per recompute after one edit; see the module docstring."""
    from geo.plan import PlanInputs, PlanParams, load_base, plan
    from geo.scenarios import run_scenario, scenario_from_doc
    from geo.siting import site

    path = Path(path) if path else MERGED
    inputs, params = PlanInputs(osm=path), PlanParams()
    base = load_base(inputs, params)
    t0 = time.perf_counter()
    # every circle drawn afresh (not reused from an earlier run): what a rebuild really costs
    before = plan(inputs, dataclasses.replace(params, use_cache=False), base=base)
    plan_s = time.perf_counter() - t0
    net = before.network
    lon0, lat0, lon1, lat1 = net.bbox_lonlat()
    out = {"file": str(path), "nodes": net.n_nodes, "edges": net.n_edges, "homes": len(before.homes),
           "full_plan_s": plan_s, "target_s": 5.0, "edits": {}}
    rows = []
    for label, edit in EDITS.items():
        coords = edit.get("line") or [edit.get("at")]
        if not all(lon0 <= c[0] <= lon1 and lat0 <= c[1] <= lat1 for c in coords):
            out["edits"][label] = {"skipped": "outside this extract"}
            continue
        sc = scenario_from_doc({"edits": [dict(edit)]}, source="bench")
        tm, res = timed(lambda: run_scenario(before, sc), reps=reps, warmup=1)
        gained = sum(f["people_gained"] for lay in res.coverage["layers"].values() for f in lay["minutes"].values())
        lost = sum(f["people_lost"] for lay in res.coverage["layers"].values() for f in lay["minutes"].values())
        out["edits"][label] = {**tm.as_dict(), "people_gained": gained, "people_lost": lost}
        rows.append([label, fmt_s(tm.median), f"{plan_s / tm.median:.0f}x faster",
                     f"+{gained:,} / -{lost:,} people (all layers, thresholds)"])
    tm, res = timed(lambda: site(before, layer="stations", add=5), reps=max(1, reps // 2))
    out["site"] = {**tm.as_dict(), **{k: v for k, v in res.summary.items() if k != "coverage_before"}}
    ex = res.summary.get("exact")
    rows.append(["site 5 stations (greedy" + (" + exact HiGHS)" if ex else ")"), fmt_s(tm.median),
                 f"{res.summary['candidates']} candidates",
                 f"greedy +{res.summary['greedy_people']:,.0f} people"
                 + (f"; exact {ex['status']} +{ex['people']:,.0f} ({ex['seconds']:.1f} s)" if ex else "")])
    rows.append(["full plan (what a rebuild would cost)", fmt_s(plan_s), "1x", "walk times + circles + gaps"])
    out["table"] = table(f"What-if on {path.name} ({net.n_nodes:,} nodes, {len(before.homes):,} homes): recompute "
                         f"after one edit (median of {reps}); target < 5 s", ["what", "time", "vs full plan", "effect"],
                         rows)
    return out


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else None)  # bench.common.table prints the table
