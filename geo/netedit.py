"""Edited copies of a walking network: new links and closures, the base left untouched.

:func:`with_edits` builds a *new* :class:`geo.network.Network` from new arrays:

* a closure (a barrier line, or a polygon) removes every edge whose geometry it crosses or
  touches — whole edges, which is exact for a barrier and errs on the side of "closed" for a
  polygon that clips the end of a long edge;
* a link joins the points of the remaining network nearest its two ends. Where an end lands
  mid-edge, that edge is split there into two edges that follow its real geometry (a new node,
  ``node_osm = -1``, at the split point), so no distance is approximated. The link's length is
  the length of its own line between the two points plus its time penalty as metres.

The returned :class:`EditLog` says which base edge became which new edge(s), so points snapped
on the base network (homes) can be carried over exactly with :func:`carry_snapped`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from geo.errors import InputError
from geo.network import Network, Snapped, _ranges, inherit_lines
from geo.snapping import nearest_edges

#: a link end this close (m) to an edge's end joins that node instead of splitting the edge (below
#: :data:`geo.network.MIN_ARC_M`, a split would make an arc no search can tell apart).
END_TOL_M = 1e-3


@dataclass(frozen=True)
class Link:
    """A new walkable link: a metric polyline whose two ends are joined to the nearest streets."""

    xy: np.ndarray  # (n, 2) metric, n >= 2
    penalty_m: float = 0.0
    name: str = ""
    highway: str = "scenario_link"
    label: str = "link"


@dataclass(frozen=True)
class Closure:
    """A barrier (LineString: the edges it crosses) or an area (Polygon: the edges it touches)."""

    geometry: shapely.Geometry  # metric
    label: str = "closure"


@dataclass(frozen=True, eq=False)
class EditLog:
    """What :func:`with_edits` did, in terms of base and new edge indices."""

    edge_map: np.ndarray  # (E_base,) new index of each base edge kept whole, -1 if closed or split
    closed: np.ndarray  # base edges removed
    split_bounds: dict = field(default_factory=dict)  # base edge -> cut positions (m), 0 .. length
    split_pieces: dict = field(default_factory=dict)  # base edge -> new edges, u end first
    links: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # new edges of the links


def with_edits(
    net: Network,
    *,
    links: Sequence[Link] = (),
    closures: Sequence[Closure] = (),
    snap_max_m: float = 100.0,
    max_link_m: float = np.inf,
    problems: list[str] | None = None,
) -> tuple[Network, EditLog]:
    """A copy of ``net`` with ``closures`` removed, then ``links`` added.

    Parameters
    ----------
    net
        The base network (never modified).
    links, closures
        The edits, in the network's metric CRS.
    snap_max_m
        A link end farther than this from every remaining edge is a problem.
    max_link_m
        A link longer than this (without its penalty) is a problem.
    problems
        Problems are appended here (naming each edit's ``label``); when None they raise an
        :class:`geo.errors.InputError`. With problems, the returned network is the base one.
    """
    raise_now = problems is None
    problems = [] if problems is None else problems
    n0 = len(problems)
    E = net.n_edges
    closed_mask = _closed_edges(net, closures, problems)
    end_edge, end_along = _snap_link_ends(net, links, closed_mask, snap_max_m, problems)
    if len(problems) > n0:
        return _refused(net, problems, raise_now=raise_now)
    end_node, split_bounds, split_nodes, node_xy_add = _join_points(net, end_edge, end_along)

    # edges: base edges kept whole, then the pieces of split edges, then the links
    whole = ~closed_mask
    whole[list(split_bounds)] = False
    whole_idx = np.flatnonzero(whole)
    edge_map = np.full(E, -1, np.int64)
    edge_map[whole_idx] = np.arange(len(whole_idx))
    all_xy = np.vstack([net.node_xy, node_xy_add])
    added = _Added()
    split_pieces = {}
    nxt = len(whole_idx)
    for e, b in split_bounds.items():
        chain = np.concatenate([[net.edge_u[e]], split_nodes[e], [net.edge_v[e]]])
        pieces = []
        for k in range(len(b) - 1):
            added.add(
                chain[k],
                chain[k + 1],
                b[k + 1] - b[k],
                _cut(net, e, b[k], b[k + 1]),
                net.edge_highway[e],
                net.edge_name[e],
            )
            pieces.append(nxt)
            nxt += 1
        split_pieces[e] = np.array(pieces, np.int64)
    link_idx = []
    for j, lk in enumerate(links):
        a, z = int(end_node[2 * j]), int(end_node[2 * j + 1])
        line = np.vstack([all_xy[a], np.asarray(lk.xy, float)[1:-1], all_xy[z]])
        length = float(np.hypot(*np.diff(line, axis=0).T).sum())
        if a == z:
            problems.append(f"{lk.label}: both ends join the network at the same point — draw it across the gap")
        elif length > max_link_m:
            problems.append(f"{lk.label}: is {length:.0f} m long (limit {max_link_m:.0f} m) — check its two points")
        added.add(a, z, length + float(lk.penalty_m), line, lk.highway, lk.name)
        link_idx.append(nxt)
        nxt += 1
    if len(problems) > n0:
        return _refused(net, problems, raise_now=raise_now)
    new = _assemble(net, whole_idx, all_xy, node_xy_add, added)
    log = EditLog(edge_map, np.flatnonzero(closed_mask), split_bounds, split_pieces, np.asarray(link_idx, np.int64))
    return new, log


def _refused(net: Network, problems: list[str], *, raise_now: bool) -> tuple[Network, EditLog]:
    """Edits with problems: raise them, or hand back the base network unchanged."""
    if raise_now:
        raise InputError("edits", problems)
    return net, EditLog(np.arange(net.n_edges), np.zeros(0, np.int64))


def _closed_edges(net: Network, closures: Sequence[Closure], problems: list[str]) -> np.ndarray:
    """Which base edges the closures remove (a closure that touches none is a problem)."""
    closed_mask = np.zeros(net.n_edges, bool)
    for c in closures:
        g = c.geometry
        hit = net.edges_meeting(g)
        if len(hit) == 0:
            what = (
                "crosses no walkable way — draw the line across the way(s) to close"
                if g.geom_type == "LineString"
                else "touches no walkable way — draw the polygon over the way(s) to close"
            )
            problems.append(f"{c.label}: {what}")
        closed_mask[hit] = True
    return closed_mask


def _snap_link_ends(
    net: Network, links: Sequence[Link], closed_mask: np.ndarray, snap_max_m: float, problems: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Each link end (start, end, start, ...) on its nearest edge left open: edge and distance along."""
    ends = np.vstack([np.asarray(lk.xy, float)[[0, -1]] for lk in links]) if links else np.zeros((0, 2))
    end_edge = np.full(len(ends), -1, np.int64)
    end_along = np.zeros(len(ends))
    if len(ends):
        pts = shapely.points(ends)
        open_edges = np.flatnonzero(~closed_mask) if closed_mask.any() else None
        pi, ei, _ = nearest_edges(net, pts, ends, snap_max_m, among=open_edges)
        end_edge[pi] = ei
        end_along[pi] = net.locate(pts[pi], ei)[0]
        for j in np.flatnonzero(end_edge < 0):
            lk = links[int(j) // 2]
            far = net.snap(ends[j : j + 1], max_dist=1e9).dist[0]
            problems.append(
                f"{lk.label}: its {'start' if j % 2 == 0 else 'end'} point is {far:.0f} m from the "
                f"nearest open walkable way (limit {snap_max_m:.0f} m) — put both ends on streets or paths"
            )
    return end_edge, end_along


def _join_points(
    net: Network, end_edge: np.ndarray, end_along: np.ndarray
) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray], np.ndarray]:
    """Where each link end joins: an existing node, or a new node splitting its edge.

    Returns the node of each end, the cut positions of each split edge (0 .. length), the new
    nodes of each split edge, and the new nodes' coordinates.
    """
    n_ends = len(end_edge)
    L = net.edge_len[end_edge] if n_ends else np.zeros(0)
    at_u = end_along <= END_TOL_M
    at_v = ~at_u & (end_along >= L - END_TOL_M)
    mid = ~at_u & ~at_v
    end_node = np.where(
        at_u, net.edge_u[end_edge] if n_ends else 0, np.where(at_v, net.edge_v[end_edge] if n_ends else 0, -1)
    )
    split_bounds: dict[int, np.ndarray] = {}
    for e in np.unique(end_edge[mid]):
        a = np.sort(end_along[mid & (end_edge == e)])
        a = a[np.concatenate([[True], np.diff(a) > END_TOL_M])]
        split_bounds[int(e)] = np.concatenate([[0.0], a, [net.edge_len[e]]])
    new_xy, cum, split_nodes = [], net.n_nodes, {}
    for e, b in split_bounds.items():
        inner = b[1:-1]
        split_nodes[e] = np.arange(cum, cum + len(inner))
        new_xy.append(_points_along(net, e, inner))
        cum += len(inner)
    for j in np.flatnonzero(mid):
        e = int(end_edge[j])
        b = split_bounds[e][1:-1]
        end_node[j] = split_nodes[e][int(np.argmin(np.abs(b - end_along[j])))]
    node_xy_add = np.vstack(new_xy) if new_xy else np.zeros((0, 2))
    return end_node, split_bounds, split_nodes, node_xy_add


