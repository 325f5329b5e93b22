"""The merged outputs of ``circles batch``: ``OUT/merged/``, written after every area, all at once.

The folder is filled as a temporary one and put in place whole (:func:`geo.outputs.write_folder`,
with its ``outputs.json``), so an interrupted merge leaves the previous merged set or the new one.
They are made from what the area folders hold (so areas done by an earlier run count too): each
area's ``merge.pack`` (its layers and street rows, packed by its task: :func:`pack_merge`) and
``coverage.json``:

- ``province.gpkg``: layers ``circles``, ``gaps``, ``facilities`` (every area's, with an ``area``
  column) and ``areas`` (each area's boundary with its row of the area table);
- ``areas.csv`` / ``areas.xlsx``: one row per area, ranked by the people the first layer
  covers within the longest threshold; failed areas last, with their error;
- ``streets.csv`` / ``streets.xlsx``: one row per street and community inside each area;
- ``coverage.json``: each area's ``coverage.json`` and the totals over the areas;
- ``index.html``: an offline map (Leaflet inlined as in ``map.html``) of each area's coverage,
  each area linking to its own ``map.html`` (``../areas/<name>/map.html``).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.cells import csv_unescaped
from geo.io import atomic_write, feature_collection_text, write_gpkg, write_json, write_text
from geo.outputs import write_folder
from geo.packing import Packer, Unpacked
from geo.store import StoreError
from geo.tables import check_sheet, csv_safe
from maps.assets import leaflet_assets
from maps.display import safe_json
from maps.labels import detect_lang
from maps.tiles import tile_spec

if TYPE_CHECKING:
    from geo.batch import BatchArea

#: the share classes of the index map (upper bounds) and their colours, red (low) to green
SHARE_BREAKS = (0.2, 0.4, 0.6, 0.8, 1.01)
SHARE_COLOURS = ("#d7301f", "#fc8d59", "#fee08b", "#91cf60", "#1a9850")
FAILED_COLOUR = "#9e9e9e"
#: the folder of the merged outputs, in the batch's folder
MERGED = "merged"
#: the layers of each area that province.gpkg merges
LAYERS = ("circles", "gaps", "facilities")


def _read_layer(folder: Path, name: str, fmt: str) -> gpd.GeoDataFrame | None:
    """The layer ``name`` an area's folder holds, or None when it holds none (or an empty one)."""
    path = folder / ("plan.gpkg" if fmt == "gpkg" else f"{name}.geojson")
    if not path.is_file():
        return None
    gdf = gpd.read_file(path, layer=name) if fmt == "gpkg" else gpd.read_file(path)
    return gdf if len(gdf) else None


def area_row(name: str, level: str | None, coverage: dict) -> dict:
    """One row of the area table.

    Homes, people, and per layer and threshold the shares and counts covered (first profile).
    """
    row = {
        "area": name,
        "level": level,
        "status": "done",
        "homes": coverage.get("homes"),
        "people": coverage.get("people"),
    }
    for layer, doc in (coverage.get("layers") or {}).items():
        for m, f in doc["minutes"].items():
            row[f"{layer}_{m}min_people_share"] = f["people_share"]
            row[f"{layer}_{m}min_people_covered"] = f["people_covered"]
            row[f"{layer}_{m}min_homes_covered"] = f["homes_covered"]
    return row


def rank_key(coverage: dict) -> tuple[str, str] | None:
    """The figure areas are ranked by: the first layer's share of people within its longest threshold."""
    layers = coverage.get("layers") or {}
    if not layers:
        return None
    layer = next(iter(layers))
    longest = max(layers[layer]["minutes"], key=float)
    return layer, longest


def totals(coverages: list[dict]) -> dict:
    """Homes and people covered per layer and threshold, summed over the areas, with shares."""
    out: dict = {}
    for cov in coverages:
        for layer, doc in (cov.get("layers") or {}).items():
            for m, f in doc["minutes"].items():
                t = out.setdefault(layer, {}).setdefault(
                    m, {"homes": 0, "homes_covered": 0, "people": 0, "people_covered": 0}
                )
                for k in t:
                    t[k] += int(f[k])
    for layer in out.values():
        for t in layer.values():
            t["homes_share"] = round(t["homes_covered"] / t["homes"], 4) if t["homes"] else 0.0
            t["people_share"] = round(t["people_covered"] / t["people"], 4) if t["people"] else 0.0
    return out


