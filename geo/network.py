"""The walking network as arrays: nodes, undirected edges with real geometry, CSR arcs.

A graph node is an OSM node where walkable ways meet or end; the OSM nodes between them are
kept as the edge's geometry (a slice of one flat coordinate array), so lengths and circle
polygons follow the real street shape. All coordinates are in one metric CRS (the UTM zone of
the extract's centre), chosen once here; lon/lat are kept beside them for output.

Walking ignores ``oneway``: every edge is two arcs of equal length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components

from geo.arrays import ranges as _ranges
from geo.crossings import force_nodes, split_sides
from geo.crs import metric_crs_for
from geo.errors import NetworkError
from geo.osm import WalkWays
from geo.snapping import nearest_edges

#: arcs shorter than this are stored with this length: csgraph would read 0 as "no arc".
MIN_ARC_M = 1e-3


def transformer(src: int | str, dst: int | str) -> Transformer:
    """A pyproj transformer between two CRSs, in x/y (lon/lat) order."""
    return Transformer.from_crs(src, dst, always_xy=True)


@dataclass(frozen=True, eq=False)
class Snapped:
    """Points placed on their nearest walkable edge.

    ``edge[i]`` is the edge, ``along[i]`` the distance in metres from the edge's ``u`` end
    along its geometry, ``dist[i]`` the straight distance from the point to the edge, and
    ``ok[i]`` whether it lay within the snapping limit (``edge`` is -1 where not).
    """

    edge: np.ndarray
    along: np.ndarray
    dist: np.ndarray
    ok: np.ndarray
    xy: np.ndarray  # the snapped positions on the edges (metric)

    def __len__(self) -> int:
        return len(self.edge)

    def subset(self, mask: np.ndarray) -> Snapped:
        """The points where ``mask`` is true."""
        return Snapped(self.edge[mask], self.along[mask], self.dist[mask], self.ok[mask], self.xy[mask])


@dataclass(frozen=True, eq=False)
class Network:
    """A walking network. Build it with :func:`build_network`; never mutate its arrays."""

    crs: int  # EPSG of the metric CRS
    node_xy: np.ndarray  # (N, 2) metric
    node_lonlat: np.ndarray  # (N, 2) WGS84
    node_osm: np.ndarray  # (N,) OSM node ids (-1 for nodes added by scenarios)
    edge_u: np.ndarray  # (E,) int
    edge_v: np.ndarray  # (E,) int
    edge_len: np.ndarray  # (E,) metres along the geometry
    geom_start: np.ndarray  # (E,) first index into geom_xy
    geom_end: np.ndarray  # (E,) last index (inclusive) into geom_xy
    geom_xy: np.ndarray  # (M, 2) metric coordinates of all edge geometries
    geom_lonlat: np.ndarray  # (M, 2)
    edge_highway: np.ndarray  # (E,) str
    edge_name: np.ndarray  # (E,) str

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        """Number of (undirected) edges."""
        return len(self.edge_u)

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Symmetric CSR matrix of arc lengths; parallel edges keep the shortest."""
        rows = np.concatenate([self.edge_u, self.edge_v])
        cols = np.concatenate([self.edge_v, self.edge_u])
        w = np.maximum(np.concatenate([self.edge_len, self.edge_len]), MIN_ARC_M)
        return csr_min(rows, cols, w, self.n_nodes)

    @cached_property
    def edge_lines(self) -> np.ndarray:
        """Shapely LineStrings of the edges in the metric CRS."""
        return self.lines_of(np.arange(self.n_edges))

    def lines_of(self, edges: np.ndarray) -> np.ndarray:
        """Shapely LineStrings of the ``edges``: ``edge_lines[edges]``, made for these only unless all are made."""
        edges = np.asarray(edges, np.int64)
        made = self.__dict__.get("edge_lines")
        if made is not None:
            return made[edges]
        counts = self.geom_end[edges] - self.geom_start[edges] + 1
        idx = np.repeat(np.arange(len(edges)), counts)
        pos = _ranges(self.geom_start[edges], counts)
        return shapely.linestrings(self.geom_xy[pos], indices=idx) if len(edges) else np.zeros(0, object)

    def edges_meeting(self, geometry: shapely.Geometry) -> np.ndarray:
        """The edges (ascending) whose lines intersect ``geometry`` (metric).

        The same edges as ``edge_tree.query(geometry, predicate="intersects")``. Without the
        tree built yet (a scenario's closure on a network read from a saved plan), only the edges
        whose extent meets the geometry's are made into lines and tested: no tree of every edge.
        """
        if "edge_tree" in self.__dict__:
            return np.sort(self.edge_tree.query(geometry, predicate="intersects")).astype(np.int64)
        x0, y0, x1, y1 = shapely.bounds(geometry)
        lo, hi = self.edge_extent
        near = np.flatnonzero((lo[:, 0] <= x1) & (hi[:, 0] >= x0) & (lo[:, 1] <= y1) & (hi[:, 1] >= y0))
        return near[shapely.intersects(geometry, self.lines_of(near))] if len(near) else near

    @cached_property
    def edge_extent(self) -> tuple[np.ndarray, np.ndarray]:
        """Each edge's lower-left and upper-right corner, ``(E, 2)`` arrays (metric)."""
        counts = self.geom_end - self.geom_start + 1
        pos = _ranges(self.geom_start, counts)
        at = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        xy = self.geom_xy[pos]
        if self.n_edges == 0:
            return np.zeros((0, 2)), np.zeros((0, 2))
        return np.minimum.reduceat(xy, at, axis=0), np.maximum.reduceat(xy, at, axis=0)

    @cached_property
    def geom_cum(self) -> np.ndarray:
        """Distance of every geometry vertex from the start of its edge (metres)."""
        seg = np.zeros(len(self.geom_xy))
        seg[1:] = np.hypot(*np.diff(self.geom_xy, axis=0).T)
        seg[self.geom_start] = 0.0
        return np.cumsum(seg) - np.repeat(np.cumsum(seg)[self.geom_start], self.geom_end - self.geom_start + 1)

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """A spatial index of the edges' lines."""
        return shapely.STRtree(self.edge_lines)

    @cached_property
    def to_metric(self) -> Transformer:
        """WGS84 lon/lat to the network's metric CRS."""
        return transformer(4326, self.crs)

    @cached_property
    def to_lonlat(self) -> Transformer:
        """The network's metric CRS to WGS84 lon/lat."""
        return transformer(self.crs, 4326)

    def project(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """WGS84 lon/lat arrays to (n, 2) metric coordinates."""
        x, y = self.to_metric.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.column_stack([x, y])

    def metric_of(self, geom: shapely.Geometry) -> shapely.Geometry:
        """A WGS84 geometry (or an array of them) in the network's metric CRS."""
        return shapely.transform(geom, lambda c: self.project(c[:, 0], c[:, 1]))

    def unproject(self, xy: np.ndarray) -> np.ndarray:
        """Metric ``(n, 2)`` points as WGS84 lon/lat."""
        xy = np.asarray(xy, float).reshape(-1, 2)
        lon, lat = self.to_lonlat.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    def bbox_lonlat(self) -> tuple[float, float, float, float]:
        """The nodes' WGS84 bounds: min lon, min lat, max lon, max lat."""
        lo = self.node_lonlat.min(axis=0)
        hi = self.node_lonlat.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def snap(self, xy: np.ndarray, *, max_dist: float) -> Snapped:
        """Snap metric points onto their nearest edge (projected point, not nearest node).

        Of edges equally near (a point nearest a junction is as near every edge meeting there),
        the lowest-numbered (:func:`geo.snapping.nearest_edges`: one query of the edges' STRtree,
        or without it for a few points).
        """
        xy = np.asarray(xy, float).reshape(-1, 2)
        n = len(xy)
        edge = np.full(n, -1, dtype=np.int64)
        along = np.zeros(n)
        dist = np.full(n, np.inf)
        snapped_xy = np.full((n, 2), np.nan)
        if n == 0:
            return Snapped(edge, along, dist, np.zeros(0, bool), snapped_xy)
        pts = shapely.points(xy)
        pi, ei, d = nearest_edges(self, pts, xy, max_dist)
        edge[pi] = ei
        dist[pi] = d
        along[pi], snapped_xy[pi] = self.locate(pts[pi], ei)
        ok = edge >= 0
        return Snapped(edge, along, dist, ok, snapped_xy)

    def locate(self, pts: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where shapely points ``pts`` fall on ``edges`` (one each): metres from the ``u`` end, and that point."""
        lines = self.lines_of(edges)
        a = shapely.line_locate_point(lines, pts)
        return np.clip(a, 0.0, self.edge_len[edges]), shapely.get_coordinates(shapely.line_interpolate_point(lines, a))

    def edge_coords(self, e: int, *, lonlat: bool = False) -> np.ndarray:
        """The vertices of edge ``e`` from its ``u`` end (metric, or lon/lat)."""
        arr = self.geom_lonlat if lonlat else self.geom_xy
        return arr[self.geom_start[e] : self.geom_end[e] + 1]


def inherit_lines(new: Network, base: Network, kept: np.ndarray) -> Network:
    """``new`` (``base``'s edges ``kept``, then edges of its own) given the lines ``base`` made of those.

    Its :attr:`Network.edge_lines` are then ``base``'s lines of ``kept`` and new lines of its own
    edges only: the same lines as made from scratch, most not made again (an edited copy of a
    network whose lines a scenario's link already needed). Nothing when ``base`` made none yet.
    """
    lines = base.__dict__.get("edge_lines")
    if lines is not None:
        own = new.lines_of(np.arange(len(kept), new.n_edges))
        new.__dict__["edge_lines"] = np.concatenate([lines[np.asarray(kept, np.int64)], own])  # (a cached_property)
    return new


def csr_min(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix where duplicate (row, col) pairs keep the smallest weight (not the sum).

    One sort on a combined ``row * n + col`` key and a ``minimum.reduceat`` per pair: ~4x
    faster than a three-key ``lexsort`` (the network's first Dijkstra pays for this build).
    """
    rows = np.asarray(rows, dtype=np.int64)
    key = rows * n + np.asarray(cols, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    k = key[order]
    first = np.ones(len(k), bool)
    first[1:] = k[1:] != k[:-1]
    at = np.flatnonzero(first)
    ww = np.minimum.reduceat(np.asarray(w)[order], at) if len(at) else np.asarray(w)[:0]
    r, c = rows[order][at], np.asarray(cols)[order][at]
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(r, minlength=n))
    return sp.csr_matrix((ww, c.astype(np.int32), indptr), shape=(n, n))


def network_crs(ways: WalkWays) -> int:
    """The metric CRS (EPSG) :func:`build_network` gives the network of ``ways``: the UTM zone of their median point."""
    if not len(ways.lon):
        raise NetworkError("no walkable ways to build a network from")
    return metric_crs_for(float(np.median(ways.lon)), float(np.median(ways.lat)))


def build_network(
    ways: WalkWays, *, largest_component: bool = True, signal_wait_m: float = 0.0, crs: int | None = None
) -> Network:
    """Turn walkable ways into a network of intersections and edges with geometry.

    Parameters
    ----------
    ways
        Flat way arrays from :func:`geo.osm.read_osm`. When they carry road classes
        (``ways.road_class``), barrier roads are split into two sides joined only at crossings
        (:func:`geo.crossings.split_sides`); without them every node is crossable.
    largest_component
        Keep only the largest connected part (as osmnx does): fragments cut off by the
        extract's edge would otherwise catch facilities and homes that nobody can walk to.
    signal_wait_m
        The wait at a signalised crossing of a barrier road, as metres of walking (0: none).
    crs
        :func:`network_crs` of ``ways``, when the caller worked it out already (else worked out here).
    """
    ids, lon, lat, off = ways.node_ids, ways.lon, ways.lat, ways.offsets
    n_ways = len(off) - 1
    if n_ways == 0:
        raise NetworkError("no walkable ways to build a network from")
    crs = network_crs(ways) if crs is None else crs
    x, y = transformer(4326, crs).transform(lon, lat)
    return _assemble(
        _FlatWays(ids, np.column_stack([x, y]), np.column_stack([lon, lat]), off, ways.highway, ways.name, crs),
        largest_component=largest_component,
        road_class=ways.road_class,
        crossing_nodes=ways.crossing_nodes,
        signal_nodes=ways.signal_nodes,
        signal_wait_m=signal_wait_m,
    )


def network_from_lines(
    lines: list, *, crs: int = 32651, highway: str = "footway", largest_component: bool = False
) -> Network:
    """A network from metric polylines (tests, scenarios): ends and shared vertices join.

    Vertices with identical coordinates are the same node, so two lines that share a point
    meet there; an edge's length is its geometry's length in the metric ``crs``.
    """
    coords = [np.asarray(c, dtype=float).reshape(-1, 2) for c in lines]
    xy = np.vstack(coords)
    _, ids = np.unique(np.round(xy, 6), axis=0, return_inverse=True)
    off = np.concatenate([[0], np.cumsum([len(c) for c in coords])]).astype(np.int64)
    lon, lat = transformer(crs, 4326).transform(xy[:, 0], xy[:, 1])
    flat = _FlatWays(
        ids.astype(np.int64).ravel(),
        xy,
        np.column_stack([lon, lat]),
        off,
        [highway] * len(coords),
        [""] * len(coords),
        crs,
    )
    return _assemble(
        flat,
        largest_component=largest_component,
    )


@dataclass(frozen=True)
class _FlatWays:
    """Ways as flat arrays: every way's positions one after another, and per-way names."""

    ids: np.ndarray  # (M,) OSM node id of every position
    xy: np.ndarray  # (M, 2) metric
    lonlat: np.ndarray  # (M, 2) WGS84
    off: np.ndarray  # (W + 1,) first position of every way, then M
    highway: Sequence[str]  # (W,)
    name: Sequence[str]  # (W,)
    crs: int  # EPSG of the metric CRS


@dataclass(frozen=True)
class _Edges:
    """Graph edges as slices ``g_start..g_end`` (inclusive) of the flat way positions."""

    u: np.ndarray
    v: np.ndarray
    g_start: np.ndarray
    g_end: np.ndarray
    e_len: np.ndarray
    e_way: np.ndarray


def _assemble(
    flat: _FlatWays,
    *,
    largest_component: bool,
    road_class: np.ndarray | None = None,
    crossing_nodes: np.ndarray | None = None,
    signal_nodes: np.ndarray | None = None,
    signal_wait_m: float = 0.0,
) -> Network:
    ids, off = flat.ids, flat.off
    n_ways = len(off) - 1
    lens = np.diff(off)
    way_of = np.repeat(np.arange(n_ways), lens)
    # graph nodes: OSM nodes used more than once (junctions, shared points) or way ends
    uniq, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    is_node = counts[inv] > 1
    sides = road_class is not None
    crossings = np.zeros(0, np.int64) if crossing_nodes is None else np.asarray(crossing_nodes, np.int64)
    if sides:
        is_node |= force_nodes(ids, way_of, np.asarray(road_class), crossings)
    is_node[off[:-1]] = True
    is_node[off[1:] - 1] = True
    x, y = flat.xy[:, 0], flat.xy[:, 1]
    seg = np.zeros(len(ids))
    seg[1:] = np.hypot(np.diff(x), np.diff(y))
    cum = np.cumsum(seg)

    pos = np.flatnonzero(is_node)
    same_way = way_of[pos[:-1]] == way_of[pos[1:]]
    g_start = pos[:-1][same_way]
    g_end = pos[1:][same_way]
    e_len = cum[g_end] - cum[g_start]
    e_way = way_of[g_start]

    # dense node numbering over the OSM ids of graph nodes
    node_key = inv  # index into uniq for every position
    used = np.unique(np.concatenate([node_key[g_start], node_key[g_end]]))
    remap = np.full(len(uniq), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    u = remap[node_key[g_start]]
    v = remap[node_key[g_end]]
    first_pos = np.zeros(len(uniq), dtype=np.int64)
    first_pos[inv[::-1]] = np.arange(len(ids))[::-1]
    node_pos = first_pos[used]

    # drop exact duplicates (same way listed twice) but keep parallel streets of other ways
    n_nodes = len(used)
    # the positions' own arrays are not needed again: their memory goes to the network's arrays
    del lens, way_of, uniq, inv, counts, is_node, x, y, seg, cum, pos, same_way, node_key, used, remap, first_pos
    if sides:
        net = _network(flat, node_pos, _Edges(u, v, g_start, g_end, e_len, e_way))
        net, _ = split_sides(
            net, e_way, np.asarray(road_class), crossings, signal_nodes=signal_nodes, signal_wait_m=signal_wait_m
        )
        return largest_part(net) if largest_component else net
    if largest_component:
        g = csr_min(np.concatenate([u, v]), np.concatenate([v, u]), np.ones(2 * len(u)), n_nodes)
        _, labels = connected_components(g, directed=False)
        big = np.argmax(np.bincount(labels))
        keep_node = labels == big
        keep_edge = keep_node[u]
        newid = np.full(n_nodes, -1, dtype=np.int64)
        newid[keep_node] = np.arange(int(keep_node.sum()))
        u, v = newid[u[keep_edge]], newid[v[keep_edge]]
        g_start, g_end, e_len, e_way = g_start[keep_edge], g_end[keep_edge], e_len[keep_edge], e_way[keep_edge]
        node_pos = node_pos[keep_node]
    return _network(flat, node_pos, _Edges(u, v, g_start, g_end, e_len, e_way))


def _network(flat: _FlatWays, node_pos: np.ndarray, edges: _Edges) -> Network:
    """A :class:`Network` from edges given as slices of the flat way arrays."""
    xy, lonlat, ids = flat.xy, flat.lonlat, flat.ids
    u, v, g_start, g_end, e_len = edges.u, edges.v, edges.g_start, edges.g_end, edges.e_len
    counts_e = g_end - g_start + 1
    take = _ranges(g_start, counts_e)
    new_start = np.concatenate([[0], np.cumsum(counts_e)[:-1]]).astype(np.int64)
    new_end = new_start + counts_e - 1
    hw = np.asarray(flat.highway, dtype=object)[edges.e_way]
    nm = np.asarray(flat.name, dtype=object)[edges.e_way]
    return Network(
        crs=flat.crs,
        node_xy=xy[node_pos],
        node_lonlat=lonlat[node_pos],
        node_osm=ids[node_pos],
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_len=e_len,
        geom_start=new_start,
        geom_end=new_end,
        geom_xy=xy[take],
        geom_lonlat=lonlat[take],
        edge_highway=hw,
        edge_name=nm,
    )


def largest_part(net: Network) -> Network:
    """The largest connected part of ``net`` (by nodes)."""
    g = csr_min(
        np.concatenate([net.edge_u, net.edge_v]),
        np.concatenate([net.edge_v, net.edge_u]),
        np.ones(2 * net.n_edges),
        net.n_nodes,
    )
    _, labels = connected_components(g, directed=False)
    return subnetwork(net, labels == np.argmax(np.bincount(labels)))


#: the arrays that make a :class:`Network` (text arrays: ``edge_highway``, ``edge_name``).
NETWORK_ARRAYS = (
    "node_xy",
    "node_lonlat",
    "node_osm",
    "edge_u",
    "edge_v",
    "edge_len",
    "geom_start",
    "geom_end",
    "geom_xy",
    "geom_lonlat",
    "edge_highway",
    "edge_name",
)


def network_arrays(net: Network) -> dict[str, np.ndarray]:
    """The network as plain arrays (see :func:`network_from_arrays`)."""
    out = {k: getattr(net, k) for k in NETWORK_ARRAYS}
    out["crs"] = np.array([net.crs], np.int64)
    return out


def network_from_arrays(a: dict[str, np.ndarray]) -> Network:
    """A :class:`Network` from :func:`network_arrays`; checks shapes and index ranges (raises ValueError)."""
    n = len(a["node_xy"])
    e = len(a["edge_u"])
    m = len(a["geom_xy"])
    problems = []
    if a["node_xy"].shape != (n, 2) or a["node_lonlat"].shape != (n, 2) or len(a["node_osm"]) != n:
        problems.append("node arrays disagree")
    if any(len(a[k]) != e for k in ("edge_v", "edge_len", "geom_start", "geom_end", "edge_highway", "edge_name")):
        problems.append("edge arrays disagree")
    if a["geom_xy"].shape != (m, 2) or a["geom_lonlat"].shape != (m, 2):
        problems.append("geometry arrays disagree")
    if e and (a["edge_u"].min() < 0 or a["edge_u"].max() >= n or a["edge_v"].min() < 0 or a["edge_v"].max() >= n):
        problems.append("edges point at missing nodes")
    if e and (a["geom_start"].min() < 0 or a["geom_end"].max() >= m or np.any(a["geom_end"] < a["geom_start"])):
        problems.append("edge geometries point outside the coordinates")
    if e and not (np.all(np.isfinite(a["edge_len"])) and a["edge_len"].min() >= 0):
        problems.append("edge lengths are not finite non-negative metres")
    if not (np.all(np.isfinite(a["node_xy"])) and np.all(np.isfinite(a["geom_xy"]))):
        problems.append("coordinates are not finite")
    if problems:
        raise ValueError("; ".join(problems))
    return Network(
        crs=int(a["crs"][0]),
        node_xy=a["node_xy"].astype(float),
        node_lonlat=a["node_lonlat"].astype(float),
        node_osm=a["node_osm"].astype(np.int64),
        edge_u=a["edge_u"].astype(np.int64),
        edge_v=a["edge_v"].astype(np.int64),
        edge_len=a["edge_len"].astype(float),
        geom_start=a["geom_start"].astype(np.int64),
        geom_end=a["geom_end"].astype(np.int64),
        geom_xy=a["geom_xy"].astype(float),
        geom_lonlat=a["geom_lonlat"].astype(float),
        edge_highway=np.asarray(a["edge_highway"], dtype=object),
        edge_name=np.asarray(a["edge_name"], dtype=object),
    )


def snapped_arrays(s: Snapped, prefix: str) -> dict[str, np.ndarray]:
    """Snapped points as named arrays for a bundle (see :func:`snapped_from_arrays`)."""
    return {
        f"{prefix}edge": s.edge,
        f"{prefix}along": s.along,
        f"{prefix}dist": s.dist,
        f"{prefix}ok": s.ok,
        f"{prefix}xy": s.xy,
    }


def snapped_from_arrays(a: dict[str, np.ndarray], prefix: str, net: Network) -> Snapped:
    """A :class:`Snapped` from :func:`snapped_arrays`, checked against ``net`` (raises ValueError)."""
    edge = a[f"{prefix}edge"].astype(np.int64)
    n = len(edge)
    s = Snapped(
        edge,
        a[f"{prefix}along"].astype(float),
        a[f"{prefix}dist"].astype(float),
        a[f"{prefix}ok"].astype(bool),
        a[f"{prefix}xy"].astype(float).reshape(-1, 2),
    )
    if not (len(s.along) == len(s.dist) == len(s.ok) == len(s.xy) == n):
        raise ValueError(f"{prefix}: snapped arrays disagree")
    on = s.ok
    if on.any() and (
        edge[on].min() < 0
        or edge[on].max() >= net.n_edges
        or np.any(s.along[on] < 0)
        or np.any(s.along[on] > net.edge_len[edge[on]] + 1e-6)
    ):
        raise ValueError(f"{prefix}: snapped points lie outside the network")
    return s


def subnetwork(net: Network, keep_node: np.ndarray) -> Network:
    """The part of ``net`` on the nodes where ``keep_node`` is true (edges with both ends kept)."""
    keep_node = np.asarray(keep_node, bool)
    if keep_node.all():
        return net
    keep_edge = keep_node[net.edge_u] & keep_node[net.edge_v]
    if not keep_edge.any():
        raise NetworkError("no walkable street lies in the study area and its halo")
    used = np.zeros(net.n_nodes, bool)
    used[net.edge_u[keep_edge]] = True
    used[net.edge_v[keep_edge]] = True
    newid = np.full(net.n_nodes, -1, np.int64)
    newid[used] = np.arange(int(used.sum()))
    e = np.flatnonzero(keep_edge)
    return network_of(net, nodes=used, edges=e, edge_u=newid[net.edge_u[e]], edge_v=newid[net.edge_v[e]])


def network_of(
    net: Network, *, nodes: np.ndarray, edges: np.ndarray, edge_u: np.ndarray, edge_v: np.ndarray
) -> Network:
    """The network of ``net``'s ``nodes`` (an index or mask) and ``edges`` (indices, in order).

    ``edge_u`` and ``edge_v`` are the edges' ends numbered among the kept nodes; each edge keeps
    its geometry, length, highway and name.
    """
    counts = net.geom_end[edges] - net.geom_start[edges] + 1
    take = _ranges(net.geom_start[edges], counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return Network(
        crs=net.crs,
        node_xy=net.node_xy[nodes],
        node_lonlat=net.node_lonlat[nodes],
        node_osm=net.node_osm[nodes],
        edge_u=edge_u,
        edge_v=edge_v,
        edge_len=net.edge_len[edges],
        geom_start=start,
        geom_end=start + counts - 1,
        geom_xy=net.geom_xy[take],
        geom_lonlat=net.geom_lonlat[take],
        edge_highway=net.edge_highway[edges],
        edge_name=net.edge_name[edges],
    )
