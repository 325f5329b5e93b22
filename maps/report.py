"""The printed report of a plan: an A4 PDF a planner takes to the street office.

``circles report --plan DIR`` writes it from a saved plan: the study area and its key figures,
a static map per layer (:mod:`maps.static_map`), the tables by street and community
(:mod:`geo.tables`), the ten largest gaps with their names, and the method in plain words.

Why reportlab with matplotlib: the tables run over several pages (a community table of a
district has a hundred rows and more), which reportlab's flowing layout paginates with the
header row repeated; matplotlib draws the maps (as PNG images) but has no text flow. Chinese
text needs a font with CJK glyphs that reportlab can embed: a TrueType-outline font such as
WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``; the Makefile installs it). Noto CJK
(``fonts-noto-cjk``) has CFF outlines, which reportlab cannot embed, so it is passed over. The
font is found at run time (:func:`find_cjk_font`), never shipped in the repository; the PDF
embeds a subset with a ToUnicode map, so its text can be searched and copied.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import shutil
import subprocess
from pathlib import Path

from geo.errors import CirclesError
from maps.labels import Words, check_lang, detect_lang

FONT_NAME = "ServiceCirclesCJK"
#: families looked for through matplotlib's font list when fontconfig is not there
CJK_FAMILIES = (
    "WenQuanYi",
    "Droid Sans Fallback",
    "AR PL",
    "Noto Sans CJK",
    "Source Han",
    "SimHei",
    "Microsoft YaHei",
    "PingFang",
)
FONT_HELP = (
    "install the Debian package fonts-wqy-microhei (apt-get install fonts-wqy-microhei; `make test` "
    "and `make demo` install it when run as root), or another TrueType font with Chinese characters"
)
MAX_TABLE_ROWS = 400

REPORT_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "report.title": "Walk-time service circles: planning report",
        "report.area": "study area",
        "report.area.line": "Study area: {name} ({source})",
        "report.whole": "Study area: the whole extract {source}",
        "report.data": "Data: {source}, OpenStreetMap data as of {date}. Made on {when}.",
        "report.key": "Key figures",
        "report.homes": "{homes} homes, about {people} people (estimated).",
        "report.col.layer": "Layer",
        "report.col.fac": "Facilities (placed)",
        "report.col.people": "People within {m} min",
        "report.col.share": "Share",
        "report.maps": "Maps",
        "report.map": "{layer}: {mins}-minute circles and the gaps beyond {m} min",
        "report.map.none": "{layer}: the data hold no facility of this layer, so every home lies outside its circles.",
        "report.credit": "Streets and places © OpenStreetMap contributors (ODbL).",
        "report.streets": "streets",
        "report.circle": "{m}-min circle",
        "report.gaps": "gaps beyond {m} min",
        "report.facilities": "{layer}",
        "report.before": "before the change ({m} min)",
        "report.by_street": "By street (街道/镇)",
        "report.by_community": "By community (社区/村)",
        "report.order": "Worst covered first (the share of people within each walk); homes with no name found "
        "last. {more}",
        "report.named": "Communities are named from OSM admin boundaries where the extract has them (column "
        "'from': OSM), else from the nearest place named …社区/村 (≈).",
        "report.col.cover": "{layer} {m} min",
        "report.cut": "Showing the {n} worst of {total} rows; tables.xlsx holds them all.",
        "report.gaps.title": "{layer}: the ten largest gaps beyond {m} min",
        "report.gaps.none": "{layer}: no gap beyond {m} min.",
        "report.col.rank": "#",
        "report.col.name": "Name",
        "report.col.street": "Street",
        "report.col.community": "Community",
        "report.col.from": "from",
        "report.col.homes": "Homes",
        "report.col.ppl": "People",
        "report.col.nearest": "Nearest facility",
        "report.col.walk": "Walk (min)",
        "report.method": "Method",
        "report.m.speed": "Walk times are network walk times at {speeds}.",
        "report.m.network": (
            "They follow the real streets of OpenStreetMap, not straight-line radii: footways, steps, paths, "
            "pedestrian, living and residential streets, service roads and big roads along their sidewalks are "
            "walkable; motorways, ways marked foot=no, private ways (unless foot=yes), motor roads and roads under "
            "construction are not. Walking ignores one-way rules. Each facility and home joins its nearest street "
            "(facilities at most {snap:g} m away). A circle is the land within {width:g} m of the streets reached "
            "within the walk time."
        ),
        "report.m.strict": (
            "Crossings: trunk, primary and secondary roads, and tertiary roads with four or more lanes or a "
            "physical divider, are crossed only where a crossing exists: a zebra or signals, a junction with "
            "another public street, a footbridge or underpass, or the road's end."
        ),
        "report.m.anywhere": "Crossings: every street can be crossed where ways meet (no crossing model).",
        "report.m.homes": "Homes and people: {method}.",
        "report.m.gaps": (
            "Gaps: homes beyond the walk are grouped (homes within {link:g} m of one another), split "
            "along street and community boundaries and ranked by people."
        ),
        "report.m.date": "Data date: {date} (the latest edit in the OSM extract).",
        "report.page": "Page {n}",
        "report.unnamed": "(no name)",
        "report.scenario": "Scenario: before and after",
        "report.col.before": "Before",
        "report.col.after": "After",
        "report.col.change": "Change",
        "report.scenario.line": "Scenario {id} “{name}”, kept by {by} at {when} (UTC), on this plan before "
        "the change. Its edits:",
        "report.col.gained": "Gained",
        "report.col.lost": "Lost",
        "report.col.min": "Minutes",
        "report.scenario.maps": "The maps, tables and gaps below show the plan after the change; the dashed "
        "outlines are the circles before it.",
        "report.edits": "the scenario's edits",
    },
    "zh": {
        "report.title": "步行服务圈规划报告",
        "report.area": "研究范围",
        "report.area.line": "研究范围：{name}（{source}）",
        "report.whole": "研究范围：整个数据范围 {source}",
        "report.data": "数据：{source}，OpenStreetMap 数据截至 {date}。生成于 {when}。",
        "report.key": "主要数据",
        "report.homes": "住宅 {homes} 处，人口约 {people} 人（估算）。",
        "report.col.layer": "图层",
        "report.col.fac": "设施数（已接入路网）",
        "report.col.people": "{m}分钟内人口",
        "report.col.share": "覆盖率",
        "report.maps": "地图",
        "report.map": "{layer}：{mins} 分钟服务圈与 {m} 分钟外缺口",
        "report.map.none": "{layer}：数据中没有这一图层的设施，全部住宅都在服务圈外。",
        "report.credit": "道路与地名 © OpenStreetMap contributors（ODbL 许可）。",
        "report.streets": "道路",
        "report.circle": "{m}分钟服务圈",
        "report.gaps": "{m}分钟外缺口",
        "report.facilities": "{layer}",
        "report.before": "调整前（{m}分钟）",
        "report.by_street": "按街道统计（街道/镇）",
        "report.by_community": "按社区统计（社区/村）",
        "report.order": "按覆盖率（各步行时间内人口占比）从低到高排列；未识别名称的住宅列在最后。{more}",
        "report.named": "社区名称取自 OSM 行政边界（“来源”列：OSM）；数据中没有边界时，取最近的“…社区/村”地名点（≈）。",
        "report.col.cover": "{layer} {m}分钟",
        "report.cut": "此处列出覆盖最差的 {n} 行（共 {total} 行）；全部见 tables.xlsx。",
        "report.gaps.title": "{layer}：{m}分钟外最大的十个缺口",
        "report.gaps.none": "{layer}：{m}分钟外没有缺口。",
        "report.col.rank": "序号",
        "report.col.name": "名称",
        "report.col.street": "街道",
        "report.col.community": "社区",
        "report.col.from": "来源",
        "report.col.homes": "住宅",
        "report.col.ppl": "人口",
        "report.col.nearest": "最近设施",
        "report.col.walk": "步行（分钟）",
        "report.method": "方法说明",
        "report.m.speed": "步行时间按路网计算，步速为 {speeds}。",
        "report.m.network": (
            "步行时间沿 OpenStreetMap 中的真实道路计算，而不是直线半径：人行道、台阶、小路、步行街、生活街道、"
            "居住区道路、内部道路以及有人行道的大路可以步行；高速公路、标注禁止步行（foot=no）的道路、私人道路"
            "（除非 foot=yes）、机动车专用道路和在建道路不能步行。步行不受单行限制。每个设施和住宅接到最近的道路上"
            "（设施最远 {snap:g} 米）。服务圈是步行时间内可到达道路两侧 {width:g} 米以内的范围。"
        ),
        "report.m.strict": (
            "过街规则：快速路、主干道、次干道，以及四车道以上或有实体隔离的三级道路，只能在有过街设施的地方穿越："
            "斑马线或信号灯、与其他公共道路的路口、人行天桥或地道，或道路尽头。"
        ),
        "report.m.anywhere": "过街规则：任何道路在道路相交处都可以穿越（未使用过街模型）。",
        "report.m.homes": "住宅与人口：{method}。",
        "report.m.footprint": (
            "住宅取自 OSM 中的住宅建筑；没有建筑的居住用地按 {grid:g} 米网格取点。人口 = 建筑占地面积 × 层数 ÷ "
            "人均住房建筑面积 {floor:g} 平方米（第七次全国人口普查城镇人均住房建筑面积）；未标层数时住宅按 "
            "{other:g} 层、独立住宅按 {house:g} 层计；网格点按容积率 {far:g} 估算"
        ),
        "report.m.file": "人口取自规划人员提供的文件（{method}）",
        "report.m.gaps": "缺口：步行时间外的住宅按相距 {link:g} 米以内聚成片区，按街道和社区边界分开，按人口排序。",
        "report.m.date": "数据日期：{date}（OSM 数据中最新一次编辑的时间）。",
        "report.page": "第 {n} 页",
        "report.unnamed": "（未识别名称）",
        "report.scenario": "方案调整前后对比",
        "report.col.before": "调整前",
        "report.col.after": "调整后",
        "report.col.change": "变化",
        "report.scenario.line": "方案 {id}“{name}”，由 {by} 于 {when}（UTC）保存，基于本规划调整前的数据。调整内容：",
        "report.col.gained": "新增覆盖",
        "report.col.lost": "失去覆盖",
        "report.col.min": "分钟",
        "report.scenario.maps": "以下地图、表格和缺口均为调整后的结果；虚线轮廓为调整前的服务圈。",
        "report.edits": "方案调整",
    },
}


class ReportError(CirclesError):
    """The report cannot be made on this machine (no font with Chinese characters)."""


class ReportWords(Words):
    """The map's words plus the report's own (``report.*``)."""

    def __call__(self, key: str, **kw: object) -> str:
        """The label ``key`` in the report's language, filled with ``kw``."""
        text = REPORT_LABELS[self.lang].get(key) or REPORT_LABELS["en"].get(key)
        if text is None:
            return super().__call__(key, **kw)
        return text.format(**kw) if kw else text


