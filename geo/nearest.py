"""Nearest facilities by walk time from one point, with the walking route.

Two ways to answer, both exact on the same network arrays:

* :meth:`NearestIndex.from_labels` — the answer is already known. A layer's multi-source
  search (:class:`geo.circles.Reach`) labelled every node with its nearest facility, the
  distance and the predecessor towards it, so the nearest facility of a point on an edge is
  the best of "via the edge's ``u`` end", "via its ``v`` end" or "along the same edge", and the
  route is read back from the predecessor tree. No graph search per query.
* :meth:`NearestIndex.search` — k nearest, or the nearest of a filtered subset (by tier,
  service, opening time) that has no precomputed labels: one bounded Dijkstra from the
  point's two edge ends (``scipy.sparse.csgraph.dijkstra`` with ``limit``), never farther
  than ``limit`` metres.

Routes are polylines in the metric CRS built from the real edge geometry: the part of the
query point's edge up to the end it leaves by, whole edges between nodes, and the part of the
facility's edge up to its snapped position. Their length equals the walk distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra

from geo.circles import Reach
from geo.network import MIN_ARC_M, Network, Snapped


@dataclass(frozen=True, eq=False)
class Route:
    """One answer: a facility, how far it is on foot, and the way there.

    ``facility`` indexes the layer's facility table; ``metres`` is the walk distance;
    ``xy`` the route polyline (metric CRS) from the query's snapped point to the facility's.
    """

    facility: int
    metres: float
    xy: np.ndarray

    def length(self) -> float:
        """Length of the route polyline (metres); equals ``metres`` up to float rounding."""
        if len(self.xy) < 2:
            return 0.0
        return float(np.hypot(*np.diff(self.xy, axis=0).T).sum())


class NearestIndex:
    """Route building over one network: a (node, node) -> shortest edge lookup, built once.

    Parameters
    ----------
    net
        The walking network. Cheap to build (one sort over the arcs); build it once per
        network and reuse it for every query.
    """

    def __init__(self, net: Network) -> None:
        self.net = net
        n = net.n_nodes
        rows = np.concatenate([net.edge_u, net.edge_v])
        cols = np.concatenate([net.edge_v, net.edge_u])
        eid = np.concatenate([np.arange(net.n_edges), np.arange(net.n_edges)])
        w = np.concatenate([net.edge_len, net.edge_len])
        key = rows.astype(np.int64) * n + cols.astype(np.int64)
        order = np.lexsort((w, key))  # by pair, shortest edge first: the one the CSR keeps
        k = key[order]
        first = np.ones(len(k), bool)
        first[1:] = k[1:] != k[:-1]
        self._keys = k[first]
        self._edge = eid[order][first]

    # -- pieces of routes -------------------------------------------------------------------

    def edges_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The shortest edge joining each pair ``a[i] - b[i]`` of adjacent nodes."""
        key = np.asarray(a, np.int64) * self.net.n_nodes + np.asarray(b, np.int64)
        pos = np.searchsorted(self._keys, key)
        if np.any(pos >= len(self._keys)) or np.any(self._keys[np.minimum(pos, len(self._keys) - 1)] != key):
            raise ValueError("nodes are not adjacent in the network")
        return self._edge[pos]

    def partial(self, e: int, s0: float, s1: float) -> np.ndarray:
        """Coordinates along edge ``e`` from ``s0`` to ``s1`` metres from its ``u`` end."""
        net = self.net
        c = net.edge_coords(e)
        cum = net.geom_cum[net.geom_start[e] : net.geom_end[e] + 1]
        lo, hi = (s0, s1) if s0 <= s1 else (s1, s0)
        inner = c[(cum > lo) & (cum < hi)]
        pts = np.vstack([_at(c, cum, lo), inner, _at(c, cum, hi)])
        return pts if s0 <= s1 else pts[::-1]

    def node_path(self, nodes: list[int] | np.ndarray) -> np.ndarray:
        """Coordinates of a walk along whole edges through ``nodes`` (in that order)."""
        net = self.net
        nodes = np.asarray(nodes, np.int64)
        if len(nodes) < 2:
            return net.node_xy[nodes]
        edges = self.edges_between(nodes[:-1], nodes[1:])
        parts = [net.node_xy[nodes[:1]]]
        for a, e in zip(nodes[:-1], edges, strict=True):
            c = net.edge_coords(int(e))
            parts.append((c if net.edge_u[e] == a else c[::-1])[1:])
        return np.vstack(parts)

    def _tail(self, fac: Snapped, f: int, end_node: int) -> np.ndarray:
        """From ``end_node`` (an end of facility ``f``'s edge) along the edge to the facility."""
        net = self.net
        e, a = int(fac.edge[f]), float(fac.along[f])
        length = float(net.edge_len[e])
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        # a loop (u == v): the shorter way round, as geo.circles.multi_source weighs it
        from_u = a <= length - a if u == v else end_node == u
        return self.partial(e, 0.0 if from_u else length, a)

    def _assemble(self, point: Snapped, end: float | None, nodes: list[int] | None, fac: Snapped, f: int) -> np.ndarray:
        """Query point -> (its edge's end at ``end`` metres -> ``nodes`` ->) facility ``f``.

        ``end`` is 0 (leaving by the edge's ``u`` end) or the edge length (by ``v``); ``None``
        walks along the query's own edge straight to the facility (and ``nodes`` is ``None``).
        """
        e, a = int(point.edge[0]), float(point.along[0])
        if end is None or nodes is None:
            return _dedupe(self.partial(e, a, float(fac.along[f])))
        parts = [self.partial(e, a, end), self.node_path(nodes)[1:], self._tail(fac, f, int(nodes[-1]))[1:]]
        return _dedupe(np.vstack(parts))

    # -- answers ----------------------------------------------------------------------------

    def from_labels(self, reach: Reach, point: Snapped, *, limit: float = np.inf) -> Route | None:
        """The nearest facility of ``reach``'s layer from one snapped point, read off the labels.

        The same choice as :func:`geo.circles.point_distances` (via ``u`` when not worse than
        via ``v``; along the same edge only when strictly shorter), so the facility and the
        distance agree with the coverage figures. ``None`` when no facility is within ``limit``.
        """
        net = self.net
        if len(point) != 1 or not bool(point.ok[0]):
            return None
        e, a = int(point.edge[0]), float(point.along[0])
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        du = reach.dist[u] + a
        dv = reach.dist[v] + (net.edge_len[e] - a)
        node, end, best = (u, 0.0, du) if du <= dv else (v, float(net.edge_len[e]), dv)
        fac = reach.facilities
        f = int(reach.source[node]) if np.isfinite(best) else -1
        same = np.flatnonzero(fac.ok & (fac.edge == e))
        direct = False  # along the query's own edge straight to the facility
        if len(same):
            d = np.abs(fac.along[same] - a)
            j = int(np.argmin(d))
            if d[j] < best:
                best, f, direct = float(d[j]), int(same[j]), True
        if f < 0 or not best <= limit:
            return None
        if direct:
            return Route(f, float(best), self._assemble(point, None, None, fac, f))
        return Route(f, float(best), self._assemble(point, end, reach.route_nodes(node), fac, f))

    def search(
        self, facilities: Snapped, point: Snapped, *, k: int = 1, mask: np.ndarray | None = None, limit: float
    ) -> list[Route]:
        """The ``k`` nearest facilities (of those where ``mask`` is true) within ``limit`` metres.

        One Dijkstra from the two ends of the point's edge, stopped at ``limit``: the work is
        bounded by the network within ``limit`` of the point, whatever ``k`` is. Ties are
        broken by facility index. Fewer than ``k`` routes come back when fewer facilities are
        within ``limit``.
        """
        net = self.net
        if len(point) != 1 or not bool(point.ok[0]) or k < 1:
            return []
        if not np.isfinite(limit):
            raise ValueError("search needs a finite limit (metres)")
        e, a = int(point.edge[0]), float(point.along[0])
        length = float(net.edge_len[e])
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        d, pred = dijkstra(net.csr, directed=True, indices=[u, v], limit=limit, return_predecessors=True)
        from_end = np.vstack([d[0] + a, d[1] + (length - a)])  # query -> node, leaving by u / by v
        side = np.argmin(from_end, axis=0)
        dq = from_end[side, np.arange(net.n_nodes)]

        ok = facilities.ok.copy()
        if mask is not None:
            ok &= np.asarray(mask, bool)
        idx = np.flatnonzero(ok)
        if len(idx) == 0:
            return []
        fe = facilities.edge[idx]
        fa = facilities.along[idx]
        fu, fv = net.edge_u[fe], net.edge_v[fe]
        # the same arc weights geo.circles.multi_source gives a facility's virtual node
        cu = dq[fu] + np.maximum(fa, MIN_ARC_M)
        cv = dq[fv] + np.maximum(net.edge_len[fe] - fa, MIN_ARC_M)
        best = np.minimum(cu, cv)
        via = np.where(cu <= cv, fu, fv)
        direct = (fe == e) & (np.abs(fa - a) < best)
        best = np.where(direct, np.abs(fa - a), best)
        within = np.flatnonzero(best <= limit)
        if len(within) == 0:
            return []
        order = within[np.lexsort((idx[within], best[within]))][:k]
        routes = []
        for j in order:
            f = int(idx[j])
            if direct[j]:
                routes.append(Route(f, float(best[j]), self._assemble(point, None, None, facilities, f)))
                continue
            end_node = int(via[j])
            s = int(side[end_node])
            nodes = _back(pred[s], end_node, u if s == 0 else v)
            end = 0.0 if s == 0 else length
            routes.append(Route(f, float(best[j]), self._assemble(point, end, nodes, facilities, f)))
        return routes


