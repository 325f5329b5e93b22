"""Service-circle polygons built from the street segments a person really reaches.

A circle is the union of the reached parts of edges, buffered by a street-side width: a whole
edge when it is reached from both ends or from one end with time to spare, and the reached
*part* of an edge, cut along its real geometry, where the time runs out mid-way. Never a convex
hull of reached nodes: hulls jump rivers, rail lines and walls. Holes (blocks whose inside is
farther than the width from every reached street) are kept.

Speed. The union of many buffers is what costs (GEOS overlay); three things keep it down:

* the buffers of *whole* edges are made once per network and width and reused by every
  circle (only the cut ends of partly reached edges are buffered per circle);
* circles of one facility are built smallest threshold first, and the next one is the
  previous polygon united with the buffers of the stretches that were not already whole:
  less work, and nesting (the 10-minute circle inside the 15-minute one) holds by construction;
* many per-facility circles are spread over worker processes (``workers``).

``bench/polygons.py`` measures the cost per polygon against the naive ``union_all`` of
per-stretch buffers.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from geo.network import Network, Snapped

#: default street-side width (m): how far from a reached street a circle claims land.
DEFAULT_WIDTH_M = 30.0
#: segments per quarter circle of the round caps and joins (chords lie inside the true
#: buffer, so a circle never claims land farther than ``width`` from a reached street).
QUAD_SEGS = 4
#: below this many polygons, worker processes cost more than they save.
PARALLEL_MIN = 64

#: side of the square cells whose dissolved edge buffers are made once per network (m).
CELL_M = 150.0
#: from this many per-facility polygons on, the cell unions pay for the ~1-2 s they take.
CELLS_MIN_POLYGONS = 300
#: bump when :class:`CellUnions` changes, so cells kept on disk by an older version are remade.
CELLS_FORMAT = "1"

_EDGE_BUFFERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CELLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_VERTEX_KEY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_INCIDENCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _intervals(net: Network, edges: np.ndarray, du: np.ndarray, dv: np.ndarray, limit_m: float):
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


def _own_edge(net: Network, facilities: Snapped | None, limit_m: float):
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
    """Node -> incident edges (CSR, data = edge index + 1), made once per network."""
    inc = _INCIDENCE.get(net)
    if inc is None:
        e = np.arange(net.n_edges)
        rows = np.concatenate([net.edge_u, net.edge_v])
        inc = sp.csr_matrix(
            (np.concatenate([e, e]) + 1, rows, np.arange(2 * net.n_edges + 1)), shape=(2 * net.n_edges, net.n_nodes)
        ).T.tocsr()
        _INCIDENCE[net] = inc
    return inc


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
    """Every geometry vertex's distance along its edge plus an offset per edge that makes the
    whole array ascending, so one ``searchsorted`` finds positions on many edges at once."""
    got = _VERTEX_KEY.get(net)
    if got is None:
        cum = net.geom_cum
        counts = net.geom_end - net.geom_start + 1
        offset = np.concatenate([[0.0], np.cumsum(cum[net.geom_end] + 1.0)[:-1]])
        got = _VERTEX_KEY[net] = (cum + np.repeat(offset, counts), offset)
    return got


def _cut(net: Network, e: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LineStrings of the stretches ``[a, b]`` of edges ``e`` (all at once, no Python loop)."""
    import shapely

    from geo.network import _ranges

    key, offset = _vertex_key(net)
    cum, xy = net.geom_cum, net.geom_xy
    g0, g1 = net.geom_start[e], net.geom_end[e]

    def point(s):
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


def edge_buffers(net: Network, width_m: float) -> np.ndarray:
    """Buffers of every whole edge at ``width_m``, made once per network and width."""
    import shapely

    per_net = _EDGE_BUFFERS.setdefault(net, {})
    key = float(width_m)
    if key not in per_net:
        per_net[key] = shapely.buffer(net.edge_lines, width_m, quad_segs=QUAD_SEGS)
    return per_net[key]


