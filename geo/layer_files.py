"""Planners' tables as files: CSV, XLSX, GeoJSON/JSON, GPKG, (Geo)Parquet -> a header and rows.

The first step of :func:`geo.layers.read_facilities`: the text encoding of a CSV or JSON file,
the header row of a sheet (a title row above it is skipped, with a note), the first visible
sheet with a facility header of a workbook (merged cells filled down the rows they span), the
first layer of a GeoPackage, and geometries reprojected to lon/lat when a file declares
another CRS. What the cells mean (names, coordinates, tiers, hours) is :mod:`geo.layers`'s work.
Row labels are those a spreadsheet user sees (``row 2`` is the first data row under a header in
row 1; ``feature N`` and ``item N`` count from 1).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from geo.errors import InputError

#: normalised field -> accepted headers (compared after :func:`header_key`)
HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "设施编号", "站点编号", "code"),
    "name": ("名称", "name", "名字", "中心名称", "站点名称", "设施名称", "驿站名称", "阵地名称"),
    "lon": ("经度", "lon", "lng", "long", "longitude", "x"),
    "lat": ("纬度", "lat", "latitude", "y"),
    "lonlat": ("经纬度", "坐标", "lnglat", "lonlat", "location", "coordinates"),
    "tier": ("层级", "级别", "tier", "level"),
    "kind": ("类型", "类别", "kind", "type"),
    "opening_hours": ("开放时间", "营业时间", "服务时间", "opening_hours", "hours"),
    "stars": ("星级", "stars", "star"),
    "services": ("服务项目", "服务内容", "services"),
    "area_m2": ("面积", "建筑面积", "area_m2", "area"),
    "address": ("地址", "address", "addr"),
    "crs": ("坐标系", "crs"),
}
EMPTY = "the file is empty: expected a header row (名称, 经度, 纬度...) and one row per facility"
#: a header is looked for in the first rows of a sheet (title rows above it are skipped).
HEADER_SEARCH_ROWS = 10
#: the characters an Excel cell holds (:data:`geo.tables.EXCEL_TEXT`): the plan writes its tables
#: as XLSX too, so a longer text cell is refused when the file is read, not when a plan ends.
CELL_TEXT = 32_767


def cell_text(value: object) -> str | None:
    """A cell as trimmed text; None for empty/NaN. Whole floats lose their ``.0`` (ids, stars)."""
    if type(value) is str:  # CSV cells: the common case first
        return value.strip() or None
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return None
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    s = str(value).strip()
    return s or None


def _reduced(h: object) -> str:
    """A header as NFKC lower case without brackets (and what is in them), spaces or separators."""
    s = re.sub(r"\(.*?\)|\[.*?\]|【.*?】", "", unicodedata.normalize("NFKC", str(h)).strip().lower(), flags=re.DOTALL)
    return re.sub(r"[\s_\-*:]", "", s)


ALIASES = {_reduced(a): f for f, names in HEADERS.items() for a in names}
#: words naming a coordinate system in a coordinate column's header (``经度(百度)``, ``gcj02_lng``,
#: ``高德经度``), compared as :func:`_reduced` leaves them and without a trailing 坐标/坐标系.
#: CGCS2000 (天地图, the national system) differs from WGS84 by centimetres: read as WGS84.
HEADER_SYSTEMS: dict[str, str] = {
    **dict.fromkeys(("百度", "baidu", "bd09", "bd09ll", "bd", "百度地图"), "bd09"),
    **dict.fromkeys(
        ("高德", "腾讯", "火星", "国测局", "gcj02", "gcj", "amap", "gaode", "tencent", "高德地图", "腾讯地图"), "gcj02"
    ),
    **dict.fromkeys(("wgs84", "wgs", "gps", "84", "epsg4326", "4326", "cgcs2000", "2000", "天地图"), "wgs84"),
}
_SYSTEM_WORDS = sorted(HEADER_SYSTEMS, key=len, reverse=True)
_COORDINATE_FIELDS = ("lon", "lat", "lonlat")


def header_key(h: object) -> str:
    """A column header reduced for matching: NFKC, lower case, no brackets, spaces or separators.

    A coordinate header that carries the name of its coordinate system before or after the
    usual name (``bd_lon``, ``高德经度``, ``lat_wgs84``) is reduced to that usual name.
    """
    key = _reduced(h)
    named = _system_word(key)
    return named[0] if named else key


def header_system(h: object) -> str | None:
    """The coordinate system a column header names (``wgs84``, ``gcj02``, ``bd09``), or None.

    In brackets (``经度(百度)``, ``纬度（GCJ-02）``, ``经度 [WGS-84]``) or before or after the
    name of a coordinate column (``bd_lon``, ``gcj02_lng``, ``百度经度``).
    """
    text = unicodedata.normalize("NFKC", str(h)).strip().lower()
    for inside in re.findall(r"\((.*?)\)|\[(.*?)\]|【(.*?)】", text, flags=re.DOTALL):
        word = re.sub(r"(坐标系统|坐标系|坐标)$", "", re.sub(r"[\s_\-*:]", "", "".join(inside)))
        if word in HEADER_SYSTEMS:
            return HEADER_SYSTEMS[word]
    named = _system_word(_reduced(h))
    return HEADER_SYSTEMS[named[1]] if named else None


def system_prefixed(h: object) -> bool:
    """Whether a header is a coordinate header only with a system's name before or after it (``lon_gcj02``)."""
    return _system_word(_reduced(h)) is not None


