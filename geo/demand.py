"""Homes and the people living in them, estimated from OSM (or from a population file).

Homes
-----
1. Residential buildings: ``building`` = residential, apartments, house, dormitory, detached,
   semidetached_house, terrace, bungalow, ...; and ``building=yes`` (untyped) whose centre lies
   in ``landuse=residential``.
2. Residential land without mapped homes: Chinese OSM data often maps a compound (小区) only as
   a ``landuse=residential`` area. Inside each such area that holds no home building, homes are
   points on a regular grid (``grid_m``, default 50 m); an area too small for one grid point
   gets one point at its representative point.

People per home (the "footprint" method, the default)
----------------------------------------------------
- building: footprint area (m²) x levels / floor area per person. Levels from
  ``building:levels`` when tagged, else 2 for houses (house, detached, terrace, bungalow,
  semidetached_house, farm) and 6 for other residential buildings.
- grid point: the land area the point stands for (m²) x floor-area ratio / floor area per person.
- floor area per person: 36.5 m², the urban per-capita housing floor area reported by China's
  7th national census (2020: 36.52 m²); floor-area ratio 2.0, a common value for mid-rise
  compounds. Both are options (``PeopleRule``).

With a population file (polygons or points with a population column), the "population file"
method spreads each polygon's people over the homes inside it in proportion to the footprint
estimate, and gives each point's people to the nearest home within :data:`POINT_MAX_M` (500 m). A
point farther from every home, or a polygon holding none, is not assigned: its row is listed
(``Homes.unassigned``: the plan's warnings and ``coverage.json``) and its people are said as not
assigned in the method, never piled onto a far home. A table of people by community
name (CSV/XLSX: 社区, 人口) spreads each community's people over its homes the same way, matched on
the community each home was named with (:func:`read_community_population`).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.layer_files import Raw, cell_text, header_key, read_raw
from geo.osm import HOME_BUILDINGS, Features

HOUSE_TYPES = frozenset({"house", "detached", "terrace", "bungalow", "semidetached_house", "farm", "cabin"})
#: a population point farther than this from every home is not assigned (m). A point stands for
#: the people living where it is (an address, a block, a 100 m grid cell's centre): 500 m, about a
#: 6-minute walk, is further than a compound's homes lie from its centre, and giving people to a
#: home further away would put them in circles they do not live in.
POINT_MAX_M = 500.0
#: population rows named one by one in the plan's warning, and in ``coverage.json`` (with the totals)
SHOWN_ROWS = 10
LISTED_ROWS = 1000


@dataclass(frozen=True)
class PeopleRule:
    """How many people a home holds: floor area per person, levels, and the grid for land without homes."""

    floor_m2_per_person: float = 36.5
    house_levels: float = 2.0
    other_levels: float = 6.0
    far: float = 2.0
    grid_m: float = 50.0

    def describe(self) -> str:
        """The rule in words, as ``coverage.json`` states the method."""
        return (
            f"footprint x levels / {self.floor_m2_per_person:g} m² per person (levels from "
            f"building:levels, else {self.house_levels:g} for houses and {self.other_levels:g} "
            f"for other homes); residential land without mapped homes: {self.grid_m:g} m grid "
            f"points, land area x floor-area ratio {self.far:g} / {self.floor_m2_per_person:g} m² per person"
        )


@dataclass(frozen=True, eq=False)
class Homes:
    """Home points in the network's metric CRS, with estimated people."""

    xy: np.ndarray  # (H, 2) metric
    people: np.ndarray  # (H,) float
    kind: np.ndarray  # (H,) "building" | "grid"
    osm_id: np.ndarray  # (H,) source feature id
    method: str
    #: the features of a population file whose people no home was given (see :func:`apply_population`):
    #: ``features``, ``people``, ``limit_m``, ``rows`` (the first :data:`LISTED_ROWS`), ``rows_left_off``
    unassigned: dict | None = None

    def __len__(self) -> int:
        return len(self.xy)

    def unassigned_warnings(self) -> list[str]:
        """The plan's warning naming the population rows not assigned (none when all were)."""
        if not self.unassigned:
            return []
        u = self.unassigned
        out = []
        if u.get("outside_area"):
            o = u["outside_area"]
            out.append(
                f"population: {o['people']:,.0f} people in {o['features']} points of the population file lie "
                "outside the study area and are not counted (their homes are not the area's)"
            )
        if not u["features"]:
            return out
        shown = [
            f"{r['file']} feature {r['row']} at {r['lon']:.5f}, {r['lat']:.5f}: {r['people']:,.0f} people, "
            + (f"{r['distance_m']:,.0f} m from the nearest home" if r["distance_m"] is not None else str(r["reason"]))
            for r in u["rows"][:SHOWN_ROWS]
        ]
        more = u["features"] - len(shown)
        return [
            *out,
            f"population: {u['people']:,.0f} people in {u['features']} features of the population file were not "
            f"assigned to any home (a point farther than {u['limit_m']:.0f} m from every home of the plan, "
            f"or an area holding no home — outside the extract or study area, or wrong coordinates?): "
            + "; ".join(shown)
            + (f"; and {more} more (the first {LISTED_ROWS} in coverage.json)" if more else ""),
        ]