def table_writer(table: pd.DataFrame, kind: str) -> Callable[[Path], None]:
    """What writes ``table`` to a (temporary) path: CSV with a BOM (Excel reads it as UTF-8), or XLSX.

    In the CSV, text Excel would read as a formula gets a leading ``'`` (:func:`geo.tables.csv_safe`).
    """

    def write(path: Path) -> None:
        if kind == "csv":
            csv_safe(table).to_csv(path, index=False, encoding="utf-8-sig")
        else:
            plain_sheet(path, table)

    return write


def plain_sheet(path: Path, table: pd.DataFrame) -> None:
    """``table`` as the one sheet ``Sheet1`` of a workbook, as ``table.to_excel(path, index=False)`` lays it out.

    The header row, then one row per table row; numbers and booleans as such, other values as
    text, missing values as empty cells and infinities as the text ``inf``/``-inf``; no styles.
    Written with XlsxWriter row by row in constant memory: ~4 times less CPU than pandas' writer
    with openpyxl (the 1,591 street rows of a 4-tile province: 0.12 s against 0.46 s).
    A table Excel cannot hold (too many rows, too long a text) is refused before anything is
    written (:func:`geo.tables.check_sheet`).
    """
    import xlsxwriter

    check_sheet(table, file=path.name, sheet="Sheet1")
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    try:
        ws = book.add_worksheet("Sheet1")
        for j, head in enumerate(table.columns):
            ws.write_string(0, j, str(head))
        columns = [_cells(table[c]) for c in table.columns]
        number, text, boolean = ws.write_number, ws.write_string, ws.write_boolean
        for i in range(len(table)):
            for j, values in enumerate(columns):
                v = values[i]
                if v is None:
                    continue
                kind = type(v)
                if kind is float:
                    number(i + 1, j, v)
                elif kind is bool:
                    boolean(i + 1, j, v)
                else:
                    text(i + 1, j, v)
    finally:
        book.close()


def _cells(col: pd.Series) -> list:
    """A column's cell values: float, bool or str, None for an empty cell (missing values)."""
    if col.dtype.kind in "iuf":
        a = col.to_numpy(dtype=float, na_value=np.nan)
        return [_number(v) for v in a.tolist()]
    return [_value(v) for v in col.to_numpy(dtype=object).tolist()]


def _number(f: float) -> float | str | None:
    if math.isnan(f):
        return None
    return f if not math.isinf(f) else ("inf" if f > 0 else "-inf")


def _value(v: object) -> float | bool | str | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return _number(float(v))
    return str(v)


def _read_layers(folder: Path, area: str, fmt: str) -> dict[str, gpd.GeoDataFrame]:
    """An area's merged layers (those it holds) read from its layer files, each with an ``area`` column."""
    layers = {}
    for name in LAYERS:
        gdf = _read_layer(folder, name, fmt)
        if gdf is not None:
            gdf.insert(0, "area", area)
            layers[name] = gdf
    return layers


def _area_streets(folder: Path, area: str) -> pd.DataFrame:
    """An area's street rows (its ``streets.csv``, text as it was before the CSV escaping) with an ``area`` column.

    Empty when it has none.
    """
    try:
        s = csv_unescaped(pd.read_csv(folder / "streets.csv", encoding="utf-8-sig"))
    except (FileNotFoundError, pd.errors.EmptyDataError):  # no file, or an area without homes and headers
        return pd.DataFrame()
    if len(s):
        s.insert(0, "area", area)
    return s


#: the file of an area's folder holding what the merge takes from it (:func:`pack_merge`)
MERGE_PACK = "merge.pack"
MERGE_KIND = "service-circles batch merge"
MERGE_VERSION = 2  # 2: with the street rows


def pack_merge(layers: dict[str, gpd.GeoDataFrame | None], streets: list[dict], *, area: str) -> bytes:
    """What the merge takes from one planned area, packed: its layers (WGS84) and its street rows.

    Made by the area's task from the frames it has just written (:mod:`geo.packing`: arrays,
    WKB and JSON under a CRC-32, never pickle), so the merge reads a few milliseconds per area
    instead of parsing every area's layer files again (~22 ms per area, most of the merge), and
    takes the street rows as they were made (the area's ``streets.csv`` has its formula-like
    text escaped for Excel). Each layer and the street rows get an ``area`` column first; empty
    ones are left out.
    """
    pk = Packer()
    tables = {}
    for name in LAYERS:
        gdf = layers.get(name)
        if gdf is None or not len(gdf):
            continue
        gdf = gdf.to_crs(4326) if gdf.crs is not None and gdf.crs.to_epsg() != 4326 else gdf.copy()
        gdf.insert(0, "area", area)
        tables[name] = pk.table(gdf)
    s = pd.DataFrame(streets)
    if len(s):
        s.insert(0, "area", area)
    doc = {
        "kind": MERGE_KIND,
        "version": MERGE_VERSION,
        "area": area,
        "layers": tables,
        "streets": pk.table(s) if len(s) else None,
    }
    return pk.pack(doc)


