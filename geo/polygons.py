"""Service circles as the exact union of buffers: the reference the grid circles are held to.

A circle is the union of the reached parts of edges, buffered by a street-side width: a whole
edge when it is reached from both ends or from one end with time to spare, and the reached
*part* of an edge, cut along its real geometry, where the time runs out mid-way. Never a convex
hull of reached nodes: hulls jump rivers, rail lines and walls. Holes (blocks whose inside is
farther than the width from every reached street) are kept.

This is ``--circles exact``; the default draws the same stretches on a grid (:mod:`geo.raster`,
~5x faster, within about a cell of this). Its state (the buffers of whole edges, and optional
:class:`CellUnions`) belongs to an :class:`ExactDrawer`, one per process or call: circles of one
facility are built smallest threshold first, each on the previous one, so nesting is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import scipy.sparse as sp
import shapely

from geo.arrays import ranges as _ranges
from geo.circles import per_source
from geo.network import Network, Snapped

#: stretches of edges: ``(edge, start, end)`` arrays, metres along the edge
Stretches = tuple[np.ndarray, np.ndarray, np.ndarray]

#: default street-side width (m): how far from a reached street a circle claims land.
DEFAULT_WIDTH_M = 30.0
#: segments per quarter circle of the round caps and joins (chords lie inside the true
#: buffer, so a circle never claims land farther than ``width`` from a reached street).
QUAD_SEGS = 4
#: side of the square cells whose dissolved edge buffers may be made once per drawer (m).
CELL_M = 150.0


def _intervals(net: Network, edges: np.ndarray, du: np.ndarray, dv: np.ndarray, limit_m: float) -> Stretches:
    """Reached stretches of ``edges`` whose ends are ``du``/``dv`` metres from the source."""
    L = net.edge_len[edges]
    with np.errstate(invalid="ignore"):
        ru = np.where(np.isfinite(du), np.clip(limit_m - du, 0.0, L), 0.0)
        rv = np.where(np.isfinite(dv), np.clip(limit_m - dv, 0.0, L), 0.0)
    full = (ru + rv >= L) & ((ru > 0) | (rv > 0) | (L == 0))
    pu = ~full & (ru > 0)
    pv = ~full & (rv > 0)
    e = np.concatenate([edges[full], edges[pu], edges[pv]])
    s = np.concatenate([np.zeros(int(full.sum())), np.zeros(int(pu.sum())), L[pv] - rv[pv]])
    t = np.concatenate([L[full], ru[pu], L[pv]])
    return e, s, t


def _own_edge(net: Network, facilities: Snapped | None, limit_m: float) -> Stretches:
    """The stretch of each facility's own edge reached straight from it."""
    if facilities is None or not facilities.ok.any():
        z = np.zeros(0)
        return z.astype(np.int64), z, z
    fe, fa = facilities.edge[facilities.ok], facilities.along[facilities.ok]
    L = net.edge_len[fe]
    return fe, np.clip(fa - limit_m, 0.0, L), np.clip(fa + limit_m, 0.0, L)


