"""The printed report of a plan: an A4 PDF a planner takes to the street office.

``circles report --plan DIR`` writes it from a saved plan: the study area and its key figures,
a static map per layer (:mod:`maps.static_map`), the tables by street and community
(:mod:`geo.tables`), the ten largest gaps with their names, and the method in plain words.
This module says what each section holds; :mod:`maps.report_layout` sets it on the page,
:mod:`maps.report_words` gives its words and :mod:`maps.report_font` finds a font for them.

Why reportlab with matplotlib: the tables run over several pages (a community table of a
district has a hundred rows and more), which reportlab's flowing layout paginates with the
header row repeated; matplotlib draws the maps (as PNG images) but has no text flow.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from geo.io import atomic_write
from geo.tables import PlanTables, cover_columns, plan_tables
from maps.report_font import find_cjk_font, register_font
from maps.report_layout import count, paragraph, percent, styles, table
from maps.report_words import ReportWords, report_lang
from maps.static_map import layer_map_png

if TYPE_CHECKING:
    import geopandas as gpd
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import Flowable

    from geo.plan import PlanResult

#: the tables by street and community list at most this many rows (tables.xlsx holds them all)
MAX_TABLE_ROWS = 400
#: where a community's name came from (geo.tables' ``named_from``), as its table's column shows it
NAMED_FROM = {"admin boundary": "OSM", "nearest place": "≈", "mixed": "OSM/≈"}


def _text(v: object, words: ReportWords) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return words("report.unnamed")
    return str(v)


def _shown_layers(result: PlanResult) -> list[str]:
    """Layers with at least one facility placed on the network."""
    return [n for n, lr in result.layers.items() if lr.snapped.ok.any()]


def _key_figures(result: PlanResult, words: ReportWords, st: dict[str, ParagraphStyle], font: str) -> list[Flowable]:
    """Homes and people, and per layer its facilities and the people within each walk."""
    cov = result.coverage
    mins = sorted(result.params.minutes)
    story = [
        paragraph(words("report.key"), st["h1"]),
        paragraph(
            words(
                "report.homes",
                homes=count(cov.get("homes", len(result.homes))),
                people=count(cov.get("people", result.homes.people.sum())),
            ),
            st["body"],
        ),
    ]
    head = [words("report.col.layer"), words("report.col.fac")]
    for m in mins:
        head += [words("report.col.people", m=f"{m:g}"), words("report.col.share")]
    rows = [head]
    for name, layer in cov.get("layers", {}).items():
        row = [words.layer(name), f"{layer['facilities']} ({layer['snapped']})"]
        for m in mins:
            f = layer["minutes"].get(f"{m:g}", {})
            row += [count(f.get("people_covered")), percent(f.get("people_share"))]
        rows.append(row)
    story.append(table(rows, font=font))
    return story


def _maps(
    result: PlanResult,
    words: ReportWords,
    st: dict[str, ParagraphStyle],
    font_path: Path | None,
    *,
    before: PlanResult | None,
    edits: gpd.GeoDataFrame | None,
) -> list[Flowable]:
    """A static map per layer with facilities placed, each with its caption and the OSM credit."""
    from reportlab.lib.units import cm
    from reportlab.platypus import CondPageBreak, Image

    mins = sorted(result.params.minutes)
    shown = _shown_layers(result)
    story = [CondPageBreak(17.5 * cm if shown else 3 * cm), paragraph(words("report.maps"), st["h1"])]
    story += [
        paragraph(words("report.map.none", layer=words.layer(n)), st["body"]) for n in result.layers if n not in shown
    ]
    for name in shown:
        png = layer_map_png(result, name, words=words, font_path=font_path, before=before, edits=edits)
        story += [
            CondPageBreak(16.8 * cm),
            paragraph(
                words("report.map", layer=words.layer(name), mins="/".join(f"{m:g}" for m in mins), m=f"{mins[-1]:g}"),
                st["h2"],
            ),
            Image(io.BytesIO(png), width=15 * cm, height=15 * cm),
            paragraph(words("report.credit"), st["small"]),
        ]
    return story


def _area_tables(
    tables: PlanTables, result: PlanResult, words: ReportWords, st: dict[str, ParagraphStyle], font: str
) -> list[Flowable]:
    """The tables by street and by community, worst covered first."""
    from reportlab.lib.units import cm
    from reportlab.platypus import CondPageBreak, PageBreak

    shown = _shown_layers(result)
    cols = [(c, layer, m, p) for c, layer, m, p in cover_columns(result.params) if layer in shown]
    multi = len(result.params.profiles) > 1
    story: list[Flowable] = []
    for level, frame in (("street", tables.streets), ("community", tables.communities)):
        story += [
            PageBreak() if level == "street" else CondPageBreak(8 * cm),
            paragraph(words(f"report.by_{level}"), st["h1"]),
        ]
        cut = len(frame) > MAX_TABLE_ROWS
        more = words("report.cut", n=MAX_TABLE_ROWS, total=len(frame)) if cut else ""
        story.append(paragraph(words("report.order", more=more), st["small"]))
        if level == "community":
            story.append(paragraph(words("report.named"), st["small"]))
        head = [words("report.col.name")]
        if level == "community":
            head += [words("report.col.street"), words("report.col.from")]
        head += [words("report.col.homes"), words("report.col.ppl")]
        head += [
            words("report.col.cover", layer=words.layer(layer), m=f"{m:g}") + (f" {words.profile(p)}" if multi else "")
            for _, layer, m, p in cols
        ]
        rows = [head]
        for rec in frame.head(MAX_TABLE_ROWS).to_dict(orient="records"):
            row = [_text(rec["name"], words)]
            if level == "community":
                src = NAMED_FROM.get(str(rec.get("named_from")), "")
                row += [_text(rec.get("street"), words) if rec.get("street") else "", src]
            row += [count(rec["homes"]), count(rec["people"])] + [percent(rec[c]) for c, *_ in cols]
            rows.append(row)
        first = 3 if level == "community" else 1
        story.append(table(rows, font=font, numeric=range(first, len(head))))
    return story


def _gap_tables(result: PlanResult, words: ReportWords, st: dict[str, ParagraphStyle], font: str) -> list[Flowable]:
    """The ten largest gaps beyond the longest walk, per layer."""
    from reportlab.platypus import PageBreak

    mins = sorted(result.params.minutes)
    profile = result.params.profiles[0]
    story = [PageBreak()]
    gaps = result.gaps
    for name in _shown_layers(result):
        title = {"layer": words.layer(name), "m": f"{mins[-1]:g}"}
        g = (
            gaps[(gaps["layer"] == name) & (gaps["minutes"] == mins[-1]) & (gaps["profile"] == profile)]
            if len(gaps)
            else gaps
        )
        if len(g) == 0:
            story.append(paragraph(words("report.gaps.none", **title), st["body"]))
            continue
        g = g.sort_values("people", ascending=False, kind="stable").head(10)
        story.append(paragraph(words("report.gaps.title", **title), st["h2"]))
        rows = [
            [
                words("report.col.rank"),
                words("report.col.ppl"),
                words("report.col.homes"),
                words("report.col.street"),
                words("report.col.community"),
                words("report.col.nearest"),
                words("report.col.walk"),
            ]
        ]
        for i, rec in enumerate(g.to_dict(orient="records"), 1):
            walk = rec.get("walk_min_centre")
            rows.append(
                [
                    str(i),
                    count(rec["people"]),
                    count(rec["homes"]),
                    _text(rec.get("street"), words),
                    _text(rec.get("community"), words),
                    _text(rec.get("nearest_facility"), words)[:24],
                    "" if walk is None or math.isnan(float(walk)) else f"{float(walk):.1f}",
                ]
            )
        story.append(table(rows, font=font, numeric=(0, 1, 2, 6)))
    return story


def _scenario(scenario: dict, words: ReportWords, st: dict[str, ParagraphStyle], font: str) -> list[Flowable]:
    """Before/after figures of a kept scenario.

    Who kept it and when, its edits, and per layer and threshold the people covered before and
    after, gained and lost.
    """
    cov = scenario.get("coverage") or {}
    story = [
        paragraph(words("report.scenario"), st["h1"]),
        paragraph(
            words(
                "report.scenario.line",
                id=scenario.get("id", ""),
                name=scenario.get("name", ""),
                by=scenario.get("created_by", ""),
                when=str(scenario.get("created_at", ""))[:16].replace("T", " "),
            ),
            st["body"],
        ),
    ]
    for e in cov.get("edits") or []:
        extra = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("number", "edit"))
        line = f"{e.get('number', '')}. {e.get('edit', '')}" + (f" ({extra})" if extra else "")
        story.append(paragraph(line, st["small"]))
    rows = [[words(f"report.col.{k}") for k in ("layer", "min", "before", "after", "gained", "lost", "share")]]
    for name, doc in (cov.get("layers") or {}).items():
        for m, f in (doc.get("minutes") or {}).items():
            b, a = f.get("before", {}), f.get("after", {})
            rows.append(
                [
                    words.layer(name),
                    m,
                    count(b.get("people_covered")),
                    count(a.get("people_covered")),
                    "+" + count(f.get("people_gained")),
                    "-" + count(f.get("people_lost")),
                    f"{percent(b.get('people_share'))} → {percent(a.get('people_share'))}",
                ]
            )
    story += [table(rows, font=font, numeric=(1, 2, 3, 4, 5)), paragraph(words("report.scenario.maps"), st["small"])]
    return story


def _method(result: PlanResult, words: ReportWords, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The method in plain words: walking speeds, the network, crossings, homes, gaps, the data date."""
    p = result.params
    speeds = "; ".join(f"{words.profile(k)} {v:g} km/h" for k, v in p.speeds().items())
    method = result.homes.method or result.coverage.get("homes_method", "")
    if words.lang == "zh":
        r = p.people
        homes = (
            words(
                "report.m.footprint",
                grid=r.grid_m,
                floor=r.floor_m2_per_person,
                other=r.other_levels,
                house=r.house_levels,
                far=r.far,
            )
            if method.startswith("footprint")
            else words("report.m.file", method=method)
        )
    else:
        homes = method
    crossing = "report.m.strict" if getattr(p, "crossings", "anywhere") == "strict" else "report.m.anywhere"
    date = result.data_date or "?"
    return [
        paragraph(words("report.method"), st["h1"]),
        paragraph(words("report.m.speed", speeds=speeds), st["body"]),
        paragraph(words("report.m.network", snap=p.snap_max_m, width=p.width_m), st["body"]),
        paragraph(words(crossing), st["body"]),
        paragraph(words("report.m.homes", method=homes), st["body"]),
        paragraph(words("report.m.gaps", link=p.gap_link_m), st["body"]),
        paragraph(words("report.m.date", date=date), st["body"]),
        paragraph(words("report.credit"), st["small"]),
    ]