def _levels(tags: list[dict[str, str]], rule: PeopleRule) -> np.ndarray:
    out = np.empty(len(tags))
    for i, t in enumerate(tags):
        lv = t.get("building:levels")
        val = None
        if lv:
            try:
                val = float(lv.split(";")[0].strip())
            except ValueError:
                val = None
        if val is None or not (0 < val < 200):
            val = rule.house_levels if t.get("building") in HOUSE_TYPES else rule.other_levels
        out[i] = val
    return out


def homes_from_osm(
    features: Features, *, project: Callable[[np.ndarray], np.ndarray], rule: PeopleRule = PeopleRule()
) -> Homes:
    """Build homes from an extract's buildings and residential land (see :func:`homes_and_land`)."""
    return homes_and_land(features, project=project, rule=rule)[0]


def homes_and_land(
    features: Features, *, project: Callable[[np.ndarray], np.ndarray], rule: PeopleRule = PeopleRule()
) -> tuple[Homes, np.ndarray]:
    """Build homes from an extract's buildings and residential land, and that land.

    ``project`` turns a shapely geometry array in WGS84 into the metric CRS (a function, so this
    module needs no knowledge of which CRS was chosen). The land is the residential parcels
    (``landuse=residential``) and the footprints of home buildings, metric polygons: where the
    gap areas may lie (:mod:`geo.gaps`).
    """
    kinds = np.asarray(features.kind, dtype=object)
    b_idx = np.flatnonzero(kinds == "building")
    l_idx = np.flatnonzero(kinds == "landuse")
    # only these geometries are made: all the features' at once were ~0.5 kB per walk node of a batch's driver
    b_geom = project(np.asarray(shapely.from_wkb([features.wkb[i] for i in b_idx]), dtype=object))
    l_geom = project(np.asarray(shapely.from_wkb([features.wkb[i] for i in l_idx]), dtype=object))
    b_tags = [features.tags[i] for i in b_idx]
    b_type = np.asarray([t.get("building", "yes") for t in b_tags], dtype=object)
    b_pt = shapely.point_on_surface(b_geom)
    typed = np.isin(b_type, list(HOME_BUILDINGS))
    in_res = np.zeros(len(b_idx), bool)
    l_tree = shapely.STRtree(l_geom)
    if len(l_geom) and len(b_pt):
        pi, _ = l_tree.query(b_pt, predicate="within")
        in_res[np.unique(pi)] = True
    is_home = typed | ((b_type == "yes") & in_res)
    h_idx = np.flatnonzero(is_home)
    area = shapely.area(b_geom[h_idx])
    levels = _levels([b_tags[i] for i in h_idx], rule)
    people_b = area * levels / rule.floor_m2_per_person
    xy_b = shapely.get_coordinates(b_pt[h_idx])
    osm_b = np.asarray(features.osm_id, dtype=object)[b_idx[h_idx]]

    # residential land with no home building inside: grid points
    has_home = np.zeros(len(l_geom), bool)
    if len(h_idx) and len(l_geom):
        _, li = l_tree.query(b_pt[h_idx], predicate="within")
        has_home[np.unique(li)] = True
    l_osm = np.asarray(features.osm_id, dtype=object)[l_idx]
    xy_g, people_g, osm_g = _grid_homes(l_geom[~has_home], l_osm[~has_home], rule)
    homes = Homes(
        xy=np.vstack([xy_b.reshape(-1, 2), xy_g]),
        people=np.concatenate([people_b, people_g]),
        kind=np.concatenate([np.full(len(xy_b), "building", dtype=object), np.full(len(xy_g), "grid", dtype=object)]),
        osm_id=np.concatenate([osm_b, osm_g]),
        method="footprint: " + rule.describe(),
    )
    land = np.concatenate([np.asarray(l_geom, dtype=object), np.asarray(b_geom[h_idx], dtype=object)])
    return homes, land