def _system_word(key: str) -> tuple[str, str] | None:
    """(coordinate header, system word) of a reduced header such as ``bdlon``; None for others."""
    if key in ALIASES:
        return None
    for word in _SYSTEM_WORDS:
        rest = key[len(word) :] if key.startswith(word) else key[: -len(word)] if key.endswith(word) else None
        if rest and ALIASES.get(rest) in _COORDINATE_FIELDS:
            return rest, word
    return None


# ------------------------------------------------------------------------------ raw reading
@dataclass
class Raw:
    """A file as header + rows of cells, with the label of each row and, maybe, its geometry."""

    header: list[str]
    rows: list[list[object]]
    labels: list[str]
    geoms: list | None = None
    problems: list[str] = field(default_factory=list)
    #: the sheets of a workbook looked at when none has a facility header ("" otherwise)
    sheets: str = ""


def _zip_kind(data: bytes) -> str:
    """What a zip archive saved under a text name is, and what to do with it."""
    import zipfile  # noqa: PLC0415 - only for a zip named as text

    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError):
        names = []
    if not names or any(n.startswith("xl/") for n in names):  # (a damaged zip: most likely a workbook)
        return "this is an Excel workbook saved under a text name: rename it to .xlsx"
    shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
    return f"this is a zip archive ({shown}), not a text file: unzip it and give the file inside"


def _decode(data: bytes, src: str, notes: list[str]) -> str:
    """Text of a CSV/JSON file: BOM, else strict UTF-8, else GB18030 (a superset of GBK), else a guess."""
    if data.startswith(b"PK\x03\x04"):
        raise InputError(src, [_zip_kind(data)])
    if re.match(rb"\s*(<!doctype\s+html|<html)", data[:1024].lstrip(b"\xef\xbb\xbf"), re.IGNORECASE):
        raise InputError(
            src, ["is a web page (HTML), not a data file: save the data itself (export it as CSV or XLSX)"]
        )
    boms = {b"\xef\xbb\xbf": "utf-8-sig", b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}
    bom = next((enc for b, enc in boms.items() if data.startswith(b)), None)
    binary = bom is None and b"\x00" in data  # NUL bytes outside UTF-16: not text
    tries = [(bom, "UTF-16" if bom == "utf-16" else None)] if bom else [("utf-8", None), ("gb18030", "GBK/GB18030")]
    for enc, label in [] if binary else tries:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        notes += [f"{src}: read as {label} text"] if label else []
        return text
    if bom is None and not binary:
        from charset_normalizer import from_bytes  # noqa: PLC0415 - only for text neither UTF nor GB18030

        best = from_bytes(data).best()
        if best is not None:
            notes.append(f"{src}: read as {best.encoding} text (a guess: UTF-8 is safer)")
            return str(best)
    raise InputError(
        src,
        [
            (
                "cannot read the text encoding (not UTF-8, GBK/GB18030 or UTF-16): "
                "save it as UTF-8 (Excel: 'CSV UTF-8') or GBK"
            )
        ],
    )


