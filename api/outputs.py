"""What a plan, a scenario or a siting run writes into its ``--out`` folder (all or nothing).

The CLI, the API and the province batch write through these functions, which compose the
engine's tables (:mod:`geo`) with the map (:mod:`maps`) into one folder written by
:func:`geo.outputs.write_folder`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.basemap import table_digest
from geo.cells import Cells, write_csv
from geo.io import atomic_write, write_geojson, write_gpkg, write_json, write_text
from geo.outputs import write_folder
from geo.saved import PLAN_FOLDER, save_plan, saved_file
from geo.tables import check_sheet, header, localised_cells, plan_tables
from maps.labels import LANGS, check_lang, detect_lang
from maps.parts import PARTS_FILE, MapParts
from maps.render import map_html

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

    from geo.areas import StudyArea
    from geo.plan import PlanResult
    from geo.siting import SitingResult
    from geo.whatif import ScenarioOutcome


def plan_files(
    result: PlanResult, tmp: Path, *, fmt: str = "geojson", map_options: dict | None = None, saved: bool = True
) -> list[Path]:
    """Write a plan's files into ``tmp`` (a folder being filled); return them."""
    written = [write_json(tmp / "coverage.json", result.coverage)]
    if fmt == "gpkg":
        layers = {"circles": result.circles, "gaps": result.gaps, "facilities": result.facilities}
        if result.area is not None:
            layers["area"] = study_area_frame(result.area)
        written.append(write_gpkg(tmp / "plan.gpkg", layers))
    else:
        written.append(write_geojson(tmp / "circles.geojson", result.circles, name="circles"))
        written.append(write_geojson(tmp / "gaps.geojson", result.gaps, name="gaps"))
        written.append(write_geojson(tmp / "facilities.geojson", result.facilities, name="facilities"))
        if result.area is not None:
            written.append(write_geojson(tmp / "area.geojson", study_area_frame(result.area), name="area"))
    # the tables (~1.5 s on a city) are written by a child process while this one draws the map
    # and keeps the plan: the two cores share the writing
    tables = beside(lambda: table_files(result, tmp, lang=(map_options or {}).get("lang")))
    options = {"parts": MapParts(), **(map_options or {})}  # the map's parts are kept with the plan
    digested = with_digests(result)  # the map's key and the saved plan's manifest both take them
    written.append(write_text(tmp / "map.html", map_html(digested, **options)))
    if saved:
        parts = options["parts"]
        save_plan(digested, tmp / PLAN_FOLDER, files={PARTS_FILE: parts.to_json()} if parts is not None else None)
        written.append(tmp / PLAN_FOLDER)
    return written + tables()


class _Digested(dict):
    """Base-map tables with their digests (``digests``: name -> :func:`geo.basemap.table_digest`)."""

    def __init__(self, tables: dict, digests: dict[str, str]) -> None:
        super().__init__(tables)
        self.digests = digests


def with_digests(result: PlanResult) -> PlanResult:
    """``result`` whose base-map tables carry their digests, made once.

    :func:`maps.basemap.basemap_key` (the map) and :func:`geo.saved.save_plan` (the manifest)
    each take a table's digest from ``extras.digests`` when it is there, as a saved plan's tables
    carry them, and make it otherwise: both made the same digests of the same tables (~5 ms per
    street of the province batch). ``result`` itself when there is nothing to add.
    """
    base = result.base
    extras = getattr(base, "extras", None)
    if base is None or not extras or getattr(extras, "digests", None) is not None:
        return result
    digests = {name: table_digest(t) for name, t in extras.items() if t is not None}
    return dataclasses.replace(result, base=dataclasses.replace(base, extras=_Digested(extras, digests)))


def saved_map_parts(plan_dir: Path | None) -> MapParts | None:
    """The parts of the map a saved plan keeps (:mod:`maps.parts`), for a follow-up's map; None without one."""
    return None if plan_dir is None else MapParts.from_json(saved_file(plan_dir, PARTS_FILE))


def beside(work: Callable[[], list[Path]]) -> Callable[[], list[Path]]:
    """Start ``work`` in a forked child process; return a function that waits for it.

    ``work`` writes files and returns their paths; the returned function returns those paths.

    Only a process's main thread on a POSIX machine with more than one core forks (a fork from
    another thread, as in a web server or a Dask worker, could copy a lock another thread holds);
    elsewhere ``work`` runs at once. Whatever goes wrong in the child (an error, a signal) is
    found again by running ``work`` here, so the caller sees the same error as without a child.
    """
    if os.name != "posix" or (os.cpu_count() or 1) < 2 or threading.current_thread() is not threading.main_thread():
        done = work()
        return lambda: done
    # the child's answer: the paths it wrote, as JSON through a pipe
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write, report the paths, leave without running the parent's exit hooks
        status = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as fh:
                fh.write(json.dumps([str(p) for p in work()]).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)

    def wait() -> list[Path]:
        with os.fdopen(read_end, "rb") as fh:
            data = fh.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not data:
            return work()  # the child failed: do it here, so its error is raised as usual
        return [Path(p) for p in json.loads(data)]

    return wait