@dataclass
class _Added:
    """Edges added to an edited network: pieces of split edges and links."""

    u: list = field(default_factory=list)
    v: list = field(default_factory=list)
    length: list = field(default_factory=list)
    geoms: list = field(default_factory=list)
    highway: list = field(default_factory=list)
    name: list = field(default_factory=list)

    def add(self, u: int, v: int, length: float, geom: np.ndarray, highway: str, name: str) -> None:
        """One more edge."""
        self.u.append(u)
        self.v.append(v)
        self.length.append(length)
        self.geoms.append(geom)
        self.highway.append(highway)
        self.name.append(name)


def _assemble(
    net: Network, whole_idx: np.ndarray, all_xy: np.ndarray, node_xy_add: np.ndarray, added: _Added
) -> Network:
    """The edited network: the base edges kept whole, then the added ones."""
    counts = net.geom_end[whole_idx] - net.geom_start[whole_idx] + 1
    take = _ranges(net.geom_start[whole_idx], counts)
    add_counts = np.array([len(g) for g in added.geoms], np.int64)
    all_counts = np.concatenate([counts, add_counts])
    g_start = np.concatenate([[0], np.cumsum(all_counts)[:-1]]).astype(np.int64)
    add_xy = np.vstack(added.geoms) if added.geoms else np.zeros((0, 2))
    new = Network(
        crs=net.crs,
        node_xy=all_xy,
        node_lonlat=np.vstack([net.node_lonlat, net.unproject(node_xy_add)])
        if len(node_xy_add)
        else net.node_lonlat.copy(),
        node_osm=np.concatenate([net.node_osm, np.full(len(node_xy_add), -1, net.node_osm.dtype)]),
        edge_u=np.concatenate([net.edge_u[whole_idx], np.asarray(added.u, np.int64)]),
        edge_v=np.concatenate([net.edge_v[whole_idx], np.asarray(added.v, np.int64)]),
        edge_len=np.concatenate([net.edge_len[whole_idx], np.asarray(added.length, float)]),
        geom_start=g_start,
        geom_end=g_start + all_counts - 1,
        geom_xy=np.vstack([net.geom_xy[take], add_xy]),
        geom_lonlat=np.vstack([net.geom_lonlat[take], net.unproject(add_xy)]) if len(add_xy) else net.geom_lonlat[take],
        edge_highway=np.concatenate([net.edge_highway[whole_idx], np.asarray(added.highway, dtype=object)]),
        edge_name=np.concatenate([net.edge_name[whole_idx], np.asarray(added.name, dtype=object)]),
    )
    return inherit_lines(new, net, whole_idx)


