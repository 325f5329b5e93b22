"""Walk distances from many facilities at once: one multi-source Dijkstra per layer.

Facilities sit *on* edges, not on nodes. Each facility becomes a virtual node with two arcs,
to its edge's ends, of the lengths along the edge; one ``scipy.sparse.csgraph.dijkstra`` with
``min_only=True`` from all virtual nodes then gives every network node its nearest facility,
the distance to it and the predecessor tree (for routes). The virtual rows are appended to
the base CSR arrays, so no sort or rebuild of the network is needed per layer.

Distances are in metres; a walking profile only divides them by a speed, so one search serves
every profile and threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geo.kinds import PROFILES
from geo.network import MIN_ARC_M, Network, Snapped

__all__ = ["PROFILES", "Reach", "metres_for", "multi_source", "per_source", "point_distances"]


def metres_for(minutes: float, speed_kmh: float) -> float:
    """How far one walks in ``minutes`` at ``speed_kmh``."""
    return minutes * speed_kmh * 1000.0 / 60.0


@dataclass(frozen=True, eq=False)
class Reach:
    """Result of one multi-source search.

    ``dist[i]``: metres from node ``i`` to its nearest facility (``inf`` if none in reach);
    ``source[i]``: index of that facility in the layer (-1 if none);
    ``pred[i]``: the previous node on the way back to the facility (-1 at the facility's
    edge, where ``pred`` points to the virtual node, i.e. the facility itself).
    """

    dist: np.ndarray
    source: np.ndarray
    pred: np.ndarray
    facilities: Snapped  # snapped facilities of the layer (all, including unsnapped)

    def route_nodes(self, node: int) -> list[int]:
        """Nodes from ``node`` back to the facility's edge (inclusive), bounded by N steps."""
        out = [int(node)]
        n = len(self.dist)
        while True:
            p = int(self.pred[out[-1]])
            if p < 0 or p >= n or len(out) > n:
                return out
            out.append(p)


def multi_source(net: Network, facilities: Snapped, *, limit: float = np.inf) -> Reach:
    """Nearest facility and distance for every node, from one Dijkstra.

    Parameters
    ----------
    net
        The walking network.
    facilities
        Facilities snapped onto edges; those with ``ok == False`` take no part.
    limit
        Stop the search beyond this many metres (nodes farther get ``inf``).
    """
    n = net.n_nodes
    ok = np.flatnonzero(facilities.ok)
    if len(ok) == 0:
        inf = np.full(n, np.inf)
        return Reach(inf, np.full(n, -1, np.int64), np.full(n, -1, np.int64), facilities)
    e = facilities.edge[ok]
    a = facilities.along[ok]
    base = net.csr
    k = len(ok)
    # two arcs per virtual row: to u (length along) and to v (length - along)
    cols = np.column_stack([net.edge_u[e], net.edge_v[e]])
    w = np.column_stack([a, net.edge_len[e] - a])
    w = np.maximum(w, MIN_ARC_M)
    loop = cols[:, 0] == cols[:, 1]  # self-loop edge: one arc, the shorter way round
    w[loop, 0] = np.minimum(w[loop, 0], w[loop, 1])
    counts = np.where(loop, 1, 2)
    flat_cols = cols[:, :][np.column_stack([np.ones(k, bool), ~loop])]
    flat_w = w[np.column_stack([np.ones(k, bool), ~loop])]
    indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(counts)])
    g = sp.csr_matrix(
        (
            np.concatenate([base.data, flat_w]),
            np.concatenate([base.indices, flat_cols.astype(base.indices.dtype)]),
            indptr,
        ),
        shape=(n + k, n + k),
    )
    virtual = np.arange(n, n + k)
    dist, pred, src = dijkstra(g, directed=True, indices=virtual, min_only=True, return_predecessors=True, limit=limit)
    dist = dist[:n]
    src = src[:n].astype(np.int64)
    pred = pred[:n].astype(np.int64)
    source = np.where(src >= n, ok[np.clip(src - n, 0, k - 1)], -1)
    source[~np.isfinite(dist)] = -1
    pred[pred >= n] = -1
    pred[pred < 0] = -1
    return Reach(dist=dist, source=source, pred=pred, facilities=facilities)


