"""The map's own base layer: the extract's streets, water, parks and admin outlines.

They are drawn light under the circles so ``map.html`` reads with no tile server (``--tiles
none``, or offline).

The tables come from the cached base (:mod:`geo.basemap`, ``Base.extras``). Here they are cut to
the map's extent, simplified (a few metres, invisible at the zooms a district is read at) and
rounded to ~1 m, one compact multi-geometry per kind; street, river, park and street-office
(街道) names become label points the map shows from closer zooms (:data:`LABEL_CLASSES`). With
a tile server the layer sits under the tiles: hidden while tiles load, seen where they fail.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from geo.basemap import table_digest
from maps.display import (
    M_PER_DEG,
    SCALE,
    encode_lines,
    encode_polygons,
    encoded_collection_text,
    merge_encoded,
    own_parts,
    safe_json,
)

if TYPE_CHECKING:
    import geopandas as gpd

    from geo.plan import PlanResult

Box = tuple[float, float, float, float]

#: how far around the network the base layer reaches (m)
MARGIN_M = 400.0
#: display tolerance per kind (m)
TOLERANCE_M = {"streets": 4.0, "water": 5.0, "waterways": 5.0, "green": 6.0, "admin": 8.0}
#: areas smaller than this (m²) are left out: ponds and lawns that only add bytes
MIN_AREA_M2 = {"water": 800.0, "green": 2500.0}
#: what the labels name, in the order map.js knows them (its ``LABEL_ZOOM`` gives the zoom each appears at)
LABEL_CLASSES = ("major", "minor", "water", "waterway", "green", "area")
#: distance between two labels of one street or river (m), and the shortest stretch labelled
LABEL_SPACING_M = {"major": 700.0, "minor": 450.0, "waterway": 1000.0}
LABEL_MIN_LENGTH_M = 80.0
#: named areas big enough to label (m²)
LABEL_MIN_AREA_M2 = {"water": 20_000.0, "green": 10_000.0}
#: admin levels drawn as outlines: districts (区/县) and street offices and towns (街道/镇)
ADMIN_LEVELS = ("6", "8")


@dataclass(frozen=True)
class Basemap:
    """What the map script draws.

    ``(kind, collection text)`` pairs in drawing order, the labels (JSON text), and the study
    area's outline (collection text, or None).
    """

    layers: list[tuple[str, str]] = field(default_factory=list)
    labels: str = '{"n":[],"p":[]}'
    outline: str | None = None

    @property
    def empty(self) -> bool:
        """Nothing to draw (no basemap tables, or nothing in view)."""
        return not self.layers


def _metres_per_degree(lat: float) -> tuple[float, float]:
    return M_PER_DEG * max(math.cos(math.radians(lat)), 0.05), M_PER_DEG


def _extent(result: PlanResult) -> Box:
    lon0, lat0, lon1, lat1 = result.network.bbox_lonlat()
    kx, ky = _metres_per_degree((lat0 + lat1) / 2)
    return lon0 - MARGIN_M / kx, lat0 - MARGIN_M / ky, lon1 + MARGIN_M / kx, lat1 + MARGIN_M / ky


def _clip(table: gpd.GeoDataFrame | None, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """``(clipped geometries, row positions)`` of a table's non-empty geometries inside ``box``."""
    if table is None or len(table) == 0:
        return np.zeros(0, object), np.zeros(0, np.int64)
    return _clip_geoms(np.asarray(table.geometry.values, dtype=object), box)


