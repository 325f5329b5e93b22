"""Follow-ups from a saved plan: a scenario, a siting run and the API's start-up, on the command line.

On the Hangzhou merged extract (default): ``circles plan --out DIR`` once, then the wall time of
``circles scenario EDIT --plan DIR`` for one edit of each kind (a crosswalk, a bridge closure, a
new station), of ``circles site --plan DIR``, of ``circles map --plan DIR``, and of
``circles serve --plan DIR`` until ``/health`` answers (against ``circles serve`` planning at
start-up). In-process, the recompute alone (:func:`geo.whatif.run_scenario`'s walk times).

Usage: ``python -m bench.whatif [path.osm.pbf]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import MERGED, fmt_s, table
from bench.whole_plan import circles_cmd, cli_seconds

#: a crosswalk across 长河路 at 秋溢路 (Binjiang), a barrier across 西大浦桥, a new station
EDITS = {
    "add_link (crosswalk, 30 s wait)": {"edit": "add_link", "penalty_s": 30,
                                        "line": [[120.191241, 30.191322], [120.191057, 30.191259]]},
    "close (barrier across a bridge)": {"edit": "close", "line": [[120.257624, 30.187566], [120.257631, 30.188287]]},
    "add_facility (a station)": {"edit": "add_facility", "layer": "stations", "at": [120.2, 30.2]},
}


def serve_seconds(args: list[str], cache: Path, *, timeout: float = 600.0) -> float:
    """Seconds from starting ``circles serve ARGS`` until ``/health`` answers."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*circles_cmd(), "serve", *args, "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "CIRCLES_CACHE_DIR": str(cache)})
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"circles serve exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("circles serve did not answer")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(path: Path | None = None, *, reps: int = 3) -> dict:
    """Wall times of the follow-up commands; see the module docstring."""
    from geo.saved import load_plan
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario

    path = Path(path) if path else MERGED
    out: dict = {"file": str(path), "edits": {}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="circles-bench-whatif-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        plan_dir = tmp / "plan"
        out["plan_s"] = cli_seconds(["plan", "--osm", str(path), "--out", str(plan_dir), "-q"], cache)
        before = load_plan(plan_dir)
        net = before.network
        lon0, lat0, lon1, lat1 = net.bbox_lonlat()
        for label, edit in EDITS.items():
            coords = edit.get("line") or [edit.get("at")]
            if not all(lon0 <= c[0] <= lon1 and lat0 <= c[1] <= lat1 for c in coords):
                out["edits"][label] = {"skipped": "outside this extract"}
                continue
            f = tmp / "edit.json"
            f.write_text(json.dumps({"edits": [edit]}), encoding="utf-8")
            walls = [cli_seconds(["scenario", str(f), "--plan", str(plan_dir), "--out", str(tmp / "s"), "-q"], cache)
                     for _ in range(reps)]
            sc = scenario_from_doc({"edits": [dict(edit)]}, source="bench")
            res = run_scenario(before, sc)
            out["edits"][label] = {"cli_s": walls, "cli_median_s": statistics.median(walls),
                                   "recompute_s": res.seconds, "redrawn": res.coverage["redrawn"]}
            rows.append([f"circles scenario ({label})", fmt_s(statistics.median(walls)),
                         f"walk times {fmt_s(res.seconds)}; redrawn {sum(res.coverage['redrawn']['facilities'].values())} "
                         f"facility circles, views {', '.join(res.coverage['redrawn']['views']) or 'none'}"])
        site = [cli_seconds(["site", "--plan", str(plan_dir), "--layer", "stations", "--add", "5", "--out",
                             str(tmp / "site"), "-q"], cache) for _ in range(reps)]
        out["site_cli_median_s"] = statistics.median(site)
        rows.append(["circles site --add 5", fmt_s(out["site_cli_median_s"]), "greedy (and exact when small)"])
        maps = [cli_seconds(["map", "--plan", str(plan_dir), "--out", str(tmp / "map"), "-q"], cache)
                for _ in range(reps)]
        out["map_cli_median_s"] = statistics.median(maps)
        rows.append(["circles map (drawn again)", fmt_s(out["map_cli_median_s"]), ""])
        out["serve_from_plan_s"] = serve_seconds(["--plan", str(plan_dir)], cache)
        out["serve_planning_s"] = serve_seconds(["--osm", str(path)], cache)
        rows.append(["circles serve --plan DIR: start-up to /health", fmt_s(out["serve_from_plan_s"]),
                     f"planning at start-up instead: {fmt_s(out['serve_planning_s'])}"])
        rows.append(["circles plan (network cached, for comparison)", fmt_s(out["plan_s"]), "the saved plan"])
    out["table"] = table(f"Follow-ups from a saved plan on {path.name} ({net.n_nodes:,} nodes; command wall times, "
                         f"medians of {reps}); target about a second", ["command", "time", "note"], rows)
    return out


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
