"""The grid circles and gap areas are drawn on, and tracing drawn cells back into polygons.

A :class:`Lattice` is a grid of ``cell``-metre squares anchored at multiples of ``cell`` in the
metric CRS, so that every grid of a network shares cell boundaries. :func:`trace` follows the
outlines (holes included) of the drawn cells of a window of it with OpenCV's border following
and returns them as an :class:`Outline` (corner cells only); outlines are made simple first
(no cell passed twice: cells touching only at a corner, and one-cell necks, are settled by
drawing the 3 x 3 cells around them; both are found from each cell's neighbours with one
filter, :func:`cell_flags`, so a window is usually traced once). :func:`build_polygons` and
:func:`polygons_by_group` turn many outlines into shapely polygons in one call;
:func:`pool_cells` pools drawn cells onto the coarser lattice of the gap areas. What is drawn,
and how, is :mod:`geo.raster`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import shapely

from geo.network import _ranges

#: sub-pixel precision of drawn coordinates: OpenCV's fixed-point ``shift`` (1/16 cell).
SHIFT = 4
#: holes of fewer cells than this are filled (slivers between nearly touching buffers).
MIN_HOLE_CELLS = 4.0
#: gap areas are made on a lattice of cells this many times larger (see :func:`pool_cells`).
GAP_FACTOR = 3


def opencv() -> ModuleType:
    """OpenCV, set to one thread.

    The drawing here is single-threaded, and an OpenCV thread pool does not survive the fork
    that starts worker processes (a child would wait on it forever). Imported here, on first use:
    the commands that draw nothing (``circles map``, the API's queries) do not load it.
    """
    import cv2  # noqa: PLC0415 - ~20 ms to import, and only drawing uses it

    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)
    return cv2


@dataclass(frozen=True)
class Lattice:
    """A grid of ``cell``-metre squares anchored at multiples of ``cell`` (metric CRS).

    Cell ``(row, col)`` is the square whose centre is ``(x0 + (col + 0.5) cell,
    y0 + (row + 0.5) cell)``; rows grow with ``y``.
    """

    x0: float
    y0: float
    cell: float
    rows: int
    cols: int

    @classmethod
    def around(cls, lo: np.ndarray, hi: np.ndarray, cell: float, pad: float, *, align: int = 1) -> Lattice:
        """The lattice covering ``lo..hi`` (metric) with ``pad`` metres around.

        Its origin lies on a multiple of ``align`` cells, so that pooled lattices of any extent
        line up.
        """
        step = cell * align
        x0, y0 = (np.floor((np.asarray(lo, float) - pad) / step) * step).tolist()
        cols, rows = (np.ceil((np.asarray(hi, float) + pad - (x0, y0)) / cell).astype(np.int64) + 1).tolist()
        return cls(float(x0), float(y0), float(cell), int(rows), int(cols))

    @property
    def size(self) -> int:
        """Number of cells."""
        return self.rows * self.cols

    def fixed(self, xy: np.ndarray) -> np.ndarray:
        """Metric ``(n, 2)`` points as fixed-point cell coordinates ``(x, y)`` (OpenCV ``shift``)."""
        f = float(1 << SHIFT)
        return np.rint(((np.asarray(xy, float) - (self.x0, self.y0)) / self.cell - 0.5) * f).astype(np.int32)

    def centres(self, cols_rows: np.ndarray) -> np.ndarray:
        """Integer ``(col, row)`` pairs as the metric coordinates of those cells' centres."""
        return (np.asarray(cols_rows, float) + 0.5) * self.cell + (self.x0, self.y0)


def extent(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest ``x`` and ``y`` of ``(n, 2)`` points (``n`` > 0).

    The same numbers as ``xy.min(axis=0)`` and ``xy.max(axis=0)``, one column at a time (a
    reduction along the short axis of a C-ordered array is ~40x slower: ~12 ms for the
    merged extract's 220k vertices).
    """
    x, y = xy[:, 0], xy[:, 1]
    return np.array([x.min(), y.min()]), np.array([x.max(), y.max()])


# ------------------------------------------------------------------------------ tracing


@dataclass(frozen=True)
class Outline:
    """The traced outline of one drawn region, before it becomes a polygon.

    ``xy``: corner cells ``(col, row)`` on the lattice, ring after ring (each polygon's shell
    first, then its holes); ``rings``: corner count per ring; ``polygon``: the polygon (0, 1...)
    of each ring.
    """

    xy: np.ndarray
    rings: np.ndarray
    polygon: np.ndarray

    @classmethod
    def empty(cls) -> Outline:
        """An outline with no rings."""
        return cls(np.zeros((0, 2), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


def trace(m: np.ndarray, row0: int, col0: int, *, min_hole_cells: float = MIN_HOLE_CELLS, rounds: int = 12) -> Outline:
    """The outline of the drawn cells of ``m`` (0/1, undrawn border).

    ``m`` is a window whose first cell is ``(row0, col0)`` of the lattice. Cells drawn to keep
    rings simple are drawn in ``m``.

    Rings are simple when no cell of the outline is passed twice: drawn cells that touch only
    at a corner are found with arrays before tracing and the 3 x 3 cells around them drawn
    (:func:`_settle`); a cell the tracer still passes twice (a one-cell-wide neck) is settled
    the same way and the window traced again. Once no cells touch only at a corner, the cells
    the tracer passes twice are known from their four neighbours (:func:`_settle_pinches`), so
    they are settled before the first tracing, as that tracing would have found them (the
    window is traced once, not twice). OpenCV's full contour tree is used (its two-level mode
    costs ~3x more on outlines with ~10^5 holes); even depths are shells.
    """
    cv2 = opencv()
    cols = m.shape[1]
    ahead = _settle_pinches(m)
    if ahead is not None and len(ahead[0]):  # the cells the first tracing would pass twice
        _settle(m, *ahead)
    for _ in range(rounds):
        contours, hier = cv2.findContours(m, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        if hier is None or len(contours) == 0:
            return Outline.empty()
        xy = np.concatenate(contours).reshape(-1, 2)
        twice = passed_twice(xy, cols)
        if len(twice) == 0:
            break
        _settle(m, *np.divmod(twice, cols))
    else:  # pragma: no cover - every round only draws cells
        raise RuntimeError("tracing a circle did not settle")
    return outline_of(contours, hier, xy, row0, col0, min_hole_cells=min_hole_cells)


def passed_twice(xy: np.ndarray, cols: int) -> np.ndarray:
    """Flat indices (``row * cols + col``) of the cells that traced contours ``xy`` pass more than once.

    Each such cell once per extra pass, ascending.
    """
    key = xy[:, 1] * cols + xy[:, 0]  # int32 as OpenCV gives them (sorts faster than int64)
    key.sort(kind="stable")  # ~2x faster here than the default: a contour's keys come in runs
    return key[1:][key[1:] == key[:-1]].astype(np.int64)


def outline_of(
    contours: Sequence[np.ndarray],
    hier: np.ndarray,
    xy: np.ndarray,
    row0: int,
    col0: int,
    *,
    min_hole_cells: float = MIN_HOLE_CELLS,
) -> Outline:
    """The :class:`Outline` of contours OpenCV traced (``RETR_TREE``, ``CHAIN_APPROX_NONE``) on a window.

    ``xy`` are the contours' points concatenated; the window's first cell is ``(row0, col0)``
    of the lattice. No cell may be passed twice (:func:`trace` settles them first).
    """
    n = np.fromiter(map(len, contours), np.int64, len(contours))
    parent = hier.reshape(-1, 4)[:, 3]
    depth = _depth(parent)
    outer = depth % 2 == 0
    start = np.cumsum(n) - n
    last = start + n - 1
    # corners only: the cells where the outline turns
    step = np.empty_like(xy)
    np.subtract(xy[1:], xy[:-1], out=step[:-1])
    step[last] = xy[start] - xy[last]
    code = step[:, 0] * 3 + step[:, 1]
    before = np.empty_like(code)
    before[1:] = code[:-1]
    before[start] = code[last]
    at = np.flatnonzero(code != before)
    cx = xy[at]
    ring = np.searchsorted(start, at, side="right") - 1  # rings are never empty
    cn = np.bincount(ring, minlength=len(n))
    cstart = np.cumsum(cn) - cn
    x, y = cx[:, 0].astype(np.float64), cx[:, 1].astype(np.float64)
    nxt = np.arange(1, len(cx) + 1)
    some = cn > 0
    nxt[cstart[some] + cn[some] - 1] = cstart[some]
    area = np.abs(np.bincount(ring, weights=x * y[nxt] - x[nxt] * y, minlength=len(n))) / 2.0
    poly_of = np.where(outer, np.arange(len(n)), parent)
    keep = np.where(outer, area > 0, area >= min_hole_cells) & (cn >= 3)
    keep &= keep[poly_of]
    kept = np.flatnonzero(keep)
    if len(kept) == 0:
        return Outline.empty()
    kept = kept[np.lexsort((~outer[kept], poly_of[kept]))]  # each polygon's shell, then its holes
    pts = _ranges(cstart[kept], cn[kept])
    of = poly_of[kept]  # ascending: polygons numbered 0, 1... in that order
    polygon = np.zeros(len(of), np.int64)
    np.cumsum(of[1:] != of[:-1], out=polygon[1:])
    return Outline(cx[pts].astype(np.int64) + np.array([col0, row0], np.int64), cn[kept], polygon)


def _depth(parent: np.ndarray) -> np.ndarray:
    """Depth of every contour in OpenCV's contour tree (``parent``: -1 at the top)."""
    depth = np.zeros(len(parent), np.int64)
    up = parent.astype(np.int64)
    while True:
        has = up >= 0
        if not has.any():
            return depth
        depth[has] += 1
        up = np.where(has, parent[np.maximum(up, 0)], -1)


#: a cell's code ``p + 2E + 4S + 8SE + 16N + 32W`` (itself and its neighbours east, south,
#: south-east, north and west: one OpenCV filter); its low four bits code the 2 x 2 block
#: ``[[p, E], [S, SE]]`` whose first cell it is
_NEIGHBOURS = np.array([[0, 16, 0], [32, 1, 2], [0, 4, 8]], np.float32)


#: flags of :func:`cell_flags`
PINCHED, PASSED_TWICE = 1, 2


def _flags() -> np.ndarray:
    """What each code says (a lookup table).

    1: the block's drawn cells touch only at a corner (``p`` and ``SE``, or ``E`` and ``S``);
    2: a drawn cell between undrawn ones north and south and drawn ones east and west (or the
    other way round), which the tracer passes twice when no block is pinched.
    """
    codes = np.arange(256)
    p, e, s, _, n, w = ((codes >> bit) & 1 for bit in range(6))
    pinched = np.isin(codes & 15, (6, 9))
    twice = (p == 1) & (e == w) & (n == s) & (e != n) & (codes < 64)
    return (pinched.astype(np.uint8) | 2 * twice.astype(np.uint8)).astype(np.uint8)


_FLAGS = _flags()


def _settle_pinches(m: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Settle (:func:`_settle`) every 2 x 2 block of ``m`` (0/1) whose drawn cells touch only at a corner.

    One OpenCV filter codes every cell, a lookup table marks the pinched blocks. Returns the
    cells ``(rows, cols)`` the tracer will then pass twice, or None when that is not known ahead
    (a drawn cell on the window's edge, or settling that did not end).

    With no pinched block, a drawn cell is passed twice exactly when its undrawn neighbours
    are the two opposite ones (a one-cell-wide neck or spur): undrawn neighbours side by side
    are joined through their undrawn corner, and each group of them is one pass of an outline.
    The cells whose neighbours settling changed are looked at again.
    """
    if m.shape[0] < 2 or m.shape[1] < 2:
        return None
    r, c, flag, _ = cell_flags(m)
    pinched = (flag & PINCHED) > 0
    tr, tc = r[(flag & PASSED_TWICE) > 0], c[(flag & PASSED_TWICE) > 0]
    if pinched.any():
        drawn = _settle(m, r[pinched], c[pinched])
        if drawn is None:
            return None
        # the cells whose neighbours were drawn, and the cells found before, looked at again
        tr = np.concatenate([tr, (drawn[0][:, None] + _CR).ravel()])
        tc = np.concatenate([tc, (drawn[1][:, None] + _CC).ravel()])
        twice = passed_twice_at(m, tr, tc)
        tr, tc = tr[twice], tc[twice]
    if len(tr) and (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()):
        return None
    return tr, tc


#: a cell and its four neighbours (north, south, east, west)
_CR = np.array([0, -1, 1, 0, 0])
_CC = np.array([0, 0, 0, 1, -1])


def cell_flags(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The flagged cells of ``m`` (0/1): ``(rows, cols, flags, codes)``, row by row.

    Flags: :data:`PINCHED`, the 2 x 2 block whose first cell it is holds drawn cells touching
    only at a corner; :data:`PASSED_TWICE`, the cell is drawn with just two opposite neighbours
    undrawn (which the tracer passes twice, when no block is pinched). Codes: the blocks'
    ``a + 2b + 4c + 8d`` (``[[a, b], [c, d]]``). One filter and one lookup over the window.
    """
    cv2 = opencv()
    code = cv2.filter2D(m, cv2.CV_8U, _NEIGHBOURS, borderType=cv2.BORDER_CONSTANT)
    r, c = nonzero_cells(cv2.LUT(code, _FLAGS))
    at = code[r, c]
    return r, c, _FLAGS[at], at & 15


def passed_twice_at(m: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Whether cells ``(r, c)`` of ``m`` are drawn with just two opposite neighbours undrawn.

    In a window with no pinched block and an undrawn edge, these are the cells the tracer
    passes twice (:func:`_settle_pinches`).
    """
    h, w = m.shape
    rr, cc = r[:, None] + _CR, c[:, None] + _CC
    ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    v = ok & (m[_within(rr, h), _within(cc, w)] > 0)
    p, n, s, e, west = v.T
    return p & (e == west) & (n == s) & (e != n)


def nonzero_cells(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the nonzero cells of a sparse 8-bit image, row by row.

    OpenCV's ``findNonZero`` visits every cell (~15x slower than its SIMD count); here the rows
    holding any are found first (a row maximum) and only those rows are searched.
    """
    cv2 = opencv()
    rows = np.flatnonzero(cv2.reduce(img, 1, cv2.REDUCE_MAX).ravel())
    if len(rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    at = cv2.findNonZero(np.ascontiguousarray(img[rows])).reshape(-1, 2)
    return rows[at[:, 1]], at[:, 0].astype(np.int64)


_DR = np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1])
_DC = np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1])
_PR, _PC = (a.ravel() for a in np.mgrid[-3:4, -3:4])


def _within(i: np.ndarray, n: int) -> np.ndarray:
    """``i`` clipped to ``0..n-1`` (two ufuncs: ``np.clip``'s wrapper costs more on small arrays)."""
    return np.minimum(np.maximum(i, 0), n - 1)


def _settle(m: np.ndarray, r: np.ndarray, c: np.ndarray, *, rounds: int = 4) -> tuple[np.ndarray, np.ndarray] | None:
    """Draw the 3 x 3 cells around cells ``(r, c)``.

    Then, where that made two drawn cells touch only at a corner nearby, draw around those too
    (so the next trace is usually the last). Returns the cells drawn ``(rows, cols)`` (some
    more than once), or None when corners were still touching after ``rounds``.
    """
    rows, cols = m.shape
    done_r: list[np.ndarray] = []
    done_c: list[np.ndarray] = []
    for _ in range(rounds):
        dr, dc = _within(r[:, None] + _DR, rows), _within(c[:, None] + _DC, cols)
        m[dr, dc] = 1
        done_r.append(dr.ravel())
        done_c.append(dc.ravel())
        pr = _within(r[:, None] + _PR, rows).reshape(-1, 7, 7)
        pc = _within(c[:, None] + _PC, cols).reshape(-1, 7, 7)
        p = m[pr, pc].astype(bool)
        a, b, cc, d = p[:, :-1, :-1], p[:, :-1, 1:], p[:, 1:, :-1], p[:, 1:, 1:]
        hit = (a & d & ~(b | cc)) | (b & cc & ~(a | d))
        if not hit.any():
            return np.concatenate(done_r), np.concatenate(done_c)
        r, c = pr[:, :-1, :-1][hit], pc[:, :-1, :-1][hit]
    return None


def build_polygons(lattice: Lattice, outlines: Sequence[Outline]) -> np.ndarray:
    """Shapely (Multi)Polygons (metric CRS) of many outlines in one go; empty ones for empty."""
    n_poly = np.fromiter((int(o.polygon.max()) + 1 if len(o.polygon) else 0 for o in outlines), np.int64, len(outlines))
    if n_poly.sum() == 0:
        return polygons_by_group(lattice, Outline.empty(), np.zeros(0, np.int64), len(outlines))
    first = np.concatenate([[0], np.cumsum(n_poly)[:-1]])
    sizes = np.fromiter((len(o.rings) for o in outlines), np.int64, len(outlines))
    joined = Outline(
        np.concatenate([o.xy for o in outlines]),
        np.concatenate([o.rings for o in outlines]),
        np.repeat(first, sizes) + np.concatenate([o.polygon for o in outlines]),
    )
    return polygons_by_group(lattice, joined, np.repeat(np.arange(len(outlines)), n_poly), len(outlines))


def polygons_by_group(lattice: Lattice, outline: Outline, group_of_polygon: np.ndarray, n_groups: int) -> np.ndarray:
    """One (Multi)Polygon (metric CRS) per group ``0..n_groups-1`` of the polygons of an outline.

    ``group_of_polygon[p]`` is the group of polygon ``p`` of ``outline`` (negative: left out);
    made in one go; empty polygons for groups without polygons.
    """
    out = np.empty(n_groups, dtype=object)
    out[:] = shapely.Polygon()
    if len(outline.rings) == 0:
        return out
    rings = shapely.linearrings(
        lattice.centres(outline.xy), indices=np.repeat(np.arange(len(outline.rings)), outline.rings)
    )
    polys = shapely.polygons(rings, indices=outline.polygon)
    group = np.asarray(group_of_polygon, np.int64)[: len(polys)]
    keep = np.flatnonzero(group >= 0)
    count = np.bincount(group[keep], minlength=n_groups)
    single = keep[count[group[keep]] == 1]
    out[group[single]] = polys[single]
    multi = keep[count[group[keep]] > 1]
    if len(multi):
        order = multi[np.argsort(group[multi], kind="stable")]
        ids, which = np.unique(group[order], return_inverse=True)
        out[ids] = shapely.multipolygons(polys[order], indices=which.ravel())
    return out


def coarse_lattice(lattice: Lattice, factor: int = GAP_FACTOR) -> Lattice:
    """The lattice of ``factor`` x ``factor`` blocks of ``lattice``'s cells (same origin)."""
    return Lattice(
        lattice.x0, lattice.y0, lattice.cell * factor, -(-lattice.rows // factor), -(-lattice.cols // factor)
    )


def pool_cells(m: np.ndarray, row0: int, col0: int, factor: int) -> tuple[int, int, np.ndarray]:
    """Drawn cells of a window (first cell ``(row0, col0)``) pooled into ``factor`` x ``factor`` blocks.

    The blocks are cells of the coarse lattice; a block is drawn when any of its cells is.
    Returns the block window's first block and its mask.
    """
    r0, c0 = row0 // factor, col0 // factor
    pr, pc = row0 - r0 * factor, col0 - c0 * factor  # cells before the window in its first block
    rows = -(-(m.shape[0] + pr) // factor)
    cols = -(-(m.shape[1] + pc) // factor)
    full = np.zeros((rows * factor, cols * factor), np.uint8)
    full[pr : pr + m.shape[0], pc : pc + m.shape[1]] = m
    out = full[0::factor, 0::factor].copy()
    for i in range(factor):
        for j in range(factor):
            if i or j:
                np.bitwise_or(out, full[i::factor, j::factor], out=out)
    return r0, c0, out


def first_cells(outline: Outline) -> np.ndarray:
    """One boundary cell ``(col, row)`` of each polygon of ``outline`` (its shell's first corner)."""
    ring_start = np.cumsum(outline.rings) - outline.rings
    first_ring = (
        np.searchsorted(outline.polygon, np.arange(int(outline.polygon.max()) + 1))
        if len(outline.polygon)
        else np.zeros(0, np.int64)
    )
    return outline.xy[ring_start[first_ring]]