def read_merge(
    folder: Path, area: str, fmt: str, *, warn: Callable[[str], None] | None = None
) -> tuple[dict[str, gpd.GeoDataFrame], pd.DataFrame]:
    """An area's layers and street rows for the merge, each with an ``area`` column.

    From the folder's :data:`MERGE_PACK`; where that is missing or damaged (or made for
    another area), from the layer files and ``streets.csv`` themselves, and ``warn`` says so.
    """
    path = folder / MERGE_PACK
    try:
        return _unpack_merge(path, area)
    except (OSError, StoreError, AttributeError, KeyError, TypeError, ValueError) as err:
        if warn is not None:
            warn(f"{area}: {err}; its layers and streets are read from its files instead")
        return _read_layers(folder, area, fmt), _area_streets(folder, area)


def _unpack_merge(path: Path, area: str) -> tuple[dict[str, gpd.GeoDataFrame], pd.DataFrame]:
    """The layers and street rows a :data:`MERGE_PACK` holds; raises when it is damaged or not the area's."""
    u = Unpacked(path.read_bytes(), label=str(path))
    doc = u.manifest
    if doc.get("kind") != MERGE_KIND or doc.get("version") != MERGE_VERSION:
        raise StoreError(f"{path}: not a merge file of this version ({doc.get('kind')!r}, {doc.get('version')!r})")
    if doc.get("area") != area:
        raise StoreError(f"{path}: made for the area {doc.get('area')!r}")
    layers = {str(k): u.table(e) for k, e in doc["layers"].items() if k in LAYERS}
    if not all(isinstance(t, gpd.GeoDataFrame) for t in layers.values()):
        raise StoreError(f"{path}: a layer without geometry")
    streets = u.table(doc.get("streets"))
    return layers, streets if streets is not None else pd.DataFrame()


def province_gpkg(frames: dict[str, list[gpd.GeoDataFrame]], area_layer: gpd.GeoDataFrame, *, dest: Path) -> Path:
    """Write ``dest/province.gpkg``: the areas' layers (``frames``: name -> each area's) and ``area_layer``."""
    layers = {
        k: gpd.GeoDataFrame(pd.concat(v, ignore_index=True), geometry="geometry", crs=4326)
        for k, v in frames.items()
        if v
    }
    layers["areas"] = area_layer
    return write_gpkg(Path(dest) / "province.gpkg", layers)


def merged_tables(out: Path, table: pd.DataFrame, street_table: pd.DataFrame, doc: dict, *, index: str) -> list[str]:
    """Write the merged tables (``areas``/``streets`` as CSV and XLSX), ``coverage.json`` and ``index.html``.

    Given everything they hold (``index``: the index map's HTML), so that a worker of the
    batch's cluster can write them while the driver writes ``province.gpkg``. Returns the paths.
    """
    out = Path(out)
    written = []
    for stem, t in (("areas", table), ("streets", street_table)):
        written.append(atomic_write(out / f"{stem}.csv", table_writer(t, "csv")))
        written.append(atomic_write(out / f"{stem}.xlsx", table_writer(t, "xlsx")))
    written.append(write_json(out / "coverage.json", doc))
    written.append(write_text(out / "index.html", index))
    return [str(p) for p in written]


#: the most characters of an error the area table shows (an Excel cell holds 32,767)
ERROR_CHARS = 1000


def _short(error: str, key: str) -> str:
    """An area's error as its row shows it: cut at :data:`ERROR_CHARS`, pointing to its log for the rest."""
    if len(error) <= ERROR_CHARS:
        return error
    return error[:ERROR_CHARS] + f"… (cut: the whole error is in logs/{key}.log and coverage.json)"


def _ranked(table: pd.DataFrame, coverages: list[dict]) -> tuple[pd.DataFrame, str | None]:
    """The area table ranked by the column of :func:`rank_key` (failed areas last), and that column."""
    rank = next((rank_key(c) for c in coverages if rank_key(c)), None)
    col = f"{rank[0]}_{rank[1]}min_people_share" if rank else None
    if col and col in table:
        table = (
            table.assign(_failed=table["status"] == "failed")
            .sort_values(["_failed", col, "area"], ascending=[True, False, True], kind="stable")
            .drop(columns="_failed")
        )
        table.insert(0, "rank", [None if st == "failed" else i for i, st in enumerate(table["status"], 1)])
    return table, col