def stretch_buffers(net: Network, edge: np.ndarray, start: np.ndarray, end: np.ndarray, width_m: float) -> np.ndarray:
    """Buffers of edge stretches: cached ones for whole edges, fresh ones for cut ends."""
    import shapely

    keep = end > start
    edge, start, end = edge[keep], start[keep], end[keep]
    whole = (start <= 1e-9) & (end >= net.edge_len[edge] - 1e-9)
    out = np.empty(len(edge), dtype=object)
    out[whole] = edge_buffers(net, width_m)[edge[whole]]
    if (~whole).any():
        lines = cut_lines(net, edge[~whole], start[~whole], end[~whole])
        out[~whole] = shapely.buffer(lines, width_m, quad_segs=QUAD_SEGS)
    return out


class CellUnions:
    """The network's edges grouped into square cells (by the midpoint of their end nodes), with
    the dissolved buffers of each cell's edges made once.

    Where a circle reaches every edge of a cell whole, the cell's one dissolved polygon stands in
    for all their buffers: the union is the same land, with much less for GEOS to overlay.
    """

    def __init__(self, net: Network, width_m: float, cell_m: float = CELL_M):
        import shapely

        mid = (net.node_xy[net.edge_u] + net.node_xy[net.edge_v]) / 2
        ij = np.floor(mid / cell_m).astype(np.int64)
        _, self.cell = np.unique(ij[:, 0] * 4_294_967_296 + ij[:, 1], return_inverse=True)
        self.cell = self.cell.ravel()
        self.n_cells = int(self.cell.max()) + 1 if len(self.cell) else 0
        self.count = np.bincount(self.cell, minlength=self.n_cells)
        order = np.argsort(self.cell, kind="stable")
        bounds = np.searchsorted(self.cell[order], np.arange(self.n_cells + 1))
        buffers = edge_buffers(net, width_m)
        self.union = np.empty(self.n_cells, dtype=object)
        for c in range(self.n_cells):
            self.union[c] = shapely.union_all(buffers[order[bounds[c]:bounds[c + 1]]])

    def full(self, whole_edges: np.ndarray) -> np.ndarray:
        """Cells all of whose edges are in ``whole_edges`` (unique edge indices), as a mask."""
        return np.bincount(self.cell[whole_edges], minlength=self.n_cells) == self.count


def cell_unions(net: Network, width_m: float, folder=None) -> CellUnions:
    """:class:`CellUnions` of ``net`` at ``width_m``, made once per network and width.

    ``folder`` (a cache folder) keeps them on disk too, keyed by the streets, so another run on
    the same network loads them (~0.1 s) instead of making them (~1-2 s on a city network).
    """
    per_net = _CELLS.setdefault(net, {})
    key = float(width_m)
    if key in per_net:
        return per_net[key]
    path = None
    if folder is not None:
        from geo.circle_cache import network_key

        src = f"{network_key(net)}|{key!r}|{CELL_M!r}|{QUAD_SEGS}|{CELLS_FORMAT}"
        tag = hashlib.sha256(src.encode()).hexdigest()[:24]
        path = Path(folder) / f"cells-{tag}.pickle"
        try:
            with open(path, "rb") as fh:
                got = pickle.load(fh)
            if isinstance(got, CellUnions) and len(got.cell) == net.n_edges:
                per_net[key] = got
                path.touch()  # recently used: pruned last
                return got
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError):
            pass  # absent, stale or broken: made again
    cells = per_net[key] = CellUnions(net, width_m)
    if path is not None:
        from geo.circle_cache import prune
        from geo.io import atomic_write

        try:
            atomic_write(path, lambda p: p.write_bytes(pickle.dumps(cells, protocol=5)))
            prune(path.parent, "cells-*.pickle", keep=path)
        except OSError:
            pass  # a read-only cache folder only costs the next run the making
    return cells


def _pieces(net: Network, e, s, t, width_m: float, cells: CellUnions | None, done_edges=None, done_cells=None):
    """Polygons whose union is the land within ``width_m`` of the stretches ``(e, s, t)``,
    leaving out what is already inside a circle whose whole edges are ``done_edges`` and full
    cells ``done_cells``. Returns the pieces, the whole edges and the full cells."""
    keep = t > s
    e, s, t = e[keep], s[keep], t[keep]
    whole = (s <= 1e-9) & (t >= net.edge_len[e] - 1e-9)
    whole_edges = np.unique(e[whole])
    todo = np.ones(len(e), bool) if done_edges is None else ~np.isin(e, done_edges)
    if cells is None:
        return list(stretch_buffers(net, e[todo], s[todo], t[todo], width_m)), whole_edges, None
    full = cells.full(whole_edges)
    todo &= ~full[cells.cell[e]]
    new_cells = full if done_cells is None else full & ~done_cells
    parts = [*cells.union[np.flatnonzero(new_cells)], *stretch_buffers(net, e[todo], s[todo], t[todo], width_m)]
    return parts, whole_edges, full


