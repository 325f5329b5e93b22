"""A stopped server leaves nothing behind: `circles serve --plan DIR` for real, heavy requests
(scenarios, run in forked worker processes) in flight, then SIGTERM (or SIGKILL): no worker
process is left and the port can be bound again. The workers once inherited the listening
socket and, orphaned, kept the port ("address already in use" on restart, 3 times of 3)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc")]

#: a crossing in Binjiang (a scenario of one edit): each request runs in a heavy worker
SCENARIO = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"edit": "add_link", "name": "crossing"},
            "geometry": {"type": "LineString", "coordinates": [[120.2197, 30.2223], [120.2202, 30.2211]]},
        }
    ],
}


@pytest.fixture(scope="module")
def saved_plan(binjiang_plan, tmp_path_factory) -> Path:
    from geo.saved import save_plan

    folder = tmp_path_factory.mktemp("served") / "plan"
    save_plan(binjiang_plan, folder)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on TCP ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "0A":
                out.add(f[9])
    return out


def _sockets_of(pid: int) -> set[str]:
    """The socket inodes process ``pid`` holds."""
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[len("socket:[") : -1])
    return out


def _post_scenario(port: int, statuses: list) -> None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/scenarios?keep=false", json.dumps(SCENARIO), {"Content-Type": "application/json"})
        statuses.append(conn.getresponse().status)
        conn.close()
    except OSError:  # the server stopped under it
        statuses.append(None)


def _serve_and_stop(folder: Path, sig: signal.Signals) -> None:
    """Serve ``folder``, send 8 scenarios at once, send ``sig`` while they run; check nothing is left."""
    port = _free_port()
    exe = Path(sys.executable).with_name("circles")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    proc = subprocess.Popen(
        [*cmd, "serve", "--plan", str(folder), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}: {proc.stdout.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "no answer from /health within 120 s"
                time.sleep(0.3)
        statuses: list = []
        threads = [threading.Thread(target=_post_scenario, args=(port, statuses)) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while not workers and time.monotonic() < deadline:  # the heavy workers start with the first request
            workers = _children(proc.pid)
            time.sleep(0.05)
        assert workers, "no heavy worker process started"
        listening = _listening_inodes(port)
        assert listening, "the server does not listen"
        for pid in workers:  # while they run: the listening socket is the server's alone
            assert not (_sockets_of(pid) & listening), f"worker {pid} holds the listening socket"
        workers |= _children(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        for t in threads:
            t.join(timeout=60)
        assert {s for s in statuses if s is not None} <= {200, 503}, statuses
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], f"worker processes left after {sig.name}"
        with socket.socket() as s:  # as uvicorn binds it
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:  # a failed test leaves nothing either
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stdout.close()


def test_sigterm_with_heavy_requests_in_flight_leaves_no_worker_and_frees_the_port(saved_plan):
    _serve_and_stop(saved_plan, signal.SIGTERM)


def test_a_killed_server_leaves_no_worker_and_frees_the_port(saved_plan):
    # the server cannot stop its workers: they notice it is gone (api.heavy.watch_parent)
    _serve_and_stop(saved_plan, signal.SIGKILL)