def write_merged(  # noqa: PLR0913 - the batch's outcome, its options, and how to report and run
    out: Path,
    areas: list[BatchArea],
    outcomes: dict[str, dict],
    *,
    fmt: str,
    tiles: str,
    lang: str | None,
    meta: dict,
    warn: Callable[[str], None] | None = None,
    start: Callable[..., Callable[[], Any]] | None = None,
) -> list[Path]:
    """Write the merged outputs of a batch into ``out``; returns the files written.

    Each area's layers and street rows come from its :data:`MERGE_PACK` (:func:`read_merge`;
    ``warn`` says which had to be read from the area's files). ``province.gpkg`` is written here
    by :func:`province_gpkg`; the tables, ``coverage.json`` and ``index.html``
    by :func:`merged_tables`, through ``start`` when given: ``start(fn, *args, **kwargs)`` runs
    ``fn`` elsewhere (a worker of the batch's cluster: what it is given is small, the areas'
    rows) and returns a function waiting for its result, so both are written at once. Sheets
    Excel cannot hold are refused before any merged file is written. An area whose
    ``coverage.json`` is no longer readable is merged as failed, and ``outcomes`` says so.
    """
    out = Path(out).resolve()  # (a worker elsewhere writes into its temporary folder: no relative path)
    streets: list[pd.DataFrame] = []
    frames: dict[str, list[gpd.GeoDataFrame]] = {name: [] for name in LAYERS}
    rows, coverages, entries, boundaries = [], [], [], []
    for a in areas:
        folder = out / "areas" / a.key
        o = outcomes.get(a.key, {})
        cov = None
        if o.get("status") in ("done", "skipped") and (folder / "coverage.json").is_file():
            try:
                cov = json.loads((folder / "coverage.json").read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):  # changed on disk after the area was planned
                cov = None
            if not isinstance(cov, dict):
                o = outcomes[a.key] = {
                    **o,
                    "status": "failed",
                    "error": f"areas/{a.key}/coverage.json is not the coverage the batch wrote: delete the folder "
                    f"areas/{a.key} and run the batch again",
                }
        entry = {"area": a.area.name, "key": a.key, "level": a.area.level, "source": a.area.source}
        if cov is None:
            err = o.get("error") or "no outputs"
            rows.append({"area": a.area.name, "level": a.area.level, "status": "failed", "error": _short(err, a.key)})
            entries.append({**entry, "status": "failed", "error": err})
        else:
            rows.append(area_row(a.area.name, a.area.level, cov))
            coverages.append(cov)
            entries.append({**entry, "status": o["status"], "map": f"../areas/{a.key}/map.html", "coverage": cov})
            layers, s = read_merge(folder, a.area.name, fmt, warn=warn)
            for name, gdf in layers.items():
                frames[name].append(gdf)
            if len(s):
                streets.append(s)
        boundaries.append(a.area.geometry if a.area.geometry is not None and not a.area.geometry.is_empty else None)
    table, col = _ranked(pd.DataFrame(rows), coverages)
    street_table = pd.concat(streets, ignore_index=True) if streets else pd.DataFrame()
    for stem, t in (("areas", table), ("streets", street_table)):  # refused before any merged file is written
        check_sheet(t, file=f"{stem}.xlsx", sheet="Sheet1")
    area_layer = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=boundaries, crs=4326)
    doc = {
        "tool": "service-circles",
        "kind": "batch",
        **meta,
        "ranked_by": col,
        "areas_total": len(areas),
        "areas_planned": len(coverages),
        "failed": [{"area": e["area"], "error": e["error"]} for e in entries if e["status"] == "failed"],
        "totals": totals(coverages),
        "areas": entries,
    }
    index = index_html(area_layer, entries, col=col, tiles=tiles, lang=lang)

    def fill(tmp: Path) -> list[Path]:
        if start is not None:  # the tables on a worker, the GeoPackage here
            tables = start(merged_tables, tmp, table, street_table, doc, index=index)
        else:
            made = merged_tables(tmp, table, street_table, doc, index=index)
            tables = lambda: made  # noqa: E731 - the same waiter as start's
        try:
            gpkg = province_gpkg(frames, area_layer, dest=tmp)
        except BaseException:
            with contextlib.suppress(Exception):  # the worker's writing ends before its folder is removed
                tables()
            raise
        return [gpkg, *map(Path, tables())]

    return write_folder(out / MERGED, "batch-merged", fill)


# ------------------------------------------------------------------------------ the index map