def _back(pred: np.ndarray, node: int, start: int) -> list[int]:
    """Nodes from ``start`` to ``node`` following a predecessor row (bounded by its length)."""
    out = [int(node)]
    while out[-1] != start and len(out) <= len(pred):
        p = int(pred[out[-1]])
        if p < 0:
            break
        out.append(p)
    return out[::-1]


def _at(c: np.ndarray, cum: np.ndarray, s: float) -> np.ndarray:
    """The point ``s`` metres along a polyline with cumulative vertex distances ``cum``."""
    s = min(max(s, 0.0), float(cum[-1]))
    i = int(np.searchsorted(cum, s, side="right")) - 1
    i = min(max(i, 0), len(c) - 2) if len(c) > 1 else 0
    if len(c) == 1:
        return c[:1]
    seg = cum[i + 1] - cum[i]
    t = 0.0 if seg <= 0 else (s - cum[i]) / seg
    return (c[i] + t * (c[i + 1] - c[i]))[None, :]


def _dedupe(xy: np.ndarray) -> np.ndarray:
    """Drop consecutive repeated vertices (where pieces join)."""
    if len(xy) < 2:
        return xy
    keep = np.ones(len(xy), bool)
    keep[1:] = np.any(np.abs(np.diff(xy, axis=0)) > 1e-9, axis=1)
    return xy[keep]
