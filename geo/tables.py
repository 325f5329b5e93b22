"""The tables a planner hands to the street office, built from a plan (pure pandas, no Excel).

:func:`plan_tables` gives, from one :class:`geo.plan.PlanResult`:

- ``summary``: the data source and date, the study area, when the tables were made, homes,
  people and how homes and people were estimated (item, value rows);
- ``coverage``: one row per layer, threshold and profile: facilities placed, homes and people
  covered and their shares;
- ``streets`` and ``communities``: one row per street (街道/镇) and per community (社区/村) of the
  study area's homes with homes, people and the share of people covered per layer, threshold
  and profile (columns ``<layer>_<m>min`` and, with several profiles, ``_<profile>``), worst
  first (lowest share of the first layer at the shortest threshold, then most people); homes
  with no name found come last as one row (``name`` None). Communities say where their name
  came from (``named_from``: an admin boundary, or the nearest place named …社区/村);
- ``facilities``: every facility with its street and community and the people it serves
  within each threshold (:func:`geo.frames.facility_frame`);
- ``gaps``: the gap areas with their names and counts, ranked by people.

Columns carry English keys (the API's JSON); :func:`localised` gives the headers and the
layer and source words in the run's language (``zh`` or ``en``) for the files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from geo.areas import name_points
from geo.cells import FORMULA_STARTS, Cells, csv_safe  # noqa: F401 (re-exported: the table files' checks)
from geo.circles import metres_for
from geo.coverage import now_iso
from geo.gaps import GAP_COLUMNS
from geo.kinds import LAYERS

if TYPE_CHECKING:  # annotations only: geo.plan imports the modules this one reads
    from geo.plan import PlanParams, PlanResult

LEVELS = ("street", "community")
#: the word for each column key, by language; coverage and served columns are made by :func:`header`
HEADERS: dict[str, dict[str, str]] = {
    "en": {
        "item": "Item",
        "value": "Value",
        "name": "Name",
        "street": "Street",
        "community": "Community",
        "named_from": "Name from",
        "homes": "Homes",
        "people": "People (est.)",
        "layer": "Layer",
        "minutes": "Minutes",
        "profile": "Profile",
        "speed_kmh": "Speed (km/h)",
        "facilities": "Facilities",
        "placed": "Placed on the network",
        "homes_covered": "Homes covered",
        "homes_share": "Share of homes",
        "people_covered": "People covered",
        "people_share": "Share of people",
        "id": "ID",
        "tier": "Tier",
        "kind": "Kind",
        "opening_hours": "Opening hours",
        "address": "Address",
        "source": "Source",
        "lon": "Longitude",
        "lat": "Latitude",
        "snapped": "Placed",
        "snap_m": "Moved onto the street (m)",
        "rank": "Rank",
        "walk_min_centre": "Walk from its centre (min)",
        "walk_min_max": "Longest walk (min)",
        "nearest_facility": "Nearest facility",
        "nearest_facility_id": "Nearest facility ID",
        "land_km2": "Land (km²)",
    },
    "zh": {
        "item": "项目",
        "value": "数值",
        "name": "名称",
        "street": "街道",
        "community": "社区",
        "named_from": "名称来源",
        "homes": "住宅数",
        "people": "人口（估算）",
        "layer": "图层",
        "minutes": "分钟",
        "profile": "人群",
        "speed_kmh": "步速（公里/小时）",
        "facilities": "设施数",
        "placed": "已接入路网",
        "homes_covered": "覆盖住宅",
        "homes_share": "住宅覆盖率",
        "people_covered": "覆盖人口",
        "people_share": "人口覆盖率",
        "id": "编号",
        "tier": "级别",
        "kind": "类型",
        "opening_hours": "开放时间",
        "address": "地址",
        "source": "来源",
        "lon": "经度",
        "lat": "纬度",
        "snapped": "已接入路网",
        "snap_m": "移至道路距离（米）",
        "rank": "排名",
        "walk_min_centre": "中心步行时间（分钟）",
        "walk_min_max": "最远步行时间（分钟）",
        "nearest_facility": "最近设施",
        "nearest_facility_id": "最近设施编号",
        "land_km2": "面积（平方公里）",
    },
}
#: values translated in the files (layers, profiles, where a name came from, summary items)
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "centres": "Centres",
        "stations": "Stations",
        "charging": "Charging points",
        "adult": "adults",
        "elderly": "elderly",
        "admin boundary": "admin boundary",
        "nearest place": "nearest named place",
        "unnamed": "(no name found)",
        "source": "Data source",
        "data_date": "Data as of",
        "area": "Study area",
        "area_source": "Study area from",
        "generated": "Tables made",
        "homes": "Homes",
        "people": "People (estimated)",
        "homes_method": "Homes and people",
        "speed": "Walking speed (km/h)",
        "whole extract": "the whole extract",
        "mixed": "mixed",
        "district": "district centre",
        "street": "street centre",
        "community": "community centre",
        "special": "special centre",
    },
    "zh": {
        "centres": "党群服务中心",
        "stations": "驿站",
        "charging": "充换电点",
        "adult": "成人",
        "elderly": "老人",
        "admin boundary": "行政边界",
        "nearest place": "最近的地名点",
        "unnamed": "（未识别名称）",
        "source": "数据来源",
        "data_date": "数据日期",
        "area": "研究范围",
        "area_source": "范围来源",
        "generated": "制表时间",
        "homes": "住宅数",
        "people": "人口（估算）",
        "homes_method": "住宅与人口估算",
        "speed": "步速（公里/小时）",
        "whole extract": "整个数据范围",
        "mixed": "混合",
        "district": "区级中心",
        "street": "街道级中心",
        "community": "社区级中心",
        "special": "特色阵地",
    },
}
_COVER = re.compile(r"(centres|stations|charging)_(\d+(?:\.\d+)?)min(?:_([a-z]+))?")
_SERVED = re.compile(r"(people|homes|people_nearest)_(\d+(?:\.\d+)?)min(?:_([a-z]+))?")


@dataclass(frozen=True, eq=False)
class PlanTables:
    """The tables of one plan (see the module docstring); English column keys."""

    summary: pd.DataFrame
    coverage: pd.DataFrame
    streets: pd.DataFrame
    communities: pd.DataFrame
    facilities: pd.DataFrame
    gaps: pd.DataFrame

    def sheets(self) -> dict[str, pd.DataFrame]:
        """Name -> table, in the order of the workbook's sheets and the CSV files."""
        return {
            "summary": self.summary,
            "coverage": self.coverage,
            "streets": self.streets,
            "communities": self.communities,
            "facilities": self.facilities,
            "gaps": self.gaps,
        }