def _clip_geoms(geoms: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """``(clipped geometries, positions)`` of the non-empty ``geoms`` inside ``box``: ``shapely.clip_by_rect``.

    Lines and polygons wholly inside the box are taken as they are, a one-part MultiPolygon as its
    polygon: what ``clip_by_rect`` makes of them (a copy), without copying them (most of a table).
    """
    idx = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    geoms = geoms[idx]
    bounds = shapely.bounds(geoms)
    types = shapely.get_type_id(geoms)
    inside = (
        (bounds[:, 0] > box[0])
        & (bounds[:, 1] > box[1])
        & (bounds[:, 2] < box[2])
        & (bounds[:, 3] < box[3])
        & np.isin(types, (1, 3, 6))
    )
    out = geoms.copy()
    single = np.flatnonzero(inside & (types == 6))
    single = single[shapely.get_num_geometries(geoms[single]) == 1]
    out[single] = shapely.get_geometry(geoms[single], 0)
    cross = np.flatnonzero(~inside)
    cross = cross[shapely.intersects(geoms[cross], shapely.box(*box))]
    out[cross] = shapely.clip_by_rect(geoms[cross], *box)
    keep = inside
    keep[cross] = ~shapely.is_empty(out[cross])
    return out[keep], idx[keep]


def _names(table: gpd.GeoDataFrame, idx: np.ndarray) -> list:
    """The names of the rows ``idx`` (None where a row has no name, or only spaces)."""
    if "name" not in table:
        return [None] * len(idx)
    col = table["name"]
    if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":  # (text only, missing: None)
        taken = pa.chunked_array(pa.array(col.array)).take(pa.array(np.asarray(idx, np.int64))).to_pylist()
        return [v if v and v.strip() else None for v in taken]
    return [v if isinstance(v, str) and v.strip() else None for v in col.to_numpy()[idx]]


def _area_m2(geoms: np.ndarray, lat: float) -> np.ndarray:
    kx, ky = _metres_per_degree(lat)
    return shapely.area(geoms) * kx * ky


class _Labels:
    """Label points ``[x, y, angle°, name index, class index]`` (x, y in 1/SCALE degrees)."""

    def __init__(self, lat: float) -> None:
        self.kx, self.ky = _metres_per_degree(lat)
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.points: list[list[int]] = []

    def add(self, lon: np.ndarray, lat: np.ndarray, angle: np.ndarray, names: list[str], cls: str) -> None:
        c = LABEL_CLASSES.index(cls)
        # np.rint rounds half to even, as round() does: the same whole numbers, made at once
        xya = np.rint(np.column_stack([np.asarray(lon, float) * SCALE, np.asarray(lat, float) * SCALE, angle]))
        for (x, y, a), n in zip(xya.astype(np.int64).tolist(), names, strict=True):
            i = self.index.setdefault(n, len(self.names))
            if i == len(self.names):
                self.names.append(n)
            self.points.append([x, y, a, i, c])

    def along(self, lines: np.ndarray, names: list, cls: str, spacing_m: float) -> None:
        """Labels along named lines.

        Same-named pieces are joined, one label per ``spacing_m``, turned with the line (kept
        upright), none closer than half the spacing to another of the same name.
        """
        named = [i for i, n in enumerate(names) if n]
        if not named:
            return
        metric = shapely.transform(lines[named], lambda c: c * [self.kx, self.ky])
        group_of: dict[str, int] = {}  # each name's group, in the order the names first come
        group = np.asarray([group_of.setdefault(names[i], len(group_of)) for i in named], dtype=np.int64)
        pieces, src = own_parts(metric, 1)
        order = np.argsort(group[src], kind="stable")  # by name, each name's pieces in their order
        joined = shapely.line_merge(
            shapely.multilinestrings(pieces[order], indices=group[src][order]) if len(order) else np.zeros(0, object)
        )
        parts_a, part_group = own_parts(joined, 1)
        if not len(parts_a):
            return
        group_name = list(group_of)
        length = shapely.length(parts_a)
        keep = np.flatnonzero(length >= LABEL_MIN_LENGTH_M)
        count = np.maximum(1, np.floor(length[keep] / spacing_m)).astype(int)
        rep = np.repeat(keep, count)
        k = np.arange(len(rep)) - np.repeat(np.cumsum(count) - count, count)  # 0, 1, … along each line
        pos = (k + 0.5) * length[rep] / np.repeat(count, count)
        at = shapely.get_coordinates(shapely.line_interpolate_point(parts_a[rep], pos))
        take_a = _spaced(at, part_group[rep], spacing_m / 2)
        # the points 10 m either side of each label kept, in one pass
        on, pos = parts_a[rep[take_a]], pos[take_a]
        a, b = np.split(
            shapely.get_coordinates(
                shapely.line_interpolate_point(np.r_[on, on], np.concatenate([np.maximum(pos - 10, 0), pos + 10]))
            ),
            2,
        )
        angle = np.degrees(np.arctan2(-(b[:, 1] - a[:, 1]), b[:, 0] - a[:, 0]))  # screen y points down
        angle = np.where(angle > 90, angle - 180, np.where(angle < -90, angle + 180, angle))
        self.add(
            at[take_a, 0] / self.kx,
            at[take_a, 1] / self.ky,
            angle,
            [group_name[g] for g in part_group[rep[take_a]]],
            cls,
        )

    def inside(self, geoms: np.ndarray, names: list, cls: str, min_area_m2: float, lat: float) -> None:
        """One label at a point inside each named area of at least ``min_area_m2``."""
        big = [i for i, n in enumerate(names) if n]
        if not big:
            return
        area = _area_m2(geoms[big], lat)
        chosen, seen = [], set()
        for j in np.flatnonzero(area >= min_area_m2):  # one label per name
            if names[big[j]] not in seen:
                seen.add(names[big[j]])
                chosen.append(big[j])
        if not chosen:
            return
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms[chosen]))
        self.add(xy[:, 0], xy[:, 1], np.zeros(len(chosen)), [names[i] for i in chosen], cls)

    def text(self) -> str:
        return '{"s":' + str(SCALE) + ',"n":' + safe_json(self.names) + ',"p":' + safe_json(self.points) + "}"