def study_area_frame(area: StudyArea) -> gpd.GeoDataFrame:
    """The study area as a one-row table (WGS84): name, source, level and land area."""
    d = area.describe()
    return gpd.GeoDataFrame(
        {k: [d[k]] for k in ("name", "source", "level", "land_km2")}, geometry=[area.geometry], crs=4326
    )


def table_files(result: PlanResult, tmp: Path, *, lang: str | None = None) -> list[Path]:
    """Write ``tables.xlsx`` and ``tables/*.csv`` of a plan (:mod:`geo.tables`).

    The CSV files are UTF-8 with BOM, so Excel reads Chinese; headers are in ``lang`` (default: the
    language of the facility names).
    """
    lang = check_lang(lang) or detect_lang(result.facilities.get("name", []))
    sheets = {name: localised_cells(t, lang) for name, t in plan_tables(result).sheets().items()}
    written = [atomic_write(tmp / "tables" / f"{name}.csv", _csv_writer(t)) for name, t in sheets.items()]
    written.append(atomic_write(tmp / "tables.xlsx", lambda p: _workbook(p, sheets)))
    return written


def _csv_writer(table: pd.DataFrame | Cells) -> Callable[[Path], None]:
    """A function writing ``table`` (a frame or its cells) as CSV (UTF-8 with BOM) to the path it is given.

    Text Excel would read as a formula gets a leading ``'`` (:func:`geo.tables.csv_safe`); the bytes
    are those of pandas' ``to_csv`` (:func:`geo.cells.write_csv`).
    """
    cells = table if isinstance(table, Cells) else Cells.of(table)

    def write(path: Path) -> None:
        write_csv(cells, path)

    return write


def _workbook(path: Path, sheets: Mapping[str, pd.DataFrame | Cells]) -> None:
    """One sheet per table, shares shown as percentages, numbers kept as numbers.

    The summary sheet holds the coverage table under the items; every sheet's header row is frozen.
    ``sheets``: name -> a frame or its cells (:class:`geo.cells.Cells`).

    Written with XlsxWriter in memory (a plan's tables are small: ~100,000 cells for the central
    Hangzhou plan and its 5,900 gap rows): openpyxl took ~4 s for them; XlsxWriter's constant-memory
    mode, a temporary file per sheet, about 1.7 times the CPU of writing in memory.

    A sheet Excel cannot hold (too many rows, too long a text) is refused before anything is
    written (:func:`geo.tables.check_sheet`).
    """
    import xlsxwriter

    cells = {name: t if isinstance(t, Cells) else Cells.of(t) for name, t in sheets.items()}
    order = [("summary", [cells["summary"], cells["coverage"]])]
    order += [(name, [t]) for name, t in cells.items() if name not in ("summary", "coverage")]
    for name, tables in order:
        start = 0
        for t in tables:
            check_sheet(t, file=path.name, sheet=name, start=start)
            start += len(t) + 2
    book = xlsxwriter.Workbook(str(path), {"in_memory": True, "nan_inf_to_errors": True})
    try:
        bold, pct = book.add_format({"bold": True}), book.add_format({"num_format": "0.0%"})
        shares = {header(c, lang) for lang in LANGS for c in ("homes_share", "people_share")}
        for name, tables in order:
            ws = book.add_worksheet(name)
            ws.freeze_panes(1, 0)
            widths: dict[int, int] = {}
            row = 0
            for t in tables:
                row = _sheet_rows(ws, t, row, bold=bold, pct=pct, shares=shares, widths=widths) + 1
            for col, width in widths.items():
                ws.set_column(col, col, min(max(width + 2, 8), 48))
    finally:
        book.close()


def _shown(text: str) -> int:
    """The columns ``text`` takes on screen: wide (CJK) characters take two."""
    return len(text) * (1 if text.isascii() or max(map(ord, text)) <= 0x2E80 else 2)


