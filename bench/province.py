"""Scale of ``circles batch``: a synthetic province tiled from the Hangzhou merged extract.

No province extract is available offline, so one is made: the merged extract is copied into a
grid of tiles (``--tiles 1,4`` or ``1,16,64``), each copy with new ids (a per-tile offset for
nodes, ways and relations) and its coordinates shifted by whole tile widths, written as one PBF
with pyosmium (all nodes, then all ways, then all relations, as readers expect). Every admin
boundary keeps its relation and gets the tile number in its name (``滨江区#3``), so each tile has
its own districts and streets and no area spans two tiles.

Each province is then planned with ``circles batch --areas level=8 --no-per-facility --no-cache``
(the streets and towns, 29 per tile; the merged extract holds one whole district; ``--areas``
changes it) in a child process, on a local Dask cluster of 1 and
of 2 worker processes (``--workers``). Reported per run: walk nodes, areas, read + partition
time, wall time, the sum and the median of the per-area plan times, the peak memory of the
busiest worker (``VmHWM`` of the worker process, read by each task) and of the driver, and
the speed-up from 1 to 2 workers, and the CPU seconds of the command and its worker processes
(what a run costs whatever else the machine does). "tasks" is the cluster's start and every
task (plan and write); "merge" the merged outputs and the command's start-up (wall minus the
command's own).
Before the batches, :func:`two_at_once` measures what two worker processes can give on this
machine at best (the same plan alone and two at once, no Dask): the bound for the speed-up.
Results go to ``bench/results/province-<tiles>-w<workers>.json`` (``province-1-4-w1-2.json``).

Usage: ``python -m bench.province [--tiles 1,4] [--workers 1,2] [--areas level=8] [--per-facility]``;
``make bench-province`` runs ``--tiles 1,16,64`` (long: hours on 2 cores at 64 tiles).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import MERGED, ROOT, machine, save, table

#: degrees left between tiles
GAP_DEG = 0.02


@dataclass
class Extract:
    """One extract held in memory: untagged nodes as arrays, tags only where there are any."""

    node_id: np.ndarray
    node_lonlat: np.ndarray
    node_tags: dict  # node index -> tags
    ways: list  # (id, refs ndarray, tags)
    relations: list  # (id, [(type, ref, role)], tags)


def read_extract(path: Path) -> Extract:
    """Every node, way and relation of an OSM file (pyosmium)."""
    import osmium

    ids, lonlat, ntags, ways, rels = [], [], {}, [], []

    class Collect(osmium.SimpleHandler):
        def node(self, n):
            if n.tags:
                ntags[len(ids)] = dict(n.tags)
            ids.append(n.id)
            lonlat.append((n.location.lon, n.location.lat))

        def way(self, w):
            ways.append((w.id, np.array([r.ref for r in w.nodes], np.int64), dict(w.tags)))

        def relation(self, r):
            rels.append((r.id, [(m.type, m.ref, m.role) for m in r.members], dict(r.tags)))

    Collect().apply_file(str(path))
    return Extract(np.array(ids, np.int64), np.array(lonlat, float), ntags, ways, rels)


def link_node(path: Path) -> int:
    """The OSM id of a node of the extract's walking network (its largest connected part)."""
    from geo.base import load_base
    from geo.plan import PlanInputs, PlanParams

    net = load_base(PlanInputs(osm=path), PlanParams()).network
    i = int(np.argsort(net.node_lonlat[:, 0])[net.n_nodes // 2])
    return int(net.node_osm[i])


def write_province(ex: Extract, tiles: int, dest: Path, *, link: int) -> dict:
    """Write ``tiles`` shifted copies of ``ex`` as one PBF; the grid's shape.

    Ids are renumbered compactly (tile ``k``'s copy of the ``i``-th node is ``k * nodes + i + 1``,
    likewise ways and relations), as real OSM ids are: offsets of whole powers of ten would give
    ids of 10^11 and more, which send the node-location index of the reader into a sparse mapping
    of terabytes and slow the read by an order of magnitude. Nodes and members missing from the
    extract stay missing in the copies (one id past all others), so every copy assembles exactly
    the areas the extract does.

    The network keeps only its largest connected part (:func:`geo.network.build_network`), so
    each tile's copy of node ``link`` is joined to its right and lower neighbours' by a straight
    footway one tile long: it touches the streets at its two ends only, far beyond any walk
    threshold, so no walk time changes.
    """
    import osmium
    from osmium.osm.mutable import Node, Relation, Way

    cols = math.ceil(math.sqrt(tiles))
    lo, hi = ex.node_lonlat.min(axis=0), ex.node_lonlat.max(axis=0)
    step = hi - lo + GAP_DEG
    order = {"n": np.sort(ex.node_id), "w": np.sort(np.array([w[0] for w in ex.ways], np.int64)),
             "r": np.sort(np.array([r[0] for r in ex.relations], np.int64))}
    count = {t: len(v) for t, v in order.items()}

    def index(t: str, ids) -> np.ndarray:
        """1-based rank of each id among the extract's objects of type ``t`` (0: not in it)."""
        ids = np.asarray(ids, np.int64)
        pos = np.searchsorted(order[t], ids)
        ok = (pos < count[t]) & (order[t][np.minimum(pos, count[t] - 1)] == ids)
        return np.where(ok, pos + 1, 0)

    node_new = index("n", ex.node_id)
    way_new = index("w", [w[0] for w in ex.ways])
    ways = [(int(wn), index("n", refs), tags) for wn, (_, refs, tags) in zip(way_new, ex.ways, strict=True)]
    rels = []
    for rn, (_, members, tags) in zip(index("r", [r[0] for r in ex.relations]), ex.relations, strict=True):
        refs = [int(index(t, [ref])[0]) if t in order else 0 for t, ref, _ in members]
        rels.append((int(rn), [(t, r, role) for (t, _, role), r in zip(members, refs, strict=True)], tags))
    link_new = int(index("n", [link])[0])
    missing = {t: tiles * c + 1_000_000 for t, c in count.items()}  # an id no object has
    dest.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(dest))
    try:
        for k in range(tiles):
            ll = ex.node_lonlat + step * (k % cols, k // cols)
            base = k * count["n"]
            for i, nid in enumerate(node_new):
                writer.add_node(Node(id=int(nid) + base, location=(float(ll[i, 0]), float(ll[i, 1])),
                                     tags=ex.node_tags.get(i, {})))
        for k in range(tiles):
            for wid, refs, tags in ways:
                writer.add_way(Way(id=wid + k * count["w"], tags=tags,
                                   nodes=np.where(refs > 0, refs + k * count["n"], missing["n"]).tolist()))
        links = [(k, j) for k in range(tiles) for j in (k + 1, k + cols)
                 if j < tiles and (j == k + cols or j // cols == k // cols)]
        for i, (k, j) in enumerate(links):
            writer.add_way(Way(id=tiles * count["w"] + i + 1,
                               nodes=[link_new + k * count["n"], link_new + j * count["n"]],
                               tags={"highway": "footway", "name": "tile link"}))
        for k in range(tiles):
            for rid, members, tags in rels:
                if tags.get("boundary") == "administrative" and tags.get("name"):
                    tags = {**tags, "name": f"{tags['name']}#{k + 1}"}
                writer.add_relation(Relation(id=rid + k * count["r"], tags=tags,
                                             members=[(t, ref + k * count[t] if ref else missing.get(t, 1), role)
                                                      for t, ref, role in members]))
    finally:
        writer.close()
    return {"tiles": tiles, "grid": [cols, math.ceil(tiles / cols)], "tile_deg": step.round(4).tolist()}


def run_batch(pbf: Path, *, workers: int, areas: str, per_facility: bool, out: Path, cache: Path,
              saved: bool = True) -> dict:
    """``circles batch`` in a child process; its figures from the merged coverage.json and the areas' markers."""
    cmd = [sys.executable, "-m", "api.cli", "batch", "--osm", str(pbf), "--areas", areas, "--workers", str(workers),
           "--no-cache", "--no-dashboard", "-q", "--out", str(out)]
    if not per_facility:
        cmd.append("--no-per-facility")
    if not saved:
        cmd.append("--no-saved-plan")
    t = time.perf_counter()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "CIRCLES_CACHE_DIR": str(cache), "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t
    # CPU of the command and every process it waited for (its Dask workers): what the run costs
    # whatever else the machine does, unlike its wall time
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (now.ru_utime - used.ru_utime) + (now.ru_stime - used.ru_stime)
    if not (out / "merged" / "coverage.json").is_file():
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    doc = json.loads((out / "merged" / "coverage.json").read_text(encoding="utf-8"))
    marks = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "areas").glob("*/batch.json"))]
    secs = [m["seconds"] for m in marks]  # planning the area (its outputs' writing apart: write_s)
    writes = [m.get("write_s", 0.0) for m in marks]
    rss = [m["worker_peak_rss_mb"] for m in marks if m.get("worker_peak_rss_mb")]
    nodes = [m["nodes"] for m in marks]
    return {"workers": workers, "exit": proc.returncode, "wall_s": round(wall, 1),
            "read_partition_s": doc.get("read_partition_s"), "tasks_s": doc.get("tasks_s"),
            "merge_s": round(wall - doc["wall_s"], 1) if doc.get("wall_s") else None,
            "network_nodes": doc.get("network_nodes"), "area_write_sum_s": round(sum(writes), 1),
            "areas": doc.get("areas_total"), "failed": len(doc.get("failed") or []),
            "area_plan_sum_s": round(sum(secs), 1), "area_plan_median_s": round(statistics.median(secs), 2) if secs else None,
            "area_plan_max_s": round(max(secs), 1) if secs else None,
            # the task thread's own CPU: wall above it is time spent waiting for a core
            "area_plan_cpu_sum_s": round(sum(m.get("cpu_s", 0.0) for m in marks), 1),
            "area_write_cpu_sum_s": round(sum(m.get("write_cpu_s", 0.0) for m in marks), 1),
            "area_nodes_sum": int(sum(nodes)), "area_nodes_max": int(max(nodes)) if nodes else None,
            "worker_peak_rss_mb": max(rss) if rss else None, "driver_peak_rss_mb": doc.get("driver_peak_rss_mb"),
            "cpu_s": round(cpu, 1), "cpu_per_area_s": round(cpu / max(len(marks), 1), 3)}


def run(tiles=(1, 4), workers=(1, 2), *, areas: str = "level=8", per_facility: bool = False,
        saved: bool = True) -> dict:
    """Build each province and plan it with each worker count; the tables and figures."""
    t = time.perf_counter()
    ex = read_extract(MERGED)
    link = link_node(MERGED)
    print(f"read {MERGED.name}: {len(ex.node_id):,} nodes, {len(ex.ways):,} ways, {len(ex.relations):,} relations "
          f"({time.perf_counter() - t:.1f} s)", flush=True)
    rows, doc = [], {"areas": areas, "per_facility": per_facility, "saved_plan": saved, "runs": []}
    doc["two_at_once"] = two_at_once()
    print(json.dumps(doc["two_at_once"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="circles-province-") as tmp:
        tmp = Path(tmp)
        for n in tiles:
            pbf = tmp / f"province-{n}.osm.pbf"
            t = time.perf_counter()
            grid = write_province(ex, n, pbf, link=link)
            built = time.perf_counter() - t
            print(f"{n} tiles: {pbf.stat().st_size / 1e6:.0f} MB written in {built:.0f} s", flush=True)
            by_w = {}
            for w in workers:
                r = run_batch(pbf, workers=w, areas=areas, per_facility=per_facility, out=tmp / f"out-{n}-{w}",
                              cache=tmp / "cache", saved=saved)
                r.update(tiles=n, pbf_mb=round(pbf.stat().st_size / 1e6, 1), build_s=round(built, 1), grid=grid)
                by_w[w] = r
                doc["runs"].append(r)
                print(json.dumps(r), flush=True)
                rows.append([n, r["network_nodes"], r["areas"], r["failed"], w, r["read_partition_s"],
                             r["area_plan_median_s"], r["area_plan_sum_s"], r["area_write_sum_s"], r["tasks_s"],
                             r["merge_s"], r["wall_s"], r["cpu_s"], r["worker_peak_rss_mb"], r["driver_peak_rss_mb"]])
            if 1 in by_w and 2 in by_w:
                by_w[2]["speedup_vs_1"] = round(by_w[1]["wall_s"] / by_w[2]["wall_s"], 2)
            for w in workers:
                (tmp / f"out-{n}-{w}").exists() and _rm(tmp / f"out-{n}-{w}")
            pbf.unlink()
    head = ["tiles", "walk nodes", "areas", "failed", "workers", "read+partition s", "area plan median s",
            "area plans sum s", "area writes sum s", "tasks s", "merge s", "wall s", "CPU s (all processes)",
            "worker peak MB",
            "driver peak MB"]
    c = doc["two_at_once"]
    doc["table"] = table(f"circles batch on a synthetic province ({areas}, "
                         f"{'with' if per_facility else 'without'} per-facility circles)", head, rows) + (
        f"\nThe machine's own bound for 2 workers: {c['job']} takes {c['alone_median_s']} s alone and "
        f"{c['pair_median_s']} s as two processes at once (medians of {len(c['alone_s'])}): at best "
        f"**{c['ceiling_speedup']}x** from 1 to 2 workers on this machine.\n")
    return doc


#: the job of :func:`two_at_once`: one process, one core (no pool, no forked writer)
_JOB = """
import sys
from pathlib import Path
from geo.plan import PlanInputs, PlanParams, plan
for _ in range(2):
    plan(PlanInputs(osm=sys.argv[1]), PlanParams(workers=1, per_facility=False, cache_dir=Path(sys.argv[2])))
"""


def two_at_once(*, reps: int = 3, path: Path = MERGED) -> dict:
    """What two worker processes can give on this machine at best: the same job alone and two at once.

    The job is what an area's task does, on one core and larger: ``plan()`` of the merged
    extract twice (network cached, ``workers=1``, no per-facility circles), in a fresh process,
    ``reps`` times alone and ``reps`` times as two processes started together. No Dask, no
    driver, no shared input: what two at once lose against one alone is the machine's (shared
    caches, memory bandwidth, the other load), and ``2 x alone / pair`` bounds the speed-up any
    2-worker batch can reach here.
    """
    with tempfile.TemporaryDirectory(prefix="circles-ceiling-") as tmp:
        cache = str(Path(tmp) / "cache")

        def timed(n: int) -> float:
            t = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-c", _JOB, str(path), cache], cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
            if any(p.wait() != 0 for p in procs):
                raise RuntimeError("the plan job failed")
            return time.perf_counter() - t

        timed(1)  # the network cache, and the disk cache warm
        alone = [timed(1) for _ in range(reps)]
        pair = [timed(2) for _ in range(reps)]
    a, b = statistics.median(alone), statistics.median(pair)
    return {"job": f"plan() of {path.name} twice in one process (network cached, workers=1, no per-facility circles)",
            "alone_s": alone, "pair_s": pair, "alone_median_s": round(a, 2), "pair_median_s": round(b, 2),
            "ceiling_speedup": round(2 * a / b, 2)}


def _rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.province", description=__doc__.split("\n")[0])
    ints = lambda s: tuple(int(x) for x in s.split(",") if x.strip())  # noqa: E731
    ap.add_argument("--tiles", type=ints, default=(1, 4), help="tile counts, e.g. 1,16,64 (default 1,4)")
    ap.add_argument("--workers", type=ints, default=(1, 2), help="worker counts (default 1,2)")
    ap.add_argument("--areas", default="level=8", help="the batch's --areas (default level=8: the streets; the merged "
                    "extract holds one whole district)")
    ap.add_argument("--per-facility", action="store_true", help="also draw every facility's circles")
    ap.add_argument("--no-saved-plan", dest="saved", action="store_false", help="no saved plan per area")
    ap.add_argument("--two-at-once", action="store_true", help="only the machine's bound: one job alone and two at once")
    args = ap.parse_args(argv)
    if args.two_at_once:
        print(json.dumps(two_at_once(), indent=1))
        return 0
    if not MERGED.exists():
        print(f"{MERGED} is absent: the synthetic province is tiled from it", file=sys.stderr)
        return 2
    doc = run(args.tiles, args.workers, areas=args.areas, per_facility=args.per_facility, saved=args.saved)
    save("province-" + "-".join(map(str, args.tiles)) + "-w" + "-".join(map(str, args.workers)), {"meta": {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine()}, **doc})
    return 0


if __name__ == "__main__":
    sys.exit(main())