def _embeddable(path: Path) -> bool:
    """Whether reportlab can embed ``path`` (TrueType outlines) and it has Chinese glyphs."""
    from reportlab.pdfbase.ttfonts import TTFont

    try:
        font = TTFont("probe", str(path), subfontIndex=0)
    except Exception:  # noqa: BLE001 - reportlab raises TTFError, struct.error... for CFF, broken or odd fonts
        return False
    return all(ord(ch) in font.face.charToGlyph for ch in "社区中心")


def find_cjk_font() -> Path:
    """A font file with Chinese characters that the PDF can embed (fontconfig first, then
    matplotlib's font list).

    Raises
    ------
    ReportError
        When none is installed, saying which package to install.
    """
    candidates: list[str] = []
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            out = subprocess.run(
                [fc_list, ":lang=zh:fontformat=TrueType", "file"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout
            candidates += sorted(line.strip().rstrip(":") for line in out.splitlines() if line.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    from matplotlib import font_manager

    candidates += [f.fname for f in font_manager.fontManager.ttflist if any(k in f.name for k in CJK_FAMILIES)]
    # WenQuanYi first: it is the package the Makefile installs, so reports look alike everywhere
    candidates.sort(key=lambda p: 0 if "wqy" in p.lower() else 1)
    for c in dict.fromkeys(candidates):
        p = Path(c)
        if p.is_file() and _embeddable(p):
            return p
    raise ReportError(f"no font with Chinese characters that the PDF can embed was found: {FONT_HELP}")


# ------------------------------------------------------------------------------ the document


def _styles(font: str):
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK", spaceAfter=4)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, spaceAfter=8),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontSize=13.5,
            leading=19,
            spaceBefore=8,
            spaceAfter=6,
            textColor=colors.HexColor("#7f0000"),
        ),
        "h2": ParagraphStyle("h2", parent=base, fontSize=11, leading=15, spaceBefore=6, spaceAfter=4),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#444444")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5, spaceAfter=0),
    }


#: width the tables may take: A4 less the 15 mm margins (points)
TABLE_WIDTH_PT = (210 - 30) / 25.4 * 72
#: type size of the tables (points); a header wraps rather than widen its column beyond HEADER_PT
TABLE_PT, HEADER_PT = 7.5, 62.0


def _widths(rows: list[list], font: str, total: float) -> list[float]:
    """Column widths (points) from the widest cell of each column as set in ``font`` (headers
    wrap beyond :data:`HEADER_PT`, at least their longest word), scaled down to ``total``.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    def width(text: object) -> float:
        return stringWidth(str(text), font, TABLE_PT)

    out = []
    for c in range(len(rows[0])):
        head = str(rows[0][c])
        word = max((width(w) for w in head.split()), default=0.0)
        out.append(max([width(r[c]) for r in rows[1:]] + [min(width(head), HEADER_PT), word]) + 7.0)
    scale = min(1.0, total / sum(out))
    return [w * scale for w in out]


def _table(rows: list[list], *, font: str, numeric=None):
    """A table the width of the page at most, with its header row (wrapped) repeated on every
    page; ``numeric`` columns (default: all but the first) right-aligned.
    """
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import LongTable, Paragraph, TableStyle

    widths = _widths(rows, font, TABLE_WIDTH_PT)
    latin = ParagraphStyle("head", fontName=font, fontSize=TABLE_PT, leading=9)
    cjk = ParagraphStyle("head-cjk", parent=latin, wordWrap="CJK")
    rows = [
        [Paragraph(escape(str(h)), cjk if any(ord(ch) > 0x2E80 for ch in str(h)) else latin) for h in rows[0]],
        *rows[1:],
    ]
    t = LongTable(rows, colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), TABLE_PT),
                ("LEADING", (0, 0), (-1, -1), 9.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f7f7")]),
                *[
                    ("ALIGN", (c, 1), (c, -1), "RIGHT")
                    for c in (numeric if numeric is not None else range(1, len(rows[0])))
                ],
            ]
        )
    )
    return t


def _pct(v) -> str:
    try:
        return f"{100 * float(v):.1f}%"
    except (TypeError, ValueError):
        return ""


def _int(v) -> str:
    try:
        return f"{round(float(v)):,}"
    except (TypeError, ValueError):
        return ""


def _text(v, words: ReportWords) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return words("report.unnamed")
    return str(v)


def _shown_layers(result) -> list[str]:
    """Layers with at least one facility placed on the network."""
    return [n for n, lr in result.layers.items() if lr.snapped.ok.any()]


def _key_figures(result, words, st, font) -> list:
    cov = result.coverage
    mins = sorted(result.params.minutes)
    story = [
        _p(words("report.key"), st["h1"]),
        _p(
            words(
                "report.homes",
                homes=_int(cov.get("homes", len(result.homes))),
                people=_int(cov.get("people", result.homes.people.sum())),
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
            row += [_int(f.get("people_covered")), _pct(f.get("people_share"))]
        rows.append(row)
    story.append(_table(rows, font=font))
    return story


def _maps(result, words, st, font_path, before=None, edits=None) -> list:
    from reportlab.lib.units import cm
    from reportlab.platypus import CondPageBreak, Image

    from maps.static_map import layer_map_png

    mins = sorted(result.params.minutes)
    shown = _shown_layers(result)
    story = [CondPageBreak(17.5 * cm if shown else 3 * cm), _p(words("report.maps"), st["h1"])]
    story += [_p(words("report.map.none", layer=words.layer(n)), st["body"]) for n in result.layers if n not in shown]
    for name in shown:
        png = layer_map_png(result, name, words=words, font_path=font_path, before=before, edits=edits)
        story += [
            CondPageBreak(16.8 * cm),
            _p(
                words("report.map", layer=words.layer(name), mins="/".join(f"{m:g}" for m in mins), m=f"{mins[-1]:g}"),
                st["h2"],
            ),
            Image(io.BytesIO(png), width=15 * cm, height=15 * cm),
            _p(words("report.credit"), st["small"]),
        ]
    return story


def _area_tables(tables, result, words, st, font) -> list:
    from reportlab.lib.units import cm
    from reportlab.platypus import CondPageBreak, PageBreak

    from geo.tables import cover_columns

    shown = _shown_layers(result)
    cols = [(c, layer, m, p) for c, layer, m, p in cover_columns(result.params) if layer in shown]
    multi = len(result.params.profiles) > 1
    story = []
    for level, table in (("street", tables.streets), ("community", tables.communities)):
        story += [
            PageBreak() if level == "street" else CondPageBreak(8 * cm),
            _p(words(f"report.by_{level}"), st["h1"]),
        ]
        cut = len(table) > MAX_TABLE_ROWS
        more = words("report.cut", n=MAX_TABLE_ROWS, total=len(table)) if cut else ""
        story.append(_p(words("report.order", more=more), st["small"]))
        if level == "community":
            story.append(_p(words("report.named"), st["small"]))
        head = [words("report.col.name")]
        if level == "community":
            head += [words("report.col.street"), words("report.col.from")]
        head += [words("report.col.homes"), words("report.col.ppl")]
        head += [
            words("report.col.cover", layer=words.layer(layer), m=f"{m:g}") + (f" {words.profile(p)}" if multi else "")
            for _, layer, m, p in cols
        ]
        rows = [head]
        for rec in table.head(MAX_TABLE_ROWS).to_dict(orient="records"):
            row = [_text(rec["name"], words)]
            if level == "community":
                src = {"admin boundary": "OSM", "nearest place": "≈", "mixed": "OSM/≈"}.get(rec.get("named_from"), "")
                row += [_text(rec.get("street"), words) if rec.get("street") else "", src]
            row += [_int(rec["homes"]), _int(rec["people"])] + [_pct(rec[c]) for c, *_ in cols]
            rows.append(row)
        first = 3 if level == "community" else 1
        story.append(_table(rows, font=font, numeric=range(first, len(head))))
    return story


def _gap_tables(result, words, st, font) -> list:
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
            story.append(_p(words("report.gaps.none", **title), st["body"]))
            continue
        g = g.sort_values("people", ascending=False, kind="stable").head(10)
        story.append(_p(words("report.gaps.title", **title), st["h2"]))
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
                    _int(rec["people"]),
                    _int(rec["homes"]),
                    _text(rec.get("street"), words),
                    _text(rec.get("community"), words),
                    _text(rec.get("nearest_facility"), words)[:24],
                    "" if walk is None or math.isnan(float(walk)) else f"{float(walk):.1f}",
                ]
            )
        story.append(_table(rows, font=font, numeric=(0, 1, 2, 6)))
    return story


def _scenario(scenario: dict, words, st, font) -> list:
    """Before/after figures of a kept scenario: who and when, its edits, and per layer and
    threshold the people covered before and after, gained and lost.
    """
    cov = scenario.get("coverage") or {}
    story = [
        _p(words("report.scenario"), st["h1"]),
        _p(
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
        story.append(_p(line, st["small"]))
    rows = [[words(f"report.col.{k}") for k in ("layer", "min", "before", "after", "gained", "lost", "share")]]
    for name, doc in (cov.get("layers") or {}).items():
        for m, f in (doc.get("minutes") or {}).items():
            b, a = f.get("before", {}), f.get("after", {})
            rows.append(
                [
                    words.layer(name),
                    m,
                    _int(b.get("people_covered")),
                    _int(a.get("people_covered")),
                    "+" + _int(f.get("people_gained")),
                    "-" + _int(f.get("people_lost")),
                    f"{_pct(b.get('people_share'))} → {_pct(a.get('people_share'))}",
                ]
            )
    story += [_table(rows, font=font, numeric=(1, 2, 3, 4, 5)), _p(words("report.scenario.maps"), st["small"])]
    return story


def _method(result, words, st) -> list:
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
        _p(words("report.method"), st["h1"]),
        _p(words("report.m.speed", speeds=speeds), st["body"]),
        _p(words("report.m.network", snap=p.snap_max_m, width=p.width_m), st["body"]),
        _p(words(crossing), st["body"]),
        _p(words("report.m.homes", method=homes), st["body"]),
        _p(words("report.m.gaps", link=p.gap_link_m), st["body"]),
        _p(words("report.m.date", date=date), st["body"]),
        _p(words("report.credit"), st["small"]),
    ]


def _p(text: str, style):
    """A paragraph of plain text (names with ``&`` or ``<`` shown as written)."""
    from xml.sax.saxutils import escape

    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def report_lang(result, lang: str | None) -> str:
    """``lang`` checked, else Chinese for Chinese facility names (as the map does)."""
    lang = check_lang(lang)
    if lang:
        return lang
    fac = result.facilities
    return detect_lang(fac["name"] if fac is not None and "name" in fac else [])


def write_report(
    result,
    out: str | Path,
    *,
    lang: str | None = None,
    font_path: Path | None = None,
    generated: str | None = None,
    before=None,
    scenario: dict | None = None,
    edits=None,
) -> Path:
    """Write the A4 PDF report of ``result`` (a :class:`geo.plan.PlanResult`) to ``out``
    (atomically). ``lang``: ``zh`` or ``en`` (default: the language of the facility names).

    For a scenario, ``result`` is the plan after it, ``before`` the plan before (its circles
    are drawn as outlines), ``scenario`` the kept record (id, name, created_by, created_at and
    its before/after ``coverage``: :mod:`geo.scenario_store`) and ``edits`` its new links and
    closed ways (WGS84 lines, drawn on the maps).

    Raises
    ------
    ReportError
        When no font with Chinese characters is installed (:func:`find_cjk_font`).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import SimpleDocTemplate

    from geo.io import atomic_write
    from geo.tables import plan_tables

    words = ReportWords(report_lang(result, lang))
    font_path = Path(font_path) if font_path else find_cjk_font()
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_path), subfontIndex=0))
    st = _styles(FONT_NAME)
    when = generated or dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    source = Path(str(result.source)).name
    area = result.area
    story = [
        _p(words("report.title"), st["title"]),
        _p(
            words("report.area.line", name=area.name, source=area.source)
            if area is not None
            else words("report.whole", source=source),
            st["h2"],
        ),
        _p(words("report.data", source=source, date=result.data_date or "?", when=when), st["body"]),
    ]
    if scenario is not None:
        story += _scenario(scenario, words, st, FONT_NAME)
    story += _key_figures(result, words, st, FONT_NAME)
    story += _maps(result, words, st, font_path, before=before, edits=edits)
    story += _area_tables(plan_tables(result, generated=when), result, words, st, FONT_NAME)
    story += _gap_tables(result, words, st, FONT_NAME)
    story += _method(result, words, st)

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT_NAME, 7)
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
