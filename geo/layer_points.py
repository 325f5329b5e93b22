"""Where each facility of a file stands: its coordinates, their system, and their checks.

:func:`geo.layers.read_facilities` reads a file's rows; this module turns a row's geometry, its
longitude and latitude columns or its one ``经纬度`` column into a point, finds the file's
coordinate system (the argument, else a ``crs``/``坐标系`` column, else a system the coordinate
headers name, such as ``经度(百度)``, else WGS84), says when
longitudes and latitudes look swapped or out of range, and converts GCJ-02 and BD-09 points to
WGS84 (:mod:`geo.crs`). Problems go to the lists the caller passes, so a file's problems are all
reported together.
"""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import shapely

from geo.crs import in_china, normalise_crs, to_wgs84
from geo.layer_files import Raw, cell_text, header_system

CRS_LABEL = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}


def number(value: object) -> float | None:
    """A numeric cell -> float; None when empty. Raises ValueError for anything else."""
    s = cell_text(value)
    if s is None:
        return None
    try:
        f = float(s)  # plain numbers (nearly every cell) without the regular expression
    except ValueError:
        s = re.sub(r"^(东经|北纬|[EN])|(°|度)?([EN东北])?$", "", unicodedata.normalize("NFKC", s).replace(" ", ""))
        f = float(s)  # ValueError for the rest
    if not math.isfinite(f):
        raise ValueError(s)
    return f


def file_crs(
    crs: str | None,
    raw: Raw,
    cols: dict[str, int],
    src: str,
    problems: list[str],
    messages: tuple[list[str], list[str]],
) -> str:
    """The file's coordinate system: the argument, else the crs column, else the headers, else wgs84.

    The crs column's rows must agree (the argument wins over them, with a warning). A system
    named in the coordinate headers (``经度(百度)``, ``gcj02_lng``: :func:`header_system`) must
    agree with the other header, the argument and the crs column: a conflict is a problem, as
    the header names the system of every coordinate in its column. ``messages`` are the lists
    of warnings and notes (a note says when the headers chose the system).
    """
    warnings, notes = messages
    given = normalise_crs(crs) if crs else None
    named = _header_systems(raw, cols)
    header = next(iter(named.values())) if len(set(named.values())) == 1 else None
    heads = ("the headers " if len(named) > 1 else "the header ") + ", ".join(" ".join(h.split()) for h in named)
    say = "say" if len(named) > 1 else "says"
    if len(set(named.values())) > 1:
        says = "; ".join(f"{' '.join(h.split())} says {CRS_LABEL[v]}" for h, v in named.items())
        problems.append(
            f"the coordinate headers name different coordinate systems ({says}) — "
            "write the system the coordinates are in into both headers"
        )
    elif header and given and header != given:
        problems.append(
            f"{heads} {say} {CRS_LABEL[header]} but {CRS_LABEL[given]} was asked for (--crs) — "
            "leave out --crs for this file, or correct the header"
        )
    seen = _column_systems(raw, cols, problems)
    if header and set(seen) - {header}:
        col = raw.header[cols["crs"]]
        problems.append(
            f"the {col} column says {_rows(seen, exclude=header)} but {heads} {say} "
            f"{CRS_LABEL[header]} — make them agree, or drop the {col} column"
        )
    if given:
        if set(seen) - {given}:
            col = raw.header[cols["crs"]]
            warnings.append(
                f"{src}: the {col} column says {', '.join(sorted(seen))} but {given} was asked for; using {given}"
            )
        return given
    if len(seen) > 1:
        problems.append(
            f"{raw.header[cols['crs']]} mixes coordinate systems: {_rows(seen)} — "
            "split the file, or convert the rows to one system"
        )
    if len(seen) == 1:
        return next(iter(seen))
    if header:
        notes.append(f"{src}: coordinates read as {CRS_LABEL[header]}, as {heads} {say}")
    return header or "wgs84"


def _header_systems(raw: Raw, cols: dict[str, int]) -> dict[str, str]:
    """Header -> the coordinate system it names, for the coordinate columns the file is read by."""
    if raw.geoms is not None:  # the geometries are read, not these columns
        return {}
    heads = [raw.header[cols[f]] for f in ("lon", "lat", "lonlat") if f in cols]
    return {h: s for h in heads if (s := header_system(h)) is not None}


