"""Question 4b: nearest service over HTTP — latency and throughput of ``GET /nearest``.

The service runs as ``circles serve --osm ... --workers N`` (uvicorn) on loopback (127.0.0.1
only) with 1 and with 2 worker processes, access log on as deployed; a real HTTP client
(``httpx``, keep-alive) asks for the nearest centre (k=1) from points near random streets.

* **latency**: one request at a time, ``n_requests`` of them: p50 / p99 / mean round trip.
* **throughput**: the same requests from ``clients`` concurrent client threads: requests per
  second over the whole run (the Python client shares the 2 cores with the server, so this is
  a floor, not the server's ceiling), with the p99 seen under that load.
* **the osmnx way** on the same points, in-process (no HTTP): ``ox.distance.nearest_nodes``
  for the point, then ``ox.shortest_path`` to the node of the centre our service answered
  (the route only), and ``nearest_nodes`` + networkx ``multi_source_dijkstra`` from all centre
  nodes (which centre is nearest, exactly) — what a service built on osmnx does per request.

Run ``python -m bench.http [OSM] [--requests N]``; ``bench/run.py`` calls :func:`run`.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import MERGED, SEED, fmt_s, osmnx_like_graph, random_on_streets, ratio, table

HOST = "127.0.0.1"  # loopback only: the benchmark never listens on a public address


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """``circles serve --osm ... --workers N`` (uvicorn) in a child process, stopped on exit."""

    def __init__(self, osm: Path, workers: int, *, start_timeout: float = 900.0) -> None:
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        cmd = [sys.executable, "-m", "api.cli", "serve", "--osm", str(osm), "--host", HOST,
               "--port", str(self.port), "--workers", str(workers)]
        env = dict(os.environ)
        self.log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the server
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=self.log,
                                     start_new_session=True)
        self.started = time.perf_counter()
        self._wait(start_timeout, workers)
        self.start_s = time.perf_counter() - self.started

    def _wait(self, timeout: float, workers: int) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    ready += 1
                    if ready >= 3 * workers:  # several answers in a row: every worker is up
                        return
                    continue
            except httpx.HTTPError:
                ready = 0
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"uvicorn did not answer /health within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the process group this benchmark started
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _latency(url: str, points: np.ndarray, *, warmup: int = 50) -> tuple[list[float], list[dict]]:
    import httpx

    times, bodies = [], []
    with httpx.Client(base_url=url, timeout=30.0) as c:
        for lon, lat in points[:warmup]:
            c.get("/nearest", params={"lon": lon, "lat": lat})
        for lon, lat in points:
            t = time.perf_counter()
            r = c.get("/nearest", params={"lon": lon, "lat": lat})
            times.append(time.perf_counter() - t)
            bodies.append(r.json() if r.status_code == 200 else {"status": r.status_code})
    return times, bodies


def _throughput(url: str, points: np.ndarray, clients: int) -> tuple[float, list[float], int]:
    import httpx

    chunks = np.array_split(points, clients)
    times: list[list[float]] = [[] for _ in chunks]
    errors = [0] * len(chunks)
    barrier = threading.Barrier(len(chunks) + 1)

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as c:
            c.get("/health")
            barrier.wait()
            for lon, lat in chunks[i]:
                t = time.perf_counter()
                r = c.get("/nearest", params={"lon": lon, "lat": lat})
                times[i].append(time.perf_counter() - t)
                errors[i] += r.status_code != 200

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(chunks))]
    for th in threads:
        th.start()
    barrier.wait()
    t = time.perf_counter()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    flat = [x for ts in times for x in ts]
    return len(flat) / wall, flat, sum(errors)


def _under_heavy(url: str, points: np.ndarray, *, hammers: int = 4, max_heavy: int = 400,
                 max_s: float = 120.0) -> dict:
    """``/nearest`` latency, one request at a time, while ``hammers`` clients ask for the heavy
    endpoints (a page of ``/circles``, ``POST /sites``, ``POST /scenarios``) as fast as they are
    answered. Bounded: the hammers stop after ``max_heavy`` requests in all, when the nearest
    client is done, or after ``max_s`` seconds."""
    import httpx

    lon0, lat0 = (float(v) for v in points[0])
    scenario = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "bench"},
         "geometry": {"type": "Point", "coordinates": [lon0, lat0]}}]}
    heavy = [("GET", "/circles", {"params": {"limit": 500}}),
             ("POST", "/sites", {"json": {"layer": "centres", "add": 2}}),
             ("POST", "/scenarios", {"json": scenario})]
    stop = threading.Event()
    lock = threading.Lock()
    status: dict[str, int] = {}
    sent = [0]
    deadline = time.monotonic() + max_s

    def hammer(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120.0) as c:
            k = i
            while not stop.is_set() and time.monotonic() < deadline:
                with lock:
                    if sent[0] >= max_heavy:
                        return
                    sent[0] += 1
                method, path, kw = heavy[k % len(heavy)]
                k += 1
                try:
                    r = c.request(method, path, **kw)
                    key = f"{method} {path} {r.status_code}"
                except httpx.HTTPError as err:
                    key = f"{method} {path} {type(err).__name__}"
                with lock:
                    status[key] = status.get(key, 0) + 1
                if key.endswith(" 503"):
                    time.sleep(0.05)  # told to retry: a polite client waits a little

    alone: list[float] = []  # the same client on the same machine with nothing else asked of the server
    with httpx.Client(base_url=url, timeout=30.0) as c:
        for lon, lat in points[: max(50, len(points) // 3)]:
            t = time.perf_counter()
            c.get("/nearest", params={"lon": lon, "lat": lat})
            alone.append(time.perf_counter() - t)
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(hammers)]
    for th in threads:
        th.start()
    time.sleep(1.0)  # the heavy requests are under way
    times: list[float] = []
    bad = 0
    with httpx.Client(base_url=url, timeout=30.0) as c:
        for lon, lat in points:
            if time.monotonic() > deadline:
                break
            t = time.perf_counter()
            r = c.get("/nearest", params={"lon": lon, "lat": lat})
            times.append(time.perf_counter() - t)
            bad += r.status_code != 200
    stop.set()
    for th in threads:
        th.join()
    return {"alone_p50_ms": _pct(alone, 50) * 1e3, "alone_p99_ms": _pct(alone, 99) * 1e3,
            "nearest_requests": len(times), "nearest_errors": bad, "p50_ms": _pct(times, 50) * 1e3,
            "p99_ms": _pct(times, 99) * 1e3, "max_ms": max(times, default=float("nan")) * 1e3,
            "heavy_requests": sum(status.values()), "heavy_status": dict(sorted(status.items()))}


def _pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if len(xs) else float("nan")


def _osmnx_way(net, G, fac_nodes: np.ndarray, points_xy: np.ndarray, answers: list[int | None]) -> dict:
    """Per-request seconds of the osmnx way on the same points (in-process, no HTTP)."""
    import networkx as nx
    import osmnx as ox

    route_t, exact_t = [], []
    sources = {int(n) for n in fac_nodes}
    for (x, y), dest in zip(points_xy, answers):
        t = time.perf_counter()
        orig = ox.distance.nearest_nodes(G, X=float(x), Y=float(y))
        if dest is not None:
            ox.shortest_path(G, orig, int(dest), weight="length")
        route_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        orig = ox.distance.nearest_nodes(G, X=float(x), Y=float(y))
        nx.multi_source_dijkstra(G, sources, target=orig, weight="length")
        exact_t.append(time.perf_counter() - t)
    return {"nearest_nodes+shortest_path_s": statistics.median(route_t),
            "nearest_nodes+multi_source_dijkstra_s": statistics.median(exact_t), "osmnx_points": len(route_t)}


def run(osm_path: str | Path | None = None, *, osm: str | Path | None = None, n_requests: int = 3000,
        workers: Sequence[int] = (1, 2), clients: int = 4, osmnx_points: int = 30, quick: bool = False,
        seed: int = SEED, net=None, heavy_only: bool = False) -> dict:
    """Latency and throughput of ``GET /nearest`` (k=1) under uvicorn, beside the osmnx way.

    Parameters
    ----------
    osm_path, osm
        The OSM extract (either name; default: the Hangzhou merged extract).
    n_requests
        Requests per measurement (latency, then throughput), per worker count.
    workers
        Worker-process counts to measure.
    clients
        Concurrent client threads for the throughput run.
    osmnx_points
        How many of the same points the (slow) osmnx way is timed on.
    quick
        Fewer requests (500) and osmnx points (10).
    net
        The network of ``osm_path`` when the caller has it (saves reloading it).
    heavy_only
        Only the measurement under heavy load (one worker), nothing else.

    With the first worker count, ``/nearest`` is also timed while four clients hammer
    ``/circles``, ``/sites`` and ``/scenarios`` (target: p99 under 10 ms).
    """
    from geo.base import load_base
    from geo.plan import PlanInputs, PlanParams

    path = Path(osm_path or osm or MERGED)
    if quick:
        n_requests, osmnx_points = min(n_requests, 500), min(osmnx_points, 10)
    cache = os.environ.get("CIRCLES_CACHE_DIR")
    base = load_base(PlanInputs(osm=path), PlanParams(cache_dir=Path(cache) if cache else None))  # warms the cache
    net = net if net is not None else base.network
    rng = np.random.default_rng(seed + 6)
    xy = random_on_streets(net, n_requests, rng).xy + rng.normal(0.0, 20.0, (n_requests, 2))
    points = net.unproject(xy)

    doc: dict = {"data": str(path), "requests": n_requests, "clients": clients, "nodes": net.n_nodes}
    first_answers: list[dict] = []
    rows = []
    if heavy_only:
        with Server(path, workers[0]) as srv:
            doc["under_heavy"] = hv = _under_heavy(srv.url, points)
        doc["table"] = _heavy_table(path, workers[0], hv)
        return doc
    for w in workers:
        with Server(path, w) as srv:
            lat_t, bodies = _latency(srv.url, points)
            tput, load_t, errors = _throughput(srv.url, points, clients)
            if w == workers[0]:
                doc["under_heavy"] = _under_heavy(srv.url, points)
        ok = sum(1 for b in bodies if "results" in b)
        if not first_answers:
            first_answers = bodies
        doc[f"w{w}_start_s"] = round(srv.start_s, 1)
        doc[f"w{w}_p50_ms"] = _pct(lat_t, 50) * 1e3
        doc[f"w{w}_p99_ms"] = _pct(lat_t, 99) * 1e3
        doc[f"w{w}_mean_ms"] = statistics.fmean(lat_t) * 1e3
        doc[f"w{w}_rps"] = tput
        doc[f"w{w}_load_p99_ms"] = _pct(load_t, 99) * 1e3
        doc[f"w{w}_answered"] = ok
        doc[f"w{w}_errors_under_load"] = errors
        rows.append([f"ours, HTTP, {w} worker{'s' if w > 1 else ''}", fmt_s(_pct(lat_t, 50)), fmt_s(_pct(lat_t, 99)),
                     f"{tput:,.0f}/s", fmt_s(_pct(load_t, 99)), f"{ok}/{len(bodies)}"])

    # the osmnx way on the first points, routed to the node nearest the centre we answered
    G = osmnx_like_graph(net)

    cent = base.osm_facilities["centres"]
    cxy = net.project(cent.geometry.x.to_numpy(), cent.geometry.y.to_numpy()) if len(cent) else np.zeros((0, 2))
    from scipy.spatial import cKDTree

    tree = cKDTree(net.node_xy)
    fac_nodes = tree.query(cxy)[1] if len(cxy) else np.zeros(0, int)
    ids = list(cent["id"]) if len(cent) else []
    answers = []
    for b in first_answers[:osmnx_points]:
        res = b.get("results") or []
        fid = res[0]["facility"]["properties"]["id"] if res else None
        answers.append(int(fac_nodes[ids.index(fid)]) if fid in ids else None)
    ox_doc = _osmnx_way(net, G, fac_nodes, xy[:osmnx_points], answers) if len(fac_nodes) else {}
    doc.update(ox_doc)
    ours_p50 = doc[f"w{workers[0]}_p50_ms"] / 1e3
    for key, label in (("nearest_nodes+shortest_path_s", "osmnx: nearest_nodes + shortest_path (in-process)"),
                       ("nearest_nodes+multi_source_dijkstra_s", "osmnx: nearest_nodes + multi_source_dijkstra (in-process)")):
        if key in doc:
            rows.append([label, fmt_s(doc[key]), "-", f"{1 / doc[key]:,.1f}/s (1 core)", "-",
                         f"{ratio(doc[key], ours_p50)} our HTTP p50"])
    doc["table"] = table(
        f"4b. Nearest centre over HTTP (k=1), {path.name}: {n_requests} requests, {net.n_nodes:,} nodes",
        ["how", "p50", "p99", f"throughput ({clients} clients)", "p99 under load", "answered"], rows)
    if "under_heavy" in doc:
        doc["tables"] = [_heavy_table(path, workers[0], doc["under_heavy"])]  # the runner keeps "table" too
    return doc


def _heavy_table(path: Path, workers: int, hv: dict) -> str:
    met = "met" if hv["p99_ms"] < 10 else "**not met**"
    heavy = ", ".join(f"{k}: {v}" for k, v in hv["heavy_status"].items())
    return table(f"4c. /nearest while 4 clients hammer /circles, /sites, /scenarios ({path.name}, {workers} worker)",
                 ["nearest requests", "alone p50 / p99", "p50", "p99 (target < 10 ms)", "max",
                  "heavy requests answered"],
                 [[f"{hv['nearest_requests']:,} ({hv['nearest_errors']} errors)",
                   f"{fmt_s(hv['alone_p50_ms'] / 1e3)} / {fmt_s(hv['alone_p99_ms'] / 1e3)}", fmt_s(hv["p50_ms"] / 1e3),
                   f"{fmt_s(hv['p99_ms'] / 1e3)} ({met})", fmt_s(hv["max_ms"] / 1e3), heavy]])


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("osm", nargs="?", default=str(MERGED), help="OSM extract (default: Hangzhou merged)")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--osmnx-points", type=int, default=30)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--heavy-only", action="store_true", help="only /nearest under heavy load (one worker)")
    a = ap.parse_args(argv)
    run(a.osm, n_requests=a.requests, clients=a.clients, osmnx_points=a.osmnx_points, quick=a.quick,
        heavy_only=a.heavy_only, workers=(1,) if a.heavy_only else (1, 2))


if __name__ == "__main__":
    main()
