"""Facility lists as planners have them: CSV, XLSX, GeoJSON, GPKG, (Geo)Parquet -> WGS84 table.

A file is read into one GeoDataFrame in EPSG:4326 with the columns of :data:`COLUMNS`
(the same as :data:`geo.osm_layers.FACILITY_COLUMNS`, plus ``opening_hours_raw``), then any
``orig_*`` columns: the file's columns this tool does not use, under ``orig_<header>``, and
``orig_lon``/``orig_lat``/``orig_crs`` (the coordinates as given) when they were converted.

* Headers in Chinese or English, trimmed, case-insensitive, units in brackets ignored
  (``面积(㎡)``); see :data:`geo.layer_files.HEADERS`. A title row above the header is skipped (with a note).
* CSV text in UTF-8 (with or without BOM), GBK/GB18030, UTF-16, or what charset-normalizer finds.
* Coordinates in WGS84, GCJ-02 (AMap/Gaode, Tencent) or BD-09 (Baidu): the ``crs`` argument,
  else a ``crs``/``坐标系`` column (all rows must agree), else a system the coordinate headers
  name (``经度(百度)``, ``gcj02_lng``; a conflict with the others is refused), else WGS84; converted exactly by
  :mod:`geo.crs`. GeoJSON geometries are taken as given in that system too; a CRS that a
  GeoPackage, GeoParquet or (pre-RFC 7946) GeoJSON file declares is reprojected first.
* Every problem of a file is collected and raised together in one :class:`~geo.errors.InputError`;
  things that keep the row (unreadable opening hours, duplicates) are returned as warnings.

Row numbers are those a spreadsheet user sees: **the header is row 1, so the first data row is
row 2** (a title row above the header shifts both, as in the spreadsheet; a plain Parquet table
counts the same way). GeoJSON, GeoPackage and GeoParquet count **"feature N"** from 1 in file
order; a JSON list of records, "item N". Problems in an :class:`InputError` read
``row 17: 纬度 'abc' is not a number ...`` (the error names the file); warnings and notes name
the file themselves: ``centres.csv row 17: ...``.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.hours import OpeningHoursError, normalise_opening_hours, opening_hours_state  # noqa: F401 (re-exported)
from geo.io import write_geojson
from geo.layer_files import (
    ALIASES,
    EMPTY,
    HEADERS,
    Raw,
    cell_text,
    header_key,
    long_cells,
    read_raw,
    system_prefixed,
)
from geo.layer_points import CRS_LABEL, check_ranges, converted, coordinates, file_crs, swap_message
from geo.osm_layers import FACILITY_COLUMNS

SUFFIXES = (".csv", ".xlsx", ".geojson", ".json", ".gpkg", ".parquet")
COLUMNS = (*FACILITY_COLUMNS, "opening_hours_raw")
#: columns this tool writes (:func:`write_facilities`) and ignores when reading them back
OWN_COLUMNS = ("layer", "source", "opening_hours_raw")
TIER_WORDS: dict[str, str] = {
    "district": "district",
    "区级": "district",
    "区": "district",
    "县级": "district",
    "县": "district",
    "区县": "district",
    "street": "street",
    "街道": "street",
    "街道级": "street",
    "镇街": "street",
    "乡镇": "street",
    "镇": "street",
    "乡": "street",
    "街镇": "street",
    "community": "community",
    "社区": "community",
    "社区级": "community",
    "村社": "community",
    "村": "community",
    "村居": "community",
    "special": "special",
    "特色": "special",
    "专题": "special",
    "功能型": "special",
}
TIER_HELP = "区级/district, 街道/street, 社区/community, 特色/special"
#: what a tier may carry around the words of :data:`TIER_WORDS` (社区中心, 村级, 镇级阵地, street level)
_TIER_DRESS = re.compile(r"(中心|阵地)$|(级|level)$")
SERVICE_SPLIT = re.compile(r"\s*[、,，;；/\n]+\s*")
#: two facilities of one name closer than this (metres) are reported as a likely duplicate.
DUPLICATE_M = 1.0
#: radius of the sphere distances are measured on (m)
_EARTH_M = 6_371_000.0


@dataclass(frozen=True)
class LayerRead:
    """What :func:`read_facilities` understood: the table, warnings (rows kept) and notes."""

    facilities: gpd.GeoDataFrame
    warnings: list[str]
    notes: list[str]


# ------------------------------------------------------------------------------ cells
def _plain(value: object) -> object:
    """An unused cell kept as it is, with NaN as None and numpy scalars as Python ones."""
    value = value.item() if isinstance(value, np.generic) else value
    if (
        value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    ):
        return None
    return value


# ------------------------------------------------------------------------------ checking
def _columns(raw: Raw, src: str, *, names: bool = True) -> dict[str, int]:
    """Field -> column index; raises for missing or doubled columns (a name column unless not ``names``)."""
    cols: dict[str, int] = {}
    problems = []
    prefixed = [system_prefixed(h) for h in raw.header]
    for j in sorted(range(len(raw.header)), key=lambda j: prefixed[j]):  # plain headers first
        h = raw.header[j]
        f = None if h.startswith("orig_") else ALIASES.get(header_key(h))
        if f in cols and prefixed[j] and not prefixed[cols[f]]:
            continue  # lon_gcj02 beside lon (as in the sites table): a column of its own, not the coordinates
        if f in cols:
            problems.append(
                f"columns {raw.header[cols[f]]!r} and {h!r} both look like the {f} column — "
                "keep one, or rename the other"
            )
        elif f is not None:
            cols[f] = j
    found = ", ".join(raw.header) or "(none)"
    if raw.sheets:  # a workbook none of whose sheets has the header: say which were looked at
        found += f" (in the first visible sheet; sheets looked at: {raw.sheets})"
    if names and "name" not in cols:
        problems.append(f"no name column — expected one of {', '.join(HEADERS['name'])}; columns found: {found}")
    for f, what in (("lon", "longitude"), ("lat", "latitude")):
        if raw.geoms is None and "lonlat" not in cols and f not in cols:
            problems.append(
                f"no {what} column — expected one of {', '.join(HEADERS[f])} "
                f"(or one 经纬度 column holding 'lon,lat'); columns found: {found}"
            )
    if problems:
        raise InputError(src, raw.problems + problems)
    return cols


def tier_word(text: str) -> str | None:
    """A tier as written (``社区``, ``村级``, ``镇``, ``Street level``, ``街道中心``) -> its tier, or None.

    The words of :data:`TIER_WORDS`, in any case and width, with spaces, ``级``/``level`` and
    ``中心``/``阵地`` after them or not; anything else is no known tier.
    """
    key = re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", text)).lower()
    for _ in range(2):  # 村级中心: 中心 first, then 级
        if key in TIER_WORDS:
            return TIER_WORDS[key]
        key = _TIER_DRESS.sub("", key)
    return TIER_WORDS.get(key)


def _stars(text: str) -> float:
    s = re.sub(r"(星级?|stars?)$", "", unicodedata.normalize("NFKC", text).replace(" ", ""), flags=re.IGNORECASE)
    if s and set(s) <= {"★", "☆"}:
        s = str(s.count("★"))
    f = float({"一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5"}.get(s, s))
    if not 1 <= f <= 5:
        raise ValueError(text)
    return f


def _area(text: str) -> float:
    f = float(re.sub(r"(㎡|m²|m2|平方米|平米|,)", "", unicodedata.normalize("NFKC", text)).strip())
    if not (math.isfinite(f) and f >= 0):
        raise ValueError(text)
    return f


def _row(
    raw: Raw, cols: dict[str, int], i: int, bad: list[str], warnings: list[str], src: str, hours_seen: dict
) -> dict:
    """The normalised fields of row ``i``; problems go to ``bad``, warnings to ``warnings``.

    ``hours_seen`` keeps the opening hours read so far in this file (text -> normalised).
    """
    label = raw.labels[i]

    def cell(f: str) -> str | None:
        return cell_text(raw.rows[i][cols[f]]) if f in cols else None

    def head(f: str) -> str:
        return raw.header[cols[f]]

    if (name := cell("name")) is None and "name" in cols:
        bad.insert(0, f"{head('name')} is empty — every facility needs a name")
    tier = cell("tier")
    norm = tier_word(tier) if tier is not None else None
    if tier is not None and norm is None:
        bad.append(f"{head('tier')} {tier!r} is not a known tier — use one of {TIER_HELP}, or leave it empty")
    values = {"name": name, "tier": norm, "stars": math.nan, "area_m2": math.nan}
    for f, parse, what in (
        ("stars", _stars, "is not a star rating from 1 to 5 — give a number 1..5, or leave it empty"),
        ("area_m2", _area, "is not an area in square metres — give a number such as 5000"),
    ):
        if (text := cell(f)) is not None:
            try:
                values[f] = parse(text)
            except ValueError:
                bad.append(f"{head(f)} {text!r} {what}")
    hours = None
    if (oh := cell("opening_hours")) is not None:
        if oh not in hours_seen:  # lists repeat a few texts thousands of times: each is read once
            try:
                hours_seen[oh] = normalise_opening_hours(oh)
            except OpeningHoursError:
                hours_seen[oh] = OpeningHoursError
        hours = hours_seen[oh]
        if hours is OpeningHoursError:
            hours = None
            warnings.append(
                f"{src} {label}: {head('opening_hours')} {oh!r} cannot be read as opening hours; treated "
                "as unknown — write it like 'Mo-Fr 08:30-17:30', '24/7' or '周一至周五 8:30-17:30'"
            )
    services = cell("services")
    return values | {
        "kind": cell("kind"),
        "opening_hours": hours,
        "opening_hours_raw": oh,
        "address": cell("address"),
        "services": tuple(s for s in SERVICE_SPLIT.split(services) if s) if services else (),
    }


def _check_path(path: Path) -> None:
    """A facility file that exists, is not empty and has a suffix this tool reads (else InputError)."""
    src = str(path)
    if path.is_dir():
        raise InputError(src, [f"is a folder, not a facility file — give one of {', '.join(SUFFIXES)}"])
    if path.suffix.lower() not in SUFFIXES:
        hint = " (an old .xls workbook: save it as .xlsx)" if path.suffix.lower() == ".xls" else ""
        raise InputError(
            src, [f"unsupported file type {path.suffix or '(none)'!r}{hint} — use one of {', '.join(SUFFIXES)}"]
        )
    if not path.is_file():
        raise InputError(src, ["file not found — check the path and the file name"])
    if path.stat().st_size == 0:
        raise InputError(src, [EMPTY])


def read_facilities(path: str | Path, *, layer: str, crs: str | None = None, names: bool = True) -> LayerRead:
    """Read, check and convert one facility file to a WGS84 table.

    Parameters
    ----------
    path
        A ``.csv``, ``.xlsx``, ``.geojson``/``.json``, ``.gpkg`` or ``.parquet`` file.
    layer
        The layer of the facilities (``centres``, ``stations``, ``charging``); also the prefix
        of generated ids (``centres-17`` for row 17 when the file has no id column).
    crs
        ``wgs84``, ``gcj02`` or ``bd09`` (aliases as in :func:`geo.crs.to_wgs84`); None reads a
        ``crs``/``坐标系`` column, else WGS84.
    names
        Whether a name column is needed (candidate sites need none: their names are then None).

    Returns
    -------
    LayerRead
        ``facilities`` with the columns of :data:`COLUMNS` then ``orig_*`` columns, in file order;
        ``stars``/``area_m2`` are floats (NaN when not given), ``services`` a tuple of str, the
        other fields str or None.

    Raises
    ------
    InputError
        With every problem of the file, each naming the row, the field and the value.
    """
    path = Path(path)
    src = str(path)
    _check_path(path)
    notes: list[str] = []
    warnings: list[str] = []
    raw = read_raw(path, src, notes)
    if not raw.rows:
        raise InputError(
            src,
            [
                (
                    f"no sheet has a header with 名称, 经度 and 纬度 — sheets looked at: {raw.sheets}"
                    if raw.sheets
                    else "holds no facilities: there is a header but no rows below it"
                )
                if raw.geoms is None
                else "holds no features"
            ],
        )
    cols = _columns(raw, src, names=names)
    problems = raw.problems
    crs_name = file_crs(crs, raw, cols, src, problems, (warnings, notes))
    n = len(raw.rows)
    per_row: list[list[str]] = [[] for _ in range(n)]
    long_cells(raw, per_row)
    lon, lat, texts, kind = coordinates(raw, cols, per_row, notes, src)
    if (swapped := swap_message(raw, cols, kind, lon, lat, texts)) is not None:
        problems.append(swapped)
    else:
        check_ranges(lon, lat, texts, per_row)
    out: dict[str, list] = {c: [] for c in COLUMNS}
    first_id: dict[str, str] = {}
    hours_seen: dict[str, object] = {}
    for i, label in enumerate(raw.labels):
        values = _row(raw, cols, i, per_row[i], warnings, src, hours_seen)
        ident = cell_text(raw.rows[i][cols["id"]]) if "id" in cols else None
        ident = ident or f"{layer}-{label.split()[-1]}"
        if ident in first_id:
            per_row[i].append(f"id {ident!r} is already used by {first_id[ident]} — ids must be unique")
        first_id.setdefault(ident, label)
        problems += [f"{label}: {p}" for p in per_row[i]]
        values |= {"id": ident, "layer": layer, "source": f"{path.name} {label}"}
        for c in COLUMNS:
            out[c].append(values[c])
    if problems:
        raise InputError(src, problems)

    extra: dict[str, list] = {}
    if crs_name != "wgs84":
        extra = {"orig_lon": lon.tolist(), "orig_lat": lat.tolist(), "orig_crs": [crs_name] * n}
        lon, lat = converted(lon, lat, crs_name, texts, raw.labels, src, notes, warnings)
    warnings += _duplicates(out["name"], lon, lat, raw.labels, src)
    used = {j for f, j in cols.items() if raw.geoms is None or f not in ("lon", "lat", "lonlat")}
    for j, h in enumerate(raw.header):
        if j not in used and h not in OWN_COLUMNS:
            extra.setdefault(h if h.startswith("orig_") else f"orig_{h}", [_plain(r[j]) for r in raw.rows])
    frame = {c: pd.Series(out[c], dtype=float if c in ("stars", "area_m2") else object) for c in COLUMNS}
    frame |= {k: pd.Series(v, dtype=object) for k, v in extra.items()}
    return LayerRead(gpd.GeoDataFrame(frame, geometry=shapely.points(lon, lat), crs=4326), warnings, notes)


def _duplicates(names: list, lon: np.ndarray, lat: np.ndarray, labels: list[str], src: str) -> list[str]:
    """Warnings for one name at the same place (within :data:`DUPLICATE_M`).

    Each row is checked against the first earlier row of its name that close.

    Rows go into a grid of :data:`DUPLICATE_M` cells keyed by name, so a row is compared only
    with the rows of its name in its own and the eight neighbouring cells: O(n) for lists with
    thousands of rows of one name (charging lists), where comparing every pair took minutes.
    """
    if not len(names):
        return []
    # cells twice DUPLICATE_M wide (a touch more: a pair exactly DUPLICATE_M apart is in reach):
    # a row's neighbours within DUPLICATE_M lie in its own cell and the three cells of the
    # quadrant of the cell it sits in (left or right, below or above)
    cell = 2 * DUPLICATE_M * (1 + 1e-6)
    y = np.radians(lat) * _EARTH_M / cell
    # one east-west scale for the whole file, that of its most poleward row: no pair is farther
    # apart on the grid than on the ground
    x = np.radians(lon) * _EARTH_M * float(np.cos(np.radians(np.abs(lat).max()))) / cell
    fx, fy = np.floor(x), np.floor(y)
    cx, cy = fx.astype(np.int64).tolist(), fy.astype(np.int64).tolist()
    ax, ay = np.where(x - fx < 0.5, -1, 1).tolist(), np.where(y - fy < 0.5, -1, 1).tolist()
    lon_l, lat_l = lon.tolist(), lat.tolist()
    grid: dict[tuple, list[int]] = {}
    out = []
    for i, name in enumerate(names):
        a, b, c, d = cx[i], cy[i], cx[i] + ax[i], cy[i] + ay[i]
        near = [
            x
            for x in (grid.get((name, a, b)), grid.get((name, c, b)), grid.get((name, a, d)), grid.get((name, c, d)))
            if x
        ]
        for j in heapq.merge(*near) if len(near) > 1 else (near[0] if near else ()):  # earlier rows, first first
            if (d := _metres_scalar(lon_l[i], lat_l[i], lon_l[j], lat_l[j])) <= DUPLICATE_M:
                out.append(
                    f"{src} {labels[i]}: {name!r} is at the same place as {labels[j]} ({d:.1f} m apart) — "
                    "both are kept; delete one if it is a duplicate"
                )
                break
        grid.setdefault((name, cx[i], cy[i]), []).append(i)
    return out


def _metres_scalar(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """:func:`_metres` for two points as Python floats (no array overhead)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_M * math.asin(math.sqrt(min(a, 1.0)))


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (haversine on a 6,371 km sphere)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


