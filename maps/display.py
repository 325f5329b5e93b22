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
    """Simplified rings of WGS84 (multi)polygons, not yet rounded: ``(rings, part_of_ring, geom_of_part)``.

    Exteriors come first within each part; parts whose outline collapsed are gone with their holes.
    """
    tol = tolerance_m / M_PER_DEG
    min_hole = min_hole_m2 / (M_PER_DEG**2 * max(math.cos(math.radians(lat)), 0.05))
    parts, pidx = own_parts(geoms, 3)
    rings, ridx = shapely.get_rings(parts, return_index=True)
    first = np.r_[True, ridx[1:] != ridx[:-1]] if len(ridx) else np.zeros(0, bool)
    keep = first | (shapely.area(shapely.polygons(rings)) >= min_hole)
    rings, ridx, first = rings[keep], ridx[keep], first[keep]
    # (rounding, left to the caller, keeps each ring's type and count of vertices: the same rings pass)
    s = shapely.simplify(rings, tol, preserve_topology=False)
    ok = (shapely.get_type_id(s) == 2) & (shapely.get_num_coordinates(s) >= 4)
    part_ok = np.zeros(len(parts), bool)
    part_ok[ridx[first]] = ok[first]  # a part whose outline collapsed goes with its holes
    ok &= part_ok[ridx]
    return s[ok], ridx[ok], pidx


def own_parts(geoms: np.ndarray, single: int) -> tuple[np.ndarray, np.ndarray]:
    """``shapely.get_parts(geoms, return_index=True)``, geometries of type id ``single`` taken as they are.

    ``get_parts`` copies every geometry, a single line or polygon too; here only the others
    (multi-geometries) are split.
    """
    geoms = np.asarray(geoms, dtype=object)
    split = shapely.get_type_id(geoms) != single
    if not split.any():
        return geoms, np.arange(len(geoms))
    count = np.ones(len(geoms), np.int64)
    count[split] = shapely.get_num_geometries(geoms[split])
    idx = np.repeat(np.arange(len(geoms)), count)
    parts = np.empty(len(idx), dtype=object)
    parts[(np.cumsum(count) - count)[~split]] = geoms[~split]
    parts[np.repeat(split, count)] = shapely.get_parts(geoms[split])
    return parts, idx


def _polygon_mask(geoms: np.ndarray) -> np.ndarray:
    """Which of ``geoms`` are non-empty (multi)polygons (None is not)."""
    return np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_empty(geoms)


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
    polys = shapely.polygons(_round(rings), indices=rinv)
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
    ints = np.round(np.round(xy, DECIMALS) * SCALE).astype(np.int64)  # rounded as display_polygons rounds
    n = len(rings)
    starts = np.r_[0, np.flatnonzero(np.diff(ring_of)) + 1]
    ends = np.r_[starts[1:], len(ints)]
    steps = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64))
    steps[starts] = ints[starts]
    shown = np.ones(len(steps), bool)
    shown[ends - 1] = False  # each ring's closing vertex left out
    # where each ring's numbers begin and end once the closing vertices are gone
    first_num = 2 * (starts - np.arange(n))
    last_num = 2 * (ends - np.arange(1, n + 1)) - 1
    geom_of_ring = gi[pidx[ridx]]
    new_part = np.r_[True, ridx[1:] != ridx[:-1]]
    new_geom = np.r_[True, geom_of_ring[1:] != geom_of_ring[:-1]]
    end_part = np.r_[new_part[1:], True]
    end_geom = np.r_[new_geom[1:], True]
    text, cuts = _nested_text(
        steps[shown].ravel(),
        opens=(first_num, 1 + new_part + new_geom),
        closes=(last_num, 1 + end_part + end_geom),
        chunk_ends=last_num[end_geom],
    )
    for g, a, b in zip(geom_of_ring[end_geom].tolist(), np.r_[0, cuts[:-1]].tolist(), cuts.tolist(), strict=True):
        out[g] = text[a:b]
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
    parts, _ = own_parts(geoms, 1)
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
    ends = np.r_[starts[1:], len(ints)]
    steps = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64))
    steps[starts] = ints[starts]
    opening, closing = np.ones(len(starts), np.int64), np.ones(len(starts), np.int64)
    opening[0] = closing[-1] = 2  # the first line opens the list of lines too, the last one closes it
    text, _ = _nested_text(
        steps.ravel(), opens=(2 * starts, opening), closes=(2 * ends - 1, closing), chunk_ends=[2 * len(ints) - 1]
    )
    return text


#: 10, 100, ... 10**18: how many digits a whole number has (:func:`_nested_text`)
_POWERS = 10 ** np.arange(1, 19, dtype=np.int64)


def _nested_text(
    values: np.ndarray,
    *,
    opens: tuple[np.ndarray, np.ndarray],
    closes: tuple[np.ndarray, np.ndarray],
    chunk_ends: Sequence[int] | np.ndarray,
) -> tuple[str, np.ndarray]:
    """Whole numbers written as nested JSON lists, as ``str`` and ``",".join`` would write them.

    Parameters
    ----------
    values
        The numbers, in order (int64).
    opens, closes
        ``(positions, counts)``: ``counts[k]`` brackets ``[`` before the number at ``positions[k]``,
        and ``]`` after it; other numbers have none.
    chunk_ends
        The positions of the numbers that end a chunk: no comma follows them (every other number
        is followed by one, after its closing brackets).

    Returns
    -------
    tuple
        The text of every chunk, one after the other, and where each chunk's text ends.
    """
    v = np.asarray(values, np.int64)
    open_at, open_n = (np.asarray(x, np.int64) for x in opens)
    close_at, close_n = (np.asarray(x, np.int64) for x in closes)
    comma = np.ones(len(v), np.int64)
    comma[np.asarray(chunk_ends, np.int64)] = 0
    neg = v < 0
    mag = np.abs(v)
    n_digits = np.searchsorted(_POWERS, mag, side="right") + 1
    length = neg + n_digits + comma
    length[open_at] += open_n
    length[close_at] += close_n
    end = np.cumsum(length)
    buf = np.empty(int(end[-1]) if len(end) else 0, np.uint8)
    buf[end - 1] = ord(",")  # (where no comma follows a number, its last digit or bracket is written below)
    after = end - comma  # just after each number's last digit, once its closing brackets are counted out
    after[close_at] -= close_n
    for k in range(int(open_n.max(initial=0))):
        sel = open_at[open_n > k]
        buf[after[sel] - n_digits[sel] - neg[sel] - open_n[open_n > k] + k] = ord("[")
    for k in range(int(close_n.max(initial=0))):
        buf[after[close_at[close_n > k]] + k] = ord("]")
    buf[(after - n_digits)[neg] - 1] = ord("-")
    # the digits, last first; the numbers with the most digits first, so those with a digit at
    # each place are a leading run of them
    order = np.argsort(-n_digits.astype(np.int8), kind="stable")
    left, at = mag[order], after[order] - 1
    count = np.bincount(n_digits, minlength=20)[::-1].cumsum()[::-1]  # numbers with at least d + 1 digits
    for d in range(int(n_digits.max(initial=0))):
        left, digit = np.divmod(left[: count[d + 1]], 10)
        buf[at[: count[d + 1]] - d] = digit + ord("0")
    return buf.tobytes().decode("ascii"), end[comma == 0]


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