def cover_columns(params: PlanParams) -> list[tuple[str, str, float, str]]:
    """``(column, layer, minutes, profile)`` of the coverage columns of the area tables.

    Layers in order, then profiles, then thresholds, shortest first.
    """
    multi = len(params.profiles) > 1
    return [
        (f"{layer}_{m:g}min" + (f"_{p}" if multi else ""), layer, float(m), p)
        for layer in LAYERS
        for p in params.profiles
        for m in sorted(params.minutes)
    ]


def _covered(result: PlanResult) -> dict[str, np.ndarray]:
    """Column -> per home, is it within that walk of the layer (bool)."""
    speeds = result.params.speeds()
    out = {}
    for col, layer, m, p in cover_columns(result.params):
        lr = result.layers.get(layer)
        if lr is None:
            out[col] = np.zeros(len(result.homes), bool)
        else:
            out[col] = lr.home_dist <= metres_for(m, speeds[p])
    return out


def area_table(result: PlanResult, *, level: str) -> pd.DataFrame:
    """One row per street or community (``level``) of the plan's homes.

    Each row holds homes, people and the share of people covered per layer, threshold and
    profile; worst first, unnamed last.

    Raises
    ------
    ValueError
        For a level other than ``street`` or ``community``.
    """
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: expected one of {', '.join(LEVELS)}")
    return _area_table(result, level, _home_names(result), _covered(result))