def _grid_raw(grid: Sequence[Sequence[object]], src: str, notes: list[str]) -> Raw:
    """A sheet (rows of cells, row 1 first) -> header + data rows labelled as the spreadsheet shows them."""
    width = max((len(r) for r in grid), default=0)
    grid = [list(r) + [None] * (width - len(r)) for r in grid]
    filled = [i for i, r in enumerate(grid) if any(cell_text(c) is not None for c in r)]
    if not filled:
        raise InputError(src, [EMPTY])
    found = _header_row(grid, filled)
    h = filled[0] if found is None else found
    if h != filled[0]:
        above = [t for i in filled if i < h for c in grid[i] if (t := cell_text(c)) is not None]
        notes.append(f"{src}: the header is row {h + 1}; rows above it were skipped ({', '.join(above)})")
    data = [i for i in filled if i > h]
    keep = [j for j in range(width) if any(cell_text(grid[i][j]) is not None for i in [h, *data])]
    blank = sorted(set(range(h + 1, data[-1] if data else h)) - set(data))
    if blank:
        notes.append(f"{src}: empty rows skipped: {', '.join(str(i + 1) for i in blank)}")
    header = [cell_text(grid[h][j]) or f"column {j + 1}" for j in keep]
    return Raw(header, [[grid[i][j] for j in keep] for i in data], [f"row {i + 1}" for i in data])


def _header_row(grid: Sequence[Sequence[object]], filled: Sequence[int]) -> int | None:
    """The index of the header row (names and coordinates) among the first filled rows; None if none is."""
    for i in filled[:HEADER_SEARCH_ROWS]:  # a title row above the header is common in office lists
        found = {ALIASES.get(header_key(c)) for c in grid[i] if cell_text(c) is not None}
        if "name" in found and ({"lon", "lat"} <= found or "lonlat" in found):
            return i
    return None


def _read_xlsx(path: Path, src: str, notes: list[str]) -> Raw:
    """The first visible sheet of a workbook with a facility header, merged cells filled down.

    Hidden sheets and sheets without a 名称/经度/纬度 header (a cover or notes sheet) are passed
    over, and a note says which sheet was read; when no sheet has such a header the first
    visible sheet is read (its missing columns are then an error naming the sheets looked at:
    :attr:`Raw.sheets`). A merged range's value stands in every row the range spans (Excel
    keeps it in the first row only).
    """
    import openpyxl  # noqa: PLC0415 - workbooks only (pandas' reader leaves merged ranges out)

    book = openpyxl.load_workbook(path, data_only=True, keep_links=False)
    try:
        looked: list[str] = []
        chosen = None
        first_visible = None  # the sheet read, as it is, when none has a facility header
        for ws in book.worksheets:
            if ws.sheet_state != "visible":
                looked.append(f"{ws.title!r} (hidden)")
                continue
            grid = _sheet_grid(ws)
            first_visible = first_visible or (ws, grid)
            filled = [i for i, r in enumerate(grid) if any(cell_text(c) is not None for c in r)]
            if _header_row(grid, filled) is not None:
                chosen = ws, grid
                break
            looked.append(f"{ws.title!r} ({'empty' if not filled else 'no 名称/经度/纬度 header'})")
        every = [str(ws.title) for ws in book.worksheets]
        found = chosen is not None
        passed = looked if found else []
        if chosen is None:  # no sheet has a facility header: the first visible one (else the first), as it is
            chosen = first_visible or (book.worksheets[0], _sheet_grid(book.worksheets[0]))
        ws, grid = chosen
        merged = _fill_merged(ws, grid)
    finally:
        book.close()
    title = str(ws.title)
    if len(every) > 1:
        after = every[len(passed) + 1 :] if passed else [t for t in every if t != title]
        what = "the first sheet" if title == every[0] else "the sheet"
        why = f" (the first visible one with a facility header; passed over: {', '.join(passed)})" if passed else ""
        rest = f"; other sheets ignored: {', '.join(after)}" if after else ""
        notes.append(f"{src}: read {what} {title!r}{why}{rest}")
    if merged:
        shown = ", ".join(merged[:10]) + (f" and {len(merged) - 10} more" if len(merged) > 10 else "")
        notes.append(f"{src}: merged cells filled into every row they span: {shown}")
    raw = _grid_raw(grid, src, notes)
    raw.sheets = "" if found or len(every) == 1 else ", ".join(looked)
    return raw


def _sheet_grid(ws: object) -> list[list[object]]:
    """A worksheet's cells as values (row 1 first): errors such as #N/A empty, whole numbers as int."""
    rows = []
    for row in ws.iter_rows():  # type: ignore[attr-defined]
        cells: list[object] = []
        for c in row:
            v = c.value
            if v is None or c.data_type == "e":
                v = None
            elif c.data_type == "n" and isinstance(v, float) and v.is_integer():
                v = int(v)
            cells.append(v)
        rows.append(cells)
    return rows


