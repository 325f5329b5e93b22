"""Words on the map in Chinese and English (``--lang zh|en``; Chinese by default for Chinese data)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from geo.errors import UnknownNameError

LANGS = ("zh", "en")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Walk-time service circles",
        "layer.centres": "Centres",
        "layer.stations": "Stations",
        "layer.charging": "Charging points",
        "tier.district": "district centre",
        "tier.street": "street centre",
        "tier.community": "community centre",
        "tier.special": "special centre",
        "tier.none": "no tier",
        "circle": "{layer} · {m}-min circle",
        "circle.profile": "{layer} · {m}-min circle ({profile})",
        "gaps": "{layer} · gaps beyond {m} min",
        "gaps.profile": "{layer} · gaps beyond {m} min ({profile})",
        "before.circle": "Before: {layer} · {m}-min circle",
        "night.gaps": "{layer} open {at} · gaps beyond {m} min",
        "facilities": "{layer} ({n})",
        "tier": "Tier",
        "kind": "Kind",
        "hours": "Hours",
        "stars": "Stars",
        "services": "Services",
        "area": "Floor area",
        "address": "Address",
        "served": "People served within {m} min",
        "served.note": "homes whose nearest {what} this is",
        "open24": "open 24 hours",
        "open.at": "Open at {at}",
        "open.yes": "yes",
        "open.no": "no",
        "open.unknown": "unknown (no hours)",
        "gap": "Gap {rank}: beyond {m} min of {layer}",
        "homes": "Homes",
        "people": "People (est.)",
        "nearest": "Nearest",
        "walk": "{min} min walk",
        "unreachable": "not reachable on foot",
        "street": "Street",
        "community": "Community",
        "summary": "Coverage",
        "people.within": "people within",
        "profile": "{profile} {speed} km/h",
        "layer": "Layer",
        "n": "Facilities",
        "night": "open {at}",
        "before": "before",
        "source": "Data",
        "date": "data as of {date}",
        "homes.total": "{homes} homes · ≈{people} people (estimated)",
        "legend": "Legend",
        "legend.open24": "open 24 hours",
        "legend.closed": "closed at {at}",
        "legend.circles": "circles: solid {a} min, dashed {b} min",
        "legend.circle": "{m}-min circles",
        "legend.gaps": "gap area, people",
        "legend.before": "before the change (outline)",
        "legend.sites": "proposed site, by people gained",
        "cdn": "Leaflet was loaded from a CDN (the xstatic-leaflet package is not installed): "
        "this map needs the internet.",
        "nocluster": "dense points are not grouped (the xstatic-leaflet-markercluster package is not installed)",
        "notiles": "no tile server (--tiles none): streets, water and parks drawn from the extract",
        "unnamed.centres": "unnamed centre",
        "unnamed.stations": "unnamed station",
        "unnamed.charging": "unnamed charging point",
        "unnamed": "unnamed facility",
        "id": "ID",
        "basemap": "Base map: streets, water, parks",
        "outline": "Study area: {name}",
        "sites": "Proposed sites ({n}), by people gained",
        "site": "Proposed site {n}",
        "site.gained": "People gained (est.)",
        "site.homes": "Homes gained",
        "site.after": "Covered after",
    },
    "zh": {
        "title": "步行服务圈",
        "layer.centres": "党群服务中心",
        "layer.stations": "驿站",
        "layer.charging": "充换电点",
        "tier.district": "区级中心",
        "tier.street": "街道级中心",
        "tier.community": "社区级中心",
        "tier.special": "特色阵地",
        "tier.none": "未分级",
        "circle": "{layer} · {m}分钟服务圈",
        "circle.profile": "{layer} · {m}分钟服务圈（{profile}）",
        "gaps": "{layer} · {m}分钟外缺口",
        "gaps.profile": "{layer} · {m}分钟外缺口（{profile}）",
        "before.circle": "调整前：{layer} · {m}分钟服务圈",
        "night.gaps": "{layer}（{at}开放）· {m}分钟外缺口",
        "facilities": "{layer}（{n}）",
        "tier": "级别",
        "kind": "类型",
        "hours": "开放时间",
        "stars": "星级",
        "services": "服务",
        "area": "面积",
        "address": "地址",
        "served": "{m}分钟内服务人口",
        "served.note": "以此为最近{what}的住宅",
        "open24": "24小时开放",
        "open.at": "{at}是否开放",
        "open.yes": "是",
        "open.no": "否",
        "open.unknown": "未知（无开放时间）",
        "gap": "缺口 {rank}：{layer}{m}分钟外",
        "homes": "住宅",
        "people": "人口（估算）",
        "nearest": "最近设施",
        "walk": "步行{min}分钟",
        "unreachable": "步行不可达",
        "street": "街道",
        "community": "社区",
        "summary": "覆盖情况",
        "people.within": "覆盖人口",
        "profile": "{profile} {speed} 公里/小时",
        "layer": "图层",
        "n": "设施数",
        "night": "{at}开放",
        "before": "调整前",
        "source": "数据",
        "date": "数据截至 {date}",
        "homes.total": "{homes} 处住宅 · 约 {people} 人（估算）",
        "legend": "图例",
        "legend.open24": "24小时开放",
        "legend.closed": "{at}不开放",
        "legend.circles": "服务圈：实线{a}分钟，虚线{b}分钟",
        "legend.circle": "{m}分钟服务圈",
        "legend.gaps": "缺口（人口）",
        "legend.before": "调整前（轮廓）",
        "legend.sites": "拟建点（按新增覆盖人口排序）",
        "cdn": "未安装 xstatic-leaflet，Leaflet 从 CDN 加载：此地图需要联网。",
        "nocluster": "未安装 xstatic-leaflet-markercluster：密集点位未聚合显示",
        "notiles": "不加载在线底图（--tiles none）：街道、水系、绿地取自数据本身",
        "unnamed.centres": "未命名服务中心",
        "unnamed.stations": "未命名驿站",
        "unnamed.charging": "未命名充电点",
        "unnamed": "未命名设施",
        "id": "编号",
        "basemap": "底图：街道、水系、绿地",
        "outline": "研究范围：{name}",
        "sites": "拟建点（{n}），按新增覆盖人口排序",
        "site": "拟建点 {n}",
        "site.gained": "新增覆盖人口（估算）",
        "site.homes": "新增覆盖住宅",
        "site.after": "建成后覆盖",
    },
}
PROFILE_NAMES = {"en": {"adult": "adults", "elderly": "elderly"}, "zh": {"adult": "成人", "elderly": "老人"}}


def has_cjk(text: object) -> bool:
    """Whether ``text`` is a string with Chinese (CJK) characters."""
    return isinstance(text, str) and bool(_CJK.search(text))


def detect_lang(names: Iterable[object]) -> str:
    """``"zh"`` when at least a fifth of the named facilities carry Chinese characters, else ``"en"``."""
    named = [n for n in names if isinstance(n, str) and n.strip()]
    if not named:
        return "en"
    return "zh" if sum(map(has_cjk, named)) * 5 >= len(named) else "en"


def check_lang(lang: str | None) -> str | None:
    """``zh``/``en`` as given, None for automatic; anything else is refused, naming the choices."""
    if lang is None or lang == "auto":
        return None
    if lang not in LANGS:
        raise UnknownNameError("lang", lang, LANGS)
    return lang


#: weekdays as geo.hours.at_label writes them, in Chinese
ZH_DAYS = {"Mon": "周一", "Tue": "周二", "Wed": "周三", "Thu": "周四", "Fri": "周五", "Sat": "周六", "Sun": "周日"}


class Words:
    """``words("circle", layer=..., m=...)``: the label in one language (English when missing)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.table = LABELS[lang]

    def __call__(self, key: str, **kw: object) -> str:
        """The label ``key`` with its ``{placeholders}`` filled (``at`` in this language)."""
        text = self.table.get(key) or LABELS["en"][key]
        if "at" in kw:
            kw = {**kw, "at": self.when(kw["at"])}
        return text.format(**kw) if kw else text

    def when(self, at: object) -> str:
        """A time of ``--at`` in this language: ``Wed 22:00`` is ``周三 22:00`` on a Chinese map."""
        day, _, rest = str(at).partition(" ")
        if self.lang == "zh" and day in ZH_DAYS:
            return f"{ZH_DAYS[day]} {rest}"
        return str(at)

    def layer(self, name: str) -> str:
        """``centres`` -> 中心; a view ``centres[open=Mon 22:00]`` keeps its filter."""
        base, _, rest = name.partition("[")
        word = self.table.get(f"layer.{base}", base)
        return f"{word}[{rest}" if rest else word

    def tier(self, tier: object) -> str:
        """A centre tier's name (``community`` -> 社区级中心); no tier -> 未分级."""
        return self.table.get(f"tier.{tier}", str(tier)) if isinstance(tier, str) and tier else self("tier.none")

    def unnamed(self, layer: str) -> str:
        """What an unnamed facility of ``layer`` is called: 未命名充电点 / "unnamed charging point"."""
        return self.table.get(f"unnamed.{layer.partition('[')[0]}") or self("unnamed")

    def profile(self, profile: str) -> str:
        """A walking profile's name (``elderly`` -> 老人)."""
        return PROFILE_NAMES[self.lang].get(profile, profile)
