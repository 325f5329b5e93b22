"""Geometry for display: simplified, rounded, compact GeoJSON text to inline in the map.

The GeoJSON reports (``circles.geojson``, ``gaps.geojson``) keep full precision; only the map
simplifies. Polygons are simplified ring by ring (Douglas-Peucker on each ring, no topology
repair: a browser draws a ring that touches itself just as well), which is ~40x faster than
simplifying whole polygons, and holes smaller than :data:`MIN_HOLE_M2` are dropped (a hole
20 m across is 10 px at zoom 16 and invisible below). Coordinates are rounded to 5 decimals
(~1 m).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

import numpy as np
import shapely

#: display tolerance (m): about 2 px at zoom 16, invisible at the zooms a district is read at.
TOLERANCE_M = 5.0
#: holes smaller than this (m²) are filled for display.
MIN_HOLE_M2 = 400.0
DECIMALS = 5
SCALE = 10**DECIMALS
M_PER_DEG = 111_320.0


def _display_rings(
    geoms: np.ndarray, lat: float, tolerance_m: float, min_hole_m2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simplified rings of WGS84 (multi)polygons: ``(rings, part_of_ring, geom_of_part)``.

    Exteriors come first within each part; parts whose outline collapsed are gone with their holes.
    """
    tol = tolerance_m / M_PER_DEG
    min_hole = min_hole_m2 / (M_PER_DEG**2 * max(math.cos(math.radians(lat)), 0.05))
    parts, pidx = shapely.get_parts(geoms, return_index=True)
    rings, ridx = shapely.get_rings(parts, return_index=True)
    first = np.r_[True, ridx[1:] != ridx[:-1]] if len(ridx) else np.zeros(0, bool)
    keep = first | (shapely.area(shapely.polygons(rings)) >= min_hole)
    rings, ridx, first = rings[keep], ridx[keep], first[keep]
    s = _round(shapely.simplify(rings, tol, preserve_topology=False))
    ok = (shapely.get_type_id(s) == 2) & (shapely.get_num_coordinates(s) >= 4)
    part_ok = np.zeros(len(parts), bool)
    part_ok[ridx[first]] = ok[first]  # a part whose outline collapsed goes with its holes
    ok &= part_ok[ridx]
    return s[ok], ridx[ok], pidx


def _polygon_mask(geoms: np.ndarray) -> np.ndarray:
    return np.array([g is not None and not g.is_empty and shapely.get_type_id(g) in (3, 6) for g in geoms], bool)


