"""An extract read in several processes (geo.osm_shares) is the extract one pass reads."""

import dataclasses
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import shapely

from geo import osm_shares
from geo.base import base_from_extract
from geo.errors import InputError
from geo.network import network_arrays
from geo.osm import read_osm, read_share
from geo.osm_layers import load_rules
from geo.plan import PlanInputs, PlanParams


def assert_same_extract(a, b):
    assert (a.source, a.data_date, a.data_date_from) == (b.source, b.data_date, b.data_date_from)
    for name in ("node_ids", "lon", "lat", "offsets", "way_ids", "road_class", "crossing_nodes", "signal_nodes"):
        x, y = getattr(a.ways, name), getattr(b.ways, name)
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y), name
    assert a.ways.highway == b.ways.highway
    assert a.ways.name == b.ways.name
    for name in ("kind", "osm_id", "wkb", "tags"):
        assert getattr(a.features, name) == getattr(b.features, name), name


def assert_same_frame(a, b):
    assert list(a.columns) == list(b.columns)
    geom = a.geometry.name if hasattr(a, "geometry") else None
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns=geom)), pd.DataFrame(b.drop(columns=geom)))
    if geom:
        assert a.crs == b.crs
        assert list(shapely.to_wkb(a.geometry.to_numpy())) == list(shapely.to_wkb(b.geometry.to_numpy()))


def assert_same_base(a, b):
    assert (a.source, a.data_date, a.layer_notes) == (b.source, b.data_date, b.layer_notes)
    na, nb = network_arrays(a.network), network_arrays(b.network)
    assert na.keys() == nb.keys()
    for k in na:
        assert np.array_equal(np.asarray(na[k]), np.asarray(nb[k])), k
    for k in ("xy", "people", "kind", "osm_id"):
        assert np.array_equal(getattr(a.homes, k), getattr(b.homes, k)), k
    assert a.homes.method == b.homes.method
    assert list(shapely.to_wkb(a.land)) == list(shapely.to_wkb(b.land))
    assert a.osm_facilities.keys() == b.osm_facilities.keys()
    for k in a.osm_facilities:
        assert_same_frame(a.osm_facilities[k], b.osm_facilities[k])
    assert_same_frame(a.admin, b.admin)
    assert_same_frame(a.places, b.places)
    assert a.extras.keys() == b.extras.keys()
    for k in a.extras:
        assert_same_frame(a.extras[k], b.extras[k])


@pytest.mark.parametrize("processes", [2, 3])
def test_shares_read_the_extract_one_pass_reads(binjiang_path, processes):
    one = read_osm(binjiang_path, processes=1)
    assert len(one.ways.way_ids) > 1000
    assert isinstance(one.features.wkb[0], bytes)
    assert_same_extract(read_osm(binjiang_path, processes=processes), one)


def test_shares_build_the_base_one_pass_builds(merged_path):
    rules = load_rules(PlanInputs(osm=merged_path).layers_map)
    params = PlanParams()
    one = read_osm(merged_path, processes=1)
    shared = read_osm(merged_path, processes=2)
    assert_same_extract(shared, one)
    base = base_from_extract(one, rules, params, lambda _: None)
    assert len(base.homes) > 1000
    assert_same_base(base_from_extract(shared, rules, params, lambda _: None), base)
    # the features' WKB as bytes (this pass) or as pyosmium's hex text (before) build the same base
    hexed = dataclasses.replace(one.features, wkb=[w.hex() for w in one.features.wkb])
    assert_same_base(base_from_extract(dataclasses.replace(one, features=hexed), rules, params, lambda _: None), base)


def test_shares_merged_in_process_and_through_npz_give_one_pass(binjiang_path):
    """Each share kept apart (and one through its npz bytes) merges back into the one pass."""
    one = read_osm(binjiang_path, processes=1)
    shares = [osm_shares._share_of(read_share(binjiang_path, share=k, shares=3)) for k in range(3)]
    assert sum(len(s.way_ids) for s in shares) == len(one.ways.way_ids)
    assert all(0 < len(s.way_ids) < len(one.ways.way_ids) for s in shares)
    buf = io.BytesIO()
    osm_shares._write_share(shares[1], buf)
    shares[1], why = osm_shares._kept_share(0, buf.getvalue(), b"")
    assert why == ""
    ways, feats, _ = osm_shares._merged(shares[::-1])  # the order of the shares does not matter
    assert_same_extract(dataclasses.replace(one, ways=ways, features=feats), one)


