"""Points near points, from a grid of square cells: pairs within a distance, and neighbours.

What the gap areas and the siting candidates asked of a k-d tree (:class:`scipy.spatial.cKDTree`'s
``query_pairs``, ``query_ball_point`` and a bounded ``query``), answered with sorted cell keys
and numpy: importing ``scipy.spatial`` alone costs ~0.1 s, a tenth of a follow-up command, and
these questions are all within one fixed distance ``r``, where cells of side ``r`` hold every
point within ``r`` of a point in the 3 x 3 cells around it. Distances are compared squared,
``dx*dx + dy*dy <= r*r``, as the tree compares them, so a pair exactly ``r`` apart is found by
both (tests/unit/test_nearby.py checks the answers against the tree's).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from geo.arrays import ranges

#: about this many candidate pairs are held at once (~16 bytes each, a few arrays of them)
CHUNK_PAIRS = 2_000_000


class CellGrid:
    """Points ``xy`` (``(n, 2)``, metric) filed by square cells of side ``r``.

    Parameters
    ----------
    xy
        The points.
    r
        The cells' side (metres, > 0): the distance asked for.
    """

    def __init__(self, xy: np.ndarray, r: float) -> None:
        if not r > 0:
            raise ValueError(f"distance {r!r}: expected a positive one")
        self.r = float(r)
        xy = _finite(xy)
        c = np.floor(xy / self.r).astype(np.int64)
        self.lo = c.min(axis=0) if len(c) else np.zeros(2, np.int64)
        self.hi = c.max(axis=0) if len(c) else np.full(2, -1, np.int64)
        self.width = int(self.hi[1] - self.lo[1]) + 3  # a margin of one cell all round
        key = self._key(c)
        self.order = np.argsort(key, kind="stable")  # points by cell
        self.xy = xy[self.order]
        keys = key[self.order]
        self.first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else keys
        self.cells = keys[self.first]  # the cells holding points, ascending
        self.count = np.diff(np.concatenate([self.first, [len(keys)]]))
        self.most = int(self.count.max()) if len(self.count) else 0

    def _key(self, c: np.ndarray) -> np.ndarray:
        """Cells ``(col, row)`` as one number each (valid within one cell of the points' extent)."""
        return (c[:, 0] - self.lo[0] + 1) * self.width + (c[:, 1] - self.lo[1] + 1)

    def _around(self, key: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """First point and number of points of the cell ``offset`` keys from each cell ``key``."""
        want = key + offset
        at = np.minimum(np.searchsorted(self.cells, want), max(len(self.cells) - 1, 0))
        found = self.cells[at] == want if len(self.cells) else np.zeros(len(want), bool)
        return self.first[at], np.where(found, self.count[at], 0)

    def pairs(self) -> np.ndarray:
        """``(m, 2)`` index pairs ``i < j`` (of ``xy`` as given) of the points at most ``r`` apart."""
        n = len(self.xy)
        if n < 2:
            return np.zeros((0, 2), np.int64)
        cell_of = np.repeat(self.cells, self.count)
        r2 = self.r * self.r
        out = []
        step = max(1, CHUNK_PAIRS // max(5 * self.most, 1))
        w = self.width
        for a in range(0, n, step):
            idx = np.arange(a, min(a + step, n))
            for offset in (0, 1, w - 1, w, w + 1):  # the cell itself, then four of its neighbours: each pair once
                start, count = self._around(cell_of[idx], offset)
                some = count > 0
                qi = np.repeat(idx[some], count[some])
                pj = ranges(start[some], count[some])
                if offset == 0:
                    later = pj > qi
                    qi, pj = qi[later], pj[later]
                d = self.xy[qi] - self.xy[pj]
                near = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] <= r2
                p = np.column_stack([self.order[qi[near]], self.order[pj[near]]])
                out.append(np.sort(p, axis=1))
        return np.concatenate(out).astype(np.int64)

    def near(self, q: np.ndarray, *, closer: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(query, point)`` index pairs of query points ``q`` and points at most ``r`` apart, in chunks.

        ``closer``: strictly less than ``r`` apart (as a tree's bounded nearest query counts).
        """
        q = _finite(q)
        if len(q) == 0 or len(self.xy) == 0:
            return
        r2 = self.r * self.r
        step = max(1, CHUNK_PAIRS // max(9 * self.most, 1))
        w = self.width
        for a in range(0, len(q), step):
            qq = q[a : a + step]
            c = np.floor(qq / self.r).astype(np.int64)
            inside = np.flatnonzero(((c >= self.lo - 1) & (c <= self.hi + 1)).all(axis=1))  # others: no point near
            key = self._key(c[inside])
            qis, pjs = [], []
            for offset in (-w - 1, -w, -w + 1, -1, 0, 1, w - 1, w, w + 1):
                start, count = self._around(key, offset)
                some = count > 0
                qi = np.repeat(inside[some], count[some])
                pj = ranges(start[some], count[some])
                d = qq[qi] - self.xy[pj]
                d2 = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]
                keep = d2 < r2 if closer else d2 <= r2
                qis.append(qi[keep] + a)
                pjs.append(self.order[pj[keep]])
            yield np.concatenate(qis), np.concatenate(pjs)


def _finite(xy: np.ndarray) -> np.ndarray:
    """``xy`` as an ``(n, 2)`` float array; ValueError when a coordinate is not finite (as the tree)."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    if not np.isfinite(xy).all():
        raise ValueError("points must have finite coordinates")
    return xy


def pairs_within(xy: np.ndarray, r: float) -> np.ndarray:
    """``(m, 2)`` index pairs ``i < j`` of the points at most ``r`` apart (``cKDTree.query_pairs``'s set)."""
    return CellGrid(xy, r).pairs()


def near_any(q: np.ndarray, xy: np.ndarray, r: float) -> np.ndarray:
    """Whether each point of ``q`` has a point of ``xy`` less than ``r`` away (a boolean mask)."""
    out = np.zeros(len(np.asarray(q).reshape(-1, 2)), bool)
    for qi, _ in CellGrid(xy, r).near(q, closer=True):
        out[qi] = True
    return out


def within_of(grid: CellGrid, q: np.ndarray) -> np.ndarray:
    """The points of ``grid`` (ascending indices) at most its ``r`` from any point of ``q``."""
    found = [pj for _, pj in grid.near(q)]
    return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)


def nearest_within(q: np.ndarray, xy: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Each query point's nearest point of ``xy`` less than ``r`` away: distances and indices.

    ``inf`` and ``len(xy)`` where none is that near (as ``cKDTree.query(q,
    distance_upper_bound=r)`` answers); of equally near points, the lowest index.
    """
    q = _finite(q)
    grid = CellGrid(xy, r)
    dist, index = np.full(len(q), np.inf), np.full(len(q), len(grid.xy), np.int64)
    pts = np.asarray(xy, float).reshape(-1, 2)  # (finite: the grid checked them)
    for near_q, near_p in grid.near(q, closer=True):
        d = np.hypot(*(q[near_q] - pts[near_p]).T)
        order = np.lexsort((near_p, d, near_q))  # by query point, then distance, then index
        qi, pj, d = near_q[order], near_p[order], d[order]
        first = np.concatenate([[True], qi[1:] != qi[:-1]]) if len(qi) else np.zeros(0, bool)
        dist[qi[first]], index[qi[first]] = d[first], pj[first]
    return dist, index
