"""What a plan knows of every home before any facility is placed, made once per extract.

Three things depend only on the extract (the homes, their land and the streets) and a few
settings, never on the facilities: where each home sits on the walking network, the street and
community it lies in, and the residential land each home owns for the gap areas. They take
about two seconds on a city extract, so they are made once and kept in the cache folder next to
the extract's base (:mod:`geo.store`: npz arrays under a manifest of checksums), keyed by the
base and those settings. A plan on a study area takes its homes' part (:meth:`HomeInfo.subset`);
a saved plan keeps its own part, so follow-ups never make them again.

The land of the gap areas (:func:`home_land`): the cells of a coarse grid (the circles' grid
pooled ``GAP_FACTOR`` x ``GAP_FACTOR``, anchored at multiples of its cell, so the land grid of
an extract and the grid of any plan on it line up cell for cell) whose centre lies on
residential land (``landuse=residential`` parcels and home footprints), each owned by its
nearest home within :data:`LAND_REACH_M`; a home's own cell is always its land.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely

from geo.areas import name_points
from geo.arrays import ranges
from geo.grid import GAP_FACTOR, Lattice, opencv
from geo.network import Network, Snapped, snapped_arrays, snapped_from_arrays
from geo.store import StoreError, read_bundle, write_bundle

if TYPE_CHECKING:  # annotations only: geo.plan and geo.base import this module
    import geopandas as gpd

    from geo.base import Base
    from geo.plan import PlanParams

#: a land cell belongs to its nearest home only within this distance (m).
LAND_REACH_M = 120.0
HOMEINFO_KIND = "service-circles/homes"
HOMEINFO_VERSION = 1
NAME_KEYS = ("street", "community", "named_from")


@dataclass(frozen=True, eq=False)
class HomeLand:
    """Land cells of a lattice and the home owning each (flat cell index, home index)."""

    lattice: Lattice
    cells: np.ndarray
    owner: np.ndarray

    def on(self, lat: Lattice) -> tuple[np.ndarray, np.ndarray]:
        """The same cells as flat indices of ``lat``; cells outside ``lat`` are left out.

        ``lat`` has the same cell size, and its origin lies on the same multiples of it.
        """
        own = self.lattice
        if not np.isclose(lat.cell, own.cell, rtol=1e-9, atol=0.0):
            raise ValueError(f"land cells of {own.cell:g} m cannot be put on a grid of {lat.cell:g} m cells")
        dc = round(float((own.x0 - lat.x0) / lat.cell))
        dr = round(float((own.y0 - lat.y0) / lat.cell))
        r, c = np.divmod(self.cells, own.cols)
        r, c = r + dr, c + dc
        ok = (r >= 0) & (r < lat.rows) & (c >= 0) & (c < lat.cols)
        return r[ok] * lat.cols + c[ok], self.owner[ok]

    def subset(self, keep: np.ndarray) -> HomeLand:
        """The land of the homes where ``keep`` is true, owners renumbered to those homes."""
        keep = np.asarray(keep, bool)
        newid = np.full(len(keep), -1, np.int64)
        newid[keep] = np.arange(int(keep.sum()))
        o = newid[self.owner]
        ok = o >= 0
        return HomeLand(self.lattice, self.cells[ok], o[ok])

    def arrays(self) -> dict[str, np.ndarray]:
        """The land as named arrays for a bundle."""
        lat = self.lattice
        return {
            "land_lattice": np.array([lat.x0, lat.y0, lat.cell, lat.rows, lat.cols], float),
            "land_cells": self.cells,
            "land_owner": self.owner,
        }

    @classmethod
    def from_arrays(cls, a: dict, n_homes: int) -> HomeLand:
        """The inverse of :meth:`arrays` (ValueError when the arrays disagree with each other)."""
        x0, y0, cell, rows, cols = (float(v) for v in np.asarray(a["land_lattice"], float).ravel()[:5])
        lat = Lattice(x0, y0, cell, int(rows), int(cols))
        cells = np.asarray(a["land_cells"]).astype(np.int64)
        owner = np.asarray(a["land_owner"]).astype(np.int64)
        if not (np.isfinite([x0, y0, cell]).all() and cell > 0 and lat.rows >= 0 and lat.cols >= 0):
            raise ValueError("the land grid is not a grid")
        if (
            len(cells) != len(owner)
            or np.any(cells < 0)
            or np.any(cells >= lat.size)
            or np.any(owner < 0)
            or np.any(owner >= n_homes)
        ):
            raise ValueError("land cells disagree with their grid or the homes")
        return cls(lat, cells, owner)


@dataclass(frozen=True, eq=False)
class HomeInfo:
    """Every home's place on the streets, its names and its land (see the module docstring)."""

    snap: Snapped
    names: tuple  # (street, community, named_from) object arrays, None where unnamed
    land: HomeLand

    def subset(
        self, keep: np.ndarray, xy: np.ndarray, net: Network, edge_map: np.ndarray, *, max_dist: float
    ) -> HomeInfo:
        """The part of the homes where ``keep`` is true, placed on the sub-network ``net``.

        ``xy``: those homes, metric; edge ``edge_map[e]`` of ``net`` was edge ``e`` (-1: not
        kept). A home whose edge was not kept is placed on ``net`` again; the nearest edge of the whole
        network, when kept, is the nearest of the part too.
        """
        keep = np.asarray(keep, bool)
        snap = _placed_on(self.snap.subset(keep), xy, net, edge_map, max_dist=max_dist)
        names = tuple(np.asarray(a, dtype=object)[keep] for a in self.names)
        return HomeInfo(snap, names, self.land.subset(keep))