def _grid_homes(land: np.ndarray, osm_ids: np.ndarray, rule: PeopleRule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Homes on a ``rule.grid_m`` grid over residential land that holds no home building.

    Each parcel's people (its area times the floor-area ratio) are shared by its grid points, or
    go to one point on its surface when no grid point falls inside. Returns ``(xy, people, osm
    id of the parcel)``.
    """
    g_xy, g_people, g_osm = [], [], []
    s = rule.grid_m
    per_m2 = rule.far / rule.floor_m2_per_person
    for poly, osm_id in zip(land, osm_ids, strict=True):
        if poly is None or shapely.is_empty(poly):
            continue
        x0, y0, x1, y1 = shapely.bounds(poly)
        xs = np.arange(np.floor(x0 / s) * s + s / 2, x1, s)
        ys = np.arange(np.floor(y0 / s) * s + s / 2, y1, s)
        mx, my = np.meshgrid(xs, ys)
        gx, gy = mx.ravel(), my.ravel()
        inside = shapely.contains_xy(poly, gx, gy) if len(gx) else np.zeros(0, bool)
        pa = shapely.area(poly)
        if inside.sum() == 0:
            rp = shapely.get_coordinates(shapely.point_on_surface(poly))
            g_xy.append(rp)
            g_people.append(np.array([pa * per_m2]))
        else:
            pts = np.column_stack([gx[inside], gy[inside]])
            g_xy.append(pts)
            g_people.append(np.full(len(pts), pa * per_m2 / len(pts)))
        g_osm.append(np.full(len(g_xy[-1]), osm_id, dtype=object))
    if not g_xy:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=object)
    return np.vstack(g_xy), np.concatenate(g_people), np.concatenate(g_osm)


def apply_population(
    homes: Homes,
    geoms_metric: np.ndarray,
    population: np.ndarray,
    *,
    source: str,
    lonlat: np.ndarray | None = None,
    area: shapely.Geometry | None = None,
) -> Homes:
    """Spread people from a population file over the homes.

    Polygons: each polygon's people go to the homes inside, in proportion to their footprint
    estimate (equally if those are all zero). Points: to the nearest home within
    :data:`POINT_MAX_M`. Homes covered by no polygon keep no people (the file is taken as the
    full count). A point farther from every home, and a polygon with no home inside, is not
    assigned: it is listed in the returned ``unassigned`` (file, feature number, ``lonlat`` of
    the feature (WGS84, else metric), people, distance to the nearest home) and its people are
    said in ``method``. With a study ``area`` (metric), the points outside it are not counted
    (their people live in the neighbouring areas): said in ``method`` and ``unassigned["outside_area"]``.
    """
    people = np.zeros(len(homes))
    pts = shapely.points(homes.xy)
    is_poly = np.isin(shapely.get_type_id(geoms_metric), [3, 6])
    on = shapely.point_on_surface(geoms_metric)
    at_xy = np.column_stack([shapely.get_x(on), shapely.get_y(on)])  # each feature's place (metric), one per feature
    far_m = np.full(len(geoms_metric), np.nan)  # distance of an unassigned point to the nearest home
    left = np.zeros(len(geoms_metric), bool)
    if is_poly.any():
        polys = geoms_metric[is_poly]
        pops = population[is_poly]
        tree = shapely.STRtree(pts)
        poly_i, home_i = tree.query(polys, predicate="contains")
        weight = homes.people[home_i]
        wsum = np.bincount(poly_i, weights=weight, minlength=len(polys))
        nsum = np.bincount(poly_i, minlength=len(polys))
        share = np.where(
            wsum[poly_i] > 0, weight / np.where(wsum[poly_i] > 0, wsum[poly_i], 1), 1.0 / np.maximum(nsum[poly_i], 1)
        )
        np.add.at(people, home_i, pops[poly_i] * share)
        left[np.flatnonzero(is_poly)[nsum == 0]] = True
    outside = np.zeros(len(geoms_metric), bool)
    if area is not None and (~is_poly).any():
        outside[~is_poly] = ~shapely.contains_xy(area, at_xy[~is_poly, 0], at_xy[~is_poly, 1])
    if (~is_poly & ~outside).any():
        at = np.flatnonzero(~is_poly & ~outside)
        p_xy = at_xy[at]
        if len(homes):
            from scipy.spatial import cKDTree  # noqa: PLC0415 - scipy.spatial costs ~0.1 s to import; --population only

            dist, nearest = cKDTree(homes.xy).query(p_xy)
        else:
            dist, nearest = np.full(len(at), np.inf), np.zeros(len(at), np.int64)
        near = dist <= POINT_MAX_M
        np.add.at(people, nearest[near], population[at[near]])
        left[at[~near]] = True
        far_m[at[~near]] = dist[~near]
    where = at_xy if lonlat is None else lonlat
    at_left = np.flatnonzero(left)
    rows = [
        {
            "file": Path(source).name,  # its name: an API answer shows no server path
            "row": int(i) + 1,
            "lon": round(float(where[i, 0]), 6),
            "lat": round(float(where[i, 1]), 6),
            "people": float(population[i]),
            "distance_m": None if not np.isfinite(far_m[i]) else round(float(far_m[i]), 1),
            "reason": (
                "an area holding no home"
                if is_poly[i]
                else "the plan holds no home"
                if np.isinf(far_m[i])
                else f"a point farther than {POINT_MAX_M:.0f} m from every home"
            ),
        }
        for i in at_left[:LISTED_ROWS]
    ]
    unassigned = (
        {
            "features": len(at_left),
            "people": float(population[at_left].sum()),
            "limit_m": POINT_MAX_M,
            "rows": rows,
            "rows_left_off": max(len(at_left) - LISTED_ROWS, 0),
            **(
                {"outside_area": {"features": int(outside.sum()), "people": float(population[outside].sum())}}
                if outside.any()
                else {}
            ),
        }
        if len(at_left) or outside.any()
        else None
    )
    method = (
        f"population file {source}: polygons spread over the homes inside, points to the nearest home "
        f"within {POINT_MAX_M:.0f} m"
    )
    no_home = left & is_poly
    if no_home.any():
        method += (
            f"; {population[no_home].sum():.0f} people in {no_home.sum()} polygons holding no home were not placed"
        )
    if outside.any():
        method += f"; {population[outside].sum():.0f} people in {outside.sum()} points outside the study area were not counted"
    if (left & ~is_poly).any():
        method += (
            f"; {population[left & ~is_poly].sum():.0f} people in {(left & ~is_poly).sum()} points farther than "
            f"{POINT_MAX_M:.0f} m from every home were not assigned"
        )
    return Homes(homes.xy, people, homes.kind, homes.osm_id, method, unassigned)


#: most people one feature of a population file may hold (more is a typo or an overflow)
MAX_PEOPLE = 100_000_000
POPULATION_COLUMNS = ("population", "pop", "people", "人口", "人数", "常住人口")


COMMUNITY_COLUMNS = ("社区", "社区名称", "社区/村", "村", "community", "community_name", "name", "名称")
TABLE_SUFFIXES = (".csv", ".xlsx")


def read_population(
    path: str | Path,
    homes: Homes,
    *,
    project: Callable[[np.ndarray, np.ndarray], np.ndarray],
    communities: Sequence[str | None] | None = None,
    area: shapely.Geometry | None = None,
) -> Homes:
    """Read a population file and spread it over ``homes``.

    A GIS file (GeoJSON, GeoPackage, ...) holds polygons or points with a population column;
    ``project(lon, lat)`` gives metric (n, 2) arrays. A table (CSV or XLSX) holds population by
    community name (columns 社区, 人口 or community, population), matched against
    ``communities``, the community of each home (:func:`read_community_population`). ``area``:
    the study area (metric), whose homes ``homes`` are; points outside it are not counted.
    """
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_community_population(path, homes, communities=communities)
    if not path.exists():
        raise InputError(
            str(path), ["file not found; give a GeoJSON or GeoPackage of areas or points with a population column"]
        )
    try:
        with warnings.catch_warnings():  # GDAL's complaints about a broken file: the error below says it
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = gpd.read_file(path)
    except Exception as err:  # noqa: BLE001 - pyogrio raises many types; the message names the file
        raise InputError(str(path), [f"cannot be read as a GIS file ({err})"]) from None
    cols = {str(c).strip().lower(): c for c in gdf.columns}
    col = next((cols[c] for c in POPULATION_COLUMNS if c in cols), None)
    problems = []
    if col is None:
        problems.append(
            f"no population column: expected one of {', '.join(POPULATION_COLUMNS)}; "
            f"columns found: {', '.join(map(str, gdf.columns))}"
        )
    if len(gdf) == 0:
        problems.append("the file holds no features")
    if problems:
        raise InputError(str(path), problems)
    values = pd.to_numeric(gdf[col], errors="coerce")
    for i in range(len(gdf)):  # row numbers as a GIS user sees them: feature 1 is the first
        v = values.iloc[i]
        if pd.isna(v) or not 0 <= v <= MAX_PEOPLE:
            shown = gdf[col].iloc[i]
            shown = shown.item() if isinstance(shown, np.generic) else shown
            problems.append(f"feature {i + 1}: {col} {shown!r} is not a number of people 0..{MAX_PEOPLE:,}")
        if gdf.geometry.iloc[i] is None or gdf.geometry.iloc[i].is_empty:
            problems.append(f"feature {i + 1}: has no geometry")
    if problems:
        raise InputError(str(path), problems)
    g = gdf.to_crs(4326).geometry.to_numpy() if gdf.crs is not None else gdf.geometry.to_numpy()
    geoms = shapely.transform(np.asarray(g, dtype=object), lambda c: project(c[:, 0], c[:, 1]))
    lonlat = shapely.get_coordinates(shapely.point_on_surface(np.asarray(g, dtype=object)))
    return apply_population(homes, geoms, values.to_numpy(float), source=str(path), lonlat=lonlat, area=area)


def _community_rows(raw: Raw, name_at: int, pop_at: int, have: list[str], problems: list[str]) -> dict[str, float]:
    """People by community name from a table's rows; problems of rows are added to ``problems``."""
    given: dict[str, float] = {}
    for label, row in zip(raw.labels, raw.rows, strict=True):
        name = cell_text(row[name_at])
        value = cell_text(row[pop_at])
        try:
            number = float(str(value).replace(",", "")) if value is not None else float("nan")
        except ValueError:
            number = float("nan")
        if name is None:
            problems.append(f"{label}: {raw.header[name_at]} is empty")
            continue
        if not (np.isfinite(number) and 0 <= number <= MAX_PEOPLE):
            problems.append(
                f"{label}: {raw.header[pop_at]} {value!r} for {name} is not a number of people 0..{MAX_PEOPLE:,}"
            )
        if name in given:
            problems.append(f"{label}: {name} is given twice: give one row per community")
        elif name not in have:
            close = difflib.get_close_matches(name, have, n=5, cutoff=0.4)
            hint = (
                f"; closest names in the plan: {', '.join(close)}"
                if close
                else f"; the plan's communities include {', '.join(have[:8])}{' ...' if len(have) > 8 else ''}"
            )
            problems.append(f"{label}: no home of the plan lies in a community named {name!r}{hint}")
        given[name] = number
    return given


def read_community_population(path: str | Path, homes: Homes, *, communities: Sequence[str | None] | None) -> Homes:
    """A planner's table of people by community, spread over the homes of each community.

    The table is a CSV or XLSX with the columns 社区, 人口 (or community, population); people
    go to the homes in proportion to their estimated people (equally when those are all zero).
    Homes of communities the table does not list keep the estimate.

    Raises
    ------
    geo.errors.InputError
        Listing at once: missing columns, empty names, values that are not numbers >= 0,
        names given twice, and names no home of the plan lies in (with the closest names the
        plan has, found with difflib).
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError(
            src, [("file not found; give a CSV or XLSX with the columns 社区 and 人口 (or community and population)")]
        )
    raw = read_raw(path, src, [])
    keys = [header_key(h) for h in raw.header]
    name_at = next((keys.index(header_key(c)) for c in COMMUNITY_COLUMNS if header_key(c) in keys), None)
    pop_at = next((keys.index(header_key(c)) for c in POPULATION_COLUMNS if header_key(c) in keys), None)
    problems = []
    if name_at is None:
        problems.append(
            f"no community column: expected one of {', '.join(COMMUNITY_COLUMNS)}; "
            f"columns found: {', '.join(raw.header)}"
        )
    if pop_at is None:
        problems.append(
            f"no population column: expected one of {', '.join(POPULATION_COLUMNS)}; "
            f"columns found: {', '.join(raw.header)}"
        )
    if not raw.rows:
        problems.append("the table holds no rows")
    if problems or name_at is None or pop_at is None:
        raise InputError(src, problems)
    names = np.array(
        [None if c is None else str(c).strip() or None for c in ([] if communities is None else communities)],
        dtype=object,
    )
    if len(names) != len(homes) or not any(n is not None for n in names):
        raise InputError(
            src,
            [
                (
                    "the homes of this plan carry no community names (the extract has no admin "
                    "boundaries at level 10 and no places named …社区/村): give polygons with a "
                    "population column instead"
                )
            ],
        )
    have = sorted({n for n in names if n is not None})
    given = _community_rows(raw, name_at, pop_at, have, problems)
    if problems:
        raise InputError(src, problems)
    people = np.asarray(homes.people, float).copy()
    for name, total in given.items():
        at = np.flatnonzero(names == name)
        w = people[at]
        people[at] = total * (w / w.sum() if w.sum() > 0 else np.full(len(at), 1.0 / len(at)))
    kept = int(sum(n is None or n not in given for n in names))
    method = (
        f"population table {path.name}: {len(given)} communities' people spread over their homes in "
        f"proportion to the estimate ({homes.method})"
    )
    if kept:
        method += f"; {kept} homes in communities the table does not list keep the estimate"
    return Homes(homes.xy, people, homes.kind, homes.osm_id, method)
