"""A province in one run: which areas, and each area's part of the read extract.

The first two steps of ``circles batch`` (the tasks that plan the parts, and running them on
Dask, are :mod:`geo.batch_tasks`):

1. :func:`list_areas` — the areas: every admin boundary of a level (``level=6``), optionally only
   those inside another (``within``), or every polygon of a file.
2. :class:`Partition` — which nodes and facilities of the read extract lie in each area's halo
   (the longest threshold's walk plus a margin, as ``circles plan --area`` uses), and which
   homes and residential land lie near it (:func:`near_margins`), indexed once for all areas
   (:mod:`geo.batch_index`);
   :meth:`Partition.part` cuts one area's :class:`Part`, so a task carries its area plus halo
   and nothing of the rest of the province, and :meth:`Partition.packed` packs it for its way
   to a worker (:class:`PackedPart`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.areas import AREA_LEVELS, StudyArea, _area_from_admin, resolve_area
from geo.base import Base
from geo.batch_index import Boxed, Incidence, PackTable, Sorted
from geo.crs import to_wgs84
from geo.demand import Homes
from geo.errors import InputError, NetworkError
from geo.homeinfo import LAND_REACH_M, land_cell
from geo.kinds import AreaLevel
from geo.network import NETWORK_ARRAYS, Network, network_arrays, network_from_arrays
from geo.packing import DAMAGE, Packer, Rows, Unpacked, Wkb
from geo.plan import fit_cell
from geo.store import StoreError

if TYPE_CHECKING:
    from geo.plan_types import PlanParams

#: lon/lat margin (degrees) around an area's halo for the admin areas and places that name its homes
NAME_MARGIN_DEG = 0.03
#: metres around an area's streets for the base-map tables its part carries: at least the margin
#: the map draws around the streets (``maps.basemap.MARGIN_M``, 400 m; a test checks)
BASEMAP_MARGIN_M = 500.0
#: metres by which an area's outline may be simplified before the margin for its homes is drawn
SIMPLIFY_M = 10.0
#: the share of an area that must lie inside ``--within`` for it to be taken
WITHIN_SHARE = 0.5


@dataclass(frozen=True, eq=False)
class BatchArea:
    """One area of a batch: its folder key, and the study area (or why it cannot be planned)."""

    key: str  # folder and log name (the name, made safe for a file system; unique in the batch)
    area: StudyArea
    problem: str | None = None  # set: the area fails with this message, without a task


# ------------------------------------------------------------------------------ which areas


def parse_areas(spec: str) -> tuple[str, Path | tuple[str, ...]]:
    """``level=6`` / ``level=street`` -> ("level", admin levels); a polygon file -> ("file", path)."""
    text = str(spec).strip()
    m = re.fullmatch(r"level\s*=\s*(\S+)", text, flags=re.IGNORECASE)
    if m:
        lv = m.group(1).lower()
        if lv in AREA_LEVELS:
            return "level", AREA_LEVELS[lv]
        if lv.isdigit() and 1 <= int(lv) <= 12:
            return "level", (lv,)
        raise InputError(
            "--areas",
            [
                (
                    f"{spec!r}: the level must be an OSM admin_level 1..12 (6: districts, "
                    f"8: streets and towns) or one of {', '.join(AREA_LEVELS)}"
                )
            ],
        )
    path = Path(text)
    if path.suffix.lower() in (".geojson", ".json", ".gpkg", ".shp", ".parquet") or path.is_file():
        if not path.is_file():
            raise InputError(
                str(path),
                [
                    (
                        "--areas file not found: give a GeoJSON, GeoPackage or Shapefile with one "
                        "polygon per area and a name column, or level=6 / level=8"
                    )
                ],
            )
        return "file", path
    raise InputError(
        "--areas",
        [
            (
                f"{spec!r}: expected level=N (an OSM admin_level: 6 districts, 8 streets and "
                "towns) or a polygon file (.geojson, .gpkg, .shp)"
            )
        ],
    )


def safe_key(name: str) -> str:
    """A folder name for an area: its name as written, minus what file systems refuse."""
    key = re.sub(r'[\\/:*?"<>|\s]+', "_", str(name)).strip("._") or "area"
    return key[:80]


def _keyed(areas: list[tuple[StudyArea, str | None]]) -> list[BatchArea]:
    out: list[BatchArea] = []
    seen: dict[str, int] = {}
    for area, problem in areas:
        base = safe_key(area.name)
        n = seen.get(base.lower(), 0) + 1
        seen[base.lower()] = n
        out.append(BatchArea(base if n == 1 else f"{base}-{n}", area, problem))
    return out


def list_areas(
    spec: str, *, admin: gpd.GeoDataFrame, within: str | None = None, crs: str | None = None
) -> list[BatchArea]:
    """The areas of a batch, in a stable order (by name).

    Parameters
    ----------
    spec
        ``level=N`` (an OSM admin_level, or district/street/community) or a polygon file with a
        ``name`` column (one area per row; rows without a name are called ``<file>-<row>``).
    admin
        The extract's admin boundaries (GeoDataFrame, WGS84: name, admin_level, osm_id).
    within
        Keep only the areas lying mostly inside this admin boundary (any level) or polygon file.
    crs
        Coordinate system of a polygon file without one (wgs84, gcj02, bd09).

    Raises
    ------
    geo.errors.InputError
        For a bad spec, an unreadable file, a level the extract holds no boundary of, or no area
        left inside ``within``. An area that cannot be planned (an empty or non-polygon row) is
        kept, with its ``problem``, so it is reported by name with the others.
    """
    _, what = parse_areas(spec)
    if isinstance(what, Path):
        areas = _areas_from_file(what, crs)
    else:
        if admin is None or len(admin) == 0:
            raise InputError("--areas", [f"{spec!r}: the extract holds no admin boundaries; give a polygon file"])
        levels = admin["admin_level"].astype(str).to_numpy()
        names = admin["name"].to_numpy(dtype=object)
        sel = np.isin(levels, list(what)) & np.array([isinstance(n, str) and bool(n.strip()) for n in names], bool)
        if not sel.any():
            held = sorted({lv for lv in levels if lv and lv != "None"}, key=lambda v: (len(v), v))
            raise InputError(
                "--areas",
                [
                    (
                        f"{spec!r}: the extract holds no named admin boundary at admin_level "
                        f"{'/'.join(what)}; it holds levels {', '.join(held) or 'none'}"
                    )
                ],
            )
        areas = [
            (_area_from_admin(name, lv, admin), None)
            for name, lv in sorted({(str(n), str(v)) for n, v in zip(names[sel], levels[sel], strict=True)})
        ]
    if within:
        outer = resolve_area(within, admin=admin, crs=crs).geometry
        shapely.prepare(outer)
        kept = []
        for area, problem in areas:
            g = area.geometry
            if g is None or shapely.is_empty(g):
                kept.append((area, problem))
                continue
            same = area.name == str(within).strip()
            share = shapely.area(shapely.intersection(g, outer)) / max(shapely.area(g), 1e-18)
            if share >= WITHIN_SHARE and not same:
                kept.append((area, problem))
        if not kept:
            raise InputError("--within", [f"{within!r}: none of the areas of {spec!r} lies inside it"])
        areas = kept
    return _keyed(areas)


def _areas_from_file(path: Path, crs: str | None) -> list[tuple[StudyArea, str | None]]:
    """Every row of a polygon file as an area, with the problem that keeps it from being planned."""
    try:
        gdf = gpd.read_file(path)
    except Exception as err:  # noqa: BLE001 - pyogrio raises many types for unreadable files
        raise InputError(str(path), [f"cannot be read as a GIS file ({err})"]) from None
    if len(gdf) == 0:
        raise InputError(str(path), ["holds no rows: give one polygon per area"])
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    names = gdf["name"].to_numpy(dtype=object) if "name" in gdf else np.full(len(gdf), None, dtype=object)
    out = []
    for i, (name, given) in enumerate(zip(names, gdf.geometry.to_numpy(), strict=True)):
        label = str(name).strip() if isinstance(name, str) and name.strip() else f"{path.stem}-{i + 1}"
        problem = None
        geom = given
        if geom is None or shapely.is_empty(geom):
            problem, geom = f"{path.name} row {i + 1}: the boundary is empty — give the area's polygon", None
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problem = f"{path.name} row {i + 1}: the boundary is a {geom.geom_type}, not a Polygon or MultiPolygon"
        else:
            geom = shapely.make_valid(geom)
            if crs and crs.lower() not in ("wgs84", "4326", "epsg:4326"):
                geom = shapely.transform(geom, lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], crs)))
            xy = shapely.get_coordinates(geom)
            if not (np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90)):
                problem = (
                    f"{path.name} row {i + 1}: coordinates are not longitude/latitude — give the file's CRS "
                    "in the file (GeoPackage, Shapefile .prj) or WGS84 GeoJSON"
                )
        area = StudyArea(label, f"{path.name} row {i + 1}", None, geom if geom is not None else shapely.Polygon())
        out.append((area, problem))
    return out


# ------------------------------------------------------------------------------ the partition


def near_margins(params: PlanParams, net: Network) -> tuple[float, float]:
    """Metres around an area within which its part keeps the homes, and the residential land.

    Homes outside the area are not counted; they matter only as rivals for the land cells near
    the area (:func:`geo.homeinfo.home_land`: a cell goes to its nearest home within
    ``LAND_REACH_M``, by a chamfer distance within 2 % of the straight one). A cell an area's
    home owns lies within ``LAND_REACH_M`` (and a cell) of the area; a rival for it within
    twice that. The margins leave room to spare: the land beyond them, and the homes, change
    no cell an area's home owns, nor which home owns it. The land cell is the plan's (its cell
    enlarged as :func:`geo.plan.fit_cell` would enlarge it on the part's network).
    """
    cell = land_cell(fit_cell(params, net)[0])
    return 4 * LAND_REACH_M + 4 * cell, 1.5 * LAND_REACH_M + 2 * cell


@dataclass(frozen=True, eq=False)
class Part:
    """One area's task input: the area and the base cut to its halo.

    The base holds the network and the facilities of the halo, the homes and residential land
    near the area (:func:`near_margins`), the admin areas and places that name its homes, and
    the base-map tables its map draws.
    """

    key: str
    area: StudyArea
    base: Base
    files: dict  # layer -> (WGS84 table, origin): the planner's files, cut to the halo


#: a packed part's kind, and the version of its layout (:class:`PackedPart`)
PART_KIND, PART_VERSION = "service-circles/part", 1
_HOME_ARRAYS = ("xy", "people", "kind", "osm_id")
_ARRAYS = (*(f"network.{k}" for k in (*NETWORK_ARRAYS, "crs")), *(f"homes.{k}" for k in _HOME_ARRAYS))


@dataclass(frozen=True, eq=False)
class PackedPart:
    """A :class:`Part` as one array of bytes, for its way to a worker (:meth:`Partition.packed`).

    Dask pickles a task's arguments in the driver, the scheduler unpickles and pickles them
    again, and the worker unpickles them: a part of shapely and pandas objects took ~100 ms of
    the driver's CPU for that. Packed once in the driver, the part passes Dask as a numpy
    buffer, sent beside the pickled message at the speed of a copy, and is unpacked once,
    inside the task.

    The bytes are arrays and a JSON manifest (:class:`geo.packing.Packer`, made in memory: the
    worker may be on another machine): the network and the homes as the base cache keeps them,
    every geometry as WKB, every table column by column. Nothing in them can execute code (no
    pickle), and damaged bytes raise :class:`geo.store.StoreError`.
    """

    key: str
    data: np.ndarray  # uint8: the part, packed (geo.packing.pack_arrays)

    def unpack(self) -> Part:
        """The part (in the worker, by the task); :class:`geo.store.StoreError` when damaged."""
        text = ("network.edge_highway", "network.edge_name", "homes.kind", "homes.osm_id")
        u = Unpacked(self.data.data, names=_ARRAYS, text=text, label=f"the packed part {self.key!r}")
        try:
            return _part_of(u)
        except DAMAGE as err:
            raise StoreError(f"the packed part {self.key!r} is damaged ({type(err).__name__}: {err})") from None

    @classmethod
    def pack(cls, part: Part) -> PackedPart:
        """``part`` as one array of bytes (see :meth:`unpack`)."""
        b = part.base
        return _pack(
            part,
            land=b.land,
            osm=b.osm_facilities,
            admin=cast("pd.DataFrame | None", b.admin),
            places=cast("pd.DataFrame | None", b.places),
            extras=b.extras,
            files=part.files,
        )


def _pack(
    part: Part,
    *,
    land: np.ndarray | tuple[Wkb, np.ndarray],
    osm: dict[str, PackTable],
    admin: PackTable,
    places: PackTable,
    extras: dict[str, PackTable],
    files: dict[str, tuple[PackTable, object]],
) -> PackedPart:
    """The bytes of :meth:`PackedPart.pack`, the tables and land given as they are or as rows of converted ones.

    ``part``'s own tables and land are not read: :meth:`Partition.packed` gives a part without them.
    """
    b, area, pk = part.base, part.area, Packer()

    def table(t: PackTable) -> dict | None:
        return pk.rows(*t) if isinstance(t, tuple) else pk.table(t)

    pk.arrays.update({f"network.{k}": v for k, v in network_arrays(b.network).items()})
    pk.arrays.update({f"homes.{k}": getattr(b.homes, k) for k in _HOME_ARRAYS})
    doc = {
        "kind": PART_KIND,
        "version": PART_VERSION,
        "key": part.key,
        "area": {"name": area.name, "source": area.source, "level": area.level},
        "shapes": pk.geometries([area.geometry, area.metric]),
        "base": {"source": b.source, "data_date": b.data_date, "layer_notes": b.layer_notes, "key": b.key},
        "homes_method": b.homes.method,
        "land": pk.wkb(*land) if isinstance(land, tuple) else pk.geometries(land),
        "osm": {k: table(v) for k, v in osm.items()},
        "admin": table(admin),
        "places": table(places),
        "extras": {k: table(v) for k, v in extras.items()},
        "files": {k: [table(t), origin] for k, (t, origin) in files.items()},
    }
    return PackedPart(part.key, np.frombuffer(pk.pack(doc), np.uint8))


def _part_of(u: Unpacked) -> Part:
    """The part :meth:`PackedPart.pack` packed; KeyError, TypeError or ValueError when it is damaged."""
    doc, a = u.manifest, u.arrays
    if doc.get("kind") != PART_KIND or doc.get("version") != PART_VERSION:
        raise ValueError(f"not a packed part of version {PART_VERSION}")
    net = network_from_arrays({k: a[f"network.{k}"] for k in (*NETWORK_ARRAYS, "crs")})
    xy, people, kind, osm_id = (a[f"homes.{k}"] for k in _HOME_ARRAYS)
    if xy.shape[1:] != (2,) or not (len(xy) == len(people) == len(kind) == len(osm_id)) or not np.all(np.isfinite(xy)):
        raise ValueError("home arrays disagree")
    homes = Homes(xy, people, kind, osm_id, str(doc["homes_method"]))
    shapes, ad = u.geometries(doc["shapes"]), doc["area"]
    if len(shapes) != 2:
        raise ValueError("the area is not one shape and its metric one")
    level = AreaLevel(ad["level"]) if ad["level"] in AREA_LEVELS else ad["level"]
    area = StudyArea(str(ad["name"]), str(ad["source"]), level, shapes[0], shapes[1])
    bd = doc["base"]
    base = Base(
        bd["source"],
        bd["data_date"],
        net,
        homes,
        u.geometries(doc["land"]),
        {k: u.table(e) for k, e in doc["osm"].items()},
        u.table(doc["admin"]),
        u.table(doc["places"]),
        dict(bd["layer_notes"]),
        {k: u.table(e) for k, e in doc["extras"].items()},
        bd["key"],
    )
    return Part(str(doc["key"]), area, base, {k: (u.table(e), origin) for k, (e, origin) in doc["files"].items()})


class Partition:
    """Where each area's halo lies in a read extract; :meth:`part` cuts one area.

    Parameters
    ----------
    base
        The read extract (:func:`geo.base.load_base`).
    params
        The plan options (the halo: ``params.halo()``).
    files
        The planner's facility files, read once: layer -> (WGS84 table, origin).
    """

    def __init__(self, base: Base, params: PlanParams, files: dict) -> None:
        self.base, self.params, self.files = base, params, files
        net = base.network
        self.nodes = Sorted(net.node_xy)
        self.edges = Incidence(net)
        self.homes = Sorted(base.homes.xy)
        land = np.asarray(base.land, dtype=object)
        self.land = land
        self.land_tree = shapely.STRtree(land) if len(land) else None
        self.admin, self.places = Boxed(base.admin), Boxed(base.places)
        self.extras = {k: Boxed(v) for k, v in base.extras.items()}

        def placed(fac: gpd.GeoDataFrame) -> Sorted:
            return Sorted(
                net.project(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()) if len(fac) else np.zeros((0, 2))
            )

        self.osm_fac = {k: placed(v) for k, v in base.osm_facilities.items()}
        self.file_fac = {k: placed(v[0]) for k, v in files.items()}

    def metric(self, area: StudyArea) -> shapely.Geometry:
        """The area in the extract's metric CRS."""
        return self.base.network.metric_of(area.geometry)

    def halo(self, area: StudyArea) -> tuple[shapely.Geometry, shapely.Geometry]:
        """The area and its halo in the extract's metric CRS."""
        metric = self.metric(area)
        halo = shapely.buffer(metric, self.params.halo())
        shapely.prepare(halo)
        return metric, halo

    def home_owners(self, areas: list[BatchArea]) -> np.ndarray:
        """How many of the areas hold each home of the extract (0, 1, or more where areas overlap)."""
        count = np.zeros(len(self.base.homes), np.int64)
        for a in areas:
            if a.problem is None and not a.area.geometry.is_empty:
                count[self.homes.inside(self.metric(a.area))] += 1  # (no halo: a buffer costs ~5 ms)
        return count

    def packed(self, area: BatchArea) -> PackedPart:
        """The area's task input, packed for its way to a worker (:class:`PackedPart`).

        The bytes of ``PackedPart.pack(self.part(area))``, with the tables and the land taken as
        rows of the extract's, converted once (:class:`geo.packing.Rows`, :class:`geo.packing.Wkb`):
        a part costs its rows, not a pandas table and WKB made per table it cuts.
        """
        cut = self._cut(area)
        osm, files = self._osm_rows, self._file_rows
        return _pack(
            cut.part,
            land=(self._land_wkb, cut.land),
            osm={k: (osm[k], rows) for k, rows in cut.osm.items()},
            admin=self.admin.packing(cut.box),
            places=self.places.packing(cut.box),
            extras={k: t.packing(cut.map_box) for k, t in self.extras.items()},
            files={k: ((files[k], rows), self.files[k][1]) for k, rows in cut.files.items()},
        )

    @cached_property
    def _land_wkb(self) -> Wkb:
        return Wkb(self.land)

    @cached_property
    def _osm_rows(self) -> dict[str, Rows]:
        return {k: Rows(v) for k, v in self.base.osm_facilities.items()}

    @cached_property
    def _file_rows(self) -> dict[str, Rows]:
        return {k: Rows(t) for k, (t, _) in self.files.items()}

    def part(self, area: BatchArea) -> Part:
        """The area's task input.

        Raises :class:`geo.errors.NetworkError` when no walkable street lies in the area and its
        halo.
        """
        cut = self._cut(area)
        base = self.base
        osm = {k: v.iloc[cut.osm[k]].reset_index(drop=True) for k, v in base.osm_facilities.items()}
        files = {k: (t.iloc[cut.files[k]].reset_index(drop=True), origin) for k, (t, origin) in self.files.items()}
        part = dataclasses.replace(
            cut.part.base,
            land_source=self.land[cut.land],
            osm_facilities=osm,
            admin=self.admin.meeting(cut.box),
            places=self.places.meeting(cut.box),
            extras={k: t.meeting(cut.map_box) for k, t in self.extras.items()},
        )
        return Part(area.key, area.area, part, files)

    def _cut(self, area: BatchArea) -> _Cut:
        """Which rows of the extract the area's part holds; :class:`geo.errors.NetworkError` when no street."""
        base = self.base
        metric, halo = self.halo(area.area)
        sub = self.edges.cut(self.nodes.inside(halo))
        if sub is None:
            raise NetworkError(
                f"no walkable street of {Path(str(base.source)).name} lies in the area "
                f"{area.area.name!r} or its {self.params.halo():.0f} m halo: is the area outside "
                "the extract?"
            )
        # the homes and land near the area: within the margins of a simplified outline (within
        # SIMPLIFY_M of the area's), widened by as much; faster than around the area's own outline
        outline = shapely.simplify(metric, SIMPLIFY_M)
        homes_m, land_m = near_margins(self.params, sub)
        near = shapely.buffer(outline, homes_m + 2 * SIMPLIFY_M)
        shapely.prepare(near)
        h = base.homes
        hi = self.homes.inside(near)
        homes = Homes(h.xy[hi], h.people[hi], h.kind[hi], h.osm_id[hi], h.method)
        land = np.zeros(0, np.int64)  # (no tree: no land)
        if self.land_tree is not None:
            near_land = shapely.buffer(outline, land_m + 2 * SIMPLIFY_M)
            land = np.sort(self.land_tree.query(near_land, predicate="intersects"))
        lon, lat = sub.node_lonlat[:, 0], sub.node_lonlat[:, 1]
        m = NAME_MARGIN_DEG
        box = (float(lon.min()) - m, float(lat.min()) - m, float(lon.max()) + m, float(lat.max()) + m)
        # degrees at least BASEMAP_MARGIN_M wide: a degree of latitude is 110.574 km at least, one
        # of longitude 111.320 km x cos(latitude), taken at the latitude farthest from the equator
        dy = BASEMAP_MARGIN_M / 110_574.0
        dx = BASEMAP_MARGIN_M / (111_320.0 * max(np.cos(np.radians(np.abs(lat).max())), 1e-6))
        map_box = (float(lon.min()) - dx, float(lat.min()) - dy, float(lon.max()) + dx, float(lat.max()) + dy)
        # the part without its tables and land (its rows below)
        bare = dataclasses.replace(
            base,
            network=sub,
            homes=homes,
            land_source=np.zeros(0, dtype=object),
            osm_facilities={},
            admin=None,
            places=None,
            extras={},
            key=None,
        )
        return _Cut(
            Part(area.key, area.area, bare, {}),
            land,
            {k: self.osm_fac[k].inside(halo) for k in base.osm_facilities},
            {k: self.file_fac[k].inside(halo) for k in self.files},
            box,
            map_box,
        )


@dataclass(frozen=True, eq=False)
class _Cut:
    """Which rows of the read extract an area's part holds (:meth:`Partition.part`, :meth:`Partition.packed`)."""

    part: Part  # the area, its network and homes; its base's tables and land left out
    land: np.ndarray  # rows of Partition.land
    osm: dict[str, np.ndarray]  # layer -> rows of the extract's facilities
    files: dict[str, np.ndarray]  # layer -> rows of the planner's file
    box: tuple[float, float, float, float]  # lon/lat: the admin areas and places meeting it
    map_box: tuple[float, float, float, float]  # lon/lat: the base-map tables' rows meeting it