def _spaced(at: np.ndarray, group: np.ndarray, min_gap: float) -> np.ndarray:
    """The points kept, in order: each point unless one kept before it of its group is nearer than ``min_gap``.

    A point kept rules out every point of its group nearer than ``min_gap`` (the distance is the
    same both ways), so a point is kept when no point kept before it has ruled it out.
    """
    take = np.zeros(len(at), bool)
    if not len(at):
        return np.flatnonzero(take)
    order = np.argsort(group, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    sizes = np.diff(np.r_[starts, len(order)])
    take[order[starts[sizes <= 2]]] = True  # (most names have one label or two)
    pair = starts[sizes == 2]
    one, two = order[pair], order[pair + 1]
    take[two] = np.hypot(at[one, 0] - at[two, 0], at[one, 1] - at[two, 1]) >= min_gap
    for start, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist(), strict=True):
        members = order[start : start + size]
        pts = at[members]
        close = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1]) < min_gap
        ruled_out = np.zeros(len(members), bool)
        for m in range(len(members)):
            if not ruled_out[m]:
                take[members[m]] = True
                ruled_out |= close[m]
    return np.flatnonzero(take)


def basemap_data(result: PlanResult) -> Basemap:
    """The base layer of a plan's map: cut, simplified and encoded (empty without basemap tables).

    Parameters
    ----------
    result
        A :class:`geo.plan.PlanResult`; its ``base.extras`` hold the tables of
        :func:`geo.basemap.basemap_tables`, ``admin`` the admin areas and ``area`` the study area.
    """
    extras = getattr(getattr(result, "base", None), "extras", None) or {}
    box = _extent(result)
    lat = (box[1] + box[3]) / 2
    labels = _Labels(lat)
    layers: list[tuple[str, str]] = []

    def polygons(kind: str) -> None:
        table = extras.get(kind)
        geoms, idx = _clip(table, box)
        if len(geoms) == 0:
            return
        big = _area_m2(geoms, lat) >= MIN_AREA_M2[kind]
        text = merge_encoded(encode_polygons(geoms[big], lat=lat, tolerance_m=TOLERANCE_M[kind]))
        if text:
            layers.append((kind, encoded_collection_text([text], [{"k": kind}])))
        labels.inside(geoms, _names(table, idx), kind, LABEL_MIN_AREA_M2[kind], lat)

    def lines(kind: str, geoms: np.ndarray, tolerance_m: float) -> None:
        text = encode_lines(geoms, tolerance_m=tolerance_m)
        if text:
            layers.append((kind, encoded_collection_text([text], [{"k": kind}], lines=True)))

    polygons("green")
    polygons("water")
    ww, wi = _clip(extras.get("waterways"), box)
    lines("waterways", ww, TOLERANCE_M["waterways"])
    if len(ww):
        labels.along(ww, _names(extras["waterways"], wi), "waterway", LABEL_SPACING_M["waterway"])
    _admin(result, box, lat, layers, labels)
    streets = extras.get("streets")
    sg, si = _clip(streets, box)
    street_names = _names(streets, si) if streets is not None and len(si) else []
    classes = streets["class"].to_numpy()[si] if streets is not None and len(si) else np.zeros(0, object)
    for cls in ("minor", "major"):  # major streets drawn over minor ones
        sel = np.flatnonzero(classes == cls)
        lines(f"streets.{cls}", sg[sel], TOLERANCE_M["streets"])
        if len(sel):
            labels.along(sg[sel], [street_names[i] for i in sel], cls, LABEL_SPACING_M[cls])
    return Basemap(layers, labels.text(), _outline(result))


