"""An interrupted `circles plan` leaves the old complete output set, and the next run cleans up.

A real process is killed with SIGKILL (no handler runs, as after a power cut or the OOM killer)
while it writes its outputs; the folder must then hold exactly the previous run's files, each
matching the checksum its manifest gives, and the next run must leave no temporary file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geo.store import TMP_MARK
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", "plan", "--out", str(out), "-q", "--no-per-facility", *extra]


def _env() -> dict:
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


def _complete_set(out: Path) -> dict[str, str]:
    """The files of ``out`` (path -> sha256), checked against its manifest: every listed file is
    there with its checksum and nothing else is."""
    manifest = json.loads((out / "outputs.json").read_text("utf-8"))
    on_disk = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in out.rglob("*") if p.is_file()}
    listed = {k: v["sha256"] for k, v in manifest["files"].items()}
    assert set(on_disk) - {"outputs.json"} == set(listed), "files beside the manifest's"
    assert all(on_disk[k] == v for k, v in listed.items()), "a file differs from its checksum"
    return on_disk


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TMP_MARK in p.name]


def test_sigkill_while_writing_keeps_the_old_set_and_the_next_run_leaves_no_temp_files(tmp_path):
    out = tmp_path / "out"
    first = subprocess.run(_cmd(out), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    old = _complete_set(out)
    assert json.loads((out / "coverage.json").read_text("utf-8"))["minutes"] == [10.0, 15.0]

    proc = subprocess.Popen(_cmd(out, "--minutes", "5,12"), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    killed = False
    try:
        deadline = time.monotonic() + 900
        while proc.poll() is None and time.monotonic() < deadline:
            # the new set is being written into a temporary folder beside --out: kill it there
            if any(p.is_file() for t in tmp_path.glob(f".out{TMP_MARK}*") for p in t.rglob("*")):
                os.killpg(proc.pid, signal.SIGKILL)  # the process group this test started
                killed = True
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None and not killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed, "the run ended before it could be interrupted while writing"
    assert proc.returncode == -signal.SIGKILL
    assert _temporaries(tmp_path), "no temporary folder: the run was not caught while writing"
    assert _complete_set(out) == old  # the old complete set, untouched

    again = subprocess.run(_cmd(out, "--minutes", "5,12"), cwd=ROOT, env=_env(), capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr
    assert _temporaries(tmp_path) == []
    new = _complete_set(out)
    assert new != old
    assert json.loads((out / "coverage.json").read_text("utf-8"))["minutes"] == [5.0, 12.0]
