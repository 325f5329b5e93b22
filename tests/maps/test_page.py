"""maps.page writes the page folium and branca wrote, without importing them.

The same page is built twice, with folium (still installed: a dependency of the package) and
with :mod:`maps.page`, and the two texts are compared with the random element ids numbered in
order of appearance. A command drawing a map no longer imports folium, branca or jinja2.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from maps.page import FeatureGroup, LayerControl, LeafletMap, Page, Raw, TileLayer, html_json


def same_page(html: str) -> str:
    """The page with the random element ids (``_<32 hex>``) numbered in order of appearance."""
    ids: dict[str, int] = {}
    return re.sub(r"_([0-9a-f]{32})", lambda m: f"_{ids.setdefault(m.group(1), len(ids))}", html)


def folium_page(*, title: str | None, tiles: str | None, groups: list[tuple[str, bool]], bounds: list) -> str:
    """The page as folium 0.20 wrote it for the planner's map (the options maps.render used)."""
    folium = pytest.importorskip("folium")
    from branca.element import Element, Figure

    fig = Figure(title=title)
    m = folium.Map(
        location=[30.2, 120.18], zoom_start=13, tiles=None, control_scale=False, maxZoom=19, prefer_canvas=True
    )
    m.default_js, m.default_css = [], []
    fig.add_child(m)
    fig.header.add_child(Element('<meta charset="utf-8"/>'), name="charset")
    if tiles:
        folium.TileLayer(tiles, attr="© <b>OSM</b> & 'co'", name="base", control=False, max_zoom=19).add_to(m)
    for name, show in groups:
        folium.FeatureGroup(name=name, show=show).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.fit_bounds(bounds)
    return fig.render()


def our_page(*, title: str | None, tiles: str | None, groups: list[tuple[str, bool]], bounds: list) -> str:
    """The same page from maps.page."""
    page = Page(title=title)
    m = LeafletMap([30.2, 120.18], zoom_start=13, max_zoom=19)
    page.add_child(m)
    page.add_head(Raw('<meta charset="utf-8"/>'), name="charset")
    if tiles:
        TileLayer(tiles, attribution="© <b>OSM</b> & 'co'", max_zoom=19).add_to(m)
    for name, show in groups:
        FeatureGroup(name, show=show).add_to(m)
    LayerControl().add_to(m)
    m.fit_bounds(bounds)
    return page.render()


@pytest.mark.parametrize(
    ("title", "tiles", "groups"),
    [
        (
            "步行服务圈 · x.osm.pbf",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            [("中心 <b>", True), ("b", False)],
        ),
        (None, None, []),
        ("t", None, [("same", True), ("other", False), ("same", False)]),  # a name given twice: the later group
    ],
)
def test_the_page_is_the_one_folium_wrote(title, tiles, groups):
    bounds = [[30.123456, 120.1], [30.3, 120.254321]]
    ours = our_page(title=title, tiles=tiles, groups=groups, bounds=bounds)
    assert same_page(ours) == same_page(folium_page(title=title, tiles=tiles, groups=groups, bounds=bounds))
    assert ours.endswith("</script>\n</html>")


def test_html_json_is_jinjas_tojson():
    jinja2 = pytest.importorskip("jinja2")
    value = {"b": "<a href='x'>&</a>", "a": [1.5, None, True, "中"]}
    assert html_json(value) == jinja2.Template("{{ v|tojson }}").render(v=value)


def test_text_in_the_page_is_not_read_as_a_template():
    page = Page(title="{{ 1 + 1 }}")
    m = LeafletMap([30.0, 120.0])
    page.add_child(m)
    FeatureGroup("{{ 2 + 2 }} {% if %}").add_to(m)
    LayerControl().add_to(m)
    html = page.render()
    assert "<title>{{ 1 + 1 }}</title>" in html
    assert '"{{ 2 + 2 }} {% if %}" : feature_group_' in html


def test_drawing_a_map_imports_no_folium_branca_or_jinja():
    code = (
        "import sys, maps.render, maps.scenario_map, api.outputs;"
        "print(sorted(m for m in ('folium', 'branca', 'jinja2', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