def _admin_table(result: PlanResult) -> gpd.GeoDataFrame | None:
    admin = getattr(result, "admin", None)
    return getattr(getattr(result, "base", None), "admin", None) if admin is None else admin


def basemap_key(result: PlanResult) -> str:
    """A hash of everything :func:`basemap_data` draws from: its tables, admin areas, study area, extent.

    Two plans with the same key have the same base layer (:class:`maps.parts.MapParts` reuses it).
    """
    h = hashlib.blake2b(repr(_extent(result)).encode(), digest_size=16)
    extras = getattr(getattr(result, "base", None), "extras", None) or {}
    kept = getattr(extras, "digests", None) or {}  # a saved plan's, made when it was saved: its tables not read
    area = getattr(result, "area", None)
    for name in sorted(extras):
        table = None if name in kept else extras[name]
        h.update(f"\x00extra:{name}:".encode() + (kept.get(name) or _digest(table)).encode())
    h.update(b"\x00admin:" + _digest(_admin_table(result)).encode())
    geom = getattr(area, "geometry", None)
    h.update(b"\x00area:" + (b"" if geom is None else shapely.to_wkb(geom)))
    h.update(repr(getattr(area, "name", None)).encode())
    return h.hexdigest()


def _digest(table: gpd.GeoDataFrame | None) -> str:
    return "" if table is None else table_digest(table)


def _admin(result: PlanResult, box: Box, lat: float, layers: list, labels: _Labels) -> None:
    """Outlines of the districts and street offices (街道/镇) in view, and the street offices' names."""
    admin = _admin_table(result)
    if admin is None or len(admin) == 0 or "admin_level" not in admin:
        return
    level_of = admin["admin_level"].astype(str)
    drawn = np.flatnonzero(level_of.isin(ADMIN_LEVELS).to_numpy())
    every = np.asarray(admin.geometry.values, dtype=object)
    geoms, at = _clip_geoms(every[drawn], box)
    if len(geoms) == 0:
        return
    idx = drawn[at]  # (rows of the whole table)
    levels = level_of.to_numpy()[idx]
    whole = every[idx]
    for level in ADMIN_LEVELS:
        sel = whole[levels == level]
        if len(sel):  # the outlines themselves, cut to the view (not the cut areas' edges along it)
            text = encode_lines(shapely.clip_by_rect(shapely.boundary(sel), *box), tolerance_m=TOLERANCE_M["admin"])
            if text:
                layers.append(
                    (f"admin.{level}", encoded_collection_text([text], [{"k": f"admin.{level}"}], lines=True))
                )
    names = _names(admin, idx)
    streets = [i for i in range(len(idx)) if levels[i] == "8"]
    labels.inside(geoms[streets], [names[i] for i in streets], "area", 0.0, lat)


def _outline(result: PlanResult) -> str | None:
    area = getattr(result, "area", None)
    geom = getattr(area, "geometry", None)
    if geom is None or shapely.is_empty(geom):
        return None
    text = encode_lines([shapely.boundary(geom)], tolerance_m=TOLERANCE_M["admin"])
    name = getattr(area, "name", None)
    return None if text is None else encoded_collection_text([text], [{"name": name}], lines=True)
