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
#: the first reach of a search without the tree, widened fourfold until an edge is found (m)
FIRST_REACH_M = 250.0


def nearest_edges(
    net: Network, pts: np.ndarray, xy: np.ndarray, max_dist: float, *, among: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point's nearest edge within ``max_dist``: ``(point, edge, distance)`` arrays, by point.

    ``pts`` are the points ``xy`` (metric, ``(n, 2)``) as shapely points; ``among``: the edges
    (ascending) to choose from, all when None. Points with no edge within ``max_dist`` are left out.

    A few finite points on a network whose tree is not made yet are searched without it: first
    within :data:`FIRST_REACH_M` (or ``max_dist`` when shorter), among the edges whose extent lies
    that near, then four times as far for the points that found none, up to ``max_dist``. A
    point's nearest edge within a reach is its nearest of all (every edge as near has its extent
    within the reach), so the answer is the tree's.
    """
    tree_made = among is None and "edge_tree" in net.__dict__
    if len(xy) > FEW_POINTS or tree_made or not np.isfinite(xy).all():
        return _lowest_of_ties(*_by_tree(net, pts, max_dist, among))
    found = []
    todo = np.arange(len(xy))
    reach = min(FIRST_REACH_M, max_dist)
    while len(todo):
        near = _edges_near(net, xy[todo], reach, among)
        if near is None:  # too many edges that near: the tree
            pi, ei, d = _by_tree(net, pts[todo], max_dist, among)
            found.append((todo[pi], ei, d))
            break
        pi, ei, d = _nearest_among(pts[todo], near, net.lines_of(near[1]), reach)
        found.append((todo[pi], ei, d))
        if reach >= max_dist:
            break
        todo = np.setdiff1d(todo, todo[pi])
        reach = min(4 * reach, max_dist)
    pi, ei, d = (np.concatenate(x) for x in zip(*found, strict=True))
    return _lowest_of_ties(pi, ei, d)


def _by_tree(
    net: Network, pts: np.ndarray, max_dist: float, among: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every edge (of ``among``) nearest each point within ``max_dist``, from an STRtree."""
    if among is None:
        (pi, ei), d = net.edge_tree.query_nearest(pts, max_distance=max_dist, return_distance=True, all_matches=True)
        return pi, ei, d
    tree = shapely.STRtree(net.lines_of(among))
    (pi, ti), d = tree.query_nearest(pts, max_distance=max_dist, return_distance=True, all_matches=True)
    return pi, among[ti], d


def _lowest_of_ties(pi: np.ndarray, ei: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of each point's equally near edges the lowest-numbered, points in order."""
    if len(pi) > 1 and (np.diff(pi) <= 0).any():
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


def _nearest_among(
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
