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
  (found from each cell's neighbours before tracing, :func:`geo.grid.trace`; any the tracing
  still finds are drawn and the window traced again); with no cell visited twice, rings are
  simple and disjoint.
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

import numpy as np
import scipy.sparse as sp

from geo.grid import GAP_FACTOR, SHIFT, Lattice, Outline, build_polygons, extent, opencv, pool_cells, trace
from geo.network import Network, _ranges

#: default cell size (m): the default width (30 m) over ``geo.plan.CELLS_PER_WIDTH`` (9).
DEFAULT_CELL_M = 30.0 / 9.0
#: streets farther apart than this many cells are drawn and traced as clusters of their own
#: (:meth:`CircleDrawer.layer_circles`)
CLUSTER_BLOCK = 64
#: a canvas covering the whole network is used up to this many cells (bytes); a bigger
#: network draws each circle on a canvas of its own window.
MAX_CANVAS_CELLS = 1 << 27
#: sources planned together (array work shared; memory ~ this x network edges bytes).
CHUNK = 64


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
        lo, hi = extent(xy) if len(xy) else (np.zeros(2), np.zeros(2))
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
        """Stretches ``[a, b]`` (metres from the ``u`` end) of edges ``e`` as fixed-point pixel polylines.

        Returns one flat ``(m, 2)`` array and the vertex count of each stretch.
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
    """``cell_m``, or the smallest larger multiple of ``step_m`` that fits one canvas.

    That is: whose lattice over the network (as :class:`RasterGeometry` makes it) holds at most
    ``max_cells`` cells, so that a layer's dissolved circle fits one canvas (``2**27`` cells:
    128 MB, a 38 x 38 km extent at 3.33 m).
    """
    xy = net.geom_xy
    if len(xy) == 0:
        return float(cell_m)
    lo, hi = extent(xy)
    w, h = hi - lo
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


# ------------------------------------------------------------------------------ drawing


@dataclass(frozen=True)
class _Reached:
    """(source, edge) pairs reached (sorted by source), with their lengths.

    Per limit (rows): the metres reached from the ``u`` and ``v`` ends and whether the whole
    edge is reached.
    """

    src_e: np.ndarray
    es: np.ndarray
    length: np.ndarray
    ru: np.ndarray
    rv: np.ndarray
    full: np.ndarray


@dataclass
class _Plan:
    """What to draw for one source.

    Per limit: the window, the edges newly reached whole and the cut stretches (fixed-point
    pixel polylines).
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
        self.thickness = max(2, round(2.0 * width_m / geom.cell / 2.0) * 2)
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
        r = self._reached(dist.tocsr(), limits)
        c_e, cut_at, pieces = self._cuts(r, limits, own, dist.shape[0])
        return self._windows(r, c_e, cut_at, pieces, dist.shape[0], len(limits))

    def _reached(self, dist: sp.csr_matrix, limits: np.ndarray) -> _Reached:
        """The (source, edge) pairs the sources reach within the largest limit, and how far."""
        geom, net = self.geom, self.geom.net
        # (source, node) within the largest limit
        src_of = np.repeat(np.arange(dist.shape[0]), np.diff(dist.indptr))
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
        return _Reached(src_e, es, length, ru, rv, full)

    def _cuts(
        self, r: _Reached, limits: np.ndarray, own: tuple[np.ndarray, np.ndarray, np.ndarray], n_src: int
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Every cut stretch as a pixel polyline, sorted by (source, limit).

        Returns the stretches' edges, where each (source, limit) starts among them, and the
        polylines.
        """
        net, k = self.geom.net, len(limits)
        lim = limits[:, None]
        pu = ~r.full & (r.ru > 0)
        pv = ~r.full & (r.rv > 0)
        # the stretch of a source's own edge reached straight along it
        osrc, oe, oa = (np.asarray(own[0], np.int64), np.asarray(own[1], np.int64), np.asarray(own[2], float))
        ol = net.edge_len[oe]
        o_s = np.clip(oa - lim, 0.0, ol)
        o_t = np.clip(oa + lim, 0.0, ol)
        # every cut stretch: (limit, source, edge, start, end)
        li_u, pi_u = np.nonzero(pu)
        li_v, pi_v = np.nonzero(pv)
        c_lim = np.concatenate([li_u, li_v, np.repeat(np.arange(k), len(oe))])
        c_src = np.concatenate([r.src_e[pi_u], r.src_e[pi_v], np.tile(osrc, k)])
        c_e = np.concatenate([r.es[pi_u], r.es[pi_v], np.tile(oe, k)])
        c_s = np.concatenate([np.zeros(len(pi_u)), (r.length - r.rv)[li_v, pi_v], o_s.ravel()])
        c_t = np.concatenate([r.ru[li_u, pi_u], r.length[pi_v], o_t.ravel()])
        ok = c_t > c_s
        c_lim, c_src, c_e, c_s, c_t = c_lim[ok], c_src[ok], c_e[ok], c_s[ok], c_t[ok]
        order = np.lexsort((c_lim, c_src))
        c_lim, c_src, c_e, c_s, c_t = c_lim[order], c_src[order], c_e[order], c_s[order], c_t[order]
        flat, nv = self.geom.cut(c_e, c_s, c_t)
        cut_at = np.searchsorted(c_src * (k + 1) + c_lim, np.arange(n_src * (k + 1)))
        return c_e, cut_at, _split(flat, nv)

    def _windows(
        self, r: _Reached, c_e: np.ndarray, cut_at: np.ndarray, pieces: list[np.ndarray], n_src: int, k: int
    ) -> list[_Plan | None]:
        """Per source: per limit, the box of everything reached, the edges newly reached whole, the cuts."""
        geom = self.geom
        lat = geom.lattice
        m = self.margin
        reached = r.full | (r.ru > 0) | (r.rv > 0)
        box_e = geom.edge_box[r.es]
        e_at = np.searchsorted(r.src_e, np.arange(n_src + 1))
        plans: list[_Plan | None] = []
        for i in range(n_src):
            a, b = e_at[i], e_at[i + 1]
            boxes: list[tuple[int, int, int, int] | None] = []
            whole: list[np.ndarray] = []
            cuts: list[list[np.ndarray]] = []
            prev = np.zeros(b - a, bool)
            for j in range(k):
                fj = r.full[j, a:b]
                whole.append(r.es[a:b][fj & ~prev])
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
        last = p.boxes[-1]
        if last is None:  # pragma: no cover - a plan is made only when its largest limit reaches something
            return [Outline.empty() for _ in range(k)]
        r0, c0, r1, c1 = last
        local = not geom.whole_canvas
        canvas = np.zeros((r1 - r0, c1 - c0), np.uint8) if local else self._whole_canvas()
        shift = np.array([c0 << SHIFT, r0 << SHIFT], np.int32) if local else None
        or0, oc0 = (r0, c0) if local else (0, 0)
        out = []
        try:
            for j, (box, whole, cuts) in enumerate(zip(p.boxes, p.whole, p.cuts, strict=True)):
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
                if m is not view and j < k - 1:
                    view |= m  # cells drawn while tracing stay for the larger limits
                if masks is not None:
                    masks.append(pool_cells(m, br0, bc0, GAP_FACTOR))
        finally:
            if not local:
                canvas[r0:r1, c0:c1] = 0
        return out

    def _draw(self, canvas: np.ndarray, whole: np.ndarray, cuts: list[np.ndarray], shift: np.ndarray | None) -> None:
        cv2 = opencv()
        geom = self.geom
        lines: list[np.ndarray] = []
        if len(whole):
            if shift is None:
                px = geom.edge_px
                lines = [px[e] for e in whole.tolist()]  # (indexing a list with ints: ~3x faster)
            else:
                net = geom.net
                counts = net.geom_end[whole] - net.geom_start[whole] + 1
                flat = geom.geom_px[_ranges(net.geom_start[whole], counts)] - shift
                lines = _split(flat, counts)
        if len(cuts):
            lines += cuts if shift is None else [c - shift for c in cuts]
        if lines:  # one call: the cells drawn do not depend on the order
            cv2.polylines(canvas, lines, False, 1, self.thickness, cv2.LINE_8, SHIFT)

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
        """The dissolved circles of a layer, one per limit.

        ``node_dist``: metres from every node to its nearest facility; the facilities stand on
        ``own_edge`` at ``own_along``. ``masks``: see :meth:`outlines`.
        """
        lims = _limits(limits)
        within = np.flatnonzero(node_dist <= lims[-1])
        row = sp.csr_matrix((node_dist[within], within, [0, len(within)]), shape=(1, len(node_dist)))
        own_edge = np.asarray(own_edge, np.int64)
        own_along = np.asarray(own_along, float)
        k = len(lims)
        r = self._reached(row, lims)
        cluster, own_cluster, n = self._clusters(r.es, own_edge)
        if n <= 1:
            plan = self._windows(
                r, *self._cuts(r, lims, (np.zeros(len(own_edge), np.int64), own_edge, own_along), 1), 1, k
            )[0]
            outs = self.outlines(plan, k, masks=masks)
            if plan is None and masks is not None:
                masks.extend([None] * k)
            return list(build_polygons(self.geom.lattice, outs))
        # apart clusters of streets, each drawn and traced on a window of its own (a sparse
        # layer's window would otherwise span the city); the same cells either way
        order = np.argsort(cluster, kind="stable")
        r = _Reached(cluster[order], r.es[order], r.length[order], r.ru[:, order], r.rv[:, order], r.full[:, order])
        plans = self._windows(r, *self._cuts(r, lims, (own_cluster, own_edge, own_along), n), n, k)
        per: list[list[Outline]] = []
        pooled: list[list] = []
        for plan in plans:
            cm: list = []
            per.append(self.outlines(plan, k, masks=cm if masks is not None else None))
            pooled.append(cm if plan is not None else [None] * k)
        if masks is not None:
            masks.extend(_joined_masks([pc[j] for pc in pooled]) for j in range(k))
        return list(build_polygons(self.geom.lattice, [_joined([pc[j] for pc in per]) for j in range(k)]))

    def _clusters(self, es: np.ndarray, own_edge: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Streets drawn far apart, as clusters: the cluster of each of ``es`` and ``own_edge``, and their count.

        Each edge's cells (its box and the drawing margin) are marked on blocks of
        :data:`CLUSTER_BLOCK` cells; 8-connected marked blocks form a cluster, so two clusters'
        cells are at least a block apart and are drawn and traced alike apart or together.
        """
        edges = np.concatenate([es, own_edge])
        if len(edges) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
        lat, m, b = self.geom.lattice, self.margin, CLUSTER_BLOCK
        box = self.geom.edge_box[edges]
        c0 = np.clip((box[:, 0] - m) // b, 0, None)
        r0 = np.clip((box[:, 1] - m) // b, 0, None)
        rows, cols = -(-lat.rows // b) + 1, -(-lat.cols // b) + 1
        c1 = np.clip((box[:, 2] + m) // b, 0, cols - 1)
        r1 = np.clip((box[:, 3] + m) // b, 0, rows - 1)
        # every edge's block rectangle marked at once: +1/-1 at its corners, then running sums
        diff = np.zeros((rows + 1, cols + 1), np.int32)
        np.add.at(diff, (r0, c0), 1)
        np.add.at(diff, (r0, c1 + 1), -1)
        np.add.at(diff, (r1 + 1, c0), -1)
        np.add.at(diff, (r1 + 1, c1 + 1), 1)
        marked = (diff.cumsum(axis=0).cumsum(axis=1)[:rows, :cols] > 0).astype(np.uint8)
        n, label = opencv().connectedComponents(marked, connectivity=8)
        cluster = label[r0, c0].astype(np.int64) - 1
        return cluster[: len(es)], cluster[len(es) :], int(n) - 1


def _joined(outlines: Sequence[Outline]) -> Outline:
    """Outlines of apart regions as one (their polygons numbered on)."""
    n_poly = [int(o.polygon.max()) + 1 if len(o.polygon) else 0 for o in outlines]
    first = np.concatenate([[0], np.cumsum(n_poly)[:-1]]).astype(np.int64)
    return Outline(
        np.concatenate([o.xy for o in outlines]).reshape(-1, 2),
        np.concatenate([o.rings for o in outlines]).astype(np.int64),
        np.concatenate([o.polygon + f for o, f in zip(outlines, first, strict=True)]).astype(np.int64),
    )


def _joined_masks(masks: Sequence[tuple[int, int, np.ndarray] | None]) -> tuple[int, int, np.ndarray] | None:
    """Pooled masks (``(row0, col0, mask)`` windows of one lattice) as one window holding them all."""
    real = [m for m in masks if m is not None]
    if not real:
        return None
    r0 = min(m[0] for m in real)
    c0 = min(m[1] for m in real)
    r1 = max(m[0] + m[2].shape[0] for m in real)
    c1 = max(m[1] + m[2].shape[1] for m in real)
    out = np.zeros((r1 - r0, c1 - c0), np.uint8)
    for mr, mc, mm in real:
        view = out[mr - r0 : mr - r0 + mm.shape[0], mc - c0 : mc - c0 + mm.shape[1]]
        np.bitwise_or(view, mm, out=view)
    return r0, c0, out


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