WORDS = {
    "zh": {
        "title": "各区域服务圈覆盖率",
        "share": "覆盖人口比例",
        "homes": "住宅",
        "people": "人口",
        "failed": "失败",
        "open": "打开本区域地图",
        "none": "无数据",
    },
    "en": {
        "title": "Coverage by area",
        "share": "people covered",
        "homes": "homes",
        "people": "people",
        "failed": "failed",
        "open": "open the area's map",
        "none": "no data",
    },
}


def index_html(areas: gpd.GeoDataFrame, entries: list[dict], *, col: str | None, tiles: str, lang: str | None) -> str:
    """An offline map: each area shaded by ``col`` (a share), a popup linking to its own map."""
    lang = lang or detect_lang([e["area"] for e in entries])
    w = WORDS[lang]
    gdf = areas[["area", "level", "status"]].copy()
    gdf["share"] = areas[col] if col and col in areas else None
    if "people" in areas:  # an area without homes has no share to show
        gdf.loc[~(areas["people"].fillna(0) > 0), "share"] = None
    gdf["homes"] = areas.get("homes")
    gdf["people"] = areas.get("people")
    gdf["map"] = [e.get("map") for e in entries]
    gdf["error"] = [e.get("error") for e in entries]
    gdf = gdf.set_geometry(shapely.simplify(areas.geometry.values, 0.0002, preserve_topology=True))
    gdf = gdf[~gdf.geometry.isna()]
    data = feature_collection_text(gdf).replace("</", "<\\/")
    t = tile_spec(tiles)
    tile_js = (
        f"L.tileLayer({safe_json(t.url)}, {{maxZoom: 19, attribution: {safe_json(t.attribution)}}}).addTo(map);"
        if t.url
        else f"map.attributionControl.addAttribution({safe_json(t.attribution)});"
    )
    what = ""
    if col:
        layer, minutes = col.split("_")[0], col.split("_")[1].removesuffix("min")
        what = f"{layer} ≤{minutes} min"
    classes = safe_json([[b, c] for b, c in zip(SHARE_BREAKS, SHARE_COLOURS, strict=True)])
    legend = "".join(
        f'<div><i style="background:{c}"></i>{lo:.0%}–{min(b, 1):.0%}</div>'
        for lo, b, c in zip((0.0, *SHARE_BREAKS[:-1]), SHARE_BREAKS, SHARE_COLOURS, strict=True)
    )
    legend += f'<div><i style="background:{FAILED_COLOUR}"></i>{w["failed"]} / {w["none"]}</div>'
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{w["title"]}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{leaflet_assets().head()}
<style>html,body,#map{{height:100%;margin:0}}.legend{{background:#fff;padding:6px 8px;font:12px sans-serif;line-height:18px}}
.legend i{{width:14px;height:14px;float:left;margin-right:6px;opacity:.8}}</style></head>
<body><div id="map"></div><script>
var W = {safe_json(w)}, CLASSES = {classes}, FAILED = {safe_json(FAILED_COLOUR)};
var map = L.map("map");
{tile_js}
function colour(p) {{
  if (p.status === "failed" || p.share === null || p.share === undefined) return FAILED;
  for (var i = 0; i < CLASSES.length; i++) if (p.share < CLASSES[i][0]) return CLASSES[i][1];
  return CLASSES[CLASSES.length - 1][1];
}}
function esc(s) {{
  return String(s).replace(/[&<>"]/g, function (c) {{
    return {{"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}}[c];
  }});
}}
var layer = L.geoJSON({data}, {{
  style: function (f) {{ return {{color: "#444", weight: 1, fillColor: colour(f.properties), fillOpacity: 0.65}}; }},
  onEachFeature: function (f, l) {{
    var p = f.properties, html = "<b>" + esc(p.area) + "</b><br>";
    if (p.status === "failed") html += W.failed + ": " + esc(p.error || "");
    else html += W.share + ": " + (p.share === null ? W.none : (100 * p.share).toFixed(1) + "%") + "<br>" +
      W.homes + ": " + p.homes + " · " + W.people + ": " + p.people +
      "<br><a href=\\"" + encodeURI(p.map) + "\\">" + W.open + "</a>";
    l.bindPopup(html); l.bindTooltip(esc(p.area));
  }}
}}).addTo(map);
if (layer.getLayers().length) map.fitBounds(layer.getBounds()); else map.setView([30.25, 120.2], 10);
var legend = L.control({{position: "bottomright"}});
legend.onAdd = function () {{
  var d = L.DomUtil.create("div", "legend");
  d.innerHTML = "<b>" + W.share + "</b><br>" + esc({safe_json(what)}) + {safe_json(legend)};
  return d;
}};
legend.addTo(map);
</script></body></html>
"""