def test_a_failed_share_says_why():
    assert osm_shares._kept_share(0, b"not an npz", b"") == (None, "unreadable output: not an npz (10 bytes)")
    assert osm_shares._kept_share(0, b"PK\x03\x04 cut short", b"")[0] is None
    assert osm_shares._kept_share(1, b"", b"Traceback\n  ...\nMemoryError\n") == (None, "exit status 1: MemoryError")
    assert osm_shares._kept_share(-9, b"", b"") == (None, "killed by signal 9")


def test_a_failed_share_process_is_read_here_and_said(binjiang_path, monkeypatch):
    """A child that fails (here: a Python that cannot start) leaves its share to the caller, which says so."""
    said = []
    real = osm_shares._start

    def broken(p, share, shares):
        monkeypatch.setattr(osm_shares.sys, "executable", "/bin/false")
        try:
            return real(p, share, shares)
        finally:
            monkeypatch.undo()

    monkeypatch.setattr(osm_shares, "_start", broken)
    shared = read_osm(binjiang_path, processes=2, say=said.append)
    monkeypatch.undo()
    assert said == ["share 1 of 2 failed (exit status 1): reading it here"]
    assert_same_extract(shared, read_osm(binjiang_path, processes=1))


def test_a_damaged_file_read_in_shares_says_so(tmp_path):
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all" * 100)
    with pytest.raises(InputError, match="cannot be read as OpenStreetMap data"):
        read_osm(bad, processes=2)


def test_share_count_grows_with_the_file_up_to_the_cores(tmp_path, binjiang_path, monkeypatch):
    monkeypatch.delenv(osm_shares.ENV_PROCESSES, raising=False)
    monkeypatch.setattr(osm_shares, "_available_memory", lambda: None)  # no cap by memory
    assert osm_shares.share_count(binjiang_path) == 1  # small: one process
    big = tmp_path / "big.osm.pbf"
    with big.open("wb") as fh:  # a sparse file: only its size is read
        fh.truncate(3 * osm_shares.SHARE_BYTES)
    cores = len(os.sched_getaffinity(0))
    assert osm_shares.share_count(big) == min(cores, osm_shares.MAX_SHARES, 4)
    xml = tmp_path / "big.osm"
    xml.write_bytes(b"")
    with xml.open("wb") as fh:
        fh.truncate(3 * osm_shares.SHARE_BYTES)
    assert osm_shares.share_count(Path(xml)) == 1


def _sparse_pbf(tmp_path, size):
    big = tmp_path / "big.osm.pbf"
    with big.open("wb") as fh:  # a sparse file: only its size is read
        fh.truncate(size)
    return big


def test_share_count_capped_by_the_environment(tmp_path, monkeypatch):
    big = _sparse_pbf(tmp_path, 3 * osm_shares.SHARE_BYTES)
    monkeypatch.setattr(osm_shares, "_available_memory", lambda: None)
    monkeypatch.setattr(osm_shares.os, "sched_getaffinity", lambda _: set(range(8)))
    monkeypatch.delenv(osm_shares.ENV_PROCESSES, raising=False)
    assert osm_shares.share_count(big) == 4
    for value, count in (("1", 1), (" 2 ", 2), ("16", 4), ("", 4)):
        monkeypatch.setenv(osm_shares.ENV_PROCESSES, value)
        assert osm_shares.share_count(big) == count, value
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv(osm_shares.ENV_PROCESSES, bad)
        with pytest.raises(InputError, match=f"CIRCLES_READ_PROCESSES.*'{bad}' is not a number of processes"):
            osm_shares.share_count(big)


def test_share_count_capped_by_the_available_memory(tmp_path, monkeypatch):
    if Path("/proc/meminfo").exists():  # MemAvailable, as psutil reads it too (it moves a little meanwhile)
        assert osm_shares._available_memory() == pytest.approx(psutil.virtual_memory().available, rel=0.2)
    size = 3 * osm_shares.SHARE_BYTES
    one = osm_shares.BASE_BYTES + osm_shares.DECODE_BYTES_PER_FILE_BYTE * size  # each process
    kept = osm_shares.KEPT_BYTES_PER_FILE_BYTE * size  # shared out
    assert [osm_shares.memory_cap(size, available=kept + k * one) for k in (0, 1, 2, 3)] == [1, 1, 2, 3]
    assert osm_shares.memory_cap(size, available=kept + 3 * one - 1) == 2
    assert osm_shares.memory_cap(size, available=0) == 1
    big = _sparse_pbf(tmp_path, size)
    monkeypatch.delenv(osm_shares.ENV_PROCESSES, raising=False)
    monkeypatch.setattr(osm_shares.os, "sched_getaffinity", lambda _: set(range(8)))
    monkeypatch.setattr(osm_shares, "_available_memory", lambda: kept + 2 * one)
    assert osm_shares.share_count(big) == 2