def _polygon_rings(
    geoms: np.ndarray, lat: float, tolerance_m: float, min_hole_m2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The display rings of the (multi)polygons among ``geoms``.

    ``(indices of the (multi)polygons, their display rings, ring -> part, part -> geometry)``,
    or None when nothing is left to draw.
    """
    gi = np.flatnonzero(_polygon_mask(geoms))
    if len(gi) == 0:
        return None
    rings, ridx, pidx = _display_rings(geoms[gi], lat, tolerance_m, min_hole_m2)
    if len(rings) == 0:
        return None
    return gi, rings, ridx, pidx


def display_polygons(
    geoms: Sequence, *, lat: float, tolerance_m: float = TOLERANCE_M, min_hole_m2: float = MIN_HOLE_M2
) -> np.ndarray:
    """Simplified MultiPolygon copies of WGS84 (multi)polygons; other or vanished inputs give None.

    Parameters
    ----------
    geoms
        WGS84 Polygons/MultiPolygons.
    lat
        Latitude (degrees) used to turn metres into degrees.
    """
    arr = np.asarray(geoms, dtype=object)
    out = np.full(len(arr), None, dtype=object)
    found = _polygon_rings(arr, lat, tolerance_m, min_hole_m2)
    if found is None:
        return out
    gi, rings, ridx, pidx = found
    kept_parts, rinv = np.unique(ridx, return_inverse=True)
    polys = shapely.polygons(rings, indices=rinv)
    kept_geoms, ginv = np.unique(pidx[kept_parts], return_inverse=True)
    out[gi[kept_geoms]] = shapely.multipolygons(polys, indices=ginv)
    return out


def encode_polygons(
    geoms: Sequence | np.ndarray, *, lat: float, tolerance_m: float = TOLERANCE_M, min_hole_m2: float = MIN_HOLE_M2
) -> list[str | None]:
    """Simplified WGS84 (multi)polygons as compact JSON text, decoded in the browser by ``SC.decode``.

    Each geometry is ``[polygon, …]``, each polygon ``[ring, …]`` (exterior first), each ring a
    flat list ``[x0, y0, dx1, dy1, …]`` of integers in 1e-5 degrees: the first vertex absolute,
    the others as steps from the previous one, the closing vertex left out. Three times smaller
    than GeoJSON coordinates at the same ~1 m precision. None for inputs that vanish.
    """
    geoms = np.asarray(geoms, dtype=object)
    out: list[str | None] = [None] * len(geoms)
    found = _polygon_rings(geoms, lat, tolerance_m, min_hole_m2)
    if found is None:
        return out
    gi, rings, ridx, pidx = found
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    ints = np.round(xy * SCALE).astype(np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(ring_of)) + 1]
    ends = np.r_[starts[1:], len(ints)]
    steps = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64))
    steps[starts] = ints[starts]
    text = [",".join(map(str, steps[a : b - 1].ravel().tolist())) for a, b in zip(starts, ends, strict=True)]
    geom_of_ring = gi[pidx[ridx]]
    polys: dict[int, list[list[str]]] = {}
    last_part = -1
    for k, (g, part) in enumerate(zip(geom_of_ring, ridx, strict=True)):
        if part != last_part:
            polys.setdefault(int(g), []).append([])
            last_part = part
        polys[int(g)][-1].append("[" + text[k] + "]")
    for g, plist in polys.items():
        out[g] = "[" + ",".join("[" + ",".join(r) + "]" for r in plist) + "]"
    return out


def encode_lines(geoms: Sequence | np.ndarray, *, tolerance_m: float = TOLERANCE_M) -> str | None:
    """WGS84 (multi)lines, simplified, as one compact MultiLineString text for ``SC.decode``.

    ``[line, …]``, each line a flat list ``[x0, y0, dx1, dy1, …]`` of integers in 1e-5 degrees
    (first vertex absolute, then steps), as :func:`encode_polygons` writes rings. Lines shorter
    than the tolerance vanish; None when nothing is left.
    """
    geoms = np.asarray([g for g in geoms if g is not None], dtype=object)
    if len(geoms) == 0:
        return None
    parts = shapely.get_parts(geoms)
    parts = parts[shapely.get_type_id(parts) == 1]
    s = shapely.simplify(parts, tolerance_m / M_PER_DEG, preserve_topology=False)
    s = s[shapely.get_type_id(s) == 1]
    # the vertices rounded as :func:`_round` rounds them, without making the rounded lines
    xy, line_of = shapely.get_coordinates(s, return_index=True)
    xy = np.round(xy, DECIMALS)
    # a line keeps a length once rounded when two of its consecutive vertices differ
    moves = (line_of[1:] == line_of[:-1]) & np.any(xy[1:] != xy[:-1], axis=1)
    long = np.zeros(len(s), bool)
    long[line_of[1:][moves]] = True
    if not long.any():
        return None
    keep = long[line_of]
    xy, line_of = xy[keep], line_of[keep]
    ints = np.round(xy * SCALE).astype(np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(line_of)) + 1]
    steps = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64))
    steps[starts] = ints[starts]
    # one text of every number, cut into lines at the commas between them
    text = ",".join(map(str, steps.ravel().tolist()))
    comma = np.cumsum(_digits(steps.ravel()) + 1) - 1  # where the comma after each number stands
    cuts = comma[2 * starts[1:] - 1]
    bounds = zip(np.r_[0, cuts + 1].tolist(), np.r_[cuts, len(text)].tolist(), strict=True)
    return "[[" + "],[".join(text[a:b] for a, b in bounds) + "]]"


def _digits(v: np.ndarray) -> np.ndarray:
    """The length of ``str(n)`` for each integer ``n`` of ``v`` (a minus sign counts one)."""
    powers = 10 ** np.arange(1, 19, dtype=np.int64)
    return np.searchsorted(powers, np.abs(v), side="right") + 1 + (v < 0)


def decode_lines(text: str) -> list[np.ndarray]:
    """Inverse of :func:`encode_lines`: the lines' (lon, lat) vertices."""
    return [np.cumsum(np.asarray(flat, np.int64).reshape(-1, 2), axis=0) / SCALE for flat in json.loads(text)]


def decode_polygons(text: str) -> list[list[np.ndarray]]:
    """Inverse of :func:`encode_polygons` for one geometry: polygons of closed rings (lon, lat)."""
    polys = []
    for poly in json.loads(text):
        rings = []
        for flat in poly:
            xy = np.cumsum(np.asarray(flat, np.int64).reshape(-1, 2), axis=0) / SCALE
            rings.append(np.vstack([xy, xy[:1]]))
        polys.append(rings)
    return polys


def _round(g: np.ndarray) -> np.ndarray:
    return shapely.transform(g, lambda c: np.round(c, DECIMALS))


def safe_json(obj: object) -> str:
    """JSON that can sit inside a ``<script>`` (``</`` escaped); Chinese kept as written.

    U+2028 and U+2029 are escaped too: JavaScript before ES2019 ends a line at them, even inside
    a string (an intranet's older browser).
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def feature_collection_text(geoms: Iterable, props: Iterable[dict]) -> str:
    """A compact GeoJSON FeatureCollection (text); features with no geometry are left out."""
    feats = []
    for g, p in zip(geoms, props, strict=True):
        if g is None or shapely.is_empty(g):
            continue
        feats.append('{"type":"Feature","properties":' + safe_json(p) + ',"geometry":' + shapely.to_geojson(g) + "}")
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def points_text(lon: np.ndarray, lat: np.ndarray, props: Iterable[dict]) -> str:
    """Points as a compact FeatureCollection (text)."""
    feats = [
        '{"type":"Feature","properties":'
        + safe_json(p)
        + f',"geometry":{{"type":"Point","coordinates":[{round(float(x), 6)},{round(float(y), 6)}]}}}}'
        for x, y, p in zip(lon, lat, props, strict=True)
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def encoded_collection_text(encoded: Sequence[str | None], props: Iterable[dict], *, lines: bool = False) -> str:
    """``{"s": scale, "f": [[properties, geometry], …]}`` for ``SC.decode``; None geometries left out.

    ``lines``: the geometries are :func:`encode_lines` texts (``"t": "l"``), else polygons.
    """
    feats = ["[" + safe_json(p) + "," + g + "]" for g, p in zip(encoded, props, strict=True) if g is not None]
    kind = ',"t":"l"' if lines else ""
    return '{"s":' + str(SCALE) + kind + ',"f":[' + ",".join(feats) + "]}"


def merge_encoded(texts: Iterable[str | None]) -> str | None:
    """Several :func:`encode_polygons` (or :func:`encode_lines`) texts as one multi-geometry text."""
    inner = [t[1:-1] for t in texts if t is not None and len(t) > 2]
    return "[" + ",".join(inner) + "]" if inner else None
