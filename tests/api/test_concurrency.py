"""Concurrent requests do not see each other's data: every answer equals the one it gets alone.

Scenarios, sites, circles drawn on demand and nearest queries are sent from four threads at
once, several times each in a shuffled order, through the app (``TestClient``; the heavy work
runs in the app's worker pool) and straight to the engine functions the workers run (threads of
one process sharing one loaded plan). Each answer must equal the answer the same request got
when it ran alone, before.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from geo.circles import metres_for

#: keys whose values are clocks, not results
CLOCKS = {"seconds", "elapsed_s", "generated", "written", "solve_seconds", "time_s"}


def _plain(doc):
    """The answer without wall-clock figures."""
    if isinstance(doc, dict):
        return {k: _plain(v) for k, v in doc.items() if k not in CLOCKS and not k.endswith("_seconds")}
    if isinstance(doc, list):
        return [_plain(v) for v in doc]
    return doc


def _uncovered_nodes(result, layer: str, k: int) -> list[list[float]]:
    """Street corners at the ``k`` most populous homes the layer leaves out (from the plan itself)."""
    lr = result.layers[layer]
    lim = metres_for(max(result.params.minutes), result.speed_kmh)
    out = np.flatnonzero(~(lr.home_dist <= lim) & result.home_snap.ok)
    top = out[np.argsort(-result.homes.people[out], kind="stable")[:k]]
    edges = result.home_snap.edge[top]
    return [[float(c) for c in result.network.node_lonlat[result.network.edge_u[e]]] for e in edges]


@pytest.fixture(scope="module")
def requests_(client):
    result = client.app.state.served.result
    a, b = _uncovered_nodes(result, "centres", 2)
    ids = [str(i) for i in result.layers["stations"].facilities["id"].iloc[:2]]
    add = lambda at, name: {"type": "FeatureCollection", "features": [  # noqa: E731
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": name},
         "geometry": {"type": "Point", "coordinates": at}}]}
    link = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_link", "penalty_s": 20},
         "geometry": {"type": "LineString", "coordinates": [a, [a[0] + 0.0008, a[1] + 0.0003]]}}]}
    return {
        "scenario-a": ("POST", "/scenarios", add(a, "new A")),
        "scenario-b": ("POST", "/scenarios", add(b, "new B")),
        "scenario-link": ("POST", "/scenarios", link),
        "sites-stations": ("POST", "/sites", {"layer": "stations", "add": 2, "minutes": 10}),
        "sites-centres": ("POST", "/sites", {"layer": "centres", "add": 1}),
        "circle-0": ("GET", f"/facilities/{ids[0]}/circle?minutes=7", None),
        "circle-1": ("GET", f"/facilities/{ids[1]}/circle?minutes=12.5", None),
        "nearest-a": ("GET", f"/nearest?lon={a[0]}&lat={a[1]}&layer=stations&k=3", None),
        "nearest-b": ("GET", f"/nearest?lon={b[0]}&lat={b[1]}&layer=centres&k=2", None),
    }


def _send(client, req, kept: list | None = None):
    """The answer without clocks; a kept scenario's id (each request gets a new one) goes to ``kept``."""
    method, url, body = req
    r = client.request(method, url, json=body) if body is not None else client.request(method, url)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"
    doc = r.json()
    if url == "/scenarios" and "id" in doc:
        (kept if kept is not None else []).append(doc.pop("id"))
    return _plain(doc)


def test_concurrent_requests_answer_as_they_do_alone(client, requests_):
    alone = {name: _send(client, req) for name, req in requests_.items()}
    # the requests differ from each other, so a mixed-up answer cannot pass for the right one
    assert len({json.dumps(v, sort_keys=True) for v in alone.values()}) == len(alone)
    order = [name for name in requests_ for _ in range(3)]
    random.Random(15).shuffle(order)
    # 4 threads: within the heavy pool's capacity (1 worker + 4 queued), so nothing is turned away
    kept: list = []
    with ThreadPoolExecutor(max_workers=4) as ex:
        answers = list(ex.map(lambda name: (name, _send(client, requests_[name], kept)), order))
    for name, got in answers:
        assert got == alone[name], name
    n_scenarios = sum(1 for name in order if name.startswith("scenario"))
    assert len(kept) in (0, n_scenarios) and len(set(kept)) == len(kept)  # kept scenarios: one id each