def _run(tmp_path, code, *args, **kw):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    env.pop(osm_shares.ENV_PROCESSES, None)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        **kw,
    )


def test_a_script_without_a_main_guard_runs_its_top_level_once(tmp_path, binjiang_path):
    """Children are plain subprocesses: the caller's script is not imported again, in a daemon too."""
    done = _run(
        tmp_path,
        """
        import multiprocessing, sys
        print("top level", flush=True)
        from geo.osm import read_osm
        print("ways", len(read_osm(sys.argv[1], processes=2).ways.way_ids), flush=True)

        def in_daemon():
            print("daemon ways", len(read_osm(sys.argv[1], processes=2).ways.way_ids), flush=True)

        p = multiprocessing.get_context("fork").Process(target=in_daemon, daemon=True)
        p.start()
        p.join()
        print("daemon exit", p.exitcode)
        """,
        binjiang_path,
        timeout=300,
    )
    n = len(read_osm(binjiang_path, processes=1).ways.way_ids)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["top level", f"ways {n}", f"daemon ways {n}", "daemon exit 0"]
    assert done.stderr == ""  # no traceback, no share read again
    assert list((tmp_path / "tmp").iterdir()) == []


def test_children_die_with_a_killed_parent_and_leave_no_file(tmp_path, merged_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", f"from geo.osm import read_osm; read_osm({str(merged_path)!r}, processes=3)"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        me = psutil.Process(parent.pid)
        kids: list[psutil.Process] = []
        for _ in range(600):  # until both children run (well before they are done)
            kids = [c for c in me.children() if "geo.osm_shares" in " ".join(c.cmdline())]
            if len(kids) == 2:
                break
            parent.wait(timeout=0.05) if parent.poll() is not None else psutil.wait_procs([], timeout=0.05)
        assert len(kids) == 2, parent.stderr.read() if parent.poll() is not None else "no children"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _, alive = psutil.wait_procs(kids, timeout=20)  # each would read for seconds more, then block on its pipe
        for proc in alive:
            proc.kill()
        assert alive == []
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        parent.stderr.close()
    assert list(tmp_path.iterdir()) == []


def test_a_child_exits_when_its_parent_is_gone(tmp_path):
    """:func:`_die_with`: a child whose parent dies (SIGKILL, no clean-up) ends at once, not after its work."""
    middle = _run(
        tmp_path,
        """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import os, time; from geo.osm_shares import _die_with; "
                                  "_die_with(os.getppid()); print('ready', flush=True); time.sleep(600)"],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline() == "ready\\n"
        print(child.pid, flush=True)
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        timeout=120,
    )
    assert middle.returncode == -signal.SIGKILL, middle.stderr
    pid = int(middle.stdout.split()[0])
    try:
        child = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return  # already gone
    _, alive = psutil.wait_procs([child], timeout=30)  # far less than its 600 s of work
    for proc in alive:
        proc.kill()
    assert alive == []


def test_children_are_ended_when_the_caller_is_interrupted(binjiang_path, monkeypatch):
    """A Ctrl-C (or any error) in the caller's own share ends the children it started."""
    started = []
    real_start = osm_shares._start

    def start(p, share, shares):
        started.append(real_start(p, share, shares))
        return started[-1]

    def interrupted(*_args, **_kw):
        assert all(proc.poll() is None for proc in started)  # the children run meanwhile
        raise KeyboardInterrupt

    monkeypatch.setattr(osm_shares, "_start", start)
    monkeypatch.setattr(osm_shares, "read_share", interrupted)
    with pytest.raises(KeyboardInterrupt):
        osm_shares.read_in_shares(binjiang_path, shares=3, label="x")
    assert len(started) == 2
    assert [proc.returncode for proc in started] == [-signal.SIGTERM] * 2  # ended, and waited for
    assert all(proc.stdout.closed and proc.stderr.closed for proc in started)
