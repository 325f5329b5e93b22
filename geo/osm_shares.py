"""Read a large extract in several processes: each keeps a share of the objects, merged in order.

One pass over an extract (:func:`geo.osm.read_share`) spends most of its time in Python, on the
objects pyosmium's C++ core hands over (about three quarters on a 60 MB extract). Here every
process reads the whole file with the same C++ filters, node locations and area assembly, so
all see the same stream of objects, and handles in Python only the objects numbered ``k``
modulo ``n`` in it. The calling process reads share 0 itself; the others run as plain
subprocesses (``python -P -m geo.osm_shares PATH K N PARENT``: nothing of the caller's
``__main__`` is imported again, nothing is pickled, and a daemonic process may start them) and
hand their share back on their standard output as one ``.npz`` of plain arrays (numbers; WKB as
bytes; text and tags as JSON text; read with ``allow_pickle=False``: never pickle). No file is
written. (Not :mod:`geo.store`'s writer: importing it, with geopandas and pyarrow, would cost
each process another second.) The shares are merged by each object's number in the stream: the
same ways, features and data date, in the same order, as one pass gives (a test compares them
on the Hangzhou extracts).

A child dies with its caller: it asks Linux for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``) and, anywhere, exits once its parent is gone. It runs in its own session
with SIGINT ignored (a Ctrl-C in the terminal reaches the caller only, which ends its children
on any exception); its standard error is captured. A share whose process fails (cannot start,
killed, out of memory, damaged output) is read again in the calling process, which says so: the
shares of processes that could not start in its own pass, all others in one more pass.

A process costs about half a second to start and each one decodes the whole file, so a small
extract is read in one (:func:`share_count`), and no more are started than the available memory
holds (:func:`memory_cap`). The environment variable ``CIRCLES_READ_PROCESSES`` caps
the count (``1``: always one process).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

import geo
from geo.errors import CirclesError, InputError
from geo.osm import Features, PassReader, WalkWays, read_share

#: a ``.osm.pbf`` is read by one more process for every this many bytes (up to the cores): one
#: below it (the merged Hangzhou extract, 4.7 MB, reads in about two seconds on one core)
SHARE_BYTES = 10_000_000
#: at most this many processes read one file (each decodes all of it, so more gain little)
MAX_SHARES = 8
#: memory of the objects kept, in bytes per byte of ``.osm.pbf``: split between the processes,
#: with the merge's copies (peak resident size of one process reading all and half the objects:
#: 144 / 102 MB on the merged extract, 4.7 MB; 433 / 254 MB on a 4-tile synthetic province, 15 MB)
KEPT_BYTES_PER_FILE_BYTE = 30
#: what every reading process needs besides (decoding, node locations), per byte of ``.osm.pbf``
DECODE_BYTES_PER_FILE_BYTE = 3
#: and what it needs before the file: Python, numpy and pyosmium (~60 MB measured on both)
BASE_BYTES = 60_000_000
#: the environment variable capping the processes that read one extract (1: one process)
ENV_PROCESSES = "CIRCLES_READ_PROCESSES"
PR_SET_PDEATHSIG = 1  # Linux's <sys/prctl.h>

_log = logging.getLogger(__name__)

_JSON = ("highway", "name", "kind", "osm_id", "tags")
_NAMES = (
    "node_ids",
    "lon",
    "lat",
    "way_len",
    "way_ids",
    "road_class",
    "way_seq",
    "crossing",
    "signal",
    "feat_seq",
    "wkb",
    "wkb_len",
    "latest",
    *_JSON,
)


def share_count(path: Path, *, most: int | None = None) -> int:
    """How many processes read ``path``: one more per :data:`SHARE_BYTES` of a ``.pbf``.

    Up to the usable cores, :data:`MAX_SHARES`, as many as the available memory holds
    (:func:`memory_cap`), ``$CIRCLES_READ_PROCESSES`` (:func:`env_cap`) and ``most`` (the
    processes the caller was given: ``--jobs``, a batch's local ``--workers``). One for XML.

    Raises
    ------
    InputError
        ``$CIRCLES_READ_PROCESSES`` is not a whole number of at least 1.
    """
    cap = env_cap()
    if not path.name.lower().endswith(".pbf") or cap == 1 or (most is not None and most <= 1):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    size = path.stat().st_size
    wanted = min(cores, MAX_SHARES, 1 + size // SHARE_BYTES, cap or MAX_SHARES, most or MAX_SHARES)
    return max(1, min(wanted, memory_cap(size)))


def env_cap() -> int | None:
    """``$CIRCLES_READ_PROCESSES`` as a number (None when unset or empty); InputError when not one."""
    raw = os.environ.get(ENV_PROCESSES, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(ENV_PROCESSES, [f"{raw!r} is not a number of processes: use a whole number, 1 or more"])
    return n


def memory_cap(size: int, *, available: int | None = None) -> int:
    """How many processes reading a ``size``-byte ``.osm.pbf`` fit in ``available`` bytes (at least 1).

    Each needs :data:`BASE_BYTES` and :data:`DECODE_BYTES_PER_FILE_BYTE`; the objects kept
    (:data:`KEPT_BYTES_PER_FILE_BYTE`) are shared out. ``available``: None reads
    ``MemAvailable`` in ``/proc/meminfo`` (no cap when it cannot be read).
    """
    if available is None:
        available = _available_memory()
        if available is None:
            return MAX_SHARES
    return max(1, (available - KEPT_BYTES_PER_FILE_BYTE * size) // (BASE_BYTES + DECODE_BYTES_PER_FILE_BYTE * size))


def _available_memory() -> int | None:
    try:
        with Path("/proc/meminfo").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True, eq=False)
class _Share:
    """What one process kept: way-level arrays, flat positions, features and their numbers."""

    node_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    way_len: np.ndarray  # positions per way
    way_ids: np.ndarray
    road_class: np.ndarray
    way_seq: np.ndarray
    highway: list[str]
    name: list[str]
    crossing: np.ndarray
    signal: np.ndarray
    feat_seq: np.ndarray
    kind: list[str]
    osm_id: list[str]
    wkb: list[bytes | str]
    tags: list[dict[str, str]]
    latest: dt.datetime | None


def _share_of(r: PassReader) -> _Share:
    return _Share(
        node_ids=np.asarray(r.node_ids, np.int64),
        lon=np.asarray(r.lons, np.float64),
        lat=np.asarray(r.lats, np.float64),
        way_len=np.diff(np.asarray(r.offsets, np.int64)),
        way_ids=np.asarray(r.way_ids, np.int64),
        road_class=np.asarray(r.classes, np.int8),
        way_seq=np.asarray(r.way_seq, np.int64),
        highway=r.highways,
        name=r.names,
        crossing=np.asarray(r.crossing_ids, np.int64),
        signal=np.asarray(r.signal_ids, np.int64),
        feat_seq=np.asarray(r.feat_seq, np.int64),
        kind=r.feats.kind,
        osm_id=r.feats.osm_id,
        wkb=r.feats.wkb,
        tags=r.feats.tags,
        latest=r.latest,
    )


def _write_share(s: _Share, out: IO[bytes]) -> None:
    """``s`` written to ``out`` as one npz of plain arrays (text, WKB bytes, tags as JSON text)."""
    wkb = [w if isinstance(w, bytes) else bytes.fromhex(w) for w in s.wkb]
    arrays: dict[str, Any] = {  # (numpy's stubs read ** as savez's options)
        "node_ids": s.node_ids,
        "lon": s.lon,
        "lat": s.lat,
        "way_len": s.way_len,
        "way_ids": s.way_ids,
        "road_class": s.road_class,
        "way_seq": s.way_seq,
        "crossing": s.crossing,
        "signal": s.signal,
        "feat_seq": s.feat_seq,
        "wkb": np.frombuffer(b"".join(wkb), np.uint8),
        "wkb_len": np.fromiter(map(len, wkb), np.int64, count=len(wkb)),
        "latest": np.asarray([] if s.latest is None else [int(s.latest.timestamp())], np.int64),
    }
    for k in _JSON:
        arrays[k] = np.frombuffer(json.dumps(getattr(s, k), ensure_ascii=False).encode("utf-8"), np.uint8)
    np.savez(out, **arrays)


#: the dtype of each array of a share's npz (all one-dimensional)
_DTYPES = {
    **dict.fromkeys(("node_ids", "way_len", "way_ids", "way_seq", "crossing", "signal"), np.dtype(np.int64)),
    **dict.fromkeys(("feat_seq", "wkb_len", "latest"), np.dtype(np.int64)),
    **dict.fromkeys(("lon", "lat"), np.dtype(np.float64)),
    "road_class": np.dtype(np.int8),
    **dict.fromkeys(("wkb", *_JSON), np.dtype(np.uint8)),
}
#: a share's data date lies between these (seconds since 1970; year 3000)
_LATEST_RANGE = (0, 32_503_680_000)


def _read_share(data: bytes) -> _Share:
    """The share :func:`_write_share` wrote, checked whole; ValueError when it is damaged.

    (Damage may raise other errors too: zipfile.BadZipFile, zlib.error, ... — callers treat any
    exception as a damaged share.)
    """
    if not data.startswith(b"PK\x03\x04"):  # np.load would try .npy and pickle
        raise ValueError(f"not an npz ({len(data)} bytes)")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if sorted(z.files) != sorted(_NAMES):
            raise ValueError("not a share")
        a = {k: z[k] for k in z.files}
    for k, dtype in _DTYPES.items():
        if a[k].ndim != 1 or a[k].dtype != dtype:
            raise ValueError(f"{k} is not a 1-D {dtype} array ({a[k].ndim}-D {a[k].dtype})")
    text = {k: json.loads(a[k].tobytes().decode("utf-8")) for k in _JSON}
    _check_text(text)
    way_len, lengths = a["way_len"], a["wkb_len"]
    if (way_len < 0).any() or (lengths < 0).any():
        raise ValueError("negative lengths")
    if {int(way_len.sum()), len(a["lon"]), len(a["lat"])} != {len(a["node_ids"])}:
        raise ValueError("positions disagree")
    raw = a["wkb"].tobytes()
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    if (ends[-1] if ends else 0) != len(raw):
        raise ValueError("WKB lengths do not add up")
    starts = [0, *ends[:-1]]
    n_feats, n_ways = len(a["feat_seq"]), len(a["way_seq"])
    if {len(text["tags"]), len(lengths), len(text["kind"]), len(text["osm_id"])} != {n_feats} or {
        len(text["highway"]),
        len(text["name"]),
        len(way_len),
        len(a["way_ids"]),
        len(a["road_class"]),
    } != {n_ways}:
        raise ValueError("arrays disagree")
    latest = a["latest"].tolist()
    if len(latest) > 1 or not all(_LATEST_RANGE[0] <= t <= _LATEST_RANGE[1] for t in latest):
        raise ValueError(f"no data date: {latest}")
    return _Share(
        node_ids=a["node_ids"],
        lon=a["lon"],
        lat=a["lat"],
        way_len=way_len,
        way_ids=a["way_ids"],
        road_class=a["road_class"],
        way_seq=a["way_seq"],
        highway=text["highway"],
        name=text["name"],
        crossing=a["crossing"],
        signal=a["signal"],
        feat_seq=a["feat_seq"],
        kind=text["kind"],
        osm_id=text["osm_id"],
        wkb=[raw[i:j] for i, j in zip(starts, ends, strict=True)],
        tags=text["tags"],
        latest=dt.datetime.fromtimestamp(latest[0], dt.UTC) if latest else None,
    )


def _check_text(text: dict[str, Any]) -> None:
    """ValueError unless the JSON parts are lists of text (tags: of text-to-text mappings)."""
    for k in ("highway", "name", "kind", "osm_id"):
        if not isinstance(text[k], list) or not all(isinstance(v, str) for v in text[k]):
            raise ValueError(f"{k} is not a list of text")
    tags = text["tags"]
    if not isinstance(tags, list) or not all(
        isinstance(t, dict) and all(isinstance(v, str) for v in t.values()) for t in tags
    ):
        raise ValueError("tags are not a list of text mappings")


def read_in_shares(
    p: Path, *, shares: int, label: str, say: Callable[[str], None] | None = None
) -> tuple[WalkWays, Features, dt.datetime | None]:
    """The ways, features and newest timestamp of ``p``, read in ``shares`` processes and merged.

    The same as one pass (:func:`geo.osm.read_share`) gives. A share whose process fails is read
    here, saying so with ``say`` (None: a warning on this module's logger). Raises InputError
    when ``p`` cannot be parsed.
    """
    tell = say or _log.warning
    procs: dict[int, subprocess.Popen[bytes]] = {}
    here = [0]  # the shares this process reads in its own pass
    try:
        for k in range(1, shares):
            try:
                procs[k] = _start(p, k, shares)
            except OSError as no_start:  # no process (EAGAIN, ENOMEM, no interpreter): read with share 0
                tell(f"share {k} of {shares} failed (cannot start a process: {no_start}): reading it here")
                here.append(k)
        parts = [_share_of(read_share(p, share=here, shares=shares, label=label))]
        failed = []
        for k, proc in procs.items():
            out, err = proc.communicate()
            kept, why = _kept_share(proc.returncode, out, err)
            if kept is None:
                tell(f"share {k} of {shares} failed ({why}): reading it here")
                failed.append(k)
            else:
                parts.append(kept)
        if failed:  # all of them in one more pass
            parts.append(_share_of(read_share(p, share=failed, shares=shares, label=label)))
    finally:  # on any exception too (Ctrl-C, a damaged file): no process outlives the read
        for proc in procs.values():
            _end(proc)
    return _merged(parts)


def _start(p: Path, share: int, shares: int) -> subprocess.Popen[bytes]:
    """A process writing share ``share`` of ``p`` to its standard output (:func:`main`)."""
    env = dict(os.environ)
    root = str(Path(geo.__file__).resolve().parent.parent)  # this very package, wherever it is
    env["PYTHONPATH"] = os.pathsep.join(x for x in (root, env.get("PYTHONPATH")) if x)
    return subprocess.Popen(  # noqa: S603 - this interpreter, this module, our own arguments
        [sys.executable, "-P", "-m", "geo.osm_shares", str(p), str(share), str(shares), str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a Ctrl-C in the terminal does not reach it: the caller ends it
        env=env,
    )


def _end(proc: subprocess.Popen[bytes]) -> None:
    """``proc`` ended (terminated if still running, killed if it lingers) and its pipes closed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for fh in (proc.stdout, proc.stderr):
        if fh is not None:
            fh.close()


def _kept_share(returncode: int | None, out: bytes, err: bytes) -> tuple[_Share | None, str]:
    """The share a process wrote (or None) and, when none, why: its exit status and last error line."""
    lines = err.decode("utf-8", "replace").strip().splitlines()
    last = lines[-1].strip() if lines else ""
    if returncode != 0:
        status = f"killed by signal {-returncode}" if returncode and returncode < 0 else f"exit status {returncode}"
        return None, status + (f": {last}" if last else "")
    try:
        return _read_share(out), ""
    except Exception as err_:  # noqa: BLE001 - any damage (zlib.error, OSError, ...): the share is read again
        return None, f"unreadable output: {err_}" if type(err_) is ValueError else f"unreadable output: {err_!r}"


def main(argv: list[str] | None = None) -> int:
    """``python -m geo.osm_shares PATH SHARE SHARES PARENT``: share ``SHARE`` of ``PATH`` as npz on stdout.

    Started by :func:`read_in_shares` of process ``PARENT``; exits as soon as that one is gone.
    """
    path, share, shares, parent = (sys.argv[1:] if argv is None else argv)[:4]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the calling process ends it on Ctrl-C
    _die_with(int(parent))
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else is printed goes to the captured stderr, never into the share
    try:
        s = _share_of(read_share(Path(path), share=int(share), shares=int(shares)))
    except CirclesError as err:  # the caller reads share 0 and reports it better
        sys.stderr.write(f"{err}\n")
        return 2
    buf = io.BytesIO()
    _write_share(s, buf)
    with out, contextlib.suppress(BrokenPipeError):  # a caller gone before reading it
        out.write(buf.getbuffer())
    return 0


def _die_with(parent: int) -> None:
    """End this process when ``parent`` is no longer its parent (SIGTERM on Linux, else within a second)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # gone before the request: nobody will read the share
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _merged(parts: list[_Share]) -> tuple[WalkWays, Features, dt.datetime | None]:
    """The shares as one pass keeps them: ways and features in the order of their numbers."""
    order = np.argsort(np.concatenate([s.way_seq for s in parts]), kind="stable")
    lens = np.concatenate([s.way_len for s in parts])
    starts = np.cumsum(lens) - lens
    kept_len = lens[order]
    # flat positions of the ways in their new order
    at = np.repeat(starts[order] - (np.cumsum(kept_len) - kept_len), kept_len) + np.arange(int(kept_len.sum()))

    def flat(name: str) -> np.ndarray:
        return np.concatenate([getattr(s, name) for s in parts])

    def listed(name: str, idx: np.ndarray) -> list:
        values = [v for s in parts for v in getattr(s, name)]
        return [values[i] for i in idx.tolist()]

    ways = WalkWays(
        node_ids=flat("node_ids")[at],
        lon=flat("lon")[at],
        lat=flat("lat")[at],
        offsets=np.concatenate([[0], np.cumsum(kept_len)]).astype(np.int64),
        way_ids=flat("way_ids")[order],
        highway=listed("highway", order),
        name=listed("name", order),
        road_class=flat("road_class")[order].astype(np.int8),
        crossing_nodes=np.unique(flat("crossing")),
        signal_nodes=np.unique(flat("signal")),
    )
    fo = np.argsort(np.concatenate([s.feat_seq for s in parts]), kind="stable")
    feats = Features(
        kind=listed("kind", fo), osm_id=listed("osm_id", fo), wkb=listed("wkb", fo), tags=listed("tags", fo)
    )
    stamps = [s.latest for s in parts if s.latest is not None]
    return ways, feats, max(stamps) if stamps else None


if __name__ == "__main__":
    sys.exit(main())