def write_report(
    result: PlanResult,
    out: str | Path,
    *,
    lang: str | None = None,
    font_path: Path | None = None,
    generated: str | None = None,
    before: PlanResult | None = None,
    scenario: dict | None = None,
    edits: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write the A4 PDF report of a plan, atomically.

    Parameters
    ----------
    result
        The plan; for a scenario, the plan after it.
    out
        The PDF file to write.
    lang
        ``zh`` or ``en`` (default: the language of the facility names).
    font_path
        A TrueType font with Chinese characters (default: :func:`maps.report_font.find_cjk_font`).
    generated
        When the report was made, as printed (default: now, local time).
    before
        For a scenario, the plan before it: its circles are drawn as outlines.
    scenario
        For a scenario, the kept record: id, name, created_by, created_at and its before/after
        ``coverage`` (:mod:`geo.scenario_store`).
    edits
        For a scenario, its new links and closed ways (WGS84 lines, drawn on the maps).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    maps.report_font.ReportError
        When no font with Chinese characters is installed (:func:`maps.report_font.find_cjk_font`).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    words = ReportWords(report_lang(result, lang))
    font_path = Path(font_path) if font_path else find_cjk_font()
    font = register_font(font_path)
    st = styles(font)
    when = generated or dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    source = Path(str(result.source)).name
    area = result.area
    story = [
        paragraph(words("report.title"), st["title"]),
        paragraph(
            words("report.area.line", name=area.name, source=area.source)
            if area is not None
            else words("report.whole", source=source),
            st["h2"],
        ),
        paragraph(words("report.data", source=source, date=result.data_date or "?", when=when), st["body"]),
    ]
    if scenario is not None:
        story += _scenario(scenario, words, st, font)
    story += _key_figures(result, words, st, font)
    story += _maps(result, words, st, font_path, before=before, edits=edits)
    story += _area_tables(plan_tables(result, generated=when), result, words, st, font)
    story += _gap_tables(result, words, st, font)
    story += _method(result, words, st)

    def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(15 * mm, 9 * mm, f"{words('report.title')} · {source} · © OpenStreetMap contributors")
        canvas.drawRightString(A4[0] - 15 * mm, 9 * mm, words("report.page", n=doc.page))
        canvas.restoreState()

    def build(path: Path) -> None:
        doc = SimpleDocTemplate(
            str(path),
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=16 * mm,
            title=words("report.title"),
            author="service-circles",
            subject=area.name if area is not None else source,
        )
        doc.build(story, onFirstPage=footer, onLaterPages=footer)

    return atomic_write(out, build)
