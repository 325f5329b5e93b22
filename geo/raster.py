"""Service circles drawn on a grid: the reached street stretches, thick, then traced back.

A circle is the land within ``width`` metres of the street stretches a person reaches (the
same reached and cut stretches as the exact construction in :mod:`geo.polygons`). Instead of
a union of thousands of buffers, the stretches are drawn as thick lines (round caps and
joins, ``2 width / cell`` cells wide) on a grid of ``cell``-metre squares, and the outlines of
the drawn cells, holes included, are traced back into polygons in the metric CRS. This is
how routing engines draw isochrones, kept faithful to the buffer definition:

* **One lattice.** Every grid of a network is anchored at multiples of ``cell`` in the metric
  CRS, so the circles of every threshold, facility and layer share cell boundaries.
* **Nesting by construction.** The circles of one source are drawn smallest threshold first
  on one canvas and each larger threshold only adds cells; the traced region only grows with
  the drawn cells, so the 10-minute circle lies inside the 15-minute one exactly.
* **Valid by construction.** Outlines run through the centres of the outermost drawn cells
  (OpenCV's border following). Where an outline would pass through a cell twice (two cells
  touching only at a corner, a wall or spur one cell thin) the 3 x 3 cells around it are drawn
  and the window traced again; with no cell visited twice, rings are simple and disjoint.
  Holes of fewer than :data:`MIN_HOLE_CELLS` cells are filled (slivers between nearly
  touching buffers).
* **Unbiased.** OpenCV draws a cell when its centre lies within about half a cell more than
  half the thickness, and the traced outline runs through the outermost drawn centres: the
  two cancel, so areas match the exact construction on average (``bench/polygons.py``). The
  thickness ``2 width / cell`` must be a whole, even number of cells (OpenCV rounds odd ones).

The work that does not depend on the drawing itself (which stretches each source reaches,
their cut ends as pixel polylines, the windows) is done with arrays for many sources at once
(:meth:`CircleDrawer.plan`); only drawing and tracing run per source, and the polygons of many
sources are built in one call (:func:`build_polygons`).

The grid state (a canvas covering the network, scratch arrays) belongs to a
:class:`CircleDrawer`, one per worker process or request; what depends only on the network and
the cell size (pixel coordinates of every edge, node-to-edge incidence) is a
:class:`RasterGeometry`, made once per network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType

import numpy as np
import scipy.sparse as sp

from geo.network import Network, _ranges

#: default cell size (m): the default width (30 m) over ``geo.plan.CELLS_PER_WIDTH`` (9).
DEFAULT_CELL_M = 30.0 / 9.0
#: sub-pixel precision of drawn coordinates: OpenCV's fixed-point ``shift`` (1/16 cell).
SHIFT = 4
#: holes of fewer cells than this are filled (slivers between nearly touching buffers).
MIN_HOLE_CELLS = 4.0
#: a canvas covering the whole network is used up to this many cells (bytes); a bigger
#: network draws each circle on a canvas of its own window.
MAX_CANVAS_CELLS = 1 << 27
#: sources planned together (array work shared; memory ~ this x network edges bytes).
CHUNK = 64
#: gap areas are made on a lattice of cells this many times larger (see :func:`pool_cells`).
GAP_FACTOR = 3


def opencv() -> ModuleType:
    """OpenCV, set to one thread: the drawing here is single-threaded, and an OpenCV thread pool
    does not survive the fork that starts worker processes (a child would wait on it forever).
    """
    import cv2

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
        """The lattice covering ``lo..hi`` (metric) with ``pad`` metres around, its origin on a
        multiple of ``align`` cells (so that pooled lattices of any extent line up).
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


