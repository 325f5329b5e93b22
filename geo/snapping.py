"""Which edge is nearest each point: the rule :meth:`geo.network.Network.snap` follows.

The nearest edge within a limit; of edges equally near (a point nearest a junction is as near
every edge meeting there), the lowest-numbered. Found with one query of the STRtree of every
edge, or, for a few points on a network whose tree is not made yet (a follow-up's new station or
link end, on a network read from a saved plan), among the edges whose extent lies within the
limit only: the same answer without making a line of every edge and their tree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

if TYPE_CHECKING:
    from geo.network import Network

#: at most this many points are snapped without the STRtree of every edge
FEW_POINTS = 16


def nearest_edges(
    net: Network, pts: np.ndarray, xy: np.ndarray, max_dist: float, *, among: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point's nearest edge within ``max_dist``: ``(point, edge, distance)`` arrays, by point.

    ``pts`` are the points ``xy`` (metric, ``(n, 2)``) as shapely points; ``among``: the edges
    (ascending) to choose from, all when None. Points with no edge within ``max_dist`` are left out.
    """
    few = len(xy) <= FEW_POINTS and (among is not None or "edge_tree" not in net.__dict__)
    near = _edges_near(net, xy, max_dist, among) if few else None
    if near is not None:
        pi, ei, d = nearest_edges_among(pts, near, net.lines_of(near[1]), max_dist)
    elif among is None:
        (pi, ei), d = net.edge_tree.query_nearest(pts, max_distance=max_dist, return_distance=True, all_matches=True)
    else:
        tree = shapely.STRtree(net.lines_of(among))
        (pi, ti), d = tree.query_nearest(pts, max_distance=max_dist, return_distance=True, all_matches=True)
        ei = among[ti]
    if len(pi) > 1 and (np.diff(pi) <= 0).any():  # equally near edges: the lowest-numbered
        order = np.lexsort((ei, pi))
        pi, ei, d = pi[order], ei[order], d[order]
        first = np.concatenate([[True], pi[1:] != pi[:-1]])
        pi, ei, d = pi[first], ei[first], d[first]
    return pi, ei, d


def _edges_near(
    net: Network, xy: np.ndarray, max_dist: float, among: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(point, edge)`` pairs of the edges (of ``among``) whose extent lies within ``max_dist`` of each point.

    None when they are many (a quarter of the edges or more): then a tree is cheaper.
    """
    lo, hi = net.edge_extent
    if among is not None:
        lo, hi = lo[among], hi[among]
    points, edges = [], []
    for i, (x, y) in enumerate(xy):
        e = np.flatnonzero(
            (lo[:, 0] <= x + max_dist)
            & (hi[:, 0] >= x - max_dist)
            & (lo[:, 1] <= y + max_dist)
            & (hi[:, 1] >= y - max_dist)
        )
        points.append(np.full(len(e), i, np.int64))
        edges.append(e.astype(np.int64) if among is None else among[e])
    point = np.concatenate(points)
    if len(point) * 4 > max(net.n_edges, 1):
        return None
    return point, np.concatenate(edges)


def nearest_edges_among(
    pts: np.ndarray, near: tuple[np.ndarray, np.ndarray], lines: np.ndarray, max_dist: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of ``near``'s ``(point, edge)`` pairs (``lines``: their edges' lines), each point's nearest within ``max_dist``.

    Every edge at the smallest distance, as ``STRtree.query_nearest(all_matches=True)`` gives
    them: ``(point, edge, distance)`` arrays, in the pairs' order.
    """
    point, edge = near
    d = shapely.distance(pts[point], lines)
    keep = d <= max_dist
    point, edge, d = point[keep], edge[keep], d[keep]
    if not len(point):
        return point, edge, d
    best = np.full(len(pts), np.inf)
    np.minimum.at(best, point, d)
    at_best = d == best[point]
    return point[at_best], edge[at_best], d[at_best]
