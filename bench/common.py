"""Shared helpers of the benchmarks: timing, peak memory in a child process, tables, results.

Every benchmark times a callable several times and reports the *median*; memory is the peak
resident set size (``ru_maxrss``) of a fresh child process that does one thing, so two tools
are compared from the same starting point (the Python interpreter plus their imports).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HANGZHOU = ROOT.parent / "shared" / "data" / "hangzhou"
MERGED = HANGZHOU / "hangzhou_central_merged.osm.pbf"
BINJIANG = HANGZHOU / "binjiang_clip.osm.pbf"
#: one seed for every random choice of the benchmarks (facility positions, query points).
SEED = 20261123


@dataclass(frozen=True)
class Timing:
    """Median and all repetitions of one measurement (seconds)."""

    median: float
    runs: tuple[float, ...]

    def as_dict(self) -> dict:
        return {"median_s": self.median, "runs_s": list(self.runs)}


def timed(fn: Callable[[], object], *, reps: int, warmup: int = 0) -> tuple[Timing, object]:
    """Call ``fn`` ``warmup + reps`` times; the median of the last ``reps`` and the last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    runs = []
    for _ in range(max(reps, 1)):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    return Timing(statistics.median(runs), tuple(runs)), out


def timed_interleaved(fns: dict[str, Callable[[], object]], *, reps: int, warmup: int = 1):
    """Like :func:`timed` for several callables, called round-robin so that a busy machine
    slows them alike (their ratio stays fair). Returns ``({name: Timing}, {name: last result})``."""
    results = {name: fn() for name, fn in fns.items() for _ in range(warmup)}
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(reps, 1)):
        for name, fn in fns.items():
            t = time.perf_counter()
            results[name] = fn()
            runs[name].append(time.perf_counter() - t)
    return {k: Timing(statistics.median(v), tuple(v)) for k, v in runs.items()}, results


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB).

    ``VmHWM`` of ``/proc/self/status`` where there is one: ``ru_maxrss`` would also count the
    parent's memory copied at ``fork`` before ``exec`` (Linux keeps it across ``exec``).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(module: str, args: Sequence[str], *, timeout: float = 900.0, env: dict | None = None) -> dict:
    """Run ``python -m module args`` and parse the JSON object it prints last on stdout."""
    cmd = [sys.executable, "-m", module, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no JSON result:\n{proc.stdout[-2000:]}")
    return json.loads(lines[-1])


def child_print(doc: dict) -> None:
    """What a child process prints as its result (read by :func:`run_child`)."""
    print(json.dumps(doc), flush=True)


def machine() -> dict:
    """The machine a run happened on: cores, CPU model, memory, Python and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        lscpu = []
    info = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in lscpu if ":" in ln}
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    libs = {}
    for lib in ("numpy", "scipy", "shapely", "networkx", "osmnx", "pandana", "osmium", "geopandas"):
        try:
            libs[lib] = version(lib)
        except PackageNotFoundError:
            libs[lib] = None
    return {
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "nproc": os.cpu_count(),
        "cpu": info.get("Model name") or platform.processor(),
        "hypervisor": info.get("Hypervisor vendor"),
        "mem_gb": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libs,
    }


def fmt_s(s: float | None) -> str:
    """Seconds for a table: µs/ms/s with three significant figures."""
    if s is None or not np.isfinite(s):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def ratio(x: float | None, ours: float | None) -> str:
    """``x / ours`` as ``"12.3x"`` (how many times slower or bigger than this project)."""
    if x is None or ours is None or not ours or not np.isfinite(x):
        return "-"
    r = x / ours
    return f"{r:,.0f}x" if r >= 100 else f"{r:.3g}x"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (also valid Markdown), printed and returned."""
    cells = [[str(c) for c in header]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    width = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, width)) + " |"  # noqa: E731
    out = [f"\n### {title}\n", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in width) + "|"]
    out += [line(r) for r in cells[1:]]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def save(name: str, doc: dict, *, folder: Path = RESULTS) -> Path:
    """Write ``doc`` atomically to ``bench/results/<name>.json``."""
    from geo.io import write_json

    return write_json(folder / f"{name}.json", doc)


def random_on_streets(net, k: int, rng: np.random.Generator):
    """``k`` facilities at uniformly random places along the streets (chance ~ edge length).

    Returns a :class:`geo.network.Snapped` (every one on the network) whose ``xy`` are the
    metric points, so node-based tools can be handed the same places.
    """
    import shapely

    from geo.network import Snapped

    p = net.edge_len / net.edge_len.sum()
    edge = rng.choice(net.n_edges, size=k, p=p).astype(np.int64)
    along = rng.uniform(0.0, 1.0, k) * net.edge_len[edge]
    xy = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_lines[edge], along))
    return Snapped(edge, along, np.zeros(k), np.ones(k, bool), xy)


@contextlib.contextmanager
def quiet_stdout():
    """Silence stdout at the file-descriptor level (C++ libraries such as pandana print there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def osmnx_like_graph(net):
    """A networkx ``MultiDiGraph`` of ``net`` shaped like an osmnx graph (projected).

    Nodes carry ``x``, ``y`` (metric) and ``street_count``; every edge is two arcs ``u->v``,
    ``v->u`` with ``osmid``, ``highway``, ``name``, ``length``, ``geometry`` and ``time``
    (minutes at 4.8 km/h), as the osmnx isochrone tutorial adds. ``graph['crs']`` is the
    metric CRS, so ``osmnx.distance.nearest_nodes`` works on it.
    """
    import networkx as nx

    G = nx.MultiDiGraph(crs=f"EPSG:{net.crs}")
    deg = np.bincount(np.concatenate([net.edge_u, net.edge_v]), minlength=net.n_nodes)
    G.add_nodes_from((i, {"x": float(x), "y": float(y), "street_count": int(d)})
                     for i, ((x, y), d) in enumerate(zip(net.node_xy, deg)))
    lines = net.edge_lines
    minutes = net.edge_len / (4.8 * 1000 / 60)
    arcs = []
    for e in range(net.n_edges):
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        data = {"osmid": e, "highway": net.edge_highway[e], "name": net.edge_name[e], "oneway": False,
                "length": float(net.edge_len[e]), "geometry": lines[e], "time": float(minutes[e])}
        arcs.append((u, v, data))
        arcs.append((v, u, dict(data)))
    G.add_edges_from(arcs)
    return G