def _home_names(result: PlanResult) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Street, community and where the name came from, per home, each as ``(codes, names)``.

    ``codes``: per home, its name's index in ``names``, -1 where missing or blank; ``names``:
    the names (stripped), in the order first met.
    """
    n = len(result.homes)
    names = result.home_names or ()
    if len(names) != 3 or any(len(a) != n for a in names):  # a plan made without names: every home unnamed
        return tuple((np.full(n, -1, np.intp), np.zeros(0, object)) for _ in range(3))
    return tuple(_factorized(a) for a in names)


def _factorized(values: Iterable[object]) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as names (text, stripped; None where missing or blank): ``(codes, names)``, -1 for None."""
    codes, seen = pd.factorize(np.asarray(values, dtype=object))  # each distinct value once, then cleaned
    clean, names = pd.factorize(_names(seen))
    out = np.full(len(codes), -1, np.intp)
    met = codes >= 0
    out[met] = clean[codes[met]]
    return out, np.asarray(names, dtype=object)


def _area_table(
    result: PlanResult, level: str, names: tuple[tuple[np.ndarray, np.ndarray], ...], covered: dict[str, np.ndarray]
) -> pd.DataFrame:
    """:func:`area_table` of the homes' names (:func:`_home_names`) and coverage (:func:`_covered`)."""
    (street, streets), (community, communities), named_from = names
    codes, uniques = (street, streets) if level == "street" else (community, communities)
    people = np.asarray(result.homes.people, float)
    groups = len(uniques) + 1  # the last group: homes with no name found
    g = np.where(codes < 0, len(uniques), codes)
    homes = np.bincount(g, minlength=groups)
    total = np.bincount(g, weights=people, minlength=groups)
    columns: dict[str, np.ndarray] = {}
    for col, hit in covered.items():
        got = np.bincount(g, weights=np.where(hit, people, 0.0), minlength=groups)
        columns[col] = np.round(np.where(total > 0, got / np.where(total > 0, total, 1.0), 0.0), 4)
    people_col = np.round(total, 1)
    # worst first: lowest shares (layers, profiles, thresholds in order), then most people, then the
    # name (names differ, so the order is whole); the unnamed homes last, when there are any
    name = np.array([*uniques, None], dtype=object)
    rank = np.empty(len(uniques), np.intp)
    rank[np.argsort(name[:-1], kind="stable")] = np.arange(len(uniques))
    keys = [rank, -people_col[:-1], *(columns[c][:-1] for c in reversed(list(columns)))]
    order = np.lexsort(keys) if len(uniques) else np.zeros(0, np.intp)
    if homes[-1] > 0:
        order = np.append(order, groups - 1)
    out: dict[str, object] = {"name": pd.Series(name[order], dtype=object)}
    if level == "community":
        out["street"] = pd.Series(_mode_of(g, street, streets, groups)).array.take(order)
        out["named_from"] = pd.Series(_mode_of(g, *named_from, groups, mixed="mixed")).array.take(order)
    out.update({"homes": homes.astype(int)[order], "people": people_col[order]})
    out.update({c: v[order] for c, v in columns.items()})
    return pd.DataFrame(out)  # (one frame made at once: a column added at a time cost ~0.1 ms each)


def _names(values: Iterable[object]) -> np.ndarray:
    """Names as text, None where missing or blank."""
    return np.array([v.strip() if isinstance(v, str) and v.strip() else None for v in values], dtype=object)


def _mode_of(
    group: np.ndarray, codes: np.ndarray, uniques: np.ndarray, groups: int, *, mixed: str | None = None
) -> list:
    """For each group, the most common named value among its homes (of a tie, the one met first).

    Values are given as ``codes`` (per home, the index in ``uniques``; -1: no name). ``mixed``
    when several differ and ``mixed`` is given; None when none is named.
    """
    out: list = [None] * groups
    named = np.flatnonzero(codes >= 0)
    if not len(named):
        return out
    pair = np.asarray(group, np.int64)[named] * len(uniques) + codes[named]
    pairs, first, counts = np.unique(pair, return_index=True, return_counts=True)
    g, v = pairs // len(uniques), pairs % len(uniques)
    best = np.lexsort((first, -counts, g))  # per group: most homes first, then the first met
    head = np.ones(len(best), bool)
    head[1:] = g[best][1:] != g[best][:-1]
    kinds = np.bincount(g, minlength=groups)
    for j in best[head]:
        out[int(g[j])] = mixed if mixed is not None and kinds[g[j]] > 1 else uniques[v[j]]
    return out