class RasterGeometry:
    """What drawing needs of one network at one cell size, made once and never changed.

    Parameters
    ----------
    net
        The walking network.
    cell_m
        Side of a grid cell in metres.
    pad_m
        Room around the network's streets (at least the widest circle width).
    """

    def __init__(self, net: Network, cell_m: float = DEFAULT_CELL_M, *, pad_m: float = 200.0) -> None:
        if not (np.isfinite(cell_m) and cell_m > 0):
            raise ValueError(f"cell size must be a positive number of metres, not {cell_m!r}")
        self.net = net
        self.cell = float(cell_m)
        xy = net.geom_xy
        lo = xy.min(axis=0) if len(xy) else np.zeros(2)
        hi = xy.max(axis=0) if len(xy) else np.zeros(2)
        self.lattice = Lattice.around(lo, hi, self.cell, pad=pad_m + 8 * self.cell, align=GAP_FACTOR)
        self.geom_px = self.lattice.fixed(xy)
        starts = net.geom_start
        gx, gy = self.geom_px[:, 0] >> SHIFT, self.geom_px[:, 1] >> SHIFT
        if net.n_edges:
            box = np.column_stack(
                [
                    np.minimum.reduceat(gx, starts),
                    np.minimum.reduceat(gy, starts),
                    np.maximum.reduceat(gx, starts) + 1,
                    np.maximum.reduceat(gy, starts) + 1,
                ]
            )
        else:
            box = np.zeros((0, 4), np.int32)
        #: cells ``(col0, row0, col1, row1)`` (end exclusive) holding each edge's geometry
        self.edge_box = box.astype(np.int64)
        # node -> incident edges (CSR)
        ends = np.concatenate([net.edge_u, net.edge_v])
        order = np.argsort(ends, kind="stable")
        self.inc_edge = np.concatenate([np.arange(net.n_edges), np.arange(net.n_edges)])[order]
        self.inc_ptr = np.zeros(net.n_nodes + 1, np.int64)
        self.inc_ptr[1:] = np.cumsum(np.bincount(ends, minlength=net.n_nodes))
        # vertex positions along their edge, made ascending over the whole array (one searchsorted)
        counts = net.geom_end - net.geom_start + 1
        self._cum = net.geom_cum
        self._offset = (
            np.concatenate([[0.0], np.cumsum(self._cum[net.geom_end] + 1.0)[:-1]]) if net.n_edges else np.zeros(0)
        )
        self._key = self._cum + np.repeat(self._offset, counts)

    @cached_property
    def edge_px(self) -> list[np.ndarray]:
        """Fixed-point pixel polyline of every edge (for a canvas covering the network)."""
        return _split(self.geom_px, self.net.geom_end - self.net.geom_start + 1)

    @property
    def whole_canvas(self) -> bool:
        """Whether one canvas covers the network (else each circle gets a canvas of its own)."""
        return self.lattice.size <= MAX_CANVAS_CELLS

    def cut(self, e: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stretches ``[a, b]`` (metres from the ``u`` end) of edges ``e`` as fixed-point pixel
        polylines: one flat ``(m, 2)`` array and the vertex count of each stretch.
        """
        net, cum, key, offset = self.net, self._cum, self._key, self._offset
        xy = net.geom_xy
        g0, g1 = net.geom_start[e], net.geom_end[e]
        last = np.maximum(g1 - 1, g0)
        ja = np.minimum(np.maximum(np.searchsorted(key, offset[e] + a, side="right") - 1, g0), last)
        jb = np.minimum(np.maximum(np.searchsorted(key, offset[e] + b, side="right") - 1, g0), last)
        pa = _along(xy, cum, ja, np.minimum(ja + 1, g1), a)
        pb = _along(xy, cum, jb, np.minimum(jb + 1, g1), b)
        last_before_b = np.searchsorted(key, offset[e] + b, side="left") - 1
        inner = np.maximum(last_before_b - ja, 0)
        n = inner + 2
        first = np.zeros(len(n), np.int64)
        first[1:] = np.cumsum(n)[:-1]
        coords = np.empty((int(n.sum()), 2))
        coords[first] = pa
        coords[first + n - 1] = pb
        m = inner > 0
        if m.any():
            coords[_ranges(first[m] + 1, inner[m])] = xy[_ranges(ja[m] + 1, inner[m])]
        return self.lattice.fixed(coords), n


def draw_pad(width_m: float) -> float:
    """Room around the streets on a drawing grid: the circle's width and 50 m more."""
    return float(width_m) + 50.0


def fitting_cell(
    net: Network, cell_m: float, pad_m: float, *, max_cells: int = MAX_CANVAS_CELLS, step_m: float = 0.25
) -> float:
    """``cell_m``, or the smallest larger multiple of ``step_m`` whose lattice over the network
    (as :class:`RasterGeometry` makes it) holds at most ``max_cells`` cells, so that a layer's
    dissolved circle fits one canvas (``2**27`` cells: 128 MB, a 38 x 38 km extent at 3.33 m).
    """
    xy = net.geom_xy
    if len(xy) == 0:
        return float(cell_m)
    w, h = xy.max(axis=0) - xy.min(axis=0)
    cell = float(cell_m)
    while True:
        lat = Lattice.around(np.zeros(2), np.array([w, h]), cell, pad=pad_m + 8 * cell, align=GAP_FACTOR)
        if lat.size <= max_cells:
            return cell
        cell = max(cell + step_m, np.ceil(cell * np.sqrt(lat.size / max_cells) / step_m) * step_m)


def _split(flat: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """``flat`` cut into consecutive pieces of ``counts`` rows (views; ~10x faster than np.split)."""
    ends = np.cumsum(counts).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [flat[a:b] for a, b in zip(starts, ends, strict=True)]


def _along(xy: np.ndarray, cum: np.ndarray, j: np.ndarray, j1: np.ndarray, s: np.ndarray) -> np.ndarray:
    seg = cum[j1] - cum[j]
    f = np.divide(s - cum[j], seg, out=np.zeros(len(s)), where=seg > 0)
    return xy[j] + f[:, None] * (xy[j1] - xy[j])


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
    """The outline of the drawn cells of ``m`` (0/1, undrawn border), a window whose first cell
    is ``(row0, col0)`` of the lattice. Cells drawn to keep rings simple are drawn in ``m``.

    Rings are simple when no cell of the outline is passed twice: drawn cells that touch only
    at a corner are found with arrays before tracing and the 3 x 3 cells around them drawn
    (:func:`_settle`); a cell the tracer still passes twice (a one-cell-wide neck) is settled
    the same way and the window traced again. OpenCV's full contour tree is used (its
    two-level mode costs ~3x more on outlines with ~10^5 holes); even depths are shells.
    """
    cv2 = opencv()
    rows, cols = m.shape
    _settle_pinches(m)
    for _ in range(rounds):
        contours, hier = cv2.findContours(m, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        if hier is None or len(contours) == 0:
            return Outline.empty()
        xy = np.concatenate(contours).reshape(-1, 2)
        key = xy[:, 1] * cols + xy[:, 0]
        key.sort()
        twice = key[1:][key[1:] == key[:-1]]
        if len(twice) == 0:
            break
        _settle(m, *np.divmod(twice, cols))
    else:  # pragma: no cover - every round only draws cells
        raise RuntimeError("tracing a circle did not settle")
    n = np.fromiter(map(len, contours), np.int64, len(contours))
    parent = hier.reshape(-1, 4)[:, 3]
    depth = _depth(parent)
    outer = depth % 2 == 0
    start = np.cumsum(n) - n
    # corners only: the cells where the outline turns
    step = np.empty_like(xy)
    step[:-1] = xy[1:] - xy[:-1]
    step[start + n - 1] = xy[start] - xy[start + n - 1]
    code = step[:, 0] * 3 + step[:, 1]
    before = np.empty_like(code)
    before[1:] = code[:-1]
    before[start] = code[start + n - 1]
    corner = code != before
    cx = xy[corner]
    ring = np.repeat(np.arange(len(n)), n)[corner]
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
    _, polygon = np.unique(poly_of[kept], return_inverse=True)
    return Outline(cx[pts].astype(np.int64) + (col0, row0), cn[kept], polygon.ravel())


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


#: codes ``a + 2b + 4c + 8d`` of a 2 x 2 block ``[[a, b], [c, d]]`` whose drawn cells touch
#: only at a corner (``a`` and ``d``: 9; ``b`` and ``c``: 6)
_PINCH = np.zeros(256, np.uint8)
_PINCH[[6, 9]] = 1
_BLOCK_CODE = np.array([[1, 2], [4, 8]], np.float32)


def _settle_pinches(m: np.ndarray) -> None:
    """Settle (:func:`_settle`) every 2 x 2 block of ``m`` (0/1) whose drawn cells touch only at
    a corner: one OpenCV filter codes every block, a lookup table marks the pinched ones.
    """
    if m.shape[0] < 2 or m.shape[1] < 2:
        return
    cv2 = opencv()
    code = cv2.filter2D(m, cv2.CV_8U, _BLOCK_CODE, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    pinched = cv2.LUT(code, _PINCH)
    at = cv2.findNonZero(pinched) if cv2.countNonZero(pinched) else None  # counting is ~5x cheaper
    if at is not None:
        at = at.reshape(-1, 2)
        _settle(m, at[:, 1].astype(np.int64), at[:, 0].astype(np.int64))


_DR = np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1])
_DC = np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1])
_PR, _PC = (a.ravel() for a in np.mgrid[-3:4, -3:4])