def _dissolve(parts: list) -> object:
    import shapely

    parts = np.asarray(parts, dtype=object)
    if len(parts):
        parts = parts[~shapely.is_missing(parts) & ~shapely.is_empty(parts)]
    if not len(parts):
        return shapely.Polygon()
    return shapely.union_all(parts)


def nested_polygons(
    net: Network, stretches_for, limits: Sequence[float], *, width_m: float, cells: CellUnions | None = None
) -> list:
    """Polygons for ascending ``limits``; each built on the previous one (nesting exact).

    ``stretches_for(limit) -> (edge, start, end)`` gives the reached stretches at a limit;
    ``cells`` (:func:`cell_unions`) lets fully reached cells stand in for their edges.
    """
    out, prev, done_edges, done_cells = [], None, None, None
    for lim in limits:
        e, s, t = stretches_for(lim)
        # stretches on edges already whole at the smaller limit are inside ``prev``
        parts, done_edges, done_cells = _pieces(net, e, s, t, width_m, cells, done_edges, done_cells)
        poly = _dissolve(parts if prev is None else [prev, *parts])
        prev = poly
        out.append(poly)
    return out


def circle_polygon(
    net: Network,
    node_dist: np.ndarray,
    limit_m: float,
    *,
    facilities: Snapped | None = None,
    width_m: float = DEFAULT_WIDTH_M,
):
    """The service circle: reached street stretches buffered by ``width_m`` (metric CRS)."""
    return layer_polygons(net, node_dist, [limit_m], facilities=facilities, width_m=width_m)[0]


def layer_polygons(
    net: Network,
    node_dist: np.ndarray,
    limits: Sequence[float],
    *,
    facilities: Snapped | None = None,
    width_m: float = DEFAULT_WIDTH_M,
    cells: CellUnions | None = None,
) -> list:
    """Dissolved circles of a whole layer (``node_dist``: nearest-facility metres), one per limit.

    ``limits`` must be ascending; each polygon lies inside the next.
    """
    return nested_polygons(
        net, lambda lim: reached_intervals(net, node_dist, lim, facilities), limits, width_m=width_m, cells=cells
    )


def _one_facility(net: Network, row_nodes, row_dist, own: Snapped, limits, width_m, cells=None) -> list:
    return nested_polygons(
        net, lambda lim: source_intervals(net, row_nodes, row_dist, lim, own), limits, width_m=width_m, cells=cells
    )


_WORK: dict = {}


def _task(task: tuple) -> list:
    """One unit of pool work: ``("layer", k)`` or ``("facilities", j, ids)``; WKB out."""
    import shapely

    w = _WORK
    if task[0] == "layer":
        node_dist, fac = w["layers"][task[1]]
        polys = layer_polygons(w["net"], node_dist, w["limits"], facilities=fac, width_m=w["width"],
                               cells=w["cells"])
        return [shapely.to_wkb(p) for p in polys]
    fac, dist = w["facilities"][task[1]]
    out = []
    for i in task[2]:
        lo, hi = dist.indptr[i], dist.indptr[i + 1]
        polys = _one_facility(w["net"], dist.indices[lo:hi], dist.data[lo:hi],
                              fac.subset(np.arange(len(fac)) == i), w["limits"], w["width"], w["cells"])
        out.append([shapely.to_wkb(p) for p in polys])
    return out


def _indexed_task(item: tuple[int, tuple]) -> tuple[int, list]:
    return item[0], _task(item[1])