def _fill_merged(ws: object, grid: list[list[object]]) -> list[str]:
    """Copy each merged range's value down the rows it spans (its first column); the ranges filled."""
    filled = []
    for rng in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col)):  # type: ignore[attr-defined]
        if rng.max_row == rng.min_row or rng.min_row > len(grid):
            continue
        j = rng.min_col - 1
        value = grid[rng.min_row - 1][j] if j < len(grid[rng.min_row - 1]) else None
        if value is None:
            continue
        for r in range(rng.min_row, min(rng.max_row, len(grid))):
            grid[r] += [None] * (j + 1 - len(grid[r]))
            grid[r][j] = value
        filled.append(f"{rng.coord} ({cell_text(value)!r})")
    return filled


def long_cells(raw: Raw, per_row: list[list[str]]) -> None:
    """Text cells longer than :data:`CELL_TEXT` characters as problems of their rows (``per_row``).

    Refused rather than cut: no facility field is that long unless a paste went wrong, and a
    name or id cut short would no longer match the planner's own list.
    """
    for i, row in enumerate(raw.rows):
        for j, v in enumerate(row):
            if type(v) is str and len(v) > CELL_TEXT:
                per_row[i].append(
                    f"{raw.header[j]} {v[:20]!r}... holds {len(v):,} characters, more than the {CELL_TEXT:,} "
                    "an Excel cell holds (the plan's tables are also written as .xlsx) — shorten it"
                )


def _frame_raw(df: pd.DataFrame, label: str, first: int, geoms: list | None = None) -> Raw:
    """A data frame (columns, rows) as header + rows, rows labelled from ``first`` on."""
    rows = df.astype(object).to_numpy().tolist() if len(df.columns) else [[] for _ in range(len(df))]
    return Raw([str(c) for c in df.columns], rows, [f"{label} {i + first}" for i in range(len(df))], geoms)


def _delimiter(text: str) -> str:
    """The delimiter of a CSV text.

    Of ``,``, tab, ``;`` and ``|``, the one that splits the most of the first lines into the
    same number (at least two) of fields, the header among them. (Counting characters took
    ``;`` for a comma-separated file whose opening hours are written ``Mo 08:00-12:00; Sa
    09:00-11:00``.)
    """
    lines = [ln for ln in text.splitlines() if ln.strip()][: 2 * HEADER_SEARCH_ROWS]
    best, best_score = ",", (-1, False, 0)  # ties go to the comma
    for d in ",\t;|":
        try:
            widths = [len(r) for r in csv.reader(lines, delimiter=d)]
        except csv.Error:
            continue
        common = max(set(widths), key=lambda w: (widths.count(w), w)) if widths else 1
        if common < 2:
            continue
        score = (widths.count(common), widths[0] == common, common)
        if score > best_score:
            best, best_score = d, score
    return best


def read_raw(path: Path, src: str, notes: list[str]) -> Raw:
    """A table file's header, rows and geometries as read (no checks of the values yet)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = _decode(path.read_bytes(), src, notes)
        delim = _delimiter(text)
        try:
            return _grid_raw(list(csv.reader(io.StringIO(text, newline=""), delimiter=delim)), src, notes)
        except csv.Error as err:
            if "field limit" in str(err):  # the csv module's own limit, far above an Excel cell's
                raise InputError(
                    src,
                    [
                        (
                            f"a cell holds more than {csv.field_size_limit():,} characters, more than the "
                            f"{CELL_TEXT:,} an Excel cell holds — shorten it (a quote left open runs to the end)"
                        )
                    ],
                ) from None
            raise InputError(src, [f"cannot be read as CSV ({err})"]) from None
    if suffix in (".geojson", ".json"):
        return _read_json(_decode(path.read_bytes(), src, notes), src, notes)
    try:
        if suffix == ".xlsx":
            return _read_xlsx(path, src, notes)
        if suffix == ".parquet":
            try:
                gdf = gpd.read_parquet(path)
            except ValueError:  # no "geo" metadata: a plain table with coordinate columns
                return _frame_raw(pd.read_parquet(path), "row", 2)
        else:
            import pyogrio  # noqa: PLC0415 - ~25 ms to import (GDAL): only files GDAL reads need it

            with warnings.catch_warnings():  # GDAL's complaints about a broken file: the error below says it
                warnings.simplefilter("ignore", RuntimeWarning)
                layers = [str(r[0]) for r in pyogrio.list_layers(path)]
                if len(layers) > 1:
                    notes.append(
                        f"{src}: read the first layer {layers[0]!r}; other layers ignored: {', '.join(layers[1:])}"
                    )
                gdf = gpd.read_file(path, engine="pyogrio", layer=layers[0] if layers else None)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - openpyxl, pyogrio and pyarrow raise many types for a broken file
        raise InputError(src, [f"cannot be read as {suffix[1:].upper()} ({type(err).__name__}: {err})"]) from None
    geoms = to_4326(gdf.geometry, gdf.crs, src, notes)
    return _frame_raw(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), "feature", 1, geoms)


def to_4326(geoms: Iterable, crs: object, src: str, notes: list[str]) -> list:
    """Geometries in a file's declared CRS -> lon/lat (a note says so); undeclared: taken as given."""
    s = gpd.GeoSeries(list(geoms), crs=crs)
    if crs is None or s.crs.to_epsg() == 4326 or s.crs.equals("OGC:CRS84"):
        return list(s.values)
    xy = shapely.get_coordinates(s.values)
    if s.crs.is_projected and len(xy) and np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90):
        raise InputError(
            src,
            [
                (
                    f"declares {s.crs.name} (a CRS in metres), but every coordinate lies within ±180, ±90: they "
                    f"look like longitude/latitude (the first: {xy[0, 0]:g}, {xy[0, 1]:g}) — declare EPSG:4326, or "
                    "remove the declared CRS, so they are read as degrees"
                )
            ],
        )
    notes.append(f"{src}: reprojected from {s.crs.name} to WGS84")
    return list(s.to_crs(4326).values)


