"""`circles batch` over every street of the Hangzhou merged extract (parts of several districts).

The merged extract holds 29 streets and towns (admin level 8) of 西湖区, 上城区, 拱墅区, 滨江区
and 萧山区, and one whole district boundary. The batch runs as the real command, on a
LocalCluster of two worker processes, one of which is killed mid-run (its task is retried); streets of different districts are compared with
`plan()` given the same `--area`, and the homes the areas count with the homes of the extract
inside the street boundaries, found here with shapely.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import shapely

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]
ROOT = Path(__file__).resolve().parents[2]
#: streets of four districts: 西湖区, 上城区, 萧山区, 滨江区
COMPARED = ("翠苑街道", "湖滨街道", "北干街道", "长河街道")


@pytest.fixture(scope="module")
def base(merged_path, cache_dir):
    from geo.base import load_base
    from geo.plan import PlanInputs, PlanParams

    return load_base(PlanInputs(osm=merged_path), PlanParams(cache_dir=cache_dir))


def _done(out: Path) -> int:
    return len(list((out / "areas").glob("*/batch.json"))) if (out / "areas").is_dir() else 0


@pytest.fixture(scope="module")
def batch(tmp_path_factory, merged_path, cache_dir):
    """The batch, with one Dask worker process killed (SIGKILL) once the first area is written."""
    out = tmp_path_factory.mktemp("batch-merged") / "out"
    args = ["--osm", merged_path, "--areas", "level=8", "--workers", 2, "--no-per-facility", "--out", out]
    log = out.parent / "stderr.txt"
    with log.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "batch", *map(str, args)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "CIRCLES_CACHE_DIR": str(cache_dir)},
        )
        try:
            deadline = time.monotonic() + 600
            while _done(out) == 0 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            # the worker processes: the command's children that run Dask (its nannies live in the command)
            workers = [
                c
                for c in psutil.Process(proc.pid).children()
                if "spawn_main" in " ".join(c.cmdline()) and "resource_tracker" not in " ".join(c.cmdline())
            ]
            done_at_kill = _done(out)
            assert workers, "no Dask worker process found"
            workers[0].send_signal(signal.SIGKILL)
            code = proc.wait(timeout=900)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = log.read_text("utf-8")
    assert code == 0, stderr[-3000:]
    return out, done_at_kill, stderr


def streets(base) -> pd.DataFrame:
    a = base.admin
    return a[a["admin_level"].astype(str) == "8"].reset_index(drop=True)


def test_every_street_of_the_extract_is_planned_though_a_worker_was_killed(batch, base):
    out, done_at_kill, stderr = batch
    names = sorted(streets(base)["name"])
    assert 0 < done_at_kill < len(names)  # the worker was killed while areas were left to plan
    # the scheduler saw the worker stop holding an area, and the command says which
    lost = [line for line in stderr.splitlines() if line.startswith("warning: worker ") and " stopped while planning " in line]
    assert len(lost) == 1 and "no area" not in lost[0], stderr[-3000:]
    assert any(name in lost[0] for name in names)
    assert len(names) >= 20  # the extract's streets, of several districts
    table = pd.read_csv(out / "merged" / "areas.csv", encoding="utf-8-sig")
    assert sorted(table["area"]) == names
    assert set(table["status"]) == {"done"}
    for name in names:
        assert (out / "areas" / name / "coverage.json").is_file(), name


def test_streets_of_four_districts_equal_plan_with_that_area(batch, merged_path, cache_dir):
    from geo.plan import PlanInputs, PlanParams, plan

    for name in COMPARED:
        ref = plan(PlanInputs(osm=merged_path, area=name), PlanParams(per_facility=False, cache_dir=cache_dir))
        got = json.loads((batch[0] / "areas" / name / "coverage.json").read_text("utf-8"))
        assert got["homes"] == ref.coverage["homes"] > 0, name
        assert got["people"] == ref.coverage["people"], name
        for layer, doc in ref.coverage["layers"].items():
            for m, f in doc["minutes"].items():
                g = got["layers"][layer]["minutes"][m]
                assert (g["homes_covered"], g["people_covered"]) == (f["homes_covered"], f["people_covered"]), (
                    name,
                    layer,
                    m,
                )


def test_each_home_is_counted_once_across_the_streets(batch, base):
    net = base.network
    table = streets(base)
    metric = [shapely.transform(g, lambda c: net.project(c[:, 0], c[:, 1])) for g in table.geometry.values]
    xy = base.homes.xy
    inside = np.array([shapely.contains_xy(m, xy[:, 0], xy[:, 1]) for m in metric])
    in_any = inside.any(axis=0)
    out = batch[0]
    homes = {n: json.loads((out / "areas" / n / "coverage.json").read_text("utf-8"))["homes"] for n in table["name"]}
    assert sum(homes.values()) == int(in_any.sum()) > 0
    merged = json.loads((out / "merged" / "coverage.json").read_text("utf-8"))
    assert merged["totals"]["centres"]["15"]["homes"] == int(in_any.sum())
