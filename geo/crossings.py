"""Who can really get across the road: big roads are crossed only where a crossing exists.

A naive walking graph lets a pedestrian cross a road at every node of its centreline. On a
Chinese arterial that is exactly what a planner must not assume (the 会林路 story in the source
articles is a missing 20 m zebra crossing that split a community). This module decides which
roads are barriers on foot, where they can be crossed, and rebuilds the network so that the
two sides of a barrier road are separate walks joined only at those places.

Which roads are barriers (:func:`way_class`), from OSM tagging practice
-------------------------------------------------------------------------
* ``highway=trunk|primary|secondary`` and their ``_link`` roads: in Chinese cities these are
  arterials with kerbs, guard rails or four and more lanes; mid-block crossing is illegal and
  usually physically blocked. A single-carriageway two-lane secondary (会林路 itself) counts.
* ``highway=tertiary`` only when it is wide or divided: ``lanes`` >= 4, ``dual_carriageway=yes``,
  or a physical ``divider`` (any value but ``no``, ``line``, ``dashed_line``, ``solid_line``,
  ``double_line``: paint does not stop a pedestrian, a kerb, verge or barrier does).
* Each carriageway of a dual carriageway (two one-way ways) is its own barrier way; the median
  between them is a "side" that both carriageways' inner sidewalks share, which is crossed at
  the same junctions and crossings. Walking still ignores ``oneway``.
* Roads tagged ``sidewalk=no|separate`` are not walkable at all (:func:`geo.osm.is_walkable`);
  their separately mapped sidewalks are ordinary footways.

Where a barrier road can be crossed (everything else is not a crossing)
-----------------------------------------------------------------------
* a node tagged ``highway=crossing``, ``crossing=*`` (not ``crossing=no``) or
  ``highway=traffic_signals`` on the road (:func:`is_crossing_node`);
* a node where a ``footway|cycleway|path=crossing`` way meets the road;
* a junction with another public street: a way of a car-accessible class (residential,
  unclassified, living_street, road, tertiary and above that is not itself a barrier), or a
  meeting of three or more barrier-way ends (two big roads crossing, a slip road joining);
* a footway or path that continues on both sides of the road through a shared node (a crossing
  mapped without its crossing tag);
* the end of a barrier road (one may walk round it).
A driveway or any ``highway=service`` road, a compound gate (``barrier=gate|entrance``, on such a
service road or footway), or a footway/path that merely ends at the road is *not* a crossing.
Footbridges and underpasses are separate ways that share no node with the road, so they join
the two sides by themselves.

The model (:func:`split_sides`)
-------------------------------
Every graph node where exactly two barrier-way ends meet and no crossing exists is duplicated
into a node on each side of the road (the two sidewalks), placed :data:`SIDE_OFFSET_M` from the
centreline on the bisector of each side. Every barrier edge with such a node at one end becomes
two edges, one along each side, with its geometry offset by the same distance; at crossing
nodes both sides meet again. A way meeting the road at a split node joins the side it comes
from (the sector between the two barrier directions that holds its first segment). Because the
side edges are drawn a few metres apart, snapping anything — homes, facilities, the ends of a
what-if link — to its nearest edge puts it on the side it stands on, with no further code: the
nearest of two parallel lines is the one on the point's own side. Everything is done with
arrays (a sort and a few gathers over the edge ends), so the whole network still builds in
about the time the reader takes.

Waiting at traffic lights (``signal_wait_m``, from ``--signal-wait`` seconds) is optional. With a
wait, a signalised node (``highway=traffic_signals``, ``crossing=traffic_signals`` or
``crossing:signals=yes``) where two or more barrier-road ends meet is split into one corner per
pair of neighbouring road arms (two sides mid-block, four corners at a crossroads), and crossing
one arm is an edge of the wait's walking length: a diagonal costs two waits, walking round a
corner none. The two-sided split is the same construction with two corners.

``crossings="anywhere"`` (:func:`walk_ways`) turns the model off: every node crossable, as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geo.arrays import ranges

if TYPE_CHECKING:
    from collections.abc import Mapping

    from osmium.osm import TagList

    from geo.network import Network
    from geo.osm import OsmExtract, WalkWays

#: the crossing models :func:`walk_ways` knows.
CROSSING_MODES = ("strict", "anywhere")
#: how far from the centreline the two sides' edges are drawn (m). Only the side matters for
#: snapping (the nearer of two parallel lines is the one on the point's side); a small offset
#: keeps the sides on the street in the drawn circles.
SIDE_OFFSET_M = 3.0

#: road classes of :func:`way_class` (an int8 per way in :class:`geo.osm.WalkWays`).
OTHER, BARRIER, PUBLIC, CROSSING_WAY, SERVICE = 0, 1, 2, 3, 4
#: highway values that are barriers on foot whatever their width.
BARRIER_HIGHWAY = frozenset({"trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link"})
#: highway values that are barriers only when wide or divided.
WIDE_IF = frozenset({"tertiary", "tertiary_link"})
#: car-accessible public streets: a junction with one is a crossing.
PUBLIC_HIGHWAY = frozenset({"tertiary", "tertiary_link", "unclassified", "residential", "living_street", "road"})
#: ``divider`` values that a pedestrian steps over (painted lines).
PAINTED_DIVIDERS = frozenset({"no", "none", "line", "dashed_line", "solid_line", "double_line", "dashed"})


def way_class(tags: dict[str, str]) -> int:
    """The crossing-model class of a walkable highway way (one of the module's constants).

    Parameters
    ----------
    tags
        The way's OSM tags (it is walkable: :func:`geo.osm.is_walkable`).

    Returns
    -------
    int
        ``BARRIER`` (crossed only at crossings), ``PUBLIC`` (a street whose junction with a
        barrier is a crossing), ``CROSSING_WAY`` (``footway|cycleway|path=crossing``),
        ``SERVICE`` (service roads, driveways and private ways: never a crossing) or ``OTHER``
        (footways, paths, steps, pedestrian streets, tracks).
    """
    hw = tags.get("highway", "")
    if hw in BARRIER_HIGHWAY or (hw in WIDE_IF and _wide_or_divided(tags)):
        return BARRIER
    if tags.get("footway") == "crossing" or tags.get("cycleway") == "crossing" or tags.get("path") == "crossing":
        return CROSSING_WAY
    if hw == "service" or tags.get("access") in ("private", "no") or tags.get("service") == "driveway":
        return SERVICE
    if hw in PUBLIC_HIGHWAY:
        return PUBLIC
    return OTHER


def _wide_or_divided(tags: dict[str, str]) -> bool:
    lanes = tags.get("lanes", "")
    try:
        wide = max(float(x) for x in lanes.split(";")) >= 4 if lanes else False
    except ValueError:
        wide = False
    divider = tags.get("divider")
    return wide or tags.get("dual_carriageway") == "yes" or (divider is not None and divider not in PAINTED_DIVIDERS)


def is_crossing_node(tags: Mapping[str, str] | TagList) -> bool:
    """Whether a node with these tags is a place to cross a road on foot."""
    hw = tags.get("highway")
    if hw in ("crossing", "traffic_signals"):
        return tags.get("crossing") != "no"
    c = tags.get("crossing")
    return c is not None and c != "no"


def is_signal_node(tags: Mapping[str, str] | TagList) -> bool:
    """Whether a crossing node (:func:`is_crossing_node`) has traffic lights (a wait to cross)."""
    return is_crossing_node(tags) and (
        tags.get("highway") == "traffic_signals"
        or tags.get("crossing") == "traffic_signals"
        or tags.get("crossing:signals") == "yes"
    )


def walk_ways(extract: OsmExtract, *, crossings: str = "strict") -> WalkWays:
    """The walkable ways of ``extract`` as the network is built from them.

    Parameters
    ----------
    extract
        An :class:`geo.osm.OsmExtract`.
    crossings
        ``"strict"``: barrier roads are crossed only at crossings (the ways keep their road
        classes and crossing nodes); ``"anywhere"``: every node is crossable (the classes are
        dropped, as before this model existed).
    """
    if crossings not in CROSSING_MODES:
        raise ValueError(f"crossings={crossings!r}: expected one of {', '.join(CROSSING_MODES)}")
    ways = extract.ways
    if crossings == "anywhere":
        return dataclasses.replace(ways, road_class=None, crossing_nodes=None, signal_nodes=None)
    return ways


def force_nodes(ids: np.ndarray, way_of: np.ndarray, road_class: np.ndarray, crossing_nodes: np.ndarray) -> np.ndarray:
    """Positions of the flat way arrays that must be graph nodes: crossing nodes on barrier ways.

    A zebra tagged only on the road, with no footway meeting it, is still a place to cross.
    """
    out = np.zeros(len(ids), bool)
    on_barrier = np.flatnonzero(road_class[way_of] == BARRIER)
    if len(crossing_nodes) and len(on_barrier):
        out[on_barrier] = np.isin(ids[on_barrier], crossing_nodes)
    return out


def split_sides(
    net: Network,
    edge_way: np.ndarray,
    road_class: np.ndarray,
    crossing_nodes: np.ndarray,
    *,
    offset_m: float = SIDE_OFFSET_M,
    signal_nodes: np.ndarray | None = None,
    signal_wait_m: float = 0.0,
) -> tuple[Network, dict]:
    """The network with every barrier road split into two sides joined only at crossings.

    Parameters
    ----------
    net
        A :class:`geo.network.Network` (all components).
    edge_way
        The way index of every edge of ``net``.
    road_class
        :func:`way_class` of every way.
    crossing_nodes
        OSM ids of the crossing nodes (:func:`is_crossing_node`).
    offset_m
        Distance of each side from the centreline (m).
    signal_nodes, signal_wait_m
        OSM ids of signalised crossings and junctions, and the wait there as metres of walking.
        With a wait, such a node where two or more barrier-road ends meet is split into one
        corner per pair of neighbouring road arms, and crossing an arm there is an edge of the
        wait's length (plus the few metres between the corners); without, it is a free crossing.

    Returns
    -------
    (Network, dict)
        The new network (the first ``net.n_edges`` edges keep their index; an edge split into two
        sides keeps its left side there; the right sides, then the signalised crossings follow)
        and counts of what was done.
    """
    E, N = net.n_edges, net.n_nodes
    cls = np.asarray(road_class, np.int8)[edge_way]
    ends = _Ends.of(net, cls, np.asarray(edge_way, np.int64))
    tagged = np.isin(net.node_osm, crossing_nodes) if len(crossing_nodes) else np.zeros(N, bool)
    signal = np.zeros(N, bool)
    if signal_wait_m > 0 and signal_nodes is not None and len(signal_nodes):
        signal = np.isin(net.node_osm, signal_nodes)
    sp = _split_nodes(N, ends, tagged, signal)
    split, k = sp.split, sp.k
    # node copies: corner 0 keeps the node's index (moved into its corner), corners 1.. are appended
    extra = np.where(split, k - 1, 0)
    copy_base = N + np.concatenate([[0], np.cumsum(extra)[:-1]])
    n_new = int(extra.sum())

    def corner_node(nodes: np.ndarray, corner: np.ndarray) -> np.ndarray:
        return np.where(split[nodes] & (corner > 0), copy_base[nodes] + corner - 1, nodes)

    bar = sp.bar_end  # barrier ends at split nodes, by node and angle; corner i lies counter-clockwise of end i
    bnode, brank = ends.node[bar], sp.rank[bar]
    nxt = sp.bar_next
    span = np.mod(ends.angle[nxt] - ends.angle[bar], 2 * np.pi)
    span = np.where(span == 0, 2 * np.pi, span)
    bis = ends.angle[bar] + span / 2
    pos = net.node_xy[bnode] + offset_m * np.column_stack([np.cos(bis), np.sin(bis)])
    node_xy = np.vstack([net.node_xy, np.zeros((n_new, 2))])
    node_xy[corner_node(bnode, brank)] = pos
    # a barrier end's counter-clockwise corner is its rank, the clockwise one the rank before;
    # an edge's left side (of u -> v) is counter-clockwise at u, clockwise at v
    idx = np.arange(2 * E)
    kk = np.maximum(k[ends.node], 1)
    ccw, cw = sp.rank, np.mod(sp.rank - 1, kk)
    left = np.where(idx >= E, cw, ccw)
    right = np.where(idx >= E, ccw, cw)
    new_end = np.where(ends.barrier, corner_node(ends.node, left), corner_node(ends.node, sp.corner))
    right_end = corner_node(ends.node, right)
    at_split = split[ends.node]
    doubled = np.flatnonzero((cls == BARRIER) & (at_split[:E] | at_split[E:]))
    # at a signalised node, crossing arm i + 1 joins corners i and i + 1 (two corners: one link)
    sig_bar = np.flatnonzero(signal[bnode])
    sig_bar = sig_bar[(k[bnode[sig_bar]] > 2) | (brank[sig_bar] == 0)]
    cu = corner_node(bnode[sig_bar], brank[sig_bar])
    cv = corner_node(bnode[sig_bar], np.mod(brank[sig_bar] + 1, k[bnode[sig_bar]]))
    links = (cu, cv, np.hypot(*(node_xy[cu] - node_xy[cv]).T) + signal_wait_m)
    eu = np.concatenate([new_end[:E], right_end[:E][doubled]])
    ev = np.concatenate([new_end[E:], right_end[E:][doubled]])
    moved = np.concatenate([np.flatnonzero(split), N + np.arange(n_new)])
    of = np.concatenate([np.arange(N), np.repeat(np.arange(N), extra)])
    out = _rebuild(
        net,
        node_xy=node_xy,
        moved_nodes=moved,
        node_of=of,
        edges=(eu, ev),
        doubled=doubled,
        offset_m=offset_m,
        links=links,
    )
    n_barrier = np.bincount(ends.node[ends.barrier], minlength=N)
    stats = {
        "barrier_edges": int((cls == BARRIER).sum()),
        "barrier_nodes": int((n_barrier > 0).sum()),
        "split_nodes": int((split & ~signal).sum()),
        "signal_nodes_split": int((split & signal).sum()),
        "crossable_nodes": int(((n_barrier == 2) & ~split).sum()),
        "tagged_crossings": int((tagged & (n_barrier > 0)).sum()),
        "side_edges_added": len(doubled),
        "signal_crossings_added": len(cu),
    }
    return out, stats


@dataclass(frozen=True)
class _Ends:
    """Every edge's two ends (``u`` ends first, then ``v`` ends): node, outward angle, class, way."""

    node: np.ndarray
    angle: np.ndarray  # direction from the node into the edge (radians)
    cls: np.ndarray
    way: np.ndarray
    barrier: np.ndarray

    @classmethod
    def of(cls, net: Network, edge_cls: np.ndarray, edge_way: np.ndarray) -> _Ends:
        gs, ge, g = net.geom_start, net.geom_end, net.geom_xy
        d = np.vstack([g[gs + 1] - g[gs], g[ge - 1] - g[ge]])
        end_cls = np.concatenate([edge_cls, edge_cls])
        return cls(
            np.concatenate([net.edge_u, net.edge_v]),
            np.arctan2(d[:, 1], d[:, 0]),
            end_cls,
            np.concatenate([edge_way, edge_way]),
            end_cls == BARRIER,
        )


@dataclass(frozen=True)
class _Split:
    split: np.ndarray  # per node: split into corners
    k: np.ndarray  # per node: barrier ends there (the number of corners when split)
    rank: np.ndarray  # per end: its place among its node's barrier ends counter-clockwise (barrier ends)
    corner: np.ndarray  # per end: the corner it lies in (counter-clockwise of barrier end ``corner``)
    bar_end: np.ndarray  # barrier ends at split nodes, by node then angle
    bar_next: np.ndarray  # for each of those, the next barrier end counter-clockwise at its node


def _split_nodes(n: int, ends: _Ends, tagged: np.ndarray, signal: np.ndarray) -> _Split:
    """Which nodes split into corners, and the corner every edge end joins.

    A node splits when exactly two barrier ends meet there and nothing makes it a crossing (two
    corners: the two sides of the road), or when it is signalised (``signal``) and two or more
    barrier ends meet there (one corner between each two neighbouring road arms).
    """
    k = np.bincount(ends.node[ends.barrier], minlength=n)
    joins = np.zeros(n, bool)  # a public street or a crossing way meets the road here
    joins[ends.node[(ends.cls == PUBLIC) | (ends.cls == CROSSING_WAY)]] = True
    two = (k == 2) & ~tagged & ~joins & ~signal
    sig = signal & (k >= 2)
    split = two | sig
    rank, corner = _corners(ends, split, k)
    # a footway or path with ends on both sides of one unsignalised node goes across: a crossing
    other = np.flatnonzero(two[ends.node] & (ends.cls == OTHER))
    if len(other):
        n_ways = int(ends.way.max()) + 1
        key = ends.node[other] * n_ways + ends.way[other]
        both = np.intersect1d(key[corner[other] == 0], key[corner[other] == 1])
        split[both // n_ways] = False
    bar = np.flatnonzero(ends.barrier & split[ends.node])
    bar = bar[np.lexsort((rank[bar], ends.node[bar]))]
    first = np.concatenate([[True], ends.node[bar][1:] != ends.node[bar][:-1]]) if len(bar) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(bar)), 0)) if len(bar) else np.zeros(0, np.int64)
    last = np.concatenate([first[1:], [True]]) if len(bar) else np.zeros(0, bool)
    nxt = np.where(last, bar[start], np.roll(bar, -1)) if len(bar) else bar
    return _Split(split, k, rank, corner, bar, nxt)


