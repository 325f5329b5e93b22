"""The whole map of a real plan (Binjiang clip, night time Mon 22:00), read as HTML text."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from maps.assets import CDN_JS, LeafletFromCdnWarning
from maps.content import served_people
from maps.render import map_html

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]

LOADS = re.compile(r"""<(?:script|img|iframe)[^>]*\ssrc\s*=\s*["']?([^"'\s>]+)|<link[^>]*\shref\s*=\s*["']?([^"'\s>]+)"""
                   r"""|url\(\s*["']?(https?:[^"')]+)|@import\s+["']?([^"';]+)""", re.I)


def loaded_urls(html: str) -> list[str]:
    """What the page itself would fetch: script/img src, link href, CSS url() and @import."""
    return [next(g for g in m.groups() if g) for m in LOADS.finditer(html)]


def group_keys(html: str) -> list[str]:
    return re.findall(r'SC\.add\("([^"]+)"', html)


def overlay_names(html: str) -> list[str]:
    """Names of the overlays in the layer control, as Leaflet will show them."""
    import html as h

    return [h.unescape(json.loads(s)) for s in re.findall(r'layers\.addOverlay\(group_\d+, ("(?:[^"\\]|\\.)*")\);', html)]


@pytest.fixture(scope="module")
def zh_html(binjiang_plan):
    return map_html(binjiang_plan)


def test_map_loads_nothing_from_the_network_but_tiles(zh_html, binjiang_plan):
    assert loaded_urls(zh_html) == []  # Leaflet inlined: no CDN links
    assert "tile.openstreetmap.org/{z}/{x}/{y}.png" in zh_html
    none = map_html(binjiang_plan, tiles="none")
    assert "tile.openstreetmap.org" not in none and loaded_urls(none) == []
    for lib in ("jquery", "bootstrap", "awesome-markers", "font-awesome", "cdn.jsdelivr", "cdnjs"):
        assert lib not in zh_html.lower(), lib
    assert "sourceMappingURL" not in zh_html


def test_chinese_by_default_with_names_as_written(zh_html, binjiang_plan):
    names = overlay_names(zh_html)
    n = {k: len(v.facilities) for k, v in binjiang_plan.layers.items()}
    for expect in ("党群服务中心 · 10分钟服务圈", "党群服务中心 · 15分钟服务圈", "驿站 · 15分钟服务圈",
                   "党群服务中心 · 15分钟外缺口", "充换电点 · 10分钟外缺口",
                   "党群服务中心（周一 22:00开放）· 15分钟外缺口",
                   f"党群服务中心（{n['centres']}）", f"驿站（{n['stations']}）", f"充换电点（{n['charging']}）"):
        assert expect in names, expect
    chinese = [x for x in binjiang_plan.layers["stations"].facilities["name"] if re.search(r"[\u4e00-\u9fff]", str(x))]
    assert len(chinese) > 10
    for name in chinese[:10]:
        assert json.dumps(name, ensure_ascii=False)[1:-1] in zh_html, name
    assert "© OpenStreetMap contributors" in zh_html and "数据截至" in zh_html
    assert binjiang_plan.latest_edit in zh_html


def test_english_on_request(binjiang_plan):
    names = overlay_names(map_html(binjiang_plan, lang="en"))
    assert "Centres · 10-min circle" in names and "Centres · gaps beyond 15 min" in names
    assert any(re.fullmatch(r"Charging points \(\d+\)", x) for x in names)


def test_people_served_add_up_to_the_layer_coverage(binjiang_plan):
    """Each home counts at its nearest facility: the popups' figures sum to coverage.json's."""
    cov = binjiang_plan.coverage["layers"]
    for layer in binjiang_plan.layers:
        for m in binjiang_plan.params.minutes:
            people, homes = served_people(binjiang_plan, layer, minutes=m, speed_kmh=binjiang_plan.speed_kmh)
            fig = cov[layer]["minutes"][f"{m:g}"]
            assert homes.sum() == fig["homes_covered"]
            assert round(people.sum()) == pytest.approx(fig["people_covered"], abs=1)
            assert (people >= 0).all() and len(people) == len(binjiang_plan.layers[layer].facilities)


def test_every_layer_threshold_and_gap_group_is_drawn(zh_html, binjiang_plan):
    keys = group_keys(zh_html)
    circles = binjiang_plan.circles[binjiang_plan.circles["scope"] == "layer"]
    for _, row in circles.iterrows():
        if not row.geometry.is_empty:  # centres open at 22:00: none (no hours known), so nothing to draw
            assert f"circle:{row['layer']}:{row['profile']}:{row['minutes']:g}" in keys
    for layer in ("centres", "stations", "charging"):
        assert f"facilities:{layer}" in keys
        for m in binjiang_plan.params.minutes:
            if ((binjiang_plan.gaps["layer"] == layer) & (binjiang_plan.gaps["minutes"] == m)).any():
                assert f"gaps:{layer}:{m:g}" in keys
    assert "gaps:centres[open=Mon 22:00]:15" in keys
    # each layer's groups together, the planner's own layer (stations, the first given as a file) first
    assert keys[0] == "facilities:stations"
    assert keys.index("gaps:stations:15") < keys.index("facilities:charging") < keys.index("facilities:centres")
    assert keys.index("circle:centres:adult:15") < keys.index("circle:centres:adult:10")  # the smaller on top


def test_before_after_adds_outline_groups_and_before_rows(binjiang_plan):
    html = map_html(binjiang_plan, before=binjiang_plan, lang="en")
    names = overlay_names(html)
    assert "Before: Centres · 15-min circle" in names and "Before: Stations · 10-min circle" in names
    assert html.count("↳ before") == len(binjiang_plan.layers)


def test_without_the_leaflet_package_the_map_uses_the_cdn_and_says_so(binjiang_plan, monkeypatch):
    import maps.assets

    monkeypatch.setattr(maps.assets, "leaflet_dir", lambda: None)
    with pytest.warns(LeafletFromCdnWarning, match="pip install xstatic-leaflet"):
        html = map_html(binjiang_plan, lang="en")
    assert CDN_JS in loaded_urls(html)
    assert "Leaflet was loaded from a CDN" in html


def test_display_is_lighter_than_the_reports(zh_html, binjiang_plan):
    from geo.io import feature_collection

    full = len(json.dumps(feature_collection(binjiang_plan.circles[binjiang_plan.circles["scope"] == "layer"])))
    assert len(zh_html.encode()) < full


def test_cli_plan_writes_an_english_map_without_tiles(binjiang_path, tmp_path):
    from api.cli import main

    res = CliRunner().invoke(main, ["plan", "--osm", str(binjiang_path), "--out", str(tmp_path), "-q",
                                    "--lang", "en", "--tiles", "none"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "map.html").read_text("utf-8")
    assert "Centres · 10-min circle" in overlay_names(html) and "tile.openstreetmap.org" not in html


def test_cli_refuses_gaode_tiles_before_planning(tmp_path):
    from api.cli import main

    res = CliRunner().invoke(main, ["plan", "--out", str(tmp_path / "x"), "-q", "--tiles",
                                    "https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}"])
    assert res.exit_code == 2
    assert "AMap/Gaode (GCJ-02)" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


def test_empty_layers_still_render(binjiang_plan):
    """A layer with no facility (e.g. no charging point in the data) leaves its groups out, no crash."""
    import dataclasses

    lr = binjiang_plan.layers["charging"]
    empty = dataclasses.replace(
        lr, facilities=lr.facilities.iloc[:0], home_dist=np.full_like(lr.home_dist, np.inf),
        home_src=np.full_like(lr.home_src, -1),
    )
    res = dataclasses.replace(
        binjiang_plan, layers={**binjiang_plan.layers, "charging": empty},
        circles=binjiang_plan.circles[~binjiang_plan.circles["layer"].str.startswith("charging")],
    )
    keys = group_keys(map_html(res))
    assert "facilities:charging" in keys and not any(k.startswith("circle:charging") for k in keys)


def shown_groups(html: str) -> dict[str, bool]:
    """Group key (``SC.add("key", group, …)``) -> whether its group is on the map when it opens."""
    on = set(re.findall(r"(group_\d+)\.addTo\(map\)", html))
    pairs = re.findall(r'SC\.(?:add|base|labels|outline)\("([^"]+)", (?:map, )?(group_\d+)', html)
    return {key: grp in on for key, grp in pairs}


def test_the_planners_own_layers_come_first_and_the_rest_start_hidden(zh_html, binjiang_plan):
    shown = shown_groups(zh_html)
    # stations and charging points were given as files: their points show; centres (from OSM tags) start hidden
    assert shown["facilities:stations"] and shown["facilities:charging"] and not shown["facilities:centres"]
    # circles and gaps of the first own layer only (at 22:00: the night gaps)
    assert shown["circle:stations:adult:10"] and shown["circle:stations:adult:15"]
    assert not shown["circle:centres:adult:15"] and not shown["circle:charging:adult:15"]
    assert shown["gaps:stations[open=Mon 22:00]:15"] and not shown["gaps:stations:15"]
    assert not any(v for k, v in shown.items() if k.startswith("gaps:") and not k.startswith("gaps:stations"))
    assert shown["base:streets.major"] and shown["base:labels"]  # the base map is on
    names = overlay_names(zh_html)
    assert names[0] == f"驿站（{len(binjiang_plan.layers['stations'].facilities)}）"
    assert names.index("充换电点 · 15分钟服务圈") < names.index("党群服务中心 · 15分钟服务圈")


def test_dense_layers_are_grouped_with_the_inlined_markercluster(zh_html, binjiang_plan):
    from maps.render import CLUSTER_MIN

    assert "MarkerClusterGroup" in zh_html and "marker-cluster" in zh_html  # script and style inlined
    n = {k: len(v.facilities) for k, v in binjiang_plan.layers.items()}
    for layer, count in n.items():
        grouped = re.search(r'SC\.add\("facilities:' + layer + r'", group_\d+, SC\.cluster\(', zh_html)
        assert bool(grouped) == (count > CLUSTER_MIN), (layer, count)
    assert n["stations"] > CLUSTER_MIN  # the real test data has a dense layer
    assert "L.control.scale()" not in zh_html  # no imperial+metric scale: ours is metric only
    assert "imperial: false" in zh_html


def test_without_the_markercluster_package_points_are_drawn_one_by_one_and_the_map_says_so(binjiang_plan, monkeypatch):
    import maps.assets
    from maps.assets import MarkerClusterMissingWarning

    monkeypatch.setattr(maps.assets, "markercluster_dir", lambda: None)
    with pytest.warns(MarkerClusterMissingWarning, match="pip install xstatic-leaflet-markercluster"):
        html = map_html(binjiang_plan, lang="en", tiles="none")
    assert "SC.cluster(" not in html and "MarkerClusterGroup" not in html
    assert "xstatic-leaflet-markercluster package is not installed" in html
    assert loaded_urls(html) == []  # and still nothing fetched


def test_popups_show_opening_hours_as_the_planner_wrote_them(zh_html, binjiang_plan):
    fac = binjiang_plan.layers["charging"].facilities
    raw = fac["opening_hours_raw"].dropna()
    assert (raw == "24小时").any()
    assert (fac.loc[raw.index, "opening_hours"] != raw).any()  # the reader normalised some of them
    assert "开放时间<\\/th><td>24小时<\\/td>" in zh_html


def test_proposed_sites_are_numbered_by_people_gained(binjiang_plan):
    import geopandas as gpd

    # greedy ranks 1..3, but the people gained put the third first (as an exact solve may)
    sites = gpd.GeoDataFrame({"rank": [1, 2, 3], "layer": ["stations"] * 3, "people_gained": [500.0, 20.0, 900.0],
                              "homes_gained": [5, 1, 9], "people_share_after": [0.3, 0.31, 0.35],
                              "street": ["西兴街道", None, "长河街道"], "community": [None, None, None]},
                             geometry=gpd.points_from_xy([120.20, 120.21, 120.22], [30.20, 30.21, 30.22]), crs=4326)
    html = map_html(binjiang_plan, sites=sites)
    block = re.search(r'SC\.add\("sites", group_\d+, L\.geoJSON\((\{.*?\}\]\})', html).group(1)
    feats = json.loads(block.replace("<\\/", "</"))["features"]
    numbered = {tuple(f["geometry"]["coordinates"]): f["properties"]["n"] for f in feats}
    assert numbered == {(120.22, 30.22): 1, (120.2, 30.2): 2, (120.21, 30.21): 3}
    assert "拟建点 1" in feats[0]["properties"]["popup"] and "≈900" in feats[0]["properties"]["popup"]
    assert "拟建点（3），按新增覆盖人口排序" in overlay_names(html)
    assert overlay_names(html)[0].startswith("拟建点")


@pytest.mark.slow
def test_merged_extract_map_stays_small(merged_path, cache_dir):
    """The whole central Hangzhou extract (40k nodes) with its base map: a file that mails and opens."""
    from geo.plan import PlanInputs, PlanParams, plan

    res = plan(PlanInputs(osm=merged_path), PlanParams(cache_dir=cache_dir, per_facility=False))
    html = map_html(res, tiles="none")
    keys = group_keys(html)
    assert {"base:streets.major", "base:streets.minor", "base:water", "base:green", "base:labels"} <= set(
        re.findall(r'SC\.(?:base|labels)\("([^"]+)"', html))
    assert "facilities:centres" in keys
    assert len(html.encode()) < 6_000_000


def test_circle_rows_are_the_layer_rows_and_the_table_itself_when_it_holds_no_other():
    import geopandas as gpd
    import pandas as pd
    import shapely

    from maps.render import _circle_rows

    geoms = [shapely.box(k, 0, k + 1, 1) for k in range(4)]
    mixed = gpd.GeoDataFrame(
        {"scope": pd.Series(["layer", "facility", None, "layer"], dtype="str"), "layer": list("abcd")}, geometry=geoms
    )
    rows = _circle_rows(mixed)
    assert rows["layer"].tolist() == ["a", "d"]
    assert rows.index.tolist() == [0, 3]
    only = mixed.iloc[[0, 3]].reset_index(drop=True)
    assert _circle_rows(only) is only
    assert _circle_rows(only.drop(columns="scope")) is not None
    assert len(_circle_rows(mixed.iloc[:0])) == 0