def _points_along(net: Network, e: int, at: np.ndarray) -> np.ndarray:
    g0, g1 = net.geom_start[e], net.geom_end[e] + 1
    c, xy = net.geom_cum[g0:g1], net.geom_xy[g0:g1]
    return np.column_stack([np.interp(at, c, xy[:, 0]), np.interp(at, c, xy[:, 1])])


def _cut(net: Network, e: int, a: float, b: float) -> np.ndarray:
    """Coordinates of edge ``e`` from ``a`` to ``b`` metres along its geometry."""
    g0, g1 = net.geom_start[e], net.geom_end[e] + 1
    c, xy = net.geom_cum[g0:g1], net.geom_xy[g0:g1]
    inner = (c > a) & (c < b)
    return np.vstack([_points_along(net, e, np.array([a])), xy[inner], _points_along(net, e, np.array([b]))])


def carry_snapped(snapped: Snapped, log: EditLog, net: Network, xy: np.ndarray, *, max_dist: float) -> Snapped:
    """Points snapped on the base network, placed on the edited one.

    A point on an edge kept whole stays where it was; on a split edge it moves to the piece
    holding it (same position, ``along`` from the piece's start); on a closed edge it is
    snapped again onto the nearest remaining edge within ``max_dist``.
    """
    edge = np.full(len(snapped), -1, np.int64)
    along = snapped.along.copy()
    ok = snapped.ok.copy()
    out_xy = snapped.xy.copy()
    dist = snapped.dist.copy()
    on = np.flatnonzero(ok)
    edge[on] = log.edge_map[snapped.edge[on]]
    for e, b in log.split_bounds.items():
        idx = on[snapped.edge[on] == e]
        if len(idx) == 0:
            continue
        k = np.clip(np.searchsorted(b, along[idx], side="right") - 1, 0, len(b) - 2)
        edge[idx] = log.split_pieces[e][k]
        along[idx] = np.clip(along[idx] - b[k], 0.0, net.edge_len[edge[idx]])
    again = on[edge[on] < 0]
    if len(again):
        s = net.snap(xy[again], max_dist=max_dist)
        edge[again], along[again], dist[again], ok[again], out_xy[again] = s.edge, s.along, s.dist, s.ok, s.xy
    return Snapped(edge, along, dist, ok, out_xy)