def _corners(ends: _Ends, split: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank and corner of every edge end at a split node.

    The rank of a barrier end is its place among its node's barrier ends counter-clockwise from
    angle 0; the corner of any end is the rank of the last barrier end at or before it.
    """
    rank = np.zeros(len(ends.node), np.int64)
    corner = np.zeros(len(ends.node), np.int64)
    at = np.flatnonzero(split[ends.node])
    if len(at) == 0:
        return rank, corner
    # barrier ends first among equal angles, so an end along a barrier direction lies after it
    at = at[np.lexsort((~ends.barrier[at], ends.angle[at], ends.node[at]))]
    node = ends.node[at]
    isb = ends.barrier[at].astype(np.int64)
    cum = np.cumsum(isb)
    new_group = np.concatenate([[True], node[1:] != node[:-1]])
    before = np.maximum.accumulate(np.where(new_group, cum - isb, 0))
    seen = cum - before  # barrier ends of this node at or before each position
    kk = k[node]
    corner[at] = np.mod(seen - 1, kk)
    rank[at] = np.where(isb == 1, seen - 1, 0)
    return rank, corner


def _rebuild(
    net: Network,
    *,
    node_xy: np.ndarray,
    moved_nodes: np.ndarray,
    node_of: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray],
    doubled: np.ndarray,
    offset_m: float,
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Network:
    """The network on the new nodes and edges.

    The doubled edges' geometry is offset to their side (left copies in place, right copies
    appended), and every edge end is put on its node.
    """
    eu, ev = edges
    E = net.n_edges
    gs, ge = net.geom_start, net.geom_end
    counts = ge - gs + 1
    take = np.concatenate([ranges(gs, counts), ranges(gs[doubled], counts[doubled])])
    all_counts = np.concatenate([counts, counts[doubled]])
    new_gs = np.concatenate([[0], np.cumsum(all_counts)[:-1]]).astype(np.int64)
    new_ge = new_gs + all_counts - 1
    xy = net.geom_xy[take].copy()
    owner = np.repeat(np.arange(len(all_counts)), all_counts)
    orig = np.concatenate([np.arange(E), doubled])
    sign = np.zeros(len(all_counts))
    sign[doubled] = 1.0
    sign[E:] = -1.0
    moved_v = np.flatnonzero(sign[owner] != 0)
    if len(moved_v):
        xy[moved_v] += offset_m * sign[owner[moved_v], None] * _vertex_normals(xy[moved_v], owner[moved_v])
    changed = sign != 0
    for pos, nodes in ((new_gs, eu), (new_ge, ev)):  # edge ends sit on their (possibly moved) nodes
        changed |= np.any(xy[pos] != node_xy[nodes], axis=1)
        xy[pos] = node_xy[nodes]
    edge_len = net.edge_len[orig].copy()
    if changed.any():
        seg = np.hypot(*np.diff(xy, axis=0).T)
        same = owner[1:] == owner[:-1]
        per = np.bincount(owner[1:][same], weights=seg[same], minlength=len(all_counts))
        edge_len[changed] = per[changed]
    lonlat = net.geom_lonlat[take].copy()
    vchg = changed[owner]
    if vchg.any():
        lonlat[vchg] = net.unproject(xy[vchg])
    node_lonlat = np.vstack([net.node_lonlat, np.zeros((len(node_xy) - net.n_nodes, 2))])
    if len(moved_nodes):
        node_lonlat[moved_nodes] = net.unproject(node_xy[moved_nodes])
    # the signalised crossings: straight from corner to corner, as long as the wait says
    lu, lv, llen = links
    n_links = len(lu)
    link_xy = np.empty((2 * n_links, 2))
    link_xy[0::2], link_xy[1::2] = node_xy[lu], node_xy[lv]
    link_gs = len(xy) + 2 * np.arange(n_links, dtype=np.int64)
    return dataclasses.replace(
        net,
        crs=net.crs,
        node_xy=node_xy,
        node_lonlat=node_lonlat,
        node_osm=net.node_osm[node_of],
        edge_u=np.concatenate([eu, lu]).astype(np.int64),
        edge_v=np.concatenate([ev, lv]).astype(np.int64),
        edge_len=np.concatenate([edge_len, llen]),
        geom_start=np.concatenate([new_gs, link_gs]),
        geom_end=np.concatenate([new_ge, link_gs + 1]),
        geom_xy=np.vstack([xy, link_xy]),
        geom_lonlat=np.vstack([lonlat, net.unproject(link_xy)]) if n_links else lonlat,
        edge_highway=np.concatenate([net.edge_highway[orig], np.full(n_links, "crossing", dtype=object)]),
        edge_name=np.concatenate([net.edge_name[orig], np.full(n_links, "", dtype=object)]),
    )


def _vertex_normals(xy: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Unit left normals at every vertex of flat polylines (``owner``: the line of each vertex).

    A vertex's normal is the mean of the normals of its segments on its own line.
    """
    d = np.diff(xy, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    same = (owner[1:] == owner[:-1]) & (length > 0)
    n = np.zeros_like(d)
    n[same] = np.column_stack([-d[same, 1], d[same, 0]]) / length[same, None]
    acc = np.zeros_like(xy)
    acc[:-1] += n  # the segment after each vertex
    acc[1:] += n  # the segment before
    norm = np.hypot(acc[:, 0], acc[:, 1])
    ok = norm > 1e-9
    acc[ok] /= norm[ok, None]
    return acc
