"""maps.page writes one HTML page holding one Leaflet map and its setup script.

The page is read back with the standard library's HTML parser and the script's lines are read
with regular expressions and JSON, and compared with what was asked for: one map ``<div>``,
each group made once, shown groups added to the map, the layer control listing exactly the
listed groups in order, nothing loaded from the network, no text able to end the script early,
and the same bytes for the same map.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from maps.elements import GeoJson, Panel
from maps.page import Group, Line, MapPage, Tiles, js


class Parsed(HTMLParser):
    """The page as a browser's parser sees it: its tags and the text of each ``<script>``."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.scripts: list[str] = []
        self.title = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in {"meta", "link"}:
            self.stack.append(tag)
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            self.scripts[-1] += data
        elif self.stack and self.stack[-1] == "title":
            self.title += data

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def build(groups: list[tuple[str, bool, bool]], *, tiles: bool = False, title: str = "t") -> MapPage:
    """A page with a panel, then groups ``(label, shown, listed)`` each holding one GeoJSON layer."""
    page = MapPage([30.2, 120.18], zoom=13, max_zoom=19, title=title, lang="zh")
    page.add_head("own", "<style>.x { color: red; }</style>")
    if tiles:
        page.tiles = Tiles("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OSM")
    page.add(Panel("bottomleft", "sc-summary", "<b>覆盖</b>"))
    for i, (label, shown, listed) in enumerate(groups):
        page.add(Group(label, shown=shown, listed=listed).add(GeoJson(f"k{i}", "[]", "{}")))
    page.frame([[30.1, 120.1], [30.3, 120.25]])
    return page


GROUPS = [("中心 <b>", True, True), ("b", False, True), ("base", True, False), ("10", False, True), ("b", True, True)]


def made(script: str) -> list[str]:
    return re.findall(r"const (group_\d+) = L\.featureGroup\(\);", script)


def listed(script: str) -> list[tuple[str, str]]:
    """The layer control's entries: (group, label) in order, the labels read back as JSON."""
    return [(g, json.loads(text)) for g, text in re.findall(r"layers\.addOverlay\((group_\d+), (\"[^\n]*\")\);", script)]


def test_the_page_has_one_map_div_and_one_setup_script():
    text = build(GROUPS).html()
    doc = Parsed(text)
    assert text.startswith("<!DOCTYPE html>\n")
    assert doc.all("html") == [{"lang": "zh"}]
    assert {"charset": "utf-8"} in doc.all("meta")
    assert any(m.get("name") == "viewport" for m in doc.all("meta"))
    assert doc.title == "t"
    assert doc.all("div") == [{"id": "map"}]
    assert len(doc.scripts) == 1
    assert doc.scripts[0].strip().startswith("(function () {") and doc.scripts[0].strip().endswith("})();")
    assert 'L.map("map", ' in doc.scripts[0]


def test_each_group_is_made_once_and_the_control_lists_the_listed_ones_in_order():
    script = Parsed(build(GROUPS).html()).scripts[0]
    names = made(script)
    assert names == [f"group_{i + 1}" for i in range(len(GROUPS))]
    assert listed(script) == [(n, label) for n, (label, _, shown_in_control) in zip(names, GROUPS) if shown_in_control]
    on = re.findall(r"^  (group_\d+)\.addTo\(map\);$", script, flags=re.MULTILINE)
    assert on == [n for n, (_, shown, _) in zip(names, GROUPS) if shown]
    # each group's layer is drawn into that group, after it is made and before it is shown
    for i, name in enumerate(names):
        line = f'SC.add("k{i}", {name}, '
        assert script.count(line) == 1
        assert script.index(f"const {name} =") < script.index(line)
        if GROUPS[i][1]:
            assert script.index(line) < script.index(f"{name}.addTo(map);")
    # the panel, added first, comes before the groups; the first view is framed last
    assert script.index("SC.panel(map, ") < script.index("const group_1")
    assert script.rstrip().splitlines()[-2] == "  map.fitBounds([[30.1, 120.1], [30.3, 120.25]]);"


def test_no_groups_no_layer_control():
    script = Parsed(build([]).html()).scripts[0]
    assert "L.control.layers" not in script
    assert made(script) == []


def test_calls_and_groups_stay_in_the_order_added():
    page = MapPage([30.0, 120.0])
    page.add(Line("first({map});"))
    page.add(Group("g"))
    page.add(Line("last({map});"))
    script = Parsed(page.html()).scripts[0]
    assert script.index("first(map);") < script.index("const group_1") < script.index("last(map);")


@pytest.mark.parametrize("text", ["</script><script>alert(1)</script>", "{{ 1 + 1 }} {% if %}", "<!-- x", "a & b"])
def test_no_label_title_or_panel_can_end_the_script_or_be_read_as_a_template(text):
    page = build([(text, True, True)], title=text)
    page.add(Panel("bottomright", "sc-legend", text))
    doc = Parsed(page.html())
    assert len(doc.scripts) == 1
    assert "</" not in doc.scripts[0] and "<!--" not in doc.scripts[0]
    assert doc.title == text
    assert listed(doc.scripts[0]) == [("group_1", text)]
    assert doc.all("div") == [{"id": "map"}]


def test_the_page_loads_nothing_from_the_network():
    offline = build(GROUPS).html()
    doc = Parsed(offline)
    assert not [a for t, a in doc.tags if a.get("src") or a.get("href")]
    assert "http" not in offline
    # with tiles, the tile URL is the only address in the page, and it is only in the script
    online = Parsed(build(GROUPS, tiles=True).html())
    assert re.findall(r"https?://[^\"']+", online.scripts[0]) == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    assert 'L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", ' in online.scripts[0]
    assert "L.tileLayer" not in doc.scripts[0]


def test_the_same_map_is_the_same_bytes():
    assert build(GROUPS, tiles=True).html() == build(GROUPS, tiles=True).html()
    assert build(GROUPS).html() != build(GROUPS[::-1]).html()


def test_js_values_read_back_and_hold_no_markup():
    value = {"b": "</script><!-- & 'x'", "a": [1.5, None, True, "中"], "line": "a\u2028b"}
    text = js(value)
    assert json.loads(text) == value
    assert not set("<>&\u2028") & set(text)
    assert "中" in text


def test_drawing_a_map_imports_no_folium_branca_or_jinja():
    code = (
        "import sys, maps.render, maps.scenario_map, api.outputs;"
        "print(sorted(m for m in ('folium', 'branca', 'jinja2', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
@pytest.mark.hangzhou
def test_the_plans_map_makes_each_group_once_and_lists_them_all(binjiang_plan):
    from maps.render import map_html

    text = map_html(binjiang_plan, tiles="none")
    assert text == map_html(binjiang_plan, tiles="none")
    doc = Parsed(text)
    assert doc.all("div") == [{"id": "map"}]
    assert doc.all("html") == [{"lang": "zh"}]
    script = doc.scripts[-1]
    names = made(script)
    assert names == [f"group_{i + 1}" for i in range(len(names))]
    assert [g for g, _ in listed(script)] == names
    used = set(re.findall(r"\b(group_\d+)\b", script))
    assert used == set(names)
