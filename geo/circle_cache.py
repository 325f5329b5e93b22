"""Circles already drawn, kept on disk beside the network cache.

A planner runs a plan many times on the same streets: after adding one station, with another
``--at``, another population file, another gap option. A facility's circles depend only on the
network, the facility's place on it, the distance limits and the street-side width, so they are
kept under exactly that key, and a re-run draws only the circles of new or moved facilities. A
layer's dissolved circles are kept under the places of all its facilities.

One file per network, limits and width (``circles-<key>.pickle`` in the cache folder), written
atomically; a broken or stale file is ignored and rewritten. Drawing is the slow step of a plan
(~10-15 ms of CPU per polygon on a dense city network), so a warm re-run is several times faster.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geo.network import Network, Snapped

#: bump when the polygon construction changes, so old circles are not reused.
ALGORITHM = "1"
#: above this many stored circle sets, only those used by the latest run are kept.
MAX_ENTRIES = 20_000
#: circle files kept in the cache folder (one per network, limits and width); older ones go.
MAX_FILES = 8


def network_key(net: Network) -> str:
    """A digest of the network's topology and geometry (the same streets give the same key)."""
    h = hashlib.blake2b(digest_size=12)
    for a in (net.edge_u, net.edge_v, net.geom_start, net.geom_end, net.geom_xy, net.edge_len):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class CircleStore:
    """Per-facility and per-layer circles of one network, limits and width.

    ``folder=None`` gives a store that remembers nothing (caching switched off).
    """

    def __init__(self, folder: Path | None, net: Network, limits: Sequence[float], width_m: float,
                 quad_segs: int):
        key_src = "|".join([ALGORITHM, network_key(net), repr([round(float(x), 6) for x in limits]),
                            repr(round(float(width_m), 6)), str(quad_segs)])
        key = hashlib.sha256(key_src.encode()).hexdigest()[:24]
        self.path = None if folder is None else Path(folder) / f"circles-{key}.pickle"
        self.stored: dict = {}
        self.used: set = set()
        self.added = 0
        if self.path is not None and self.path.exists():
            try:
                with open(self.path, "rb") as fh:
                    stored = pickle.load(fh)
                if isinstance(stored, dict):
                    self.stored = stored
                    self.path.touch()  # recently used: pruned last
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
                self.stored = {}

    @staticmethod
    def facility_keys(fac: Snapped) -> list[tuple]:
        """One key per facility: its edge and its place along it (to the millimetre)."""
        return [("f", int(e), round(float(a), 3)) for e, a in zip(fac.edge, fac.along)]

    @staticmethod
    def layer_key(fac: Snapped) -> tuple:
        """The key of a layer's dissolved circles: the places of all its placed facilities."""
        pts = sorted((int(e), round(float(a), 3)) for e, a, ok in zip(fac.edge, fac.along, fac.ok) if ok)
        return ("l", hashlib.sha256(repr(pts).encode()).hexdigest()[:24])

    def get(self, key: tuple) -> list | None:
        """The circles stored under ``key`` (shapely polygons, one per limit), or None."""
        import shapely

        wkbs = self.stored.get(key)
        if wkbs is None:
            return None
        self.used.add(key)
        return list(shapely.from_wkb(wkbs))

    def put(self, key: tuple, polygons: Sequence) -> None:
        import shapely

        if self.path is None:
            return
        self.stored[key] = [shapely.to_wkb(p) for p in polygons]
        self.used.add(key)
        self.added += 1

    def save(self) -> None:
        """Write the store if this run drew anything new (atomically; errors are not fatal)."""
        if self.path is None or not self.added:
            return
        from geo.io import atomic_write

        keep = self.stored
        if len(keep) > MAX_ENTRIES:
            keep = {k: v for k, v in keep.items() if k in self.used}
        try:
            atomic_write(self.path, lambda p: p.write_bytes(pickle.dumps(keep, protocol=5)))
        except OSError:
            return  # a read-only cache folder only costs the next run the drawing time
        prune(self.path.parent, "circles-*.pickle", keep=self.path)


def prune(folder: Path, pattern: str, *, keep: Path, max_files: int = MAX_FILES) -> None:
    """Delete all but the ``max_files`` most recently used files matching ``pattern`` (never ``keep``)."""
    files = sorted(Path(folder).glob(pattern), key=lambda f: f.stat().st_mtime, reverse=True)
    for f in [f for f in files if f != keep][max_files - 1:]:
        try:
            f.unlink()
        except OSError:
            pass
