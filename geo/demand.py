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
estimate, and gives each point's people to the nearest home.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.osm import HOME_BUILDINGS, Features

HOUSE_TYPES = frozenset({"house", "detached", "terrace", "bungalow", "semidetached_house", "farm", "cabin"})


@dataclass(frozen=True)
class PeopleRule:
    floor_m2_per_person: float = 36.5
    house_levels: float = 2.0
    other_levels: float = 6.0
    far: float = 2.0
    grid_m: float = 50.0

    def describe(self) -> str:
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

    def __len__(self) -> int:
        return len(self.xy)


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


def homes_from_osm(features: Features, *, project, rule: PeopleRule = PeopleRule()) -> Homes:
    """Build homes from an extract's buildings and residential land (see :func:`homes_and_land`)."""
    return homes_and_land(features, project=project, rule=rule)[0]


def homes_and_land(features: Features, *, project, rule: PeopleRule = PeopleRule()) -> tuple[Homes, np.ndarray]:
    """Build homes from an extract's buildings and residential land, and that land.

    ``project`` turns a shapely geometry array in WGS84 into the metric CRS (a function, so this
    module needs no knowledge of which CRS was chosen). The land is the residential parcels
    (``landuse=residential``) and the footprints of home buildings, metric polygons: where the
    gap areas may lie (:mod:`geo.gaps`).
    """
    import shapely

    kinds = np.asarray(features.kind, dtype=object)
    geoms = np.asarray(shapely.from_wkb(features.wkb), dtype=object)
    b_idx = np.flatnonzero(kinds == "building")
    l_idx = np.flatnonzero(kinds == "landuse")
    b_geom = project(geoms[b_idx])
    l_geom = project(geoms[l_idx])
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
    empty = np.flatnonzero(~has_home)
    g_xy, g_people, g_osm = [], [], []
    s = rule.grid_m
    per_m2 = rule.far / rule.floor_m2_per_person
    l_osm = np.asarray(features.osm_id, dtype=object)[l_idx]
    for j in empty:
        poly = l_geom[j]
        if poly is None or shapely.is_empty(poly):
            continue
        x0, y0, x1, y1 = shapely.bounds(poly)
        xs = np.arange(np.floor(x0 / s) * s + s / 2, x1, s)
        ys = np.arange(np.floor(y0 / s) * s + s / 2, y1, s)
        gx, gy = np.meshgrid(xs, ys)
        gx, gy = gx.ravel(), gy.ravel()
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
        g_osm.append(np.full(len(g_xy[-1]), l_osm[j], dtype=object))
    if g_xy:
        xy_g = np.vstack(g_xy)
        people_g = np.concatenate(g_people)
        osm_g = np.concatenate(g_osm)
    else:
        xy_g, people_g, osm_g = np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=object)
    homes = Homes(
        xy=np.vstack([xy_b.reshape(-1, 2), xy_g]),
        people=np.concatenate([people_b, people_g]),
        kind=np.concatenate([np.full(len(xy_b), "building", dtype=object), np.full(len(xy_g), "grid", dtype=object)]),
        osm_id=np.concatenate([osm_b, osm_g]),
        method="footprint: " + rule.describe(),
    )
    land = np.concatenate([np.asarray(l_geom, dtype=object), np.asarray(b_geom[h_idx], dtype=object)])
    return homes, land


def apply_population(homes: Homes, geoms_metric: np.ndarray, population: np.ndarray, *, source: str) -> Homes:
    """Spread people from a population file over the homes.

    Polygons: each polygon's people go to the homes inside, in proportion to their footprint
    estimate (equally if those are all zero). Points: to the nearest home. Homes covered by no
    polygon keep no people (the file is taken as the full count); a polygon with no home inside
    is reported by the caller through the returned ``unplaced`` total in ``method``.
    """
    import shapely

    people = np.zeros(len(homes))
    pts = shapely.points(homes.xy)
    is_poly = np.isin(shapely.get_type_id(geoms_metric), [3, 6])
    unplaced = 0.0
    if is_poly.any():
        polys = geoms_metric[is_poly]
        pops = population[is_poly]
        tree = shapely.STRtree(pts)
        poly_i, home_i = tree.query(polys, predicate="contains")
        weight = homes.people[home_i]
        wsum = np.bincount(poly_i, weights=weight, minlength=len(polys))
        nsum = np.bincount(poly_i, minlength=len(polys))
        share = np.where(wsum[poly_i] > 0, weight / np.where(wsum[poly_i] > 0, wsum[poly_i], 1), 1.0 / np.maximum(nsum[poly_i], 1))
        np.add.at(people, home_i, pops[poly_i] * share)
        unplaced += float(pops[nsum == 0].sum())
    if (~is_poly).any() and len(homes):
        from scipy.spatial import cKDTree

        p_xy = shapely.get_coordinates(shapely.point_on_surface(geoms_metric[~is_poly]))
        _, nearest = cKDTree(homes.xy).query(p_xy)
        np.add.at(people, nearest, population[~is_poly])
    method = f"population file {source}: polygons spread over the homes inside, points to the nearest home"
    if unplaced:
        method += f"; {unplaced:.0f} people in polygons holding no home were not placed"
    return Homes(homes.xy, people, homes.kind, homes.osm_id, method)


POPULATION_COLUMNS = ("population", "pop", "people", "人口", "人数", "常住人口")


def read_population(path, homes: Homes, *, project) -> Homes:
    """Read a population file (GeoJSON, GeoPackage, ...; polygons or points with a population
    column) and spread it over ``homes``. ``project(lon, lat)`` gives metric (n, 2) arrays."""
    from pathlib import Path

    import geopandas as gpd
    import pandas as pd
    import shapely

    from geo.errors import InputError

    path = Path(path)
    if not path.exists():
        raise InputError(str(path), ["file not found; give a GeoJSON or GeoPackage of areas or points with a population column"])
    try:
        gdf = gpd.read_file(path)
    except Exception as err:  # pyogrio raises many types; the message names the file
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
        if pd.isna(v) or v < 0:
            problems.append(f"feature {i + 1}: {col} {gdf[col].iloc[i]!r} is not a number >= 0")
        if gdf.geometry.iloc[i] is None or gdf.geometry.iloc[i].is_empty:
            problems.append(f"feature {i + 1}: has no geometry")
    if problems:
        raise InputError(str(path), problems)
    g = gdf.to_crs(4326).geometry.values if gdf.crs is not None else gdf.geometry.values
    geoms = shapely.transform(np.asarray(g, dtype=object), lambda c: project(c[:, 0], c[:, 1]))
    return apply_population(homes, geoms, values.to_numpy(float), source=str(path))
