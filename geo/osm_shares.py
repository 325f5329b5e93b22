"""Read a large extract in several processes: each keeps a share of the objects, merged in order.

One pass over an extract (:func:`geo.osm.read_share`) spends most of its time in Python, on the
objects pyosmium's C++ core hands over (about three quarters on a 60 MB extract). Here every
process reads the whole file with the same C++ filters, node locations and area assembly, so
all see the same stream of objects, and handles in Python only the objects numbered ``k``
modulo ``n`` in it. The calling process reads share 0 itself; the others run in fresh
(spawned) processes and hand their share back as one ``.npz`` file of plain arrays (numbers;
WKB as bytes; text and tags as JSON text; read with ``allow_pickle=False``: never pickle) in a
temporary folder. (Not :mod:`geo.store`'s writer: importing it, with geopandas and pyarrow,
would cost each process another second.) The shares are merged by each object's number in the stream: the same
ways, features and data date, in the same order, as one pass gives (a test compares them on
the Hangzhou extracts).

A process costs about half a second to start and each one decodes the whole file, so a small
extract is read in one (:func:`share_count`). A share whose process fails (killed, out of
memory) is read again in the calling process.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import signal
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geo.osm import Features, WalkWays, _Reader, read_share

#: a ``.osm.pbf`` is read by one more process for every this many bytes (up to the cores): one
#: below it (the merged Hangzhou extract, 4.7 MB, reads in about two seconds on one core)
SHARE_BYTES = 10_000_000
#: at most this many processes read one file (each decodes all of it, so more gain little)
MAX_SHARES = 8

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


def share_count(path: Path) -> int:
    """How many processes read ``path``: one more per :data:`SHARE_BYTES` of a ``.pbf``, up to the cores.

    One in a daemonic process (which may not start processes) and for XML.
    """
    if not path.name.lower().endswith(".pbf") or multiprocessing.current_process().daemon:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_SHARES, 1 + path.stat().st_size // SHARE_BYTES))


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


def _share_of(r: _Reader) -> _Share:
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


def _write_share(s: _Share, path: Path) -> None:
    """``s`` as one npz of plain arrays (text, WKB bytes, tags as JSON text)."""
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
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def _read_share_file(path: Path) -> _Share:
    """The share :func:`_write_share` wrote; ValueError (or OSError) when it is missing or damaged."""
    with np.load(path, allow_pickle=False) as z:
        if sorted(z.files) != sorted(_NAMES):
            raise ValueError(f"{path.name}: not a share")
        a = {k: z[k] for k in z.files}
    text = {k: json.loads(a[k].tobytes().decode("utf-8")) for k in _JSON}
    raw, lengths = a["wkb"].tobytes(), a["wkb_len"].tolist()
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    if (ends[-1] if ends else 0) != len(raw):
        raise ValueError(f"{path.name}: WKB lengths do not add up")
    starts = [0, *ends[:-1]]
    n_feats, n_ways = len(a["feat_seq"]), len(a["way_seq"])
    if {len(text["tags"]), len(lengths), len(text["kind"]), len(text["osm_id"])} != {n_feats} or {
        len(text["highway"]),
        len(text["name"]),
        len(a["way_len"]),
        len(a["way_ids"]),
        len(a["road_class"]),
    } != {n_ways}:
        raise ValueError(f"{path.name}: arrays disagree")
    latest = a["latest"]
    return _Share(
        node_ids=a["node_ids"],
        lon=a["lon"],
        lat=a["lat"],
        way_len=a["way_len"],
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
        latest=dt.datetime.fromtimestamp(int(latest[0]), dt.UTC) if len(latest) else None,
    )


def _child(path: str, share: int, shares: int, dest: str) -> None:
    """A spawned process's work: read share ``share`` of ``path`` into ``dest`` (an npz)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the calling process ends it on Ctrl-C
    _write_share(_share_of(read_share(Path(path), share=share, shares=shares)), Path(dest))


def read_in_shares(p: Path, *, shares: int, label: str) -> tuple[WalkWays, Features, dt.datetime | None]:
    """The ways, features and newest timestamp of ``p``, read in ``shares`` processes and merged.

    The same as one pass (:func:`geo.osm.read_share`) gives. Raises InputError when ``p``
    cannot be parsed.
    """
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="circles-osm-") as tmp:
        dest = [Path(tmp) / f"share-{k}.npz" for k in range(shares)]
        procs = {
            k: ctx.Process(target=_child, args=(str(p), k, shares, str(dest[k])), daemon=True) for k in range(1, shares)
        }
        try:
            for proc in procs.values():
                proc.start()
            parts = [_share_of(read_share(p, share=0, shares=shares, label=label))]
            for k, proc in procs.items():
                proc.join()
                kept = _kept_share(proc.exitcode, dest[k])
                parts.append(kept or _share_of(read_share(p, share=k, shares=shares, label=label)))  # or read it here
        finally:
            for proc in procs.values():
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
    return _merged(parts)


def _kept_share(exitcode: int | None, path: Path) -> _Share | None:
    """The share a process wrote to ``path``; None when it failed (killed, out of memory) or wrote none."""
    if exitcode != 0:
        return None
    try:
        return _read_share_file(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


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