def _column_systems(raw: Raw, cols: dict[str, int], problems: list[str]) -> dict[str, list[str]]:
    """System -> the labels of the rows whose crs cell names it (unknown names are problems)."""
    seen: dict[str, list[str]] = {}
    if "crs" not in cols:
        return seen
    col = raw.header[cols["crs"]]
    for label, row in zip(raw.labels, raw.rows, strict=True):
        if (value := cell_text(row[cols["crs"]])) is None:
            continue
        try:
            seen.setdefault(normalise_crs(value), []).append(label)
        except ValueError:
            problems.append(
                f"{label}: {col} {value!r} is not a known coordinate system — "
                "use wgs84, gcj02 (AMap/Gaode, Tencent) or bd09 (Baidu)"
            )
    return seen


def _rows(seen: dict[str, list[str]], *, exclude: str | None = None) -> str:
    """``gcj02 (row 2); wgs84 (row 3, row 4...)``: the systems of a crs column and their first rows."""
    return "; ".join(
        f"{k} ({', '.join(v[:3])}{'...' if len(v) > 3 else ''})" for k, v in sorted(seen.items()) if k != exclude
    )


def coordinates(
    raw: Raw, cols: dict[str, int], per_row: list[list[str]], notes: list[str], src: str
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]], str]:
    """lon, lat (NaN where unusable), their texts as given, and how they were given."""
    n = len(raw.rows)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    texts = [("", "")] * n
    kind = "columns" if "lon" in cols else "pair"
    for i, row in enumerate(raw.rows):
        g = raw.geoms[i] if raw.geoms is not None else None
        if g is not None and not g.is_empty:
            kind = "geometry"
            if g.geom_type in ("Polygon", "MultiPolygon"):
                notes.append(f"{src} {raw.labels[i]}: a {g.geom_type}; placed at a point inside it")
            if (point := _point(g, per_row[i])) is not None:
                lon[i], lat[i] = point
                texts[i] = (f"{lon[i]:.10g}", f"{lat[i]:.10g}")
            continue
        if not ({"lon", "lat"} <= set(cols) or "lonlat" in cols) or (
            raw.geoms is not None
            and all(cell_text(row[cols[f]]) is None for f in ("lon", "lat", "lonlat") if f in cols)
        ):
            per_row[i].append("has no geometry and no longitude/latitude — give each facility a Point")
            continue
        given = _given(raw, cols, row, per_row[i])
        if given is None:
            continue
        got: list[float | None] = []
        for (col, value), what, example in zip(given, ("longitude", "latitude"), ("120.2105", "30.2084"), strict=True):
            try:
                got.append(number(value))
                if got[-1] is None:
                    per_row[i].append(f"{col} is empty — give the {what} in decimal degrees, e.g. {example}")
            except ValueError:
                got.append(None)
                per_row[i].append(
                    f"{col} {cell_text(value)!r} is not a number — give the {what} in decimal degrees, e.g. {example}"
                )
        if got[0] is not None and got[1] is not None:
            lon[i], lat[i] = got
            texts[i] = (cell_text(given[0][1]) or "", cell_text(given[1][1]) or "")
    return lon, lat, texts, kind