def point_distances(net: Network, reach: Reach, points: Snapped) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m) and nearest facility for points placed on edges (homes, query points).

    The best of: via the edge's ``u`` end, via its ``v`` end, or straight along the edge to a
    facility on the same edge.
    """
    n = len(points)
    dist = np.full(n, np.inf)
    src = np.full(n, -1, np.int64)
    ok = np.flatnonzero(points.ok)
    if len(ok) == 0:
        return dist, src
    e = points.edge[ok]
    a = points.along[ok]
    du = reach.dist[net.edge_u[e]] + a
    dv = reach.dist[net.edge_v[e]] + (net.edge_len[e] - a)
    best = np.minimum(du, dv)
    bsrc = np.where(du <= dv, reach.source[net.edge_u[e]], reach.source[net.edge_v[e]])
    # facilities on the same edge: direct walk along it
    fac = reach.facilities
    fok = np.flatnonzero(fac.ok)
    if len(fok):
        f_edge = fac.edge[fok]
        order = np.argsort(f_edge, kind="stable")
        f_edge_s = f_edge[order]
        lo = np.searchsorted(f_edge_s, e, side="left")
        hi = np.searchsorted(f_edge_s, e, side="right")
        has = np.flatnonzero(hi > lo)
        if len(has):
            # every (point, facility on its edge) pair, in the stable edge order
            cnt = hi[has] - lo[has]
            first = np.concatenate([[0], np.cumsum(cnt)[:-1]])
            pt = np.repeat(has, cnt)
            cand = fok[order[np.arange(int(cnt.sum())) + np.repeat(lo[has] - first, cnt)]]
            d = np.abs(fac.along[cand] - a[pt])
            dmin = np.minimum.reduceat(d, first)
            # per point, the first pair at its minimum (what argmin picks)
            at_min = np.flatnonzero(d == np.repeat(dmin, cnt))
            j = at_min[np.unique(pt[at_min], return_index=True)[1]]
            better = dmin < best[has]
            best[has[better]] = dmin[better]
            bsrc[has[better]] = cand[j][better]
    dist[ok] = best
    src[ok] = np.where(np.isfinite(best), bsrc, -1)
    return dist, src


def per_source(net: Network, facilities: Snapped, *, limit: float, chunk: int = 128) -> sp.csr_matrix:
    """Walk distances from *each* facility on its own, up to ``limit`` metres.

    Where :func:`multi_source` answers "how far is the *nearest* facility", this answers "how
    far is *this* facility" — what a per-facility service circle needs. Each facility is a
    virtual node on its edge (as in :func:`multi_source`). Facilities are taken ``chunk`` at a
    time, near ones together (:func:`_spatial_order`): one bounded multi-source search finds
    the nodes any of them reaches within ``limit``, and the single-source searches run on the
    network cut to those nodes — exact, since every node on a shortest path within ``limit``
    is itself within ``limit`` of its source — so memory and time follow the reached part,
    ``chunk x reached`` floats, not ``chunk x N``.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(facilities), N)``: row ``i`` holds the distances (m) from facility ``i``
        to the nodes it reaches within ``limit``, columns in increasing order; absent entries
        are out of reach. Rows of unsnapped facilities are empty. Stored distances are never 0
        (arcs are at least :data:`geo.network.MIN_ARC_M` long), so the sparse structure is exact.
    """
    n = net.n_nodes
    k_all = len(facilities)
    ok = np.flatnonzero(facilities.ok)
    indptr = np.zeros(k_all + 1, dtype=np.int64)
    if len(ok) == 0:
        return sp.csr_matrix((np.zeros(0), np.zeros(0, np.int32), indptr), shape=(k_all, n))
    fac = facilities.subset(facilities.ok)
    g, _ = _with_virtual(net, fac)
    rows, cols, vals = [], [], []
    order = _spatial_order(fac.xy, limit)
    for lo in range(0, len(ok), chunk):
        idx = order[lo : lo + chunk]
        near = dijkstra(g, directed=True, indices=n + idx, limit=limit, min_only=True)
        keep = np.flatnonzero(np.isfinite(near))  # sorted: the chunk's own virtual nodes come last
        d = dijkstra(g[keep][:, keep], directed=True, indices=np.searchsorted(keep, n + idx), limit=limit)
        r, c = np.nonzero(np.isfinite(d))
        node = keep[c]
        real = node < n  # the chunk's virtual nodes themselves (distance 0) are not network nodes
        rows.append(ok[idx[r[real]]])
        cols.append(node[real])
        vals.append(d[r[real], c[real]])
    r = np.concatenate(rows)
    indptr[1:] = np.cumsum(np.bincount(r, minlength=k_all))
    by_row = np.argsort(r, kind="stable")  # each row comes from one chunk, its columns already increasing
    return sp.csr_matrix(
        (np.concatenate(vals)[by_row], np.concatenate(cols)[by_row].astype(np.int32), indptr), shape=(k_all, n)
    )


def _spatial_order(xy: np.ndarray, cell: float) -> np.ndarray:
    """Indices of the points ``xy`` (metric) in Z-order of cells of ``cell`` metres: near points together."""
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    ij = np.floor((xy - xy.min(axis=0)) / max(cell, 1.0)).astype(np.uint64)
    ij = np.minimum(ij, np.uint64(0xFFFF))
    key = np.zeros(len(xy), dtype=np.uint64)
    for bit in range(16):
        b = np.uint64(bit)
        key |= ((ij[:, 0] >> b) & np.uint64(1)) << np.uint64(2 * bit)
        key |= ((ij[:, 1] >> b) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return np.argsort(key, kind="stable")


def _with_virtual(net: Network, fac: Snapped) -> tuple[sp.csr_matrix, int]:
    """The network CSR with one virtual row per (snapped) facility appended (rows N..N+k-1)."""
    n = net.n_nodes
    base = net.csr
    k = len(fac)
    e, a = fac.edge, fac.along
    cols = np.column_stack([net.edge_u[e], net.edge_v[e]])
    w = np.maximum(np.column_stack([a, net.edge_len[e] - a]), MIN_ARC_M)
    loop = cols[:, 0] == cols[:, 1]
    w[loop, 0] = np.minimum(w[loop, 0], w[loop, 1])
    keep = np.column_stack([np.ones(k, bool), ~loop])
    counts = np.where(loop, 1, 2)
    indptr = np.concatenate([base.indptr, base.indptr[-1] + np.cumsum(counts)])
    g = sp.csr_matrix(
        (
            np.concatenate([base.data, w[keep]]),
            np.concatenate([base.indices, cols[keep].astype(base.indices.dtype)]),
            indptr,
        ),
        shape=(n + k, n + k),
    )
    return g, k
