"""The indexes :class:`geo.batch.Partition` builds once per extract, to cut each area's part in the time of its size.

:class:`Sorted` finds the points inside a polygon, :class:`Boxed` the rows of a table meeting a
box, :class:`Incidence` cuts a network to some of its nodes.
"""

from __future__ import annotations

from functools import cached_property
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.arrays import ranges
from geo.network import Network, network_of
from geo.packing import Rows

#: a table of a part as :func:`geo.batch._pack` takes it: the table, or rows of a table converted
#: once (:meth:`geo.packing.Packer.rows`)
PackTable = pd.DataFrame | None | tuple[Rows, np.ndarray]


class Sorted:
    """Points in bands of y, sorted by x in each, to find those inside a polygon without testing them all.

    The points of a polygon's bounds lie in a few bands, and in each in one run of x: a part's
    candidates are those of its bounds, not those of a strip across the whole province.
    """

    def __init__(self, xy: np.ndarray) -> None:
        self.xy = np.asarray(xy, float).reshape(-1, 2)
        x, y = self.xy[:, 0], self.xy[:, 1]
        finite = np.isfinite(y)
        self.y0 = float(y[finite].min()) if finite.any() else 0.0
        self.n_bands = max(1, int(np.sqrt(len(y)) / 16))  # (16 √n points a band, on average)
        self.height = max((float(y[finite].max()) - self.y0) / self.n_bands, 1e-9) if finite.any() else 1.0
        band = np.zeros(len(y), np.int64)
        band[finite] = self._band(y[finite])
        self.order = np.lexsort((x, band))
        self.xs = x[self.order]
        self.starts = np.searchsorted(band[self.order], np.arange(self.n_bands + 1))

    def _band(self, y: np.ndarray | float) -> np.ndarray:
        """The band of each y (a y below or above every point's in the first or last band)."""
        return np.clip(np.floor((np.asarray(y) - self.y0) / self.height), 0, self.n_bands - 1).astype(np.int64)

    def inside(self, poly: shapely.Geometry | None) -> np.ndarray:
        """Indices (ascending) of the points inside ``poly`` (``shapely.contains_xy``)."""
        if poly is None or shapely.is_empty(poly) or len(self.xy) == 0:
            return np.zeros(0, np.int64)
        x0, y0, x1, y1 = poly.bounds
        b0, b1 = (int(b) for b in self._band(np.array([y0, y1])))
        starts, ends = self.starts[b0 : b1 + 1], self.starts[b0 + 1 : b1 + 2]
        runs = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            xs = self.xs[s:e]
            runs.append(
                self.order[s + np.searchsorted(xs, x0, side="left") : s + np.searchsorted(xs, x1, side="right")]
            )
        cand = np.concatenate(runs)
        y = self.xy[cand, 1]
        cand = cand[(y >= y0) & (y <= y1)]
        hit = shapely.contains_xy(poly, self.xy[cand, 0], self.xy[cand, 1])
        return np.sort(cand[hit])


class Boxed:
    """A WGS84 table with an index of its rows' bounds, to take the rows meeting a lon/lat box.

    Built once per extract, so cutting an area costs the rows it takes, not the province's.
    """

    def __init__(self, gdf: gpd.GeoDataFrame | None) -> None:
        self.gdf = gdf
        self.tree = shapely.STRtree(gdf.geometry.values) if gdf is not None and len(gdf) else None

    def rows(self, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """The rows whose bounds meet the box (empty geometries never do), ascending; None: the table as it is."""
        if self.tree is None or self.gdf is None:
            return None
        return np.sort(self.tree.query(shapely.box(*box)))

    def meeting(self, box: tuple[float, float, float, float]) -> gpd.GeoDataFrame | None:
        """Rows whose bounds meet the box (empty geometries never do), in their order."""
        rows = self.rows(box)
        return self.gdf if rows is None or self.gdf is None else self.gdf.iloc[rows].reset_index(drop=True)

    def packing(self, box: tuple[float, float, float, float]) -> PackTable:
        """What :meth:`meeting` gives, as :func:`_pack` takes it (the table converted once)."""
        rows = self.rows(box)
        return self.gdf if rows is None or self.gdf is None else (self.converted, rows)

    @cached_property
    def converted(self) -> Rows:
        """The table converted for :meth:`geo.packing.Packer.rows` (made when first packed)."""
        return Rows(cast("pd.DataFrame", self.gdf))


class Incidence:
    """The edges leaving each node of a network (made once), to cut a part in the time of its size.

    :func:`geo.network.subnetwork` takes a mask over every node and edge of the network it
    cuts: at a province's millions of nodes, most of the cost of a street's part.
    """

    def __init__(self, net: Network) -> None:
        self.net = net
        self.edges = np.argsort(net.edge_u, kind="stable").astype(np.int64)  # grouped by their u end
        self.start = np.concatenate([[0], np.cumsum(np.bincount(net.edge_u, minlength=net.n_nodes))]).astype(np.int64)

    def cut(self, nodes: np.ndarray) -> Network | None:
        """``subnetwork(net, mask of nodes)``, equal array for array; None when it holds no edge.

        ``nodes``: node indices, ascending and distinct.
        """
        net = self.net
        nodes = np.asarray(nodes, np.int64)
        if len(nodes) == net.n_nodes:
            return net if net.n_edges else None  # subnetwork keeps the whole network as it is
        if not len(nodes):
            return None
        counts = self.start[nodes + 1] - self.start[nodes]
        some = counts > 0
        e = self.edges[ranges(self.start[nodes[some]], counts[some])]  # every edge from a kept node once
        at_u = np.repeat(np.flatnonzero(some), counts[some])  # where each one's u end is in nodes
        kept = np.zeros(net.n_nodes, bool)
        kept[nodes] = True
        at = np.empty(net.n_nodes, np.int64)  # where each kept node is in nodes (only theirs are read)
        at[nodes] = np.arange(len(nodes))
        v = net.edge_v[e]
        both = kept[v]  # the edges whose v end is kept too
        if not both.any():
            return None
        e, at_u, at_v = e[both], at_u[both], at[v[both]]
        order = np.argsort(e)  # the edges in their order (distinct)
        e, at_u, at_v = e[order], at_u[order], at_v[order]
        used = np.zeros(len(nodes), bool)  # the kept nodes an edge keeps (subnetwork drops the others)
        used[at_u] = used[at_v] = True
        new_id = np.cumsum(used) - 1
        return network_of(
            net, nodes=nodes[used], edges=e, edge_u=new_id[at_u].astype(np.int64), edge_v=new_id[at_v].astype(np.int64)
        )
