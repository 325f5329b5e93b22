"""Popups, people served, 24-hour marks, languages and tile choices, on hand-made inputs."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from geo.circles import metres_for
from geo.errors import InputError, UnknownNameError
from maps.content import facility_popup, gap_class, gap_props, open_24h, served_people
from maps.labels import Words, check_lang, detect_lang
from maps.tiles import OSM_URL, tile_spec


def fake_result(home_dist, home_src, people, n_fac):
    fac = pd.DataFrame({"name": [f"f{i}" for i in range(n_fac)]})
    lr = SimpleNamespace(facilities=fac, home_dist=np.asarray(home_dist, float), home_src=np.asarray(home_src))
    return SimpleNamespace(layers={"centres": lr}, homes=SimpleNamespace(people=np.asarray(people, float)))


def test_served_people_counts_each_home_once_at_its_nearest_facility_within_the_limit():
    m10 = metres_for(10, 4.8)  # 800 m
    # homes: 0 -> f0 at 100 m, 1 -> f0 at 799 m, 2 -> f1 at 801 m (out at 10 min), 3 -> none
    r = fake_result([100, 799, 801, np.inf], [0, 0, 1, -1], [10, 5, 7, 100], 3)
    people, homes = served_people(r, "centres", minutes=10, speed_kmh=4.8)
    assert m10 == pytest.approx(800)
    assert people.tolist() == [15, 0, 0] and homes.tolist() == [2, 0, 0]
    people, homes = served_people(r, "centres", minutes=15, speed_kmh=4.8)
    assert people.tolist() == [15, 7, 0] and homes.tolist() == [2, 1, 0]


@pytest.mark.parametrize("hours,expect", [
    ("24/7", True), ("24小时", True), ("24 hours", True), ("Mo-Su 00:00-24:00", True),
    ("Mo-Fr 08:30-17:30", False), ("Mo-Su 06:00-23:00", False), (None, False), ("", False),
    (float("nan"), False), ("whenever", False),
])
def test_open_24h(hours, expect):
    assert open_24h(hours) is expect


def test_facility_popup_keeps_the_name_as_written_and_escapes_markup():
    words = Words("zh")
    row = {"name": "白马湖<社区>党群服务中心", "tier": "community", "kind": "community centre",
           "opening_hours": "24/7", "stars": 4, "services": ("老年食堂", "四点半课堂"), "area_m2": 5000.0,
           "address": "滨江区 & 长河"}
    html = facility_popup(row, layer="centres", words=words, served={"10": (1234.4, 56), "15": (2000.0, 90)},
                          is24=True, open_at=("Mon 22:00", True))
    assert "白马湖&lt;社区&gt;党群服务中心" in html and "<社区>" not in html
    for part in ("社区级中心", "24小时开放", "★★★★☆", "老年食堂、四点半课堂", "5,000 m²", "滨江区 &amp; 长河",
                 "10分钟内服务人口", "≈1,234", "住宅 56", "15分钟内服务人口", "≈2,000", "周一 22:00是否开放", "是"):
        assert part in html, part
    en = facility_popup({"name": "Kallio", "tier": None, "stars": None, "services": ()}, layer="stations",
                        words=Words("en"), served={}, is24=False, open_at=None)
    assert "Kallio" in en and "Stars" not in en and "Services" not in en and "served" not in en


def test_gap_props_and_classes():
    assert [gap_class(p) for p in (0, 9.9, 10, 99, 100, 499, 500, 1999, 2000, 1e6)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    row = {"rank": 3, "homes": 12, "people": 345.6, "walk_min_centre": 17.25, "nearest_facility": "闻兴村社区",
           "street": "闻堰街道", "community": float("nan")}
    assert gap_props(row) == {"k": 2, "r": 3, "h": 12, "p": 346, "n": "闻兴村社区", "w": 17.2, "s": "闻堰街道", "c": None}
    assert gap_props({"rank": 1, "homes": 1, "people": 2, "walk_min_centre": None,
                      "nearest_facility": None})["n"] is None


def test_language_detection_and_words():
    assert detect_lang(["滨江区党群服务中心", "Tesla Supercharger", None]) == "zh"
    assert detect_lang(["Kallion kirjasto", "Stoa", "Oodi", "Maunula", "Tesla"]) == "en"
    assert detect_lang(["a", "b", "c", "d", "e", "f", "g", "h", "i", "滨江"]) == "en"  # 1 of 10
    assert detect_lang([]) == "en"
    assert check_lang("auto") is None and check_lang("en") == "en"
    with pytest.raises(UnknownNameError, match="unknown lang 'fr': expected one of en, zh"):
        check_lang("fr")
    zh, en = Words("zh"), Words("en")
    assert zh.layer("centres") == "党群服务中心" and en.layer("centres[open=Mon 22:00]") == "Centres[open=Mon 22:00]"
    assert zh("circle", layer="驿站", m="10") == "驿站 · 10分钟服务圈"
    assert en.tier(None) == "no tier" and zh.tier("street") == "街道级中心"
    assert set(LABELS_KEYS("en")) == set(LABELS_KEYS("zh"))


def LABELS_KEYS(lang):
    from maps.labels import LABELS

    return LABELS[lang].keys()


def test_tiles_osm_none_and_url():
    assert tile_spec("osm").url == OSM_URL and tile_spec(None).url == OSM_URL
    assert tile_spec("none").url is None
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    assert tile_spec(url).url == url and "tiles.example.org" in tile_spec(url).attribution


@pytest.mark.parametrize("url,who", [
    ("https://webrd01.is.autonavi.com/appmaptile?lang=zh_cn&x={x}&y={y}&z={z}", "AMap/Gaode (GCJ-02)"),
    ("https://rt0.map.gtimg.com/tile?z={z}&x={x}&y={-y}", "Tencent (GCJ-02)"),
    ("https://maponline0.bdimg.com/tile/?x={x}&y={y}&z={z}", "Baidu (BD-09)"),
])
def test_offset_tile_servers_are_refused_with_what_to_use(url, who):
    with pytest.raises(InputError) as e:
        tile_spec(url)
    msg = str(e.value)
    assert msg.startswith("--tiles: ") and who in msg and "--tiles osm" in msg and "--tiles none" in msg
    with pytest.raises(InputError) as e:  # the API's query parameter is named as the API takes it
        tile_spec(url, option="tiles")
    msg = str(e.value)
    assert msg.startswith("tiles: ") and "tiles=osm" in msg and "tiles=none" in msg and "--tiles" not in msg


def test_bad_tile_values_name_the_problem():
    with pytest.raises(InputError, match=r"lacks \{z\}, \{y\}"):
        tile_spec("https://tiles.example.org/{x}.png")
    with pytest.raises(InputError, match="neither osm, none nor an http"):
        tile_spec("satellite")


@pytest.mark.parametrize("name", [None, float("nan"), "  "])
def test_unnamed_facilities_are_called_so_in_the_maps_language(name):
    from maps.content import facility_tip

    row = {"id": "osm-n42", "name": name, "opening_hours": None}
    zh = facility_popup(row, layer="charging", words=Words("zh"), served={}, is24=False, open_at=None)
    en = facility_popup(row, layer="stations", words=Words("en"), served={}, is24=False, open_at=None)
    assert '<div class="sc-name">未命名充电点</div>' in zh and "osm-n42" in zh  # the id stays findable
    assert '<div class="sc-name">unnamed station</div>' in en and "nan" not in en
    assert facility_tip(row, layer="centres", words=Words("zh"), is24=True) == "未命名服务中心 · 24小时开放"
    named = facility_popup({"id": "x1", "name": "长河驿站"}, layer="stations", words=Words("zh"), served={},
                           is24=False, open_at=None)
    assert "长河驿站" in named and "x1" not in named and "未命名" not in named


def test_popup_hours_are_the_planners_words_not_the_normalised_ones():
    row = {"name": "a", "opening_hours": "24/7", "opening_hours_raw": "24小时"}
    html = facility_popup(row, layer="charging", words=Words("zh"), served={}, is24=True, open_at=None)
    assert "<td>24小时</td>" in html and "24/7" not in html
    osm = facility_popup({"name": "b", "opening_hours": "Mo-Fr 08:30-17:30"}, layer="centres", words=Words("en"),
                         served={}, is24=False, open_at=None)
    assert "<td>Mo-Fr 08:30-17:30</td>" in osm


def test_legend_swatches_are_drawn_in_the_circles_own_colours():
    import re

    from maps.content import LAYER_COLOURS, circle_style, legend_html

    html = legend_html(words=Words("en"), layers=["stations", "centres"], tiers=["district", None],
                       minutes=[10, 15], at_label=None, has_gaps=True, has_before=False,
                       circle_layers=["stations", "centres"], profile="adult")
    sw = dict(re.findall(r'data-key="([^"]+)" style="([^"]+)"', html))
    assert set(sw) == {"circle:stations:adult:10", "circle:stations:adult:15", "circle:centres:adult:10",
                       "circle:centres:adult:15"}
    for key, style in sw.items():
        _, layer, _, m = key.split(":")
        drawn = circle_style(layer, float(m), 10)
        r, g, b = (int(LAYER_COLOURS[layer][k:k + 2], 16) for k in (1, 3, 5))
        assert f"border-color:rgba({r},{g},{b},{drawn['opacity']:g})" in style
        assert f"background:rgba({r},{g},{b},{drawn['fillOpacity']:g})" in style
    assert "#555" not in html and "85,85,85" not in html  # no grey stand-ins for red circles
    assert "solid 10 min, dashed 15 min" in html


def test_times_speak_the_map_language():
    """--at labels: 周三 22:00 on a Chinese map (issue 13), Wed 22:00 on an English one; dates kept."""
    assert Words("zh")("open.at", at="Wed 22:00") == "周三 22:00是否开放"
    assert Words("en").when("Wed 22:00") == "Wed 22:00"
    assert Words("zh").when("2025-06-04 22:00") == "2025-06-04 22:00"
    assert [Words("zh").when(f"{d} 08:00")[:2] for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")] == \
        ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