def _placed_on(s: Snapped, xy: np.ndarray, net: Network, edge_map: np.ndarray, *, max_dist: float) -> Snapped:
    """Homes ``xy`` placed on a whole network (``s``), placed on its part ``net`` (see :meth:`HomeInfo.subset`)."""
    edge = np.where(s.ok, edge_map[np.maximum(s.edge, 0)], -1)
    lost = s.ok & (edge < 0)
    snap = Snapped(edge, s.along.copy(), s.dist.copy(), s.ok.copy(), s.xy.copy())
    if lost.any():
        again = net.snap(np.asarray(xy, float)[lost], max_dist=max_dist)
        for name in ("edge", "along", "dist", "ok", "xy"):
            getattr(snap, name)[lost] = getattr(again, name)
    return snap


def land_lattice(xy: np.ndarray, cell_m: float) -> Lattice:
    """The lattice of the homes' land: ``cell_m`` cells over the homes and the land's reach."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    lo = xy.min(axis=0) if len(xy) else np.zeros(2)
    hi = xy.max(axis=0) if len(xy) else np.zeros(2)
    return Lattice.around(lo, hi, cell_m, pad=LAND_REACH_M + cell_m)


def land_cell(params: PlanParams) -> float:
    """Side of the land cells: the circles' cell pooled ``GAP_FACTOR`` x ``GAP_FACTOR``."""
    return params.cell() * GAP_FACTOR


def make_home_info(
    net: Network,
    homes_xy: np.ndarray,
    *,
    land_polygons: np.ndarray,
    admin: gpd.GeoDataFrame,
    places: gpd.GeoDataFrame,
    params: PlanParams,
) -> HomeInfo:
    """Place, name and give land to every home (no cache; see :func:`home_info`)."""
    xy = np.asarray(homes_xy, float).reshape(-1, 2)
    snap = net.snap(xy, max_dist=params.home_snap_max_m)
    names = name_points(xy, admin=admin, places=places, project=net.project)
    lat = land_lattice(xy, land_cell(params))
    cells, owner = home_land(lat, xy, land_polygons)
    return HomeInfo(snap, tuple(names), HomeLand(lat, cells, owner))


def area_home_info(
    base: Base,
    params: PlanParams,
    *,
    keep: np.ndarray,
    xy: np.ndarray,
    net: Network,
    edge_map: np.ndarray,
    say: Callable[[str], None] | None = None,
) -> HomeInfo:
    """``home_info(base, params).subset(keep, xy, net, edge_map, ...)``: the homes of a study area.

    Equal to it array for array. With a cache folder and a base that has a key, that is what it
    does (the whole extract's part is kept for the next area); otherwise only the kept homes
    are placed and named, and only the land they own is looked for: the other homes matter
    only as rivals for the land cells (a batch's part holds homes near its area for that).
    """
    keep = np.asarray(keep, bool)
    if params.cache_dir is not None and getattr(base, "key", None):
        return home_info(base, params, say=say).subset(keep, xy, net, edge_map, max_dist=params.home_snap_max_m)
    (say or (lambda _: None))("placing homes on the streets and naming them")
    whole = base.network
    all_xy = np.asarray(base.homes.xy, float).reshape(-1, 2)
    snap = _placed_on(
        whole.snap(all_xy[keep], max_dist=params.home_snap_max_m), xy, net, edge_map, max_dist=params.home_snap_max_m
    )
    names = name_points(all_xy[keep], admin=base.admin, places=base.places, project=whole.project)
    lat = land_lattice(all_xy, land_cell(params))
    cells, owner = home_land(lat, all_xy, base.land, owners=keep)
    return HomeInfo(snap, tuple(names), HomeLand(lat, cells, owner).subset(keep))