def coverage_table(result: PlanResult, *, covered: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per layer, threshold and profile: facilities, homes and people covered.

    ``covered``: :func:`_covered` of ``result``, when the caller made it already.
    """
    homes = len(result.homes)
    people = np.asarray(result.homes.people, float)
    total = float(people.sum())
    rows = []
    cov = _covered(result) if covered is None else covered
    for col, layer, m, p in cover_columns(result.params):
        hit = cov[col]
        lr = result.layers.get(layer)
        pc = float(people[hit].sum())
        rows.append(
            {
                "layer": layer,
                "minutes": m,
                "profile": p,
                "speed_kmh": result.params.speeds()[p],
                "facilities": len(lr.facilities) if lr is not None else 0,
                "placed": int(lr.snapped.ok.sum()) if lr is not None else 0,
                "homes": homes,
                "homes_covered": int(hit.sum()),
                "homes_share": round(float(hit.mean()), 4) if homes else 0.0,
                "people": round(total),
                "people_covered": round(pc),
                "people_share": round(pc / total, 4) if total else 0.0,
            }
        )
    return pd.DataFrame(rows)


def summary_table(result: PlanResult, *, generated: str | None = None) -> pd.DataFrame:
    """Item/value rows: source, data date, study area, when made, homes, people, method."""
    area = result.area
    rows = [
        ("source", Path(str(result.source)).name),
        ("data_date", result.data_date),
        ("area", area.name if area is not None else "whole extract"),
        ("area_source", area.source if area is not None else None),
        ("generated", generated or now_iso()),
        ("homes", len(result.homes)),
        ("people", round(float(np.asarray(result.homes.people, float).sum()))),
        ("homes_method", result.homes.method),
    ]
    rows += [("speed", f"{p}: {s:g}") for p, s in result.params.speeds().items()]
    return pd.DataFrame(rows, columns=["item", "value"])


def facility_table(result: PlanResult) -> pd.DataFrame:
    """Every facility with its street, community, lon/lat and the people it serves."""
    fac = result.facilities
    if fac is None or len(fac) == 0:
        return pd.DataFrame(columns=["layer", "id", "name", "street", "community"])
    lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    xy = result.network.project(lon, lat)
    street, community, _ = name_points(xy, admin=result.admin, places=result.places, project=result.network.project)
    df = pd.DataFrame(fac)  # a plain frame first: no GeoDataFrame made (copy on write: ``fac`` is left as it was)
    del df[fac.geometry.name]
    at = list(df.columns).index("name") + 1 if "name" in df else len(df.columns)
    df.insert(at, "street", street)
    df.insert(at + 1, "community", community)
    df["lon"] = np.round(lon, 6)
    df["lat"] = np.round(lat, 6)
    served = [c for c in df.columns if _SERVED.fullmatch(c)]
    first = [c for c in served if c.startswith("people_") and not c.startswith("people_nearest")]
    if first:  # the plan's layers in order, each most people served (within the longest walk) first
        rank = {name: i for i, name in enumerate(result.layers)}
        layer = np.array([rank.get(v, np.nan) for v in df["layer"]], float)  # other layers last
        people = df[first[-1]].to_numpy()
        if people.dtype.kind in "iuf":  # (np.lexsort: stable, NaN last, as sort_values)
            order = np.lexsort((-people, layer))
        else:
            keys = pd.DataFrame({"layer": layer, "people": people})
            order = keys.sort_values(["layer", "people"], ascending=[True, False], kind="stable").index.to_numpy()
        df = df.take(order)
    return df.reset_index(drop=True)


def gap_table(result: PlanResult) -> pd.DataFrame:
    """The gap areas (no geometry) with their centre's lon/lat, ranked by people per view."""
    gaps = result.gaps
    if gaps is None or len(gaps) == 0:
        return pd.DataFrame(columns=[*GAP_COLUMNS, "lon", "lat"])
    df = pd.DataFrame(gaps)  # a plain frame of the same columns (copy on write: ``gaps`` is left as it was)
    del df[gaps.geometry.name]  # (~0.3 ms less than drop)
    pts = shapely.point_on_surface(np.asarray(gaps.geometry.array))  # as GeoSeries.representative_point
    df["lon"] = np.round(shapely.get_x(pts), 6)
    df["lat"] = np.round(shapely.get_y(pts), 6)
    return df.reset_index(drop=True)


def plan_tables(result: PlanResult, *, generated: str | None = None) -> PlanTables:
    """Every table of ``result`` (see the module docstring)."""
    names, covered = _home_names(result), _covered(result)  # (shared by the tables that need them)
    return PlanTables(
        summary=summary_table(result, generated=generated),
        coverage=coverage_table(result, covered=covered),
        streets=_area_table(result, "street", names, covered),
        communities=_area_table(result, "community", names, covered),
        facilities=facility_table(result),
        gaps=gap_table(result),
    )


# ------------------------------------------------------------------------------ words


def word(value: object, lang: str) -> object:
    """A layer, profile or source word in ``lang``; anything else unchanged."""
    if isinstance(value, str):
        base, bracket, rest = value.partition("[")
        w = WORDS[lang].get(base)
        if w is not None:
            return f"{w}[{rest}" if bracket else w
    return value


def header(column: str, lang: str) -> str:
    """The header of a column key in ``lang`` (``centres_10min`` -> ``党群服务中心 10分钟覆盖率``)."""
    h = HEADERS[lang]
    if column in h:
        return h[column]
    m = _COVER.fullmatch(column)
    if m:
        layer, mins, prof = word(m.group(1), lang), m.group(2), m.group(3)
        extra = f" ({word(prof, lang)})" if prof else ""
        return f"{layer} {mins}分钟覆盖率{extra}" if lang == "zh" else f"{layer} ≤{mins} min share{extra}"
    m = _SERVED.fullmatch(column)
    if m:
        what, mins, prof = m.group(1), m.group(2), m.group(3)
        extra = f" ({word(prof, lang)})" if prof else ""
        if lang == "zh":
            text = {"people": "{m}分钟内人口", "homes": "{m}分钟内住宅", "people_nearest": "{m}分钟内以其为最近的人口"}
        else:
            text = {
                "people": "People within {m} min",
                "homes": "Homes within {m} min",
                "people_nearest": "People within {m} min for whom it is nearest",
            }
        return text[what].format(m=mins) + extra
    return column


def localised(table: pd.DataFrame, lang: str, *, unnamed_in: str | None = "name") -> pd.DataFrame:
    """``table`` with headers, layers, profiles and name sources in ``lang``; numbers stay numbers.

    Raises
    ------
    ValueError
        For a language other than ``zh`` or ``en``.
    """
    keys = table.columns.tolist()
    heads, words, unnamed = _localise(keys, lambda j: table.iloc[:, j], lang, unnamed_in)
    df = table.copy()
    for j, values in words.items():
        df[keys[j]] = pd.Series(values, index=df.index, dtype=object)
    if unnamed is not None:
        df[keys[unnamed]] = df[keys[unnamed]].where(df[keys[unnamed]].notna(), WORDS[lang]["unnamed"])
    df.columns = heads
    return df


def localised_cells(table: pd.DataFrame, lang: str, *, unnamed_in: str | None = "name") -> Cells:
    """The cells of :func:`localised` (``table``, ``lang``, ``unnamed_in``), made without the frame.

    Raises
    ------
    ValueError
        For a language other than ``zh`` or ``en``.
    """
    cells = Cells.of(table)
    if "" in cells.kinds or not table.shape[1]:  # a column pandas writes: the frame is needed
        return Cells.of(localised(table, lang, unnamed_in=unnamed_in))
    heads, words, unnamed = _localise(list(cells.heads), cells.columns.__getitem__, lang, unnamed_in)
    if unnamed is not None:
        values = words.get(unnamed, cells.columns[unnamed]).copy()
        values[pd.isna(values)] = WORDS[lang]["unnamed"]
        words[unnamed] = values
    return cells.replaced(heads, words)


def _localise(
    columns: list, column: Callable[[int], Iterable[object]], lang: str, unnamed_in: str | None
) -> tuple[list[str], dict[int, np.ndarray], int | None]:
    """What :func:`localised` changes: the headers, the worded columns, the column of unnamed rows.

    ``columns``: the column keys; ``column(j)``: the values of the j-th. Returns the headers in
    ``lang``, position -> the new values (object arrays) of the columns of words, and the
    position of the column where a missing name is said in words (or None).

    Raises
    ------
    ValueError
        For a language other than ``zh`` or ``en``.
    """
    if lang not in HEADERS:
        raise ValueError(f"lang {lang!r}: expected zh or en")
    at = {c: j for j, c in reversed(list(enumerate(columns)))}  # (a repeated key: its first column)
    words: dict[int, np.ndarray] = {}
    for col in ("layer", "profile", "named_from", "tier"):
        if col in at:
            words[at[col]] = np.array([word(v, lang) for v in column(at[col])], dtype=object)
    if "item" in at:
        items = WORDS[lang]
        words[at["item"]] = np.array(
            [items.get(v, v) if isinstance(v, str) else v for v in column(at["item"])], dtype=object
        )
        values = column(at["value"])
        words[at["value"]] = np.array([word(v, lang) if v == "whole extract" else v for v in values], dtype=object)
    unnamed = at[unnamed_in] if unnamed_in in at and "homes" in at else None
    return [header(str(c), lang) for c in columns], words, unnamed


# ------------------------------------------------------------------------------ what files can hold

#: the rows of an Excel sheet (header included) and the characters of an Excel cell
EXCEL_ROWS = 1_048_576
EXCEL_TEXT = 32_767


def check_sheet(table: pd.DataFrame | Cells, *, file: str, sheet: str, start: int = 0) -> None:
    """Refuse ``table`` for a sheet that cannot hold all of it, before anything is written.

    Parameters
    ----------
    table
        The rows, written with a header row from row ``start`` (0-based) of the sheet; a frame or
        its cells (:class:`geo.cells.Cells`).
    file, sheet
        The workbook's file name and the sheet's name, for the message.
    start
        The sheet row the header goes to (a table below another one on the same sheet).

    Raises
    ------
    ValueError
        When the sheet would have more rows than :data:`EXCEL_ROWS`, or a text cell more than
        :data:`EXCEL_TEXT` characters (XlsxWriter drops such rows and cuts such text without
        an error); the message names the file, sheet and row count, or the row and column.
    """
    rows = start + 1 + len(table)
    if rows > EXCEL_ROWS:
        raise ValueError(
            f"{file}: sheet {sheet!r} would need {rows:,} rows, more than the {EXCEL_ROWS:,} an Excel "
            "sheet holds; nothing was written (the CSV tables hold every row: write fewer areas per run "
            "or use the CSV files)"
        )
    for col, values in _text_columns(table):
        lengths = [len(v) if isinstance(v, str) else 0 for v in values]
        longest = max(lengths, default=0)
        if longest > EXCEL_TEXT:
            i = lengths.index(longest)
            raise ValueError(
                f"{file}: sheet {sheet!r}, row {start + 2 + i}, column {col!r} holds {longest:,} "
                f"characters, more than the {EXCEL_TEXT:,} an Excel cell holds; nothing was written"
            )


def _text_columns(table: pd.DataFrame | Cells) -> Iterator[tuple[object, np.ndarray]]:
    """(header, cells) of each column of ``table`` that may hold text (not of a number or date dtype)."""
    if isinstance(table, Cells):
        for head, kind, values in zip(table.heads, table.kinds, table.columns, strict=True):
            if kind not in ("f", "i", "b"):
                yield head, values
        return
    for j, dtype in enumerate(table.dtypes.tolist()):
        if dtype.kind not in "biufcmM":
            yield table.columns[j], table.iloc[:, j].to_numpy(dtype=object)
