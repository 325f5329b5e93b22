"""A scenario's map in headless Chromium, opened from a file with the network off: the edits
and the homes that gain are drawn, the first view is on the change, and the before/after
switch swaps the circles."""

from __future__ import annotations

import pytest

from tests.browser.test_map_browser import OUTPUT, Page, browser  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def scenario_page(tmp_path_factory, cache_dir):
    from geo.plan import PlanInputs, PlanParams, plan
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario
    from maps.render import map_html
    from tests.api.test_whatif import _far_node

    before = plan(PlanInputs(), PlanParams(minutes=(10.0, 15.0), cache_dir=cache_dir))
    lon, lat = _far_node(before, "centres")
    d = 2e-4
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "new centre"},
         "geometry": {"type": "Point", "coordinates": [lon, lat]}},
        {"type": "Feature", "properties": {"edit": "close", "name": "works"},
         "geometry": {"type": "Polygon", "coordinates": [[[lon + d, lat + d], [lon + 2 * d, lat + d],
                                                          [lon + 2 * d, lat + 2 * d], [lon + d, lat + 2 * d],
                                                          [lon + d, lat + d]]]}}]}
    out = run_scenario(before, scenario_from_doc(doc))
    path = tmp_path_factory.mktemp("scenario-map") / "map.html"
    path.write_text(map_html(out.after, before=before, scenario=out, tiles="none", lang="en"), encoding="utf-8")
    return path, (lon, lat), before, out


def test_scenario_map_in_the_browser(browser, scenario_page):  # noqa: F811 - the fixture
    path, (lon, lat), before, out = scenario_page
    p = Page(browser)
    page = p.open(path.as_uri())
    count = ("pane => { let n = 0; circlesMap.eachLayer(l => { if (l.options && l.options.pane === pane "
             "&& !(l instanceof L.LayerGroup) && !(l instanceof L.Renderer)) n++; }); return n; }")
    # the new centre (a point), the works area (a polygon) and the streets it closes
    assert page.evaluate(count, "scn-edits") == 2 + len(out.edits)
    homes15, areas15 = out.homes[out.homes["minutes"] == 15.0], out.areas[out.areas["minutes"] == 15.0]
    assert ((homes15["layer"] == "centres") & (homes15["change"] == "gain")).sum() >= 1
    # the homes and areas that gain or lose within 15 minutes are shown at first
    assert page.evaluate(count, "scn-areas") == len(homes15) + len(areas15)
    # the first view is on the change: the new centre in view, closer than the whole extract
    lon0, lat0, lon1, lat1 = before.network.bbox_lonlat()
    assert page.evaluate(f"circlesMap.getBounds().contains([{lat}, {lon}])")
    assert page.evaluate(f"circlesMap.getZoom() > circlesMap.getBoundsZoom([[{lat0}, {lon0}], [{lat1}, {lon1}]])")
    on = "key => { const l = SC.layers[key]; return Object.values(l._eventParents).some(g => circlesMap.hasLayer(g)); }"
    after_key, before_key = "circle:centres:adult:15", "before:centres:15"
    assert page.evaluate(on, after_key) and page.evaluate(on, before_key)  # both at first
    page.click("button[data-mode=before]")
    assert not page.evaluate(on, after_key) and page.evaluate(on, before_key)
    page.click("button[data-mode=after]")
    assert page.evaluate(on, after_key) and not page.evaluate(on, before_key)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "map-helsinki-scenario.png"))
    assert p.errors == [] and p.requests == []
    p.context.close()