def _sheet_rows(
    ws: Worksheet, cells: Cells, row: int, *, bold: Format, pct: Format, shares: set[str], widths: dict[int, int]
) -> int:
    """``cells`` written from ``row`` of ``ws`` (header in bold); the next free row.

    Numbers are written as numbers (shares, in columns whose header is in ``shares`` or says so,
    as percentages), booleans as booleans, anything else but missing values as text; the widths of
    the header and of the first 200 rows' text are kept in ``widths``. Cells are written row by row
    (XlsxWriter numbers shared strings in the order written; its constant-memory mode needs rows
    in order).
    """
    heads = [str(h) for h in cells.heads]
    for j, head in enumerate(heads):
        ws.write_string(row, j, head, bold)
        widths[j] = max(widths.get(j, 0), _shown(head))
    # each column's writes, made before the rows: (method, value, format) per cell, None for none
    writes = [
        _column_writes(ws, kind, values, pct if h in shares or "覆盖率" in h or " share" in h else None)
        for kind, values, h in zip(cells.kinds, cells.columns, heads, strict=True)
    ]
    string = ws.write_string
    for j, column in enumerate(writes):  # the text of the first 200 rows
        shown = [_shown(w[1]) for w in column[:200] if w is not None and w[0] == string]
        widths[j] = max(widths[j], *shown) if shown else widths[j]
    for i, row_writes in enumerate(zip(*writes, strict=True)):
        r = row + 1 + i
        for j, w in enumerate(row_writes):
            if w is not None:
                w[0](r, j, w[1], w[2])
    return row + 1 + len(cells)


def _cell_write(v: object) -> str | None:
    """How a cell is written: ``number``, ``boolean``, ``string``, or None (a missing value: nothing)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "boolean"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "number"
    return "string"


def _column_writes(ws: Worksheet, kind: str, values: np.ndarray, share: Format | None) -> list:
    """Per cell of a column, ``(write method, value, format)``, or None where nothing is written.

    ``share``: the format of numbers from 0 to 1 (a share column), or None.
    """
    number, boolean, string = ws.write_number, ws.write_boolean, ws.write_string
    if kind in ("f", "i"):  # Python floats (NaN where missing) or ints
        return [
            None if math.isnan(v) else (number, float(v), share if share is not None and 0.0 <= v <= 1.0 else None)
            for v in values
        ]
    if kind == "b":
        return [(boolean, bool(v), None) for v in values]
    out: list = []
    for v in values:
        if type(v) is str:  # (most cells of text columns)
            out.append((string, v, None))
            continue
        how = _cell_write(v)
        if how is None:
            out.append(None)
        elif how == "boolean":
            out.append((boolean, bool(v), None))
        elif how == "number":
            x = float(v)
            out.append((number, x, share if share is not None and 0.0 <= x <= 1.0 else None))
        else:
            out.append((string, str(v), None))
    return out


def write_plan(
    result: PlanResult, out: str | Path, *, fmt: str = "geojson", map_options: dict | None = None
) -> list[Path]:
    """A plan's output set in ``out``: coverage.json, circles/gaps/facilities, map.html, plan/."""
    return write_folder(out, "plan", lambda tmp: plan_files(result, tmp, fmt=fmt, map_options=map_options))


def write_map(result: PlanResult, out: str | Path, *, map_options: dict | None = None) -> list[Path]:
    """Write the map of a plan alone into ``out`` (all or nothing)."""
    return write_folder(out, "map", lambda tmp: [write_text(tmp / "map.html", map_html(result, **(map_options or {})))])


def write_scenario(outcome: ScenarioOutcome, out: str | Path, *, map_options: dict | None = None) -> list[Path]:
    """A scenario's output set, written into ``out``.

    coverage.json (before/after), changed homes and areas, the edits, the circles after (per layer),
    and the before/after map.
    """

    def files(tmp: Path) -> list[Path]:
        after = outcome.after
        layer_circles = after.circles[after.circles["scope"] == "layer"] if len(after.circles) else after.circles
        return [
            write_json(tmp / "coverage.json", outcome.coverage),
            write_geojson(tmp / "changed_homes.geojson", outcome.homes, name="changed_homes"),
            write_geojson(tmp / "changed_areas.geojson", outcome.areas, name="changed_areas"),
            write_geojson(tmp / "edits.geojson", outcome.edits, name="edits"),
            write_geojson(tmp / "circles_after.geojson", layer_circles, name="circles_after"),
            write_text(
                tmp / "map.html", map_html(after, before=outcome.before, scenario=outcome, **(map_options or {}))
            ),
        ]

    return write_folder(out, "scenario", files)


def write_sites(
    before: PlanResult,
    res: SitingResult,
    after: PlanResult,
    out: str | Path,
    *,
    map_options: dict | None = None,
) -> list[Path]:
    """A siting run's output set: sites, their circles, coverage before/after, the map with the sites.

    ``after`` is the plan with the sites added (:func:`geo.siting.plan_with_sites`).
    """
    doc = {**res.summary, "plan_after": after.coverage["layers"][res.layer]}

    def files(tmp: Path) -> list[Path]:
        return [
            write_geojson(tmp / "sites.geojson", res.sites, name="sites"),
            write_geojson(tmp / "site_circles.geojson", res.circles, name="site_circles"),
            write_json(tmp / "coverage.json", doc),
            write_text(tmp / "map.html", map_html(after, before=before, sites=res.sites, **(map_options or {}))),
        ]

    return write_folder(out, "site", files)