def circle_sets(
    net: Network,
    layers: Sequence[tuple[np.ndarray, Snapped | None]],
    facilities: Sequence[tuple[Snapped, sp.csr_matrix | None]],
    limits: Sequence[float],
    *,
    width_m: float = DEFAULT_WIDTH_M,
    workers: int | None = None,
    cells: bool | None = None,
    cache=None,
    progress=None,
) -> tuple[list[list], list[np.ndarray]]:
    """Dissolved layer circles and per-facility circles, all in one pool of worker processes.

    One pool for both kinds keeps every core busy to the end: the big layer unions start
    first and the many small per-facility tasks fill in around them.

    Parameters
    ----------
    layers
        ``(node_dist, facilities)`` per layer, as for :func:`layer_polygons`.
    facilities
        ``(snapped facilities, per-facility distances or None)`` per set, as for
        :func:`facility_polygons`.
    limits
        Ascending distances in metres.
    workers
        Processes (default: the CPU count when the work is big enough to pay for them).
    cells
        Let fully reached cells stand in for their edges (:class:`CellUnions`; the same land,
        drawn faster). Default: when there are at least :data:`CELLS_MIN_POLYGONS`
        per-facility polygons, which pay for making the cells.
    cache
        A cache folder where the cells are kept between runs (see :func:`cell_unions`).
    progress
        Called as ``progress(polygons_drawn, polygons_in_all)`` whenever a task finishes.

    Returns
    -------
    tuple
        One list of polygons per layer (one per limit) and one object array
        ``(len(facilities), len(limits))`` per facility set, in the order given.
    """
    import shapely

    from geo.circles import per_source

    limits = [float(x) for x in limits]
    if sorted(limits) != limits:
        raise ValueError("limits must be ascending")
    fac_sets, todo = [], []
    for fac, dist in facilities:
        ids = [int(i) for i in np.flatnonzero(fac.ok)] if limits else []
        if ids and dist is None:
            dist = per_source(net, fac, limit=max(limits))
        fac_sets.append((fac, dist))
        todo.append(ids)
    n_fac = sum(len(ids) for ids in todo)
    if workers is None:
        big = len(layers) > 1 or n_fac * len(limits) >= PARALLEL_MIN
        workers = (os.cpu_count() or 1) if big else 1
    parallel = workers > 1 and len(layers) + n_fac > 1 and _can_fork()
    # the biggest layers first, so the pool's last tasks are small ones
    order = sorted(range(len(layers)), key=lambda k: -int(np.isfinite(layers[k][0]).sum()))
    tasks: list[tuple] = [("layer", k) for k in order]
    for j, ids in enumerate(todo):
        step = max(1, min(8, len(ids) // (workers * 4) or 1)) if parallel else max(1, len(ids))
        tasks += [("facilities", j, ids[a:a + step]) for a in range(0, len(ids), step)]
    if cells is None:
        cells = n_fac * len(limits) >= CELLS_MIN_POLYGONS
    edge_buffers(net, width_m)  # made before forking, shared by the workers
    unions = cell_unions(net, width_m, cache) if cells else None
    _WORK.update(net=net, layers=list(layers), facilities=fac_sets, limits=limits, width=width_m, cells=unions)
    total = (len(layers) + n_fac) * len(limits)
    drawn = 0

    def done(task) -> None:
        nonlocal drawn
        drawn += len(limits) * (1 if task[0] == "layer" else len(task[2]))
        if progress is not None:
            progress(drawn, total)

    results: list = [None] * len(tasks)
    try:
        if parallel:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers, initializer=_child_init) as pool:
                for k, res in pool.imap_unordered(_indexed_task, enumerate(tasks), chunksize=1):
                    results[k] = res
                    done(tasks[k])
        else:
            for k, task in enumerate(tasks):
                results[k] = _task(task)
                done(task)
    finally:
        _WORK.clear()
    layer_out: list[list] = [[] for _ in layers]
    fac_out = []
    for fac, _ in fac_sets:
        arr = np.full((len(fac), len(limits)), None, dtype=object)
        arr[:] = shapely.Polygon()
        fac_out.append(arr)
    for task, res in zip(tasks, results):
        if task[0] == "layer":
            layer_out[task[1]] = list(shapely.from_wkb(res))
        else:
            for i, wkbs in zip(task[2], res):
                fac_out[task[1]][i] = shapely.from_wkb(wkbs)
    return layer_out, fac_out


def facility_polygons(
    net: Network,
    facilities: Snapped,
    limits: Sequence[float],
    *,
    dist: sp.csr_matrix | None = None,
    width_m: float = DEFAULT_WIDTH_M,
    workers: int | None = None,
    cells: bool | None = None,
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
    workers
        Processes to spread the facilities over (default: the CPU count when there are at
        least :data:`PARALLEL_MIN` polygons, else 1).
    cells
        Draw with :class:`CellUnions` (default: from :data:`CELLS_MIN_POLYGONS` polygons on).

    Returns
    -------
    numpy.ndarray
        Object array of shape ``(len(facilities), len(limits))``.
    """
    return circle_sets(net, [], [(facilities, dist)], limits, width_m=width_m, workers=workers, cells=cells)[1][0]


def _child_init() -> None:
    """Forked workers take the default signal handling back: a parent that handles SIGTERM
    itself (uvicorn) would otherwise pass its handler on, ``Pool.terminate`` could not stop
    a worker waiting on the task queue, and the parent would wait for it forever."""
    import signal

    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def _can_fork() -> bool:
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods()


def many_layer_polygons(
    net: Network,
    jobs: Sequence[tuple[np.ndarray, Snapped | None]],
    limits: Sequence[float],
    *,
    width_m: float = DEFAULT_WIDTH_M,
    workers: int | None = None,
) -> list[list]:
    """:func:`layer_polygons` for several layers at once, spread over worker processes.

    Parameters
    ----------
    jobs
        ``(node_dist, facilities)`` per layer (nearest-facility metres and the snapped
        facilities, as for :func:`layer_polygons`).
    workers
        Processes (default: the CPU count when there is more than one layer).

    Returns
    -------
    list
        One list of polygons (one per limit, ascending) per job, in the order given.
    """
    return circle_sets(net, jobs, [], limits, width_m=width_m, workers=workers)[0]


def facility_circle(result, layer: str, facility_index: int, minutes: float, profile: str | None = None, *,
                    metric: bool = False):
    """One facility's service circle, drawn on demand from a plan's result.

    The same construction as the per-facility rows of ``circles.geojson`` (one search from
    the facility bounded by this walk time, then its reached stretches buffered), so a plan
    run with ``per_facility=False`` can still answer for any facility; ~10-20 ms.

    Parameters
    ----------
    result
        A :class:`geo.plan.PlanResult`.
    layer
        Layer name (a key of ``result.layers``).
    facility_index
        Row of the facility in ``result.layers[layer].facilities`` (0-based).
    minutes
        Walk time (any positive value, not only the plan's thresholds).
    profile
        Walking profile (default: the plan's first); the plan's ``speed_kmh`` overrides it.
    metric
        Return the polygon in the network's metric CRS instead of WGS84 lon/lat.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        Empty when the facility is not placed on the network.

    Raises
    ------
    geo.errors.UnknownNameError
        For an unknown layer or profile.
    geo.errors.InputError
        For a facility index out of range or a walk time that is not positive.
    """
    import shapely

    from geo.circles import PROFILES, metres_for, per_source
    from geo.errors import InputError, UnknownNameError

    if layer not in result.layers:
        raise UnknownNameError("layer", layer, list(result.layers))
    params = result.params
    profile = profile or params.profiles[0]
    if profile not in PROFILES:
        raise UnknownNameError("profile", profile, PROFILES)
    lr = result.layers[layer]
    n = len(lr.snapped)
    problems = []
    if not (0 <= int(facility_index) < n):
        problems.append(f"facility_index: {facility_index} is outside 0..{n - 1} ({n} facilities in {layer})")
    if not (minutes > 0):
        problems.append(f"minutes: {minutes:g} is not a positive walk time")
    if problems:
        raise InputError("facility circle", problems)
    net = result.network
    i = int(facility_index)
    if not lr.snapped.ok[i]:
        return shapely.Polygon()
    limit = metres_for(float(minutes), params.speed_kmh or PROFILES[profile])
    one = lr.snapped.subset(np.arange(n) == i)
    row = per_source(net, one, limit=limit)
    cells = _CELLS.get(net, {}).get(float(params.width_m))  # when a plan made them already
    poly = _one_facility(net, row.indices, row.data, one, [limit], params.width_m, cells)[0]
    if metric or poly.is_empty:
        return poly
    return shapely.transform(poly, lambda c: net.unproject(c))