def home_info(base: Base, params: PlanParams, *, say: Callable[[str], None] | None = None) -> HomeInfo:
    """The :class:`HomeInfo` of every home of ``base`` on its whole network.

    From the cache folder (``params.cache_dir``) when it was made before for the same base and
    settings.
    """
    say = say or (lambda _: None)
    folder = None
    kept_as: str | None = getattr(base, "key", None)
    if params.cache_dir is not None and kept_as:
        key = "|".join(
            [
                kept_as,
                str(HOMEINFO_VERSION),
                repr(float(params.home_snap_max_m)),
                repr(float(land_cell(params))),
                repr(LAND_REACH_M),
            ]
        )
        folder = params.cache_dir / f"homes-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
        if (folder / "manifest.json").exists():
            try:
                return read_home_info(folder, base.network, len(base.homes))
            except StoreError as err:
                say(f"the homes cache {folder.name} cannot be used ({err}): making it again")
    say("placing homes on the streets and naming them")
    info = make_home_info(
        base.network, base.homes.xy, land_polygons=base.land, admin=base.admin, places=base.places, params=params
    )
    if folder is not None:
        try:
            write_bundle(
                folder, kind=HOMEINFO_KIND, version=HOMEINFO_VERSION, meta={}, arrays={"homes": home_info_arrays(info)}
            )
        except OSError as err:
            say(f"could not write the homes cache ({err}); continuing without it")
    return info


def home_info_arrays(info: HomeInfo) -> dict[str, np.ndarray]:
    """``info`` as named arrays for a bundle (see :func:`home_info_from_arrays`)."""
    return {**snapped_arrays(info.snap, "snap_"), **dict(zip(NAME_KEYS, info.names, strict=True)), **info.land.arrays()}


def home_info_from_arrays(a: dict, net: Network, n_homes: int) -> HomeInfo:
    """The inverse of :func:`home_info_arrays` (``a`` read with ``NAME_KEYS`` as text).

    Raises ValueError when the arrays disagree with each other, the network or the homes.
    """
    snap = snapped_from_arrays(a, "snap_", net)
    names = tuple(np.array([v or None for v in a[k]], dtype=object) for k in NAME_KEYS)
    if len(snap) != n_homes or any(len(v) != n_homes for v in names):
        raise ValueError("home places or names disagree with the homes")
    return HomeInfo(snap, names, HomeLand.from_arrays(a, n_homes))


def read_home_info(folder: Path, net: Network, n_homes: int) -> HomeInfo:
    """The home information kept in ``folder`` (a :class:`geo.store.StoreError` when it does not fit)."""
    b = read_bundle(folder, kind=HOMEINFO_KIND, version=HOMEINFO_VERSION)
    try:
        return home_info_from_arrays(b.arrays("homes", text=NAME_KEYS), net, n_homes)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise StoreError(f"{folder.name}: {err}") from None


# ------------------------------------------------------------------------------ land