def test_engine_functions_in_threads_of_one_process(client, requests_):
    """The work the heavy workers do, run in threads sharing one loaded plan (no process between)."""
    from api import work

    served = client.app.state.served
    result = served.result
    calls = {
        "scenario-a": lambda: work.scenario(served, doc=requests_["scenario-a"][2]),
        "scenario-link": lambda: work.scenario(served, doc=requests_["scenario-link"][2]),
        "sites": lambda: work.sites(served, layer="stations", add=2, minutes=10, profile=result.params.profiles[0],
                                    candidates=None, exact=False, grid_m=100.0),
        "circle": lambda: work.facility_circle(served, layer="stations", index=0, minutes=7.0,
                                               profile=result.params.profiles[0]),
        "circle-2": lambda: work.facility_circle(served, layer="stations", index=1, minutes=12.5,
                                                 profile=result.params.profiles[0]),
    }
    alone = {name: _plain(json.loads(json.dumps(fn()))) for name, fn in calls.items()}
    order = [name for name in calls for _ in range(3)]
    random.Random(6).shuffle(order)
    with ThreadPoolExecutor(max_workers=4) as ex:
        answers = list(ex.map(lambda name: (name, _plain(json.loads(json.dumps(calls[name]())))), order))
    for name, got in answers:
        assert got == alone[name], name
    assert client.app.state.served.result is result  # the plan served is never changed


def test_a_full_heavy_queue_answers_503_with_retry_after(client, requests_):
    """When every heavy worker and queue place is taken, a heavy request is turned away at once
    (503 and Retry-After), and /nearest still answers."""
    pool = client.app.state.pool
    taken = pool.capacity
    with pool._lock:  # the places as running requests would hold them
        pool._busy += taken
    try:
        for name in ("scenario-a", "sites-stations", "circle-0"):
            method, url, body = requests_[name]
            r = client.request(method, url, json=body) if body is not None else client.request(method, url)
            assert r.status_code == 503, (name, r.status_code, r.text)
            assert int(r.headers["Retry-After"]) > 0
            assert "busy" in r.json()["detail"]
        method, url, _ = requests_["nearest-a"]
        assert client.request(method, url).status_code == 200
    finally:
        with pool._lock:
            pool._busy -= taken
    method, url, body = requests_["sites-stations"]
    assert client.request(method, url, json=body).status_code == 200  # places free again: answered


def test_a_killed_heavy_worker_is_a_503_and_the_next_request_is_answered(client, requests_):
    """SIGKILL of the worker process (as the OOM killer does): the request in flight, or the
    next one, gets 503 with Retry-After; the pool is started again and answers after that."""
    import os
    import signal

    pool = client.app.state.pool
    if pool._pool is None:
        pytest.skip("no fork on this platform: heavy work runs in threads")
    method, url, body = requests_["circle-1"]
    assert client.request(method, url).status_code == 200  # the worker is up
    for pid in list(pool._pool._processes):
        os.kill(pid, signal.SIGKILL)
    statuses = []
    for _ in range(3):
        r = client.request(method, url)
        statuses.append(r.status_code)
        if r.status_code == 503:
            assert "stopped" in r.json()["detail"] and int(r.headers["Retry-After"]) >= 1
        if r.status_code == 200:
            break
    assert statuses == [503, 200], statuses  # the lost request is said, the next one answered
    method, url, body = requests_["sites-stations"]
    assert client.request(method, url, json=body).status_code == 200
