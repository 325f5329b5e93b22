"""Administrative areas: the study area, and the street and community every place lies in.

Chinese OSM data has districts (区/县, ``admin_level=6``) and streets and towns (街道/镇,
level 8) as boundaries, communities and villages (社区/村, levels 9-10) only here and there;
where a community is not mapped as an area, a place node named …社区 (or …村) stands for it.
So a place is named by the smallest boundary of each level that holds it, else by the
nearest named place with the right suffix within :data:`PLACE_MAX_M`, and says which
(``named_from``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import to_wgs84
from geo.errors import InputError
from geo.kinds import AreaLevel
from geo.nearby import nearest_within
from geo.osm import Features

#: WGS84 longitude and latitude arrays to ``(n, 2)`` metric coordinates
Project = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: a named place node farther than this from a point is not taken as its street or community.
PLACE_MAX_M = 1500.0
#: at most this many points are named from the nearest place without a k-d tree (the same answer)
FEW_TO_NAME = 64
STREET_LEVELS = ("8",)
COMMUNITY_LEVELS = ("9", "10")
STREET_SUFFIXES = ("街道", "镇", "乡")
COMMUNITY_SUFFIXES = ("社区", "村")


def _smallest_within(polys: np.ndarray, names: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """For each point, the name of the smallest polygon holding it (None if none)."""
    out = np.full(len(pts), None, dtype=object)
    if len(polys) == 0 or len(pts) == 0:
        return out
    tree = shapely.STRtree(polys)
    pi, ai = tree.query(pts, predicate="within")
    area = shapely.area(polys)[ai]
    order = np.lexsort((area, pi))
    pi, ai = pi[order], ai[order]
    first = np.ones(len(pi), bool)
    first[1:] = pi[1:] != pi[:-1]
    out[pi[first]] = names[ai[first]]
    return out


def _nearest_named(
    places_xy: np.ndarray, place_names: np.ndarray, xy: np.ndarray, suffixes: tuple[str, ...]
) -> np.ndarray:
    out = np.full(len(xy), None, dtype=object)
    if len(places_xy) == 0 or len(xy) == 0:
        return out
    sel = np.array([str(n).endswith(suffixes) for n in place_names], bool)
    if not sel.any():
        return out
    if len(xy) <= FEW_TO_NAME:  # (a follow-up's sites): no k-d tree, whose package costs ~0.1 s to import
        d, j = nearest_within(xy, places_xy[sel], PLACE_MAX_M)
    else:
        from scipy.spatial import cKDTree  # noqa: PLC0415 - scipy.spatial costs ~0.1 s to import; naming points only

        d, j = cKDTree(places_xy[sel]).query(xy, distance_upper_bound=PLACE_MAX_M)
    hit = np.isfinite(d)
    out[hit] = place_names[sel][j[hit]]
    return out


def name_points(
    xy: np.ndarray,
    *,
    admin: gpd.GeoDataFrame | None = None,
    places: gpd.GeoDataFrame | None = None,
    project: Project | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Street and community of metric points, and where the community name came from.

    Parameters
    ----------
    xy
        ``(n, 2)`` metric points.
    admin
        GeoDataFrame of admin boundaries (``name``, ``admin_level``; WGS84) or None.
    places
        GeoDataFrame of named places (``name``; WGS84 points) or None.
    project
        ``project(lon, lat) -> (n, 2)`` metric, for the WGS84 inputs.

    Returns
    -------
    (street, community, named_from)
        Object arrays; ``named_from`` is "admin boundary", "nearest place" or None.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    n = len(xy)
    street = np.full(n, None, dtype=object)
    community = np.full(n, None, dtype=object)
    from_admin = np.zeros(n, bool)
    if project is None and ((admin is not None and len(admin)) or (places is not None and len(places))):
        msg = "name_points needs project to place the admin areas and places in the metric CRS"
        raise ValueError(msg)
    if admin is not None and len(admin) and n and project is not None:
        pts = shapely.points(xy)
        geoms = np.asarray(admin.geometry.values, dtype=object)
        metric = shapely.transform(geoms, lambda c: project(c[:, 0], c[:, 1]))
        levels = admin["admin_level"].astype(str).to_numpy()
        names = admin["name"].to_numpy(dtype=object)
        for lv, out in ((STREET_LEVELS, street), (COMMUNITY_LEVELS, community)):
            sel = np.isin(levels, lv)
            got = _smallest_within(metric[sel], names[sel], pts)
            has = np.array([g is not None for g in got], bool)
            out[has] = got[has]
        from_admin = np.array([c is not None for c in community], bool)
    if places is not None and len(places) and n and project is not None:
        pxy = project(places.geometry.x.to_numpy(), places.geometry.y.to_numpy())
        pnames = places["name"].to_numpy(dtype=object)
        miss = np.array([s is None for s in street], bool)
        street[miss] = _nearest_named(pxy, pnames, xy[miss], STREET_SUFFIXES)
        miss = ~from_admin
        community[miss] = _nearest_named(pxy, pnames, xy[miss], COMMUNITY_SUFFIXES)
    named_from = np.full(n, None, dtype=object)
    named_from[np.array([c is not None for c in community], bool)] = "nearest place"
    named_from[from_admin] = "admin boundary"
    return street, community, named_from


def named_places(features: Features) -> gpd.GeoDataFrame:
    """Named place nodes/areas (``place=*``) of an extract: GeoDataFrame name, place (WGS84 points)."""
    idx = [i for i, t in enumerate(features.tags) if t.get("place") and t.get("name")]
    geoms = shapely.from_wkb([features.wkb[i] for i in idx]) if idx else np.zeros(0, object)
    if len(geoms):
        geoms = shapely.point_on_surface(geoms)
    return gpd.GeoDataFrame(
        {"name": [features.tags[i]["name"] for i in idx], "place": [features.tags[i]["place"] for i in idx]},
        geometry=list(geoms),
        crs=4326,
    )


# ------------------------------------------------------------------------------ the study area


#: ``--area-level`` names and the OSM admin levels they stand for.
AREA_LEVELS: dict[str, tuple[str, ...]] = {
    AreaLevel.DISTRICT: ("5", "6", "7"),
    AreaLevel.STREET: ("8",),
    AreaLevel.COMMUNITY: ("9", "10"),
}
AREA_FILE_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".parquet")


@dataclass(frozen=True, eq=False)
class StudyArea:
    """The area homes, people, coverage, gaps and sites are counted in."""

    name: str
    source: str  # "OSM admin boundary r123 (admin_level=6)" or the file's name
    level: str | None  # district, street, community (None for a file)
    geometry: shapely.Geometry  # WGS84 (Multi)Polygon
    metric: shapely.Geometry | None = None  # the same in the plan's metric CRS, once clipped
    notes: tuple[str, ...] = ()  # what reading it changed or left out (a plan's warnings)

    def describe(self) -> dict:
        """Name, source, level and land area (km², once clipped), as coverage.json gives them."""
        land = None if self.metric is None else round(float(self.metric.area) / 1e6, 3)
        return {"name": self.name, "source": self.source, "level": self.level, "land_km2": land}


def level_of(admin_level: object) -> str | None:
    """The ``--area-level`` name (district, street, community) of an OSM ``admin_level``."""
    for name, levels in AREA_LEVELS.items():
        if str(admin_level) in levels:
            return name
    return None


def _wanted_levels(level: str | None) -> tuple[str, ...] | None:
    if level is None:
        return None
    text = str(level).strip().lower()
    if text in AREA_LEVELS:
        return AREA_LEVELS[text]
    if text.isdigit() and 1 <= int(text) <= 12:
        return (text,)
    raise InputError(
        "--area-level", [f"{level!r}: expected one of {', '.join(AREA_LEVELS)} or an OSM admin_level number such as 6"]
    )


def resolve_area(
    spec: str | Path, *, level: str | None = None, admin: gpd.GeoDataFrame | None = None, crs: str | None = None
) -> StudyArea:
    """The study area named by ``spec``: a polygon file, or an admin boundary of the extract.

    Raises
    ------
    geo.errors.InputError
        For a file that holds no polygon, a name the extract does not hold (listing the closest
        names with their levels), or a name held at several levels without ``level``.
    """
    text = str(spec).strip()
    if Path(text).suffix.lower() in AREA_FILE_SUFFIXES or Path(text).is_file():
        return _area_from_file(Path(text), crs)
    return _area_from_admin(text, level, admin)


def _area_from_file(path: Path, crs: str | None) -> StudyArea:
    if not path.is_file():
        raise InputError(
            str(path),
            [
                (
                    "--area file not found: give a GeoJSON, GeoPackage or Shapefile of the area's "
                    "polygon, or the name of an admin boundary in the extract"
                )
            ],
        )
    try:
        gdf = gpd.read_file(path)
    except Exception as err:  # noqa: BLE001 - pyogrio raises many types for unreadable files
        raise InputError(str(path), [f"cannot be read as a GIS file ({err})"]) from None
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    is_poly = [g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon") for g in geoms]
    polys = [g for g, ok in zip(geoms, is_poly, strict=True) if ok]
    if not polys:
        raise InputError(str(path), ["holds no polygon: the study area must be a Polygon or MultiPolygon"])
    notes = []
    if not all(is_poly):
        left = [
            f"feature {i + 1} ({'empty' if g is None or g.is_empty else g.geom_type})"
            for i, (g, ok) in enumerate(zip(geoms, is_poly, strict=True))
            if not ok
        ]
        notes.append(
            f"{path.name}: {len(left)} features that are not polygons are not part of the study area: "
            + ", ".join(left[:10])
            + (f" and {len(left) - 10} more" if len(left) > 10 else "")
        )
    invalid = [i + 1 for i, (g, ok) in enumerate(zip(geoms, is_poly, strict=True)) if ok and not g.is_valid]
    if invalid:
        why = shapely.is_valid_reason(geoms[invalid[0] - 1])
        notes.append(
            f"{path.name}: feature {', '.join(map(str, invalid[:10]))} is not a valid polygon ({why}): "
            "repaired (shapely.make_valid) — check that the area is the one meant"
        )
    geom = shapely.make_valid(shapely.union_all(polys))
    if crs and crs.lower() not in ("wgs84", "4326", "epsg:4326"):
        geom = shapely.transform(geom, lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], crs)))
    xy = shapely.get_coordinates(geom)
    if not (np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90)):
        raise InputError(
            str(path),
            [
                (
                    "coordinates are not longitude/latitude: give the file's CRS in the file "
                    "(GeoPackage, Shapefile .prj) or WGS84 GeoJSON"
                )
            ],
        )
    names = gdf["name"].dropna().astype(str).tolist() if "name" in gdf else []
    name = names[0] if len(names) == 1 else path.stem
    return StudyArea(name, path.name, None, geom, notes=tuple(notes))


def _area_from_admin(name: str, level: str | None, admin: gpd.GeoDataFrame | None) -> StudyArea:
    if admin is None or len(admin) == 0:
        raise InputError("--area", [f"{name!r}: the extract holds no admin boundaries; give a polygon file instead"])
    names = admin["name"].astype(str).to_numpy()
    levels = admin["admin_level"].astype(str).to_numpy()
    want = _wanted_levels(level)
    hit = names == name
    if want is not None:
        hit &= np.isin(levels, want)
    if not hit.any():
        offered = sorted({(n, lv) for n, lv in zip(names, levels, strict=True) if want is None or lv in want})
        close = difflib.get_close_matches(name, [n for n, _ in offered], n=8, cutoff=0.3)
        listed = [f"{n} ({level_of(lv) or 'admin_level ' + lv})" for n in close for m, lv in offered if m == n]
        hint = (
            f"; the closest the extract offers: {', '.join(dict.fromkeys(listed))}"
            if listed
            else f"; the extract offers {len(offered)} areas, e.g. {', '.join(n for n, _ in offered[:8])}"
        )
        raise InputError(
            "--area",
            [f"no admin boundary named {name!r}" + (f" at level {level}" if level else "") + " in the extract" + hint],
        )
    found = sorted(set(levels[hit]))
    if len(found) > 1:
        raise InputError(
            "--area",
            [
                (
                    f"{name!r} is an admin boundary at several levels ({', '.join(found)}): "
                    f"give --area-level, one of {', '.join(level_of(lv) or lv for lv in found)}"
                )
            ],
        )
    geoms = np.asarray(admin.geometry.values, dtype=object)[hit]
    ids = admin["osm_id"].astype(str).to_numpy()[hit] if "osm_id" in admin else np.array(["?"])
    geom = shapely.make_valid(shapely.union_all(geoms))
    lv = found[0]
    return StudyArea(name, f"OSM admin boundary {', '.join(ids)} (admin_level={lv})", level_of(lv), geom)