def snap_again(
    old: Snapped, same: np.ndarray, net: Network, xy: np.ndarray, *, max_dist: float, log: EditLog | None = None
) -> Snapped:
    """What ``net.snap(xy, max_dist=max_dist)`` gives, taken from an earlier snapping where it holds.

    ``old``: points snapped on the network ``net`` was made from by ``log`` (``net`` itself when
    None); ``same[i]``: the row of ``old`` of a point at the place of ``xy[i]``, or -1. Edges
    kept whole keep their order, and an edge ``net`` adds comes after them, so such a point keeps
    its edge unless an added edge is nearer; a point too far from every edge before is only
    tried on the added ones; points new here, or whose edge was closed or split, are snapped again.
    """
    n = len(same)
    s = Snapped(np.full(n, -1, np.int64), np.zeros(n), np.full(n, np.inf), np.zeros(n, bool), np.full((n, 2), np.nan))
    rows = np.flatnonzero(same >= 0)
    src = same[rows]
    was = np.where(old.ok[src], old.edge[src], -1)  # (an unplaced point's edge is never read)
    if log is not None:
        mapped = np.where(was >= 0, log.edge_map[np.maximum(was, 0)], -1)
        lost = (was >= 0) & (mapped < 0)
    else:
        mapped, lost = was, np.zeros(len(rows), bool)
    rows, src, mapped = rows[~lost], src[~lost], mapped[~lost]
    carried = mapped >= 0
    r, k = rows[carried], src[carried]
    s.edge[r], s.along[r], s.dist[r], s.ok[r], s.xy[r] = mapped[carried], old.along[k], old.dist[k], True, old.xy[k]
    again = np.setdiff1d(np.arange(n), rows)
    if len(again):
        fresh = net.snap(xy[again], max_dist=max_dist)
        s.edge[again], s.along[again], s.dist[again], s.ok[again], s.xy[again] = (
            fresh.edge,
            fresh.along,
            fresh.dist,
            fresh.ok,
            fresh.xy,
        )
    added = np.arange(int((log.edge_map >= 0).sum()) if log is not None else net.n_edges, net.n_edges)
    if len(added) and len(rows):  # the added edges only, lowest-numbered of equally near ones
        pts = shapely.points(xy[rows])
        pi, ei, d = nearest_edges(net, pts, xy[rows], max_dist, among=added)
        nearer = d < s.dist[rows[pi]]
        r = rows[pi[nearer]]
        s.edge[r], s.dist[r], s.ok[r] = ei[nearer], d[nearer], True
        s.along[r], s.xy[r] = net.locate(pts[pi[nearer]], ei[nearer])
    return s
