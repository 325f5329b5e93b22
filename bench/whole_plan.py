"""The whole ``circles plan`` on a real extract: first run, and with the network cached.

Figures: the wall time of the command itself (``circles plan --osm ... --out tmp -q`` in a
child process) on a fresh cache folder (the network built from the PBF; target < 15 s) and with
the network cached (target < 5 s), and a stage breakdown from one child that calls the same
functions the CLI calls (``plan`` with a progress hook, then ``api.outputs.write_plan``), so it
shows where the time goes.
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


def circles_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("circles")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]


def cli_seconds(args: list[str], cache: Path, *, timeout: float = 1800) -> float:
    """Wall time of ``circles ARGS`` with its cache folder in ``cache``."""
    t = time.perf_counter()
    proc = subprocess.run([*circles_cmd(), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CIRCLES_CACHE_DIR": str(cache)})
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"circles {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return dt


def _child(pbf: str, out: str) -> None:
    t0 = time.perf_counter()
    from api.outputs import write_plan
    from geo.plan import PlanInputs, PlanParams, plan

    marks: list[tuple[str, float]] = [("imports", time.perf_counter())]
    cache = os.environ.get("CIRCLES_CACHE_DIR")
    result = plan(PlanInputs(osm=Path(pbf)), PlanParams(cache_dir=Path(cache) if cache else None),
                  progress=lambda s: marks.append((s.split(" (")[0][:60], time.perf_counter())))
    marks.append(("write the outputs and the saved plan", time.perf_counter()))
    write_plan(result, Path(out))
    marks.append(("end", time.perf_counter()))
    spans = {"imports": marks[0][1] - t0}
    for (name, t), (_, t_next) in zip(marks[1:], marks[2:]):
        spans[name] = spans.get(name, 0.0) + (t_next - t)
    child_print({"total_s": time.perf_counter() - t0, "stages_s": spans, "peak_rss_mb": peak_rss_mb(),
                 "homes": len(result.homes), "nodes": result.network.n_nodes,
                 "polygons": int(len(result.circles)), "gaps": int(len(result.gaps))})


def run(pbf: Path, *, reps: int = 3) -> dict:
    """Wall times of ``circles plan`` (first run; cached, median of ``reps``) and one breakdown."""
    with tempfile.TemporaryDirectory(prefix="circles-bench-plan-") as tmp:
        cache = Path(tmp) / "cache"
        args = ["plan", "--osm", str(pbf), "--out", str(Path(tmp) / "out"), "-q"]
        cold = cli_seconds(args, cache)  # fills the cache
        warm = [cli_seconds(args, cache) for _ in range(reps)]
        stages = run_child("bench.whole_plan", [pbf, Path(tmp) / "out2"], env={"CIRCLES_CACHE_DIR": str(cache)})
    med = statistics.median(warm)
    out = {"file": str(pbf), "first_run_s": cold, "cached_runs_s": warm, "cached_median_s": med,
           "targets_s": {"cached": 5.0, "first": 15.0}, "breakdown": stages}
    rows = [["circles plan, network cached (command wall time)", fmt_s(med),
             f"target < 5 s; every circle drawn ({stages['polygons']:,} polygons, {stages['gaps']:,} gap areas)"],
            ["circles plan, first run (network built from the PBF)", fmt_s(cold), "target < 15 s"]]
    rows += [[f"  stage: {k}", fmt_s(v), f"{100 * v / stages['total_s']:.0f}%"] for k, v in stages["stages_s"].items()]
    out["table"] = table(f"Whole `circles plan` on {pbf.name} (cached: median of {len(warm)} runs; "
                         f"stage breakdown from one run in-process, peak RSS {stages['peak_rss_mb']:.0f} MB)",
                         ["what", "time", "note"], rows)
    return out


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