def reached_intervals(
    net: Network, node_dist: np.ndarray, limit_m: float, facilities: Snapped | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reached stretches of edges as ``(edge, start, end)`` arrays, distances along the edge.

    ``node_dist`` are metres from the nearest facility to each node; ``facilities`` (snapped)
    adds the stretch of a facility's own edge that is reached directly from it. An edge may
    appear more than once (reached part-way from both ends, or holding a facility).
    """
    edges = np.arange(net.n_edges)
    e, s, t = _intervals(net, edges, node_dist[net.edge_u], node_dist[net.edge_v], limit_m)
    fe, fs, ft = _own_edge(net, facilities, limit_m)
    return np.concatenate([e, fe]), np.concatenate([s, fs]), np.concatenate([t, ft])


def _incidence(net: Network) -> sp.csr_matrix:
    """Node -> incident edges (CSR, data = edge index + 1)."""
    e = np.arange(net.n_edges)
    rows = np.concatenate([net.edge_u, net.edge_v])
    return sp.csr_matrix(
        (np.concatenate([e, e]) + 1, rows, np.arange(2 * net.n_edges + 1)), shape=(2 * net.n_edges, net.n_nodes)
    ).T.tocsr()


def source_intervals(
    net: Network, nodes: np.ndarray, dist: np.ndarray, limit_m: float, own: Snapped | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`reached_intervals` for one source known only at the nodes it reaches.

    Parameters
    ----------
    nodes, dist
        Nodes reached by the source and their distances (one row of
        :func:`geo.circles.per_source`); other nodes are out of reach.
    own
        The source itself, snapped (one element), for the stretch of its own edge.
    """
    near = nodes[dist <= limit_m]
    inc = _incidence(net)
    edges = np.unique(inc[near].data - 1) if len(near) else np.zeros(0, np.int64)
    nd = np.full(net.n_nodes, np.inf)
    nd[nodes] = dist
    e, s, t = _intervals(net, edges, nd[net.edge_u[edges]], nd[net.edge_v[edges]], limit_m)
    fe, fs, ft = _own_edge(net, own, limit_m)
    return np.concatenate([e, fe]), np.concatenate([s, fs]), np.concatenate([t, ft])


def cut_lines(net: Network, edge: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Shapely LineStrings of edge stretches ``[start, end]``, following the edge geometry."""
    whole = (start <= 1e-9) & (end >= net.edge_len[edge] - 1e-9)
    out = np.empty(len(edge), dtype=object)
    out[whole] = net.edge_lines[edge[whole]]
    part = np.flatnonzero(~whole)
    if len(part):
        out[part] = _cut(net, edge[part], np.maximum(start[part], 0.0), end[part])
    return out


def _vertex_key(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Every geometry vertex's distance along its edge plus an offset per edge.

    The offsets make the whole array ascending, so one ``searchsorted`` finds positions on many
    edges at once.
    """
    cum = net.geom_cum
    counts = net.geom_end - net.geom_start + 1
    offset = np.concatenate([[0.0], np.cumsum(cum[net.geom_end] + 1.0)[:-1]])
    return cum + np.repeat(offset, counts), offset


def _cut(net: Network, e: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LineStrings of the stretches ``[a, b]`` of edges ``e`` (all at once, no Python loop)."""
    key, offset = _vertex_key(net)
    cum, xy = net.geom_cum, net.geom_xy
    g0, g1 = net.geom_start[e], net.geom_end[e]

    def point(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = np.clip(np.searchsorted(key, offset[e] + s, side="right") - 1, g0, g1 - 1)
        seg = cum[j + 1] - cum[j]
        f = np.divide(s - cum[j], seg, out=np.zeros(len(s)), where=seg > 0)
        return j, xy[j] + f[:, None] * (xy[j + 1] - xy[j])

    ja, pa = point(a)
    _, pb = point(b)
    # geometry vertices strictly between a and b
    last_before_b = np.searchsorted(key, offset[e] + b, side="left") - 1
    inner = np.maximum(last_before_b - ja, 0)
    tiny = b - a <= 1e-9
    inner[tiny] = 0
    pb[tiny] = pa[tiny] + 1e-6
    n = inner + 2
    first = np.concatenate([[0], np.cumsum(n)[:-1]])
    coords = np.empty((int(n.sum()), 2))
    coords[first] = pa
    coords[first + n - 1] = pb
    m = inner > 0  # (_ranges takes positive counts only)
    if m.any():
        coords[_ranges(first[m] + 1, inner[m])] = xy[_ranges(ja[m] + 1, inner[m])]
    return shapely.linestrings(coords, indices=np.repeat(np.arange(len(e)), n))


class ExactDrawer:
    """The exact construction's state for one network and width.

    Whole-edge buffers (and, on request, :class:`CellUnions`), made once and reused by every
    circle drawn with it.
    """

    def __init__(self, net: Network, width_m: float, *, cells: bool = False) -> None:
        self.net = net
        self.width = float(width_m)
        self._buffers: np.ndarray | None = None
        self._cells: CellUnions | None = None
        self.use_cells = cells

    @property
    def buffers(self) -> np.ndarray:
        """Every edge buffered by the width, made on first use."""
        if self._buffers is None:
            self._buffers = shapely.buffer(self.net.edge_lines, self.width, quad_segs=QUAD_SEGS)
        return self._buffers

    @property
    def cells(self) -> CellUnions | None:
        """The dissolved buffers of fully reached cells (None when not used)."""
        if self.use_cells and self._cells is None:
            self._cells = CellUnions(self.net, self.buffers)
        return self._cells

    def stretch_buffers(self, edge: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Buffers of edge stretches: the made ones for whole edges, fresh ones for cut ends."""
        net = self.net
        keep = end > start
        edge, start, end = edge[keep], start[keep], end[keep]
        whole = (start <= 1e-9) & (end >= net.edge_len[edge] - 1e-9)
        out = np.empty(len(edge), dtype=object)
        out[whole] = self.buffers[edge[whole]]
        if (~whole).any():
            lines = cut_lines(net, edge[~whole], start[~whole], end[~whole])
            out[~whole] = shapely.buffer(lines, self.width, quad_segs=QUAD_SEGS)
        return out

    def nested(self, stretches_for: Callable[[float], tuple], limits: Sequence[float]) -> list:
        """Polygons for ascending ``limits``; each built on the previous one (nesting exact).

        ``stretches_for(limit) -> (edge, start, end)`` gives the reached stretches at a limit.
        """
        out, prev, done_edges, done_cells = [], None, None, None
        for lim in limits:
            e, s, t = stretches_for(lim)
            parts, done_edges, done_cells = self._pieces(e, s, t, done_edges, done_cells)
            poly = _dissolve(parts if prev is None else [prev, *parts])
            prev = poly
            out.append(poly)
        return out

    def _pieces(
        self,
        e: np.ndarray,
        s: np.ndarray,
        t: np.ndarray,
        done_edges: np.ndarray | None = None,
        done_cells: np.ndarray | None = None,
    ) -> tuple[list, np.ndarray, np.ndarray | None]:
        """Polygons whose union is the land within the width of the stretches ``(e, s, t)``.

        Leaves out what is already inside a circle whose whole edges are ``done_edges`` and full
        cells ``done_cells``. Returns the polygons, this circle's whole edges and its full cells.
        """
        net = self.net
        keep = t > s
        e, s, t = e[keep], s[keep], t[keep]
        whole = (s <= 1e-9) & (t >= net.edge_len[e] - 1e-9)
        whole_edges = np.unique(e[whole])
        todo = np.ones(len(e), bool) if done_edges is None else ~np.isin(e, done_edges)
        cells = self.cells
        if cells is None:
            return list(self.stretch_buffers(e[todo], s[todo], t[todo])), whole_edges, None
        full = cells.full(whole_edges)
        todo &= ~full[cells.cell[e]]
        new_cells = full if done_cells is None else full & ~done_cells
        parts = [*cells.union[np.flatnonzero(new_cells)], *self.stretch_buffers(e[todo], s[todo], t[todo])]
        return parts, whole_edges, full


class CellUnions:
    """The network's edges grouped into square cells, with each cell's buffers dissolved once.

    Edges are grouped by the midpoint of their end nodes.

    Where a circle reaches every edge of a cell whole, the cell's one dissolved polygon stands in
    for all their buffers: the union is the same land, with much less for GEOS to overlay.
    """

    def __init__(self, net: Network, buffers: np.ndarray, cell_m: float = CELL_M) -> None:
        mid = (net.node_xy[net.edge_u] + net.node_xy[net.edge_v]) / 2
        ij = np.floor(mid / cell_m).astype(np.int64)
        _, self.cell = np.unique(ij[:, 0] * 4_294_967_296 + ij[:, 1], return_inverse=True)
        self.cell = self.cell.ravel()
        self.n_cells = int(self.cell.max()) + 1 if len(self.cell) else 0
        self.count = np.bincount(self.cell, minlength=self.n_cells)
        order = np.argsort(self.cell, kind="stable")
        bounds = np.searchsorted(self.cell[order], np.arange(self.n_cells + 1))
        self.union = np.empty(self.n_cells, dtype=object)
        for c in range(self.n_cells):
            self.union[c] = shapely.union_all(buffers[order[bounds[c] : bounds[c + 1]]])

    def full(self, whole_edges: np.ndarray) -> np.ndarray:
        """Cells all of whose edges are in ``whole_edges`` (unique edge indices), as a mask."""
        return np.bincount(self.cell[whole_edges], minlength=self.n_cells) == self.count


def _dissolve(parts: list) -> object:
    arr = np.asarray(parts, dtype=object)
    if len(arr):
        arr = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)]
    if not len(arr):
        return shapely.Polygon()
    return shapely.union_all(arr)


def layer_polygons(
    net: Network,
    node_dist: np.ndarray,
    limits: Sequence[float],
    *,
    facilities: Snapped | None = None,
    width_m: float = DEFAULT_WIDTH_M,
    drawer: ExactDrawer | None = None,
) -> list:
    """Dissolved circles of a whole layer (``node_dist``: nearest-facility metres), one per limit.

    ``limits`` must be ascending; each polygon lies inside the next.
    """
    drawer = drawer or ExactDrawer(net, width_m)
    return drawer.nested(lambda lim: reached_intervals(net, node_dist, lim, facilities), limits)


def circle_polygon(
    net: Network,
    node_dist: np.ndarray,
    limit_m: float,
    *,
    facilities: Snapped | None = None,
    width_m: float = DEFAULT_WIDTH_M,
) -> shapely.Geometry:
    """The service circle: reached street stretches buffered by ``width_m`` (metric CRS)."""
    return layer_polygons(net, node_dist, [limit_m], facilities=facilities, width_m=width_m)[0]


def facility_polygons(
    net: Network,
    facilities: Snapped,
    limits: Sequence[float],
    *,
    dist: sp.csr_matrix | None = None,
    width_m: float = DEFAULT_WIDTH_M,
    drawer: ExactDrawer | None = None,
) -> np.ndarray:
    """One circle per facility and limit (metric CRS), nested smallest inside largest.

    Parameters
    ----------
    facilities
        Snapped facilities; unsnapped ones get empty polygons.
    limits
        Ascending distances in metres (one per threshold and profile).
    dist
        Per-facility distances from :func:`geo.circles.per_source` with a limit of at least
        ``max(limits)``; computed here when not given.

    Returns
    -------
    numpy.ndarray
        Object array of shape ``(len(facilities), len(limits))``.
    """
    limits = [float(x) for x in limits]
    if sorted(limits) != limits:
        raise ValueError("limits must be ascending")
    if dist is None:
        dist = per_source(net, facilities, limit=max(limits))
    drawer = drawer or ExactDrawer(net, width_m)
    out = np.empty((len(facilities), len(limits)), dtype=object)
    out[:] = shapely.Polygon()
    for i in np.flatnonzero(facilities.ok):
        lo, hi = dist.indptr[i], dist.indptr[i + 1]
        own = facilities.subset(np.arange(len(facilities)) == i)
        polys = drawer.nested(partial(source_intervals, net, dist.indices[lo:hi], dist.data[lo:hi], own=own), limits)
        for j, p in enumerate(polys):
            out[i, j] = p
    return out