# ------------------------------------------------------------------------------ checks and output
def check_within(
    facilities: gpd.GeoDataFrame, bbox_lonlat: tuple[float, float, float, float], *, max_km: float
) -> list[str]:
    """Facilities farther than ``max_km`` outside a box ``(min_lon, min_lat, max_lon, max_lat)``.

    Returns one line per such facility with its distance to the box in km; the caller decides
    whether that is a warning or an error.
    """
    x0, y0, x1, y1 = bbox_lonlat
    lon, lat = facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy()
    km = _metres(lon, lat, np.clip(lon, x0, x1), np.clip(lat, y0, y1)) / 1000.0
    out = []
    for i in np.flatnonzero(km > max_km):
        row = facilities.iloc[i]
        where = row["source"] if "source" in facilities else f"facility {row['id']}"
        out.append(
            f"{where}: {row['name']!r} lies {km[i]:.1f} km outside the network area "
            f"({x0:.4f}..{x1:.4f} E, {y0:.4f}..{y1:.4f} N) — check its coordinates and coordinate system"
        )
    return out


def write_facilities(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a facility table as RFC 7946 GeoJSON (UTF-8, Chinese as written), atomically.

    ``services`` are joined with ``、``; ``orig_*`` columns are kept as properties. The file is
    written to a temporary file in the same folder, then renamed into place (:mod:`geo.io`).
    """
    path = Path(path)
    if path.suffix.lower() not in (".geojson", ".json"):
        raise InputError(str(path), ["facilities are written as GeoJSON — name the file *.geojson"])
    out = gdf.copy()
    if "services" in out:
        out["services"] = out["services"].map(lambda v: "、".join(v) if isinstance(v, (list, tuple)) else v)
    return write_geojson(path, out, name=str(out["layer"].iloc[0]) if "layer" in out and len(out) else "facilities")


@dataclass(frozen=True)
class FileCheck:
    """What ``circles layers check FILE`` reports: a summary, and the notes and warnings."""

    summary: tuple[str, ...]  # what the file holds (and where it was written)
    messages: tuple[str, ...]  # "note: ..." and "warning: ..." lines


def check_file(path: str | Path, *, layer: str, crs: str | None, out: str | Path | None) -> FileCheck:
    """Read a facility file as :func:`read_facilities` does and say what was understood.

    Parameters
    ----------
    path
        The facility file.
    layer
        The layer it holds (:data:`geo.kinds.LAYERS`).
    crs
        Its coordinate system (``None``: a ``crs`` column, else WGS84).
    out
        Where to write what was understood as GeoJSON, or ``None``.

    Returns
    -------
    FileCheck
        The summary and messages; a file that cannot be used raises :class:`InputError` instead.
    """
    read = read_facilities(path, layer=layer, crs=crs)
    messages = [
        f"{kind}: {line}" for kind, lines in (("note", read.notes), ("warning", read.warnings)) for line in lines
    ]
    fac = read.facilities
    tiers = ", ".join(f"{v} {k}" for k, v in fac["tier"].fillna("without tier").value_counts().items())
    converted_from = f"; coordinates converted from {CRS_LABEL[fac['orig_crs'].iloc[0]]}" if "orig_crs" in fac else ""
    summary = [
        (
            f"{path}: {len(fac)} {layer} ({tiers}); opening hours known for "
            f"{int(fac['opening_hours'].notna().sum())}{converted_from}; {len(read.warnings)} warning(s)"
        )
    ]
    if out is not None:
        write_facilities(fac, out)
        summary.append(f"written to {out}")
    return FileCheck(tuple(summary), tuple(messages))
