"""An extract read in several processes (geo.osm_shares) is the extract one pass reads."""

import dataclasses
import errno
import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zipfile
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


@pytest.fixture(scope="module")
def share_npz(binjiang_path):
    """Share 1 of 2 of Binjiang as its process writes it: the npz's arrays by name."""
    buf = io.BytesIO()
    osm_shares._write_share(osm_shares._share_of(read_share(binjiang_path, share=1, shares=2)), buf)
    with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _npz(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _corrupt_deflated(arrays):
    """A compressed npz whose ``lon`` member's deflate stream is invalid (zlib.error on reading)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("lon.npy")
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)  # the local header's
    at = info.header_offset + 30 + name_len + extra_len
    data[at : at + 16] = b"\xff" * 16  # a deflate block of the reserved type
    return bytes(data)


def _negative_way(a):
    way_len = a["way_len"].copy()
    way_len[1] += 2 * way_len[0]
    way_len[0] = -way_len[0]  # the same sum
    return {**a, "way_len": way_len}


DAMAGED = {
    "corrupt deflated member": (_corrupt_deflated, "unreadable output: error('Error -3 while decompressing data"),
    "a date out of range": (lambda a: {**a, "latest": np.asarray([2**62])}, "no data date: [4611686018427387904]"),
    "lon shorter than node_ids": (lambda a: {**a, "lon": a["lon"][:-1]}, "positions disagree"),
    "lat longer than node_ids": (lambda a: {**a, "lat": np.append(a["lat"], 0.0)}, "positions disagree"),
    "a negative way length": (_negative_way, "negative lengths"),
    "node_ids as float": (
        lambda a: {**a, "node_ids": a["node_ids"].astype(np.float64)},
        "node_ids is not a 1-D int64 array (1-D float64)",
    ),
    "road_class 2-D": (
        lambda a: {**a, "road_class": a["road_class"].reshape(1, -1)},
        "road_class is not a 1-D int8 array (2-D int8)",
    ),
    "a feature too few": (lambda a: {**a, "feat_seq": a["feat_seq"][:-1]}, "arrays disagree"),
    "way_seq a way too many": (lambda a: {**a, "way_seq": np.append(a["way_seq"], 7)}, "arrays disagree"),
    "tags not mappings": (
        lambda a: {**a, "tags": np.frombuffer(json.dumps([[1]] * len(a["feat_seq"])).encode(), np.uint8)},
        "tags are not a list of text mappings",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_damaged_output_of_a_share_is_read_here_and_said(case, share_npz, binjiang_path, tmp_path, monkeypatch):
    """Any damage in a child's output (whatever it raises) is a failed share, read again here."""
    damage, reason = DAMAGED[case]
    out = tmp_path / "share.npz"
    out.write_bytes(_npz(damage(share_npz)) if damage is not _corrupt_deflated else damage(share_npz))
    kept, why = osm_shares._kept_share(0, out.read_bytes(), b"")
    assert kept is None
    assert why.startswith("unreadable output: ")
    assert reason in why
    said = []

    def cat(*_args):  # a "child" writing the damaged share
        return subprocess.Popen(
            ["cat", str(out)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    monkeypatch.setattr(osm_shares, "_start", cat)
    ways, feats, _ = osm_shares.read_in_shares(binjiang_path, shares=2, label="x", say=said.append)
    assert said == [f"share 1 of 2 failed ({why}): reading it here"]
    one = read_osm(binjiang_path, processes=1)
    assert_same_extract(dataclasses.replace(one, ways=ways, features=feats), one)


def test_the_undamaged_share_is_kept(share_npz):
    kept, why = osm_shares._kept_share(0, _npz(share_npz), b"")
    assert why == ""
    assert kept is not None
    assert len(kept.way_ids) == len(share_npz["way_ids"])


@pytest.mark.parametrize("how", ["EAGAIN", "no interpreter"])
def test_a_process_that_cannot_start_is_read_in_the_callers_pass(how, binjiang_path, monkeypatch):
    """Popen raising OSError (no processes left, no memory, sys.executable empty) fails only its share."""
    said, passes = [], []
    real_read = osm_shares.read_share

    def counted(p, *, share, shares, label):
        passes.append(sorted(share))
        return real_read(p, share=share, shares=shares, label=label)

    def no_process(*_args, **_kw):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(osm_shares, "read_share", counted)
    if how == "EAGAIN":
        monkeypatch.setattr(osm_shares.subprocess, "Popen", no_process)
    else:
        monkeypatch.setattr(osm_shares.sys, "executable", "")
    ways, feats, _ = osm_shares.read_in_shares(binjiang_path, shares=3, label="x", say=said.append)
    monkeypatch.undo()
    assert passes == [[0, 1, 2]]  # all in the caller's own pass
    assert len(said) == 2
    for k, line in zip((1, 2), said, strict=True):
        assert line.startswith(f"share {k} of 3 failed (cannot start a process: [Errno ")
        assert line.endswith("): reading it here")
    one = read_osm(binjiang_path, processes=1)
    assert_same_extract(dataclasses.replace(one, ways=ways, features=feats), one)


def test_failed_shares_are_read_again_in_one_pass(binjiang_path, tmp_path, monkeypatch):
    """Two children of three fail (one exits, one writes junk): both shares re-read in a single pass."""
    said, passes = [], []
    real_read, real_start = osm_shares.read_share, osm_shares._start
    junk = tmp_path / "junk"
    junk.write_bytes(b"PK\x03\x04 cut short")

    def counted(p, *, share, shares, label):
        passes.append(sorted(share))
        return real_read(p, share=share, shares=shares, label=label)

    def start(p, share, shares):
        if share == 1:
            return real_start(p, share, shares)
        cmd = ["false"] if share == 2 else ["cat", str(junk)]
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    monkeypatch.setattr(osm_shares, "read_share", counted)
    monkeypatch.setattr(osm_shares, "_start", start)
    ways, feats, _ = osm_shares.read_in_shares(binjiang_path, shares=4, label="x", say=said.append)
    monkeypatch.undo()
    assert passes == [[0], [2, 3]]  # the caller's share, then both failed ones together
    assert said[0] == "share 2 of 4 failed (exit status 1): reading it here"
    assert said[1].startswith("share 3 of 4 failed (unreadable output: ")
    assert len(said) == 2
    one = read_osm(binjiang_path, processes=1)
    assert_same_extract(dataclasses.replace(one, ways=ways, features=feats), one)


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
    monkeypatch.delenv(osm_shares.ENV_PROCESSES)
    for most, count in ((1, 1), (2, 2), (3, 3), (16, 4), (None, 4)):  # --jobs, a batch's --workers
        assert osm_shares.share_count(big, most=most) == count, most
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