def _settle(m: np.ndarray, r: np.ndarray, c: np.ndarray, *, rounds: int = 4) -> None:
    """Draw the 3 x 3 cells around cells ``(r, c)``; then, where that made two drawn cells touch
    only at a corner nearby, draw around those too (so the next trace is usually the last).
    """
    rows, cols = m.shape
    for _ in range(rounds):
        m[np.clip(r[:, None] + _DR, 0, rows - 1), np.clip(c[:, None] + _DC, 0, cols - 1)] = 1
        pr = np.clip(r[:, None] + _PR, 0, rows - 1).reshape(-1, 7, 7)
        pc = np.clip(c[:, None] + _PC, 0, cols - 1).reshape(-1, 7, 7)
        p = m[pr, pc].astype(bool)
        a, b, cc, d = p[:, :-1, :-1], p[:, :-1, 1:], p[:, 1:, :-1], p[:, 1:, 1:]
        hit = (a & d & ~(b | cc)) | (b & cc & ~(a | d))
        if not hit.any():
            return
        r, c = pr[:, :-1, :-1][hit], pc[:, :-1, :-1][hit]


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
    """One (Multi)Polygon (metric CRS) per group ``0..n_groups-1`` of the polygons of
    ``outline`` (``group_of_polygon[p]``; negative: left out), made in one go; empty ones for
    groups without polygons.
    """
    import shapely

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
    """Drawn cells of a window (first cell ``(row0, col0)``) pooled into ``factor`` x ``factor``
    blocks of the coarse lattice: a block is drawn when any of its cells is. Returns the
    block window's first block and its mask.
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


# ------------------------------------------------------------------------------ drawing


@dataclass
class _Plan:
    """What to draw for one source: per limit, the window, the edges newly reached whole and
    the cut stretches (fixed-point pixel polylines).
    """

    boxes: list[tuple[int, int, int, int] | None]
    whole: list[np.ndarray]
    cuts: list[list[np.ndarray]]


class CircleDrawer:
    """Draws service circles on the grid of a :class:`RasterGeometry`; owns its canvas.

    Not to be shared between threads: make one per worker process or request (cheap; the
    canvas covering the network is allocated lazily and only touched where circles are drawn).

    Parameters
    ----------
    geom
        The network's raster geometry.
    width_m
        How far from a reached street a circle claims land (metres).
    """

    def __init__(self, geom: RasterGeometry, width_m: float) -> None:
        if not (np.isfinite(width_m) and width_m > 0):
            raise ValueError(f"width must be a positive number of metres, not {width_m!r}")
        self.geom = geom
        self.width = float(width_m)
        self.thickness = max(2, int(round(2.0 * width_m / geom.cell / 2.0)) * 2)
        self.margin = self.thickness // 2 + 3
        self._canvas: np.ndarray | None = None

    def _whole_canvas(self) -> np.ndarray:
        if self._canvas is None:
            lat = self.geom.lattice
            self._canvas = np.zeros((lat.rows, lat.cols), np.uint8)
        return self._canvas

    # -- planning, with arrays for many sources -------------------------------------------

    def plan(
        self, dist: sp.csr_matrix, limits: np.ndarray, own: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> list[_Plan | None]:
        """Plans for the sources of ``dist`` (one row each: metres to the nodes it reaches).

        ``own = (source, edge, along)``: where the sources stand (a layer stands at many places),
        for the stretch of those edges reached straight along them.
        """
        geom, net = self.geom, self.geom.net
        k = len(limits)
        n_src = dist.shape[0]
        dist = dist.tocsr()
        # (source, node) within the largest limit
        src_of = np.repeat(np.arange(n_src), np.diff(dist.indptr))
        near = dist.data <= limits[-1]
        src_n, nodes, d = src_of[near], dist.indices[near].astype(np.int64), dist.data[near]
        # (source, edge) pairs touching those nodes, each once
        ptr = geom.inc_ptr
        cnt = ptr[nodes + 1] - ptr[nodes]
        e_all = geom.inc_edge[_ranges(ptr[nodes], cnt)]
        s_all = np.repeat(src_n, cnt)
        key = np.unique(s_all * net.n_edges + e_all)
        src_e, es = np.divmod(key, net.n_edges)
        # distances of both ends (inf: not reached)
        lookup = src_n * net.n_nodes + nodes  # sorted: CSR rows are sorted by node
        order = np.argsort(lookup, kind="stable")
        lookup, d_sorted = lookup[order], d[order]
        du = _find(lookup, d_sorted, src_e * net.n_nodes + net.edge_u[es])
        dv = _find(lookup, d_sorted, src_e * net.n_nodes + net.edge_v[es])
        length = net.edge_len[es]
        lim = limits[:, None]
        ru = np.clip(lim - du, 0.0, length)  # an unreached end (inf) gives 0
        rv = np.clip(lim - dv, 0.0, length)
        full = (ru + rv >= length) & ((ru > 0) | (rv > 0) | (length == 0))
        pu = ~full & (ru > 0)
        pv = ~full & (rv > 0)
        reached = full | pu | pv
        # the stretch of a source's own edge reached straight along it
        osrc, oe, oa = (np.asarray(own[0], np.int64), np.asarray(own[1], np.int64), np.asarray(own[2], float))
        ol = net.edge_len[oe]
        o_s = np.clip(oa - lim, 0.0, ol)
        o_t = np.clip(oa + lim, 0.0, ol)
        # every cut stretch: (limit, source, edge, start, end)
        li_u, pi_u = np.nonzero(pu)
        li_v, pi_v = np.nonzero(pv)
        c_lim = np.concatenate([li_u, li_v, np.repeat(np.arange(k), len(oe))])
        c_src = np.concatenate([src_e[pi_u], src_e[pi_v], np.tile(osrc, k)])
        c_e = np.concatenate([es[pi_u], es[pi_v], np.tile(oe, k)])
        c_s = np.concatenate([np.zeros(len(pi_u)), (length - rv)[li_v, pi_v], o_s.ravel()])
        c_t = np.concatenate([ru[li_u, pi_u], length[pi_v], o_t.ravel()])
        ok = c_t > c_s
        c_lim, c_src, c_e, c_s, c_t = c_lim[ok], c_src[ok], c_e[ok], c_s[ok], c_t[ok]
        order = np.lexsort((c_lim, c_src))
        c_lim, c_src, c_e, c_s, c_t = c_lim[order], c_src[order], c_e[order], c_s[order], c_t[order]
        flat, nv = geom.cut(c_e, c_s, c_t)
        pieces = _split(flat, nv)
        cut_at = np.searchsorted(c_src * (k + 1) + c_lim, np.arange(n_src * (k + 1)))
        # windows: boxes of everything reached per (source, limit)
        lat = geom.lattice
        m = self.margin
        box_e = geom.edge_box[es]
        e_at = np.searchsorted(src_e, np.arange(n_src + 1))
        plans: list[_Plan | None] = []
        for i in range(n_src):
            a, b = e_at[i], e_at[i + 1]
            boxes: list[tuple[int, int, int, int] | None] = []
            whole: list[np.ndarray] = []
            cuts: list[list[np.ndarray]] = []
            prev = np.zeros(b - a, bool)
            for j in range(k):
                fj = full[j, a:b]
                whole.append(es[a:b][fj & ~prev])
                prev = fj
                lo_c, hi_c = cut_at[i * (k + 1) + j], cut_at[i * (k + 1) + j + 1]
                cuts.append(pieces[lo_c:hi_c])
                bb = box_e[a:b][reached[j, a:b]]
                if lo_c < hi_c:
                    bb = np.vstack([bb, geom.edge_box[c_e[lo_c:hi_c]]])
                if len(bb) == 0:
                    boxes.append(None)
                    continue
                lo = bb[:, :2].min(axis=0) - m
                hi = bb[:, 2:].max(axis=0) + m
                boxes.append(
                    (max(int(lo[1]), 0), max(int(lo[0]), 0), min(int(hi[1]), lat.rows), min(int(hi[0]), lat.cols))
                )
            plans.append(None if boxes[-1] is None else _Plan(boxes, whole, cuts))
        return plans

    # -- drawing and tracing, per source ---------------------------------------------------

    def outlines(self, p: _Plan | None, k: int, *, masks: list | None = None) -> list[Outline]:
        """Draw one source's plan threshold by threshold and trace each (nested).

        ``masks``: when a list, each threshold's drawn cells are appended to it, pooled onto the
        coarser lattice of :func:`coarse_lattice` (``(row0, col0, mask)``; None when nothing was
        drawn), for the gap areas.
        """
        if p is None:
            return [Outline.empty() for _ in range(k)]
        geom = self.geom
        r0, c0, r1, c1 = p.boxes[-1]  # type: ignore[misc]
        local = not geom.whole_canvas
        canvas = np.zeros((r1 - r0, c1 - c0), np.uint8) if local else self._whole_canvas()
        shift = np.array([c0 << SHIFT, r0 << SHIFT], np.int32) if local else None
        or0, oc0 = (r0, c0) if local else (0, 0)
        out = []
        try:
            for box, whole, cuts in zip(p.boxes, p.whole, p.cuts, strict=True):
                self._draw(canvas, whole, cuts, shift)
                if box is None:
                    out.append(Outline.empty())
                    if masks is not None:
                        masks.append(None)
                    continue
                br0, bc0, br1, bc1 = box
                view = canvas[br0 - or0 : br1 - or0, bc0 - oc0 : bc1 - oc0]
                m = np.ascontiguousarray(view)
                out.append(trace(m, br0, bc0))
                if m is not view:
                    view |= m  # cells drawn while tracing stay for the larger limits
                if masks is not None:
                    masks.append(pool_cells(m, br0, bc0, GAP_FACTOR))
        finally:
            if not local:
                canvas[r0:r1, c0:c1] = 0
        return out

    def _draw(self, canvas: np.ndarray, whole: np.ndarray, cuts: list[np.ndarray], shift) -> None:
        cv2 = opencv()
        geom = self.geom
        th = self.thickness
        if len(whole):
            if shift is None:
                px = geom.edge_px
                lines = [px[e] for e in whole]
            else:
                net = geom.net
                counts = net.geom_end[whole] - net.geom_start[whole] + 1
                flat = geom.geom_px[_ranges(net.geom_start[whole], counts)] - shift
                lines = _split(flat, counts)
            cv2.polylines(canvas, lines, False, 1, th, cv2.LINE_8, SHIFT)
        if len(cuts):
            if shift is not None:
                cuts = [c - shift for c in cuts]
            cv2.polylines(canvas, cuts, False, 1, th, cv2.LINE_8, SHIFT)

    # -- the circles ----------------------------------------------------------------------

    def source_circles(
        self,
        dist: sp.csr_matrix,
        limits: Sequence[float],
        own_edge: np.ndarray,
        own_along: np.ndarray,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Nested circles of many sources, one per source (row of ``dist``) and limit.

        Parameters
        ----------
        dist
            ``(sources, nodes)``: metres from each source to the nodes it reaches (at least up to
            the largest limit), as :func:`geo.circles.per_source` gives.
        limits
            Ascending distances (metres).
        own_edge, own_along
            Where each source stands (edge, metres from its ``u`` end).
        progress
            Called with the number of sources done so far, after each chunk.

        Returns
        -------
        numpy.ndarray
            Object array ``(sources, limits)`` of shapely (Multi)Polygons in the metric CRS.
        """
        lims = _limits(limits)
        n = dist.shape[0]
        out = np.empty((n, len(lims)), dtype=object)
        dist = dist.tocsr()
        own_edge = np.asarray(own_edge, np.int64)
        own_along = np.asarray(own_along, float)
        for a in range(0, n, CHUNK):
            b = min(a + CHUNK, n)
            plans = self.plan(dist[a:b], lims, (np.arange(b - a), own_edge[a:b], own_along[a:b]))
            outs = [o for p in plans for o in self.outlines(p, len(lims))]
            out[a:b] = build_polygons(self.geom.lattice, outs).reshape(b - a, len(lims))
            if progress is not None:
                progress(b)
        return out

    def layer_circles(
        self,
        node_dist: np.ndarray,
        limits: Sequence[float],
        own_edge: np.ndarray,
        own_along: np.ndarray,
        *,
        masks: list | None = None,
    ) -> list:
        """The dissolved circles of a layer (``node_dist``: metres from every node to its nearest
        facility; the facilities stand on ``own_edge`` at ``own_along``), one per limit.
        ``masks``: see :meth:`outlines`.
        """
        lims = _limits(limits)
        within = np.flatnonzero(node_dist <= lims[-1])
        row = sp.csr_matrix((node_dist[within], within, [0, len(within)]), shape=(1, len(node_dist)))
        own_edge = np.asarray(own_edge, np.int64)
        plan = self.plan(row, lims, (np.zeros(len(own_edge), np.int64), own_edge, np.asarray(own_along, float)))[0]
        outs = self.outlines(plan, len(lims), masks=masks)
        if plan is None and masks is not None:
            masks.extend([None] * len(lims))
        return list(build_polygons(self.geom.lattice, outs))


def _limits(limits: Sequence[float]) -> np.ndarray:
    lims = np.asarray([float(x) for x in limits])
    if len(lims) == 0 or np.any(np.diff(lims) < 0) or not np.all(np.isfinite(lims)) or np.any(lims < 0):
        raise ValueError(f"limits must be finite, non-negative and ascending, not {list(limits)!r}")
    return lims


def _find(keys: np.ndarray, values: np.ndarray, want: np.ndarray) -> np.ndarray:
    """``values`` at ``want`` in the sorted ``keys``; inf where absent."""
    pos = np.searchsorted(keys, want)
    pos_c = np.minimum(pos, len(keys) - 1)
    hit = (pos < len(keys)) & (keys[pos_c] == want) if len(keys) else np.zeros(len(want), bool)
    out = np.full(len(want), np.inf)
    out[hit] = values[pos_c[hit]]
    return out