def _point(g: shapely.Geometry, bad: list[str]) -> tuple[float, float] | None:
    """The point of a row's geometry (a polygon: a point inside it); problems go to ``bad``."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        g = g.representative_point()
    if isinstance(g, shapely.MultiPoint) and len(g.geoms) == 1:
        g = g.geoms[0]
    if not isinstance(g, shapely.Point):
        bad.append(f"geometry is a {g.geom_type} — only points are accepted (a polygon is placed at a point inside it)")
        return None
    if not (math.isfinite(g.x) and math.isfinite(g.y)):
        bad.append(
            f"geometry has coordinates ({g.x:g}, {g.y:g}) — give a finite longitude and "
            "latitude in decimal degrees (NaN and Infinity are not coordinates)"
        )
        return None
    return g.x, g.y


def _given(raw: Raw, cols: dict[str, int], row: list[object], bad: list[str]) -> list[tuple[str, object]] | None:
    """The (header, cell) of a row's longitude and latitude; None (and a problem) when unusable."""
    if "lon" in cols and "lat" in cols:
        return [(raw.header[cols[f]], row[cols[f]]) for f in ("lon", "lat")]
    col, value = raw.header[cols["lonlat"]], cell_text(row[cols["lonlat"]])
    parts = re.split(r"\s*[,，\s]\s*", value) if value else []
    if len(parts) != 2:
        bad.append(
            f"{col} is empty — give 'longitude,latitude', e.g. 120.2105,30.2084"
            if value is None
            else f"{col} {value!r} is not 'longitude,latitude' — e.g. 120.2105,30.2084"
        )
        return None
    return [(col, parts[0]), (col, parts[1])]


def swap_message(
    raw: Raw, cols: dict[str, int], kind: str, lon: np.ndarray, lat: np.ndarray, texts: list[tuple[str, str]]
) -> str | None:
    """The one problem for a whole file whose longitudes and latitudes are swapped, or None."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = lon[ok], lat[ok]
    if not ok.any() or not (
        ((np.abs(y) > 90) & (np.abs(x) <= 90)).all() or ((y >= 73) & (y <= 135) & (x >= 18) & (x <= 54)).all()
    ):
        return None
    i = int(np.flatnonzero(ok)[0])
    label, (xt, yt) = raw.labels[i], texts[i]
    if kind == "geometry":
        return (
            f"the coordinates look like (latitude, longitude): {label} has x {xt}, y {yt}; "
            "GeoJSON and GeoPackage want x = longitude, y = latitude — swap them"
        )
    if kind == "pair":
        return (
            f"the coordinates in {raw.header[cols['lonlat']]} look like 'latitude,longitude': {label} has "
            f"'{xt},{yt}' — write them as 'longitude,latitude' (AMap and Baidu give the longitude first)"
        )
    lo, la = raw.header[cols["lon"]], raw.header[cols["lat"]]
    return (
        f"the longitude and latitude columns look swapped: {la} holds {yt} and {lo} holds {xt} in {label} "
        f"(in China longitude is 73..135, latitude 18..54) — swap the column headers {lo} and {la}"
    )


def check_ranges(lon: np.ndarray, lat: np.ndarray, texts: list[tuple[str, str]], per_row: list[list[str]]) -> None:
    """Longitudes outside -180..180 and latitudes outside -90..90 as problems of their rows."""
    ok = np.isfinite(lon) & np.isfinite(lat)

    def shown(text: str, value: float) -> str:  # a huge number as 1e+300, not its 301 digits
        return text if len(text) <= 24 else f"{value:g}"

    for i in np.flatnonzero(ok & ((np.abs(lon) > 180) | (np.abs(lat) > 90))):
        if not -180 <= lon[i] <= 180:
            per_row[i].append(f"longitude {shown(texts[i][0], lon[i])} is outside -180..180")
        if not -90 <= lat[i] <= 90:
            per_row[i].append(
                f"latitude {shown(texts[i][1], lat[i])} is outside -90..90 — are the longitude and latitude "
                "columns swapped?"
            )


def converted(
    lon: np.ndarray,
    lat: np.ndarray,
    crs_name: str,
    texts: list[tuple[str, str]],
    labels: list[str],
    src: str,
    notes: list[str],
    warnings: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 or BD-09 points as WGS84; a note says how many, a warning names each point outside China."""
    n = len(lon)
    outside = ~in_china(lon, lat)
    warnings += [
        f"{src} {labels[i]}: ({texts[i][0]}, {texts[i][1]}) lies outside China, where "
        f"{CRS_LABEL[crs_name]} has no offset — kept unchanged"
        for i in np.flatnonzero(outside)
    ]
    notes.append(
        f"{src}: {n - int(outside.sum())} of {n} points converted from {CRS_LABEL[crs_name]} to WGS84 "
        "(the coordinates as given are kept in orig_lon, orig_lat)"
    )
    return to_wgs84(lon, lat, crs_name)
