"""`circles batch` starts its local cluster while it reads the extract: Ctrl-C and a failed read.

The worker processes must ignore SIGINT (a Ctrl-C reaches the whole process group; only the
command answers it), and a read that fails must leave no worker process behind.
"""

import os
import signal
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from api.cli import main
from geo.batch_tasks import Cluster, LocalStart, worker_processes

pytestmark = pytest.mark.slow


def ignored(pid: int) -> set[int]:
    """The signals process ``pid`` ignores (its ``SigIgn`` mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {s for s in range(1, 65) if mask >> (s - 1) & 1}
    return set()


def test_the_early_cluster_s_workers_ignore_sigint_and_the_driver_does_not():
    from distributed import Client

    before = signal.getsignal(signal.SIGINT)
    started = LocalStart(Cluster(workers=2, dashboard=False))
    try:
        assert signal.getsignal(signal.SIGINT) is before  # the caller answers Ctrl-C again at once
        with Client(started.get()) as client:
            pids = list(client.run(os.getpid).values())
            profiling = client.run(lambda: __import__("dask").config.get("distributed.worker.profile.enabled"))
        assert len(pids) == 2
        assert list(profiling.values()) == [False, False]  # no profiler thread reading the tasks' stacks
        assert {p.pid for p in worker_processes(psutil.Process())} == set(pids)
        for pid in pids:
            assert signal.SIGINT in ignored(pid)
        assert signal.SIGINT not in ignored(os.getpid())
    finally:
        started.close()
    assert worker_processes(psutil.Process()) == []


def test_a_failed_read_closes_the_early_cluster(tmp_path, monkeypatch):
    from geo import base

    seen = {}

    def failing_read(*_args, **_kwargs):
        seen["workers"] = len(worker_processes(psutil.Process()))  # the cluster was starting meanwhile
        raise OSError("disk gone")

    monkeypatch.setattr(base, "load_base", failing_read)
    osm = tmp_path / "x.osm.pbf"
    osm.write_bytes(b"not read")
    r = CliRunner().invoke(
        main, ["batch", "--osm", str(osm), "--areas", "level=8", "--workers", "2", "--out", str(tmp_path / "out")]
    )
    assert r.exit_code == 1, r.output
    assert "disk gone" in r.output
    assert seen["workers"] == 2
    assert worker_processes(psutil.Process()) == []


def test_a_resumed_batch_starts_no_cluster_before_it_knows_what_is_left(tmp_path, monkeypatch):
    from api import cli_batch
    from geo.batch_tasks import LocalStart

    out = tmp_path / "out"
    assert not cli_batch._done_before(out)
    (out / "areas" / "a").mkdir(parents=True)
    assert not cli_batch._done_before(out)  # a folder without its marker: an interrupted area
    (out / "areas" / "a" / "batch.json").write_text("{}")
    assert cli_batch._done_before(out)

    def no_start(*_a, **_k):
        raise AssertionError("started a cluster before the read")

    monkeypatch.setattr(LocalStart, "__init__", no_start)
    (out / "batch.json").write_text("{}")
    r = CliRunner().invoke(
        main, ["batch", "--osm", str(tmp_path / "missing.osm.pbf"), "--areas", "level=8", "--out", str(out)]
    )
    assert r.exit_code == 2, r.output  # the read's own error, not the assertion above