def _read_json(text: str, src: str, notes: list[str]) -> Raw:
    """A GeoJSON FeatureCollection/Feature, or a list of records (e.g. with a 'location' column)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(src, [f"is not valid JSON (line {err.lineno} column {err.colno}: {err.msg})"]) from None
    except RecursionError:
        raise InputError(src, ["is nested too deeply to be a table of facilities"]) from None
    if isinstance(doc, dict) and doc.get("type") in ("Feature", "FeatureCollection"):
        feats, problems = _features(doc, src)
        props = [f.get("properties") or {} for f in feats]
        columns = list(dict.fromkeys(k for p in props for k in p))
        geoms: list[object] = [None] * len(feats)
        raw = _frame_raw(
            pd.DataFrame.from_records(props, columns=columns)
            if columns
            else pd.DataFrame(index=pd.RangeIndex(len(props))),
            "feature",
            1,
            geoms,
        )
        raw.problems += problems
        for i, f in enumerate(feats):
            try:
                geoms[i] = shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None
            except Exception as err:  # noqa: BLE001 - shapely raises several types for a malformed geometry
                raw.problems.append(f"feature {i + 1}: the geometry cannot be read ({err}) — give a Point")
        declared = ((doc.get("crs") or {}).get("properties") or {}).get("name")  # pre-RFC 7946 files
        try:
            raw.geoms = to_4326(geoms, declared, src, notes)
        except Exception as err:  # noqa: BLE001 - pyproj raises CRSError, a ValueError, for unknown names
            raise InputError(src, [f"its crs {declared!r} is not a coordinate system pyproj knows ({err})"]) from None
        return raw
    if isinstance(doc, dict):  # {"pois": [...]} as map APIs answer
        lists = [v for v in doc.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        doc = lists[0] if len(lists) == 1 else doc
    if isinstance(doc, list) and all(isinstance(x, dict) for x in doc):
        return _frame_raw(pd.DataFrame.from_records(doc), "item", 1)
    raise InputError(src, ["is neither a GeoJSON FeatureCollection nor a list of records with names and coordinates"])


def _features(doc: dict, src: str) -> tuple[list[dict], list[str]]:
    """The features of a GeoJSON Feature/FeatureCollection as dicts whose ``properties`` is a dict.

    Features and properties of the wrong JSON type become problems (and empty stand-ins).
    """
    found: object = [doc] if doc["type"] == "Feature" else doc.get("features")
    if found is None:
        found = []
    if not isinstance(found, list):
        raise InputError(src, [f"'features' is a {_json_type(found)}: expected a list of GeoJSON features"])
    out: list[dict] = []
    problems: list[str] = []
    for i, item in enumerate(found, start=1):
        f = item if isinstance(item, dict) else {}
        if not isinstance(item, dict):
            problems.append(f"feature {i}: is a {_json_type(item)}, not a GeoJSON Feature object")
        props = f.get("properties")
        if props is not None and not isinstance(props, dict):
            problems.append(
                f'feature {i}: \'properties\' is a {_json_type(props)}: expected an object such as {{"name": "..."}}'
            )
            f = {**f, "properties": {}}
        out.append(f)
    return out, problems


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type (object, list, number, text...)."""
    return {dict: "JSON object", list: "list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__
    )