def home_land(
    lattice: Lattice,
    homes_xy: np.ndarray,
    land_polygons: np.ndarray,
    *,
    reach_m: float = LAND_REACH_M,
    owners: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Land cells of ``lattice`` and their owner home.

    Residential land (``land_polygons``, metric; parcels and footprints) nearest to each home,
    within ``reach_m``; every home's own cell is land too. Returns ``(flat cell indices, owner
    home)``. ``owners`` (a mask over the homes): only the land of those homes is returned (the
    others still compete for it), as if the rest were dropped afterwards.
    """
    cv2 = opencv()
    rows, cols = lattice.rows, lattice.cols
    cells = np.floor((np.asarray(homes_xy, float) - (lattice.x0, lattice.y0)) / lattice.cell).astype(np.int64)
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < cols) & (cells[:, 1] >= 0) & (cells[:, 1] < rows)
    if not inside.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    seeds = np.ones((rows, cols), np.uint8)
    seeds[cells[inside, 1], cells[inside, 0]] = 0
    dist, label = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL)
    # labels number the seed cells in row-major order; a cell holding several homes keeps one
    home_ids = np.flatnonzero(inside)
    key = cells[inside, 1] * cols + cells[inside, 0]
    order = np.lexsort((home_ids, key))
    key, home_ids = key[order], home_ids[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    seed_home = home_ids[first]
    near = dist.ravel() * lattice.cell <= reach_m  # the only cells that can be anyone's land
    if owners is not None:
        wanted = np.flatnonzero(near)
        near[wanted[~np.asarray(owners, bool)[seed_home[label.ravel()[wanted] - 1]]]] = False
    land = np.zeros(rows * cols, bool)
    land[key] = True
    polys = np.asarray(land_polygons, dtype=object)
    polys = polys[~shapely.is_missing(polys) & ~shapely.is_empty(polys)] if len(polys) else polys
    test = near & ~land  # a home's own cell is land whatever lies there
    if len(polys) and test.any():
        r, c = _cells_inside(lattice, polys, test.reshape(rows, cols))
        land[r * cols + c] = True
    flat = np.flatnonzero(land & near)
    owner = seed_home[label.ravel()[flat] - 1]
    return flat, owner


def _cells_inside(
    lattice: Lattice, polys: np.ndarray, test: np.ndarray | None = None, chunk: int = 2_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Cells of ``lattice`` whose centre lies in one of ``polys`` (metric); only those ``test`` marks, if given.

    Every cell of each polygon's bounding box is tested, with arrays (an outline-drawing fill
    would claim about half a cell more all round). ``test``: a ``(rows, cols)`` mask of the cells
    worth testing (the others are never returned).
    """
    b = shapely.bounds(polys)
    c0 = np.clip(np.ceil((b[:, 0] - lattice.x0) / lattice.cell - 0.5), 0, lattice.cols).astype(np.int64)
    c1 = np.clip(np.floor((b[:, 2] - lattice.x0) / lattice.cell - 0.5), -1, lattice.cols - 1).astype(np.int64)
    r0 = np.clip(np.ceil((b[:, 1] - lattice.y0) / lattice.cell - 0.5), 0, lattice.rows).astype(np.int64)
    r1 = np.clip(np.floor((b[:, 3] - lattice.y0) / lattice.cell - 0.5), -1, lattice.rows - 1).astype(np.int64)
    nc, nr = np.maximum(c1 - c0 + 1, 0), np.maximum(r1 - r0 + 1, 0)
    n = nc * nr
    keep = n > 0
    idx, n, c0, r0, nc = np.flatnonzero(keep), n[keep], c0[keep], r0[keep], nc[keep]
    out_r, out_c = [], []
    bounds = np.searchsorted(np.cumsum(n), np.arange(0, int(n.sum()) + chunk, chunk), side="right")
    for a, z in pairwise(bounds):
        if z <= a:
            continue
        k = ranges(np.zeros(z - a, np.int64), n[a:z])
        which = np.repeat(np.arange(a, z), n[a:z])
        rr = r0[which] + k // nc[which]
        cc = c0[which] + k % nc[which]
        if test is not None:
            sel = test[rr, cc]
            rr, cc, which = rr[sel], cc[sel], which[sel]
        x = (cc + 0.5) * lattice.cell + lattice.x0
        y = (rr + 0.5) * lattice.cell + lattice.y0
        # prepared, a polygon tests its cells ~3x faster: copies are prepared (exact ones, through WKB),
        # never the caller's polygons, which another thread may be using
        used, at = np.unique(idx[which], return_inverse=True)
        own = polys[used]
        fresh = ~shapely.is_prepared(own)
        own[fresh] = shapely.from_wkb(shapely.to_wkb(own[fresh]))
        shapely.prepare(own)
        inside = shapely.contains_xy(own[at], x, y)
        out_r.append(rr[inside])
        out_c.append(cc[inside])
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_r), np.concatenate(out_c)
