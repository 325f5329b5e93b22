"""The whole ``circles plan`` on a real extract with the network cached (target < 10 s).

Figures: the wall time of the command itself (``circles plan --osm ... --out tmp -q`` in a
child process) with the network cached but every circle drawn afresh (the circle cache,
``circles-*.pickle``, is removed before each such run), the same re-run with the circles of the
run before reused (what a planner sees when re-running on unchanged streets and facilities),
and a stage breakdown from one child that calls the same functions the CLI calls (``plan`` with
a progress hook, then ``write_plan_outputs``), circles drawn afresh, so it shows where the time goes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import child_print, fmt_s, peak_rss_mb, run_child, table


def _circles_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("circles")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]


def cli_seconds(pbf: Path, out: Path, cache: Path) -> float:
    """Wall time of ``circles plan --osm pbf --out out -q`` with its cache in ``cache``."""
    t = time.perf_counter()
    proc = subprocess.run([*_circles_cmd(), "plan", "--osm", str(pbf), "--out", str(out), "-q"],
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "CIRCLES_CACHE_DIR": str(cache)})
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"circles plan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return dt


def _child(pbf: str, out: str) -> None:
    t0 = time.perf_counter()
    from api.cli import write_plan_outputs
    from geo.plan import PlanInputs, PlanParams, plan

    marks: list[tuple[str, float]] = [("imports", time.perf_counter())]
    result = plan(PlanInputs(osm=Path(pbf)), PlanParams(),
                  progress=lambda s: marks.append((s.split(" /")[0].split(" (")[0], time.perf_counter())))
    marks.append(("write coverage.json, circles/gaps GeoJSON, map.html", time.perf_counter()))
    write_plan_outputs(result, Path(out))
    marks.append(("end", time.perf_counter()))
    # each span is named by the step that starts it; the first one is the Python imports
    spans = {"imports": marks[0][1] - t0}
    for (name, t), (_, t_next) in zip(marks[1:], marks[2:]):
        spans[name] = spans.get(name, 0.0) + (t_next - t)
    spans["(before the first step)"] = marks[1][1] - marks[0][1] if len(marks) > 1 else 0.0
    child_print({"total_s": time.perf_counter() - t0, "stages_s": spans, "peak_rss_mb": peak_rss_mb(),
                 "homes": len(result.homes), "nodes": result.network.n_nodes})


def _forget_circles(cache: Path) -> None:
    for f in Path(cache).glob("circles-*.pickle"):
        f.unlink()


def run(pbf: Path, *, reps: int = 3, cache: Path | None = None) -> dict:
    """Median wall time of ``circles plan`` (cache warm) and one stage breakdown.

    ``cache``: a network cache folder that already holds ``pbf``'s network (the first,
    cache-filling run is then skipped); by default a fresh one, filled by a first run.
    """
    with tempfile.TemporaryDirectory(prefix="circles-bench-plan-") as tmp:
        cold = None
        if cache is None:
            cache = Path(tmp) / "cache"
            cold = cli_seconds(pbf, Path(tmp) / "out", cache)  # fills the cache
        warm = []
        for _ in range(reps):
            _forget_circles(cache)
            warm.append(cli_seconds(pbf, Path(tmp) / "out", cache))
        reused = [cli_seconds(pbf, Path(tmp) / "out", cache) for _ in range(reps)]
        _forget_circles(cache)
        stages = run_child("bench.whole_plan", [pbf, Path(tmp) / "out2"], env={"CIRCLES_CACHE_DIR": str(cache)})
    med = statistics.median(warm)
    out = {"file": str(pbf), "cold_s": cold, "cached_runs_s": warm, "cached_median_s": med,
           "circles_reused_runs_s": reused, "circles_reused_median_s": statistics.median(reused),
           "target_s": 10.0, "breakdown": stages}
    rows = [["circles plan, network cached (command wall time)", fmt_s(med), "target < 10 s; circles drawn afresh"],
            ["circles plan re-run, network and circles cached", fmt_s(out["circles_reused_median_s"]),
             "same streets and facilities as the run before"],
            ["circles plan, first run (builds the cache)", fmt_s(cold),
             "" if cold is not None else "skipped: the cache was filled before"]]
    rows += [[f"  stage: {k}", fmt_s(v), f"{100 * v / stages['total_s']:.0f}%"] for k, v in stages["stages_s"].items()]
    out["table"] = table(f"Whole `circles plan` on {pbf.name} (medians of {len(warm)} runs each; "
                         f"stage breakdown from one run in-process, peak RSS {stages['peak_rss_mb']:.0f} MB)",
                         ["what", "time", "note"], rows)
    return out


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
