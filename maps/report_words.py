"""The printed report's words in Chinese and English: the map's words plus the report's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from maps.labels import Words, check_lang, detect_lang

if TYPE_CHECKING:
    from geo.plan import PlanResult

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


class ReportWords(Words):
    """The map's words plus the report's own (``report.*``)."""

    def __call__(self, key: str, **kw: object) -> str:
        """The label ``key`` in the report's language, filled with ``kw``."""
        text = REPORT_LABELS[self.lang].get(key) or REPORT_LABELS["en"].get(key)
        if text is None:
            return super().__call__(key, **kw)
        return text.format(**kw) if kw else text


def report_lang(result: PlanResult, lang: str | None) -> str:
    """The report's language: ``lang`` checked, else that of the facility names (as the map does).

    Parameters
    ----------
    result
        The plan reported on.
    lang
        ``zh``, ``en``, ``auto`` or None (the last two: Chinese for Chinese facility names).

    Returns
    -------
    str
        ``zh`` or ``en``.
    """
    checked = check_lang(lang)
    if checked:
        return checked
    fac = result.facilities
    return detect_lang(fac["name"] if fac is not None and "name" in fac else [])
