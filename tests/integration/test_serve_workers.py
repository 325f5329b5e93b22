"""`circles serve --workers 2` for real: uvicorn's worker processes are started with *spawn*, so
everything the server's configuration holds must be found again by name in a new process (the
slow-client protocol class once was not, and every multi-worker server died at start-up)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_worker_processes_serve_the_embedded_default(cache_dir: Path):
    port = _free_port()
    exe = Path(sys.executable).with_name("circles")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    env = {**os.environ, "CIRCLES_CACHE_DIR": str(cache_dir)}
    proc = subprocess.Popen([*cmd, "serve", "--workers", "2", "--port", str(port), "--no-per-facility"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        answers: set[int] = set()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(answers) < 1:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}: {proc.stdout.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert r.status == 200
                    json.loads(r.read())
                    answers.add(r.status)
            except OSError:
                time.sleep(0.5)
        assert answers == {200}, "no answer from /health within 180 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/layers", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/nearest?lon=24.9384&lat=60.1699&layer=centres",
                                    timeout=10) as r:
            assert r.status == 200 and "results" in json.loads(r.read())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
