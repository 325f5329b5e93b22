"""The map as a person uses it: opened in headless Chromium from a file and from the API's /map.

Needs Debian's ``chromium`` at /usr/bin/chromium (``make test`` installs it through the
``browser`` target) and the ``playwright`` package driving it; no browser is downloaded.
Screenshots go to tests/output/ (not tracked).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.hangzhou]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = Path(__file__).resolve().parent.parent / "output"
VIEW = {"width": 1400, "height": 900}


def _png(w: int = 256, h: int = 256) -> bytes:
    """A plain light-grey PNG tile, made here (the tests never touch the internet)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xee\xee\xee" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium: run `make browser` "
                    "(apt-get install -y chromium, as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extras: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A page that records console errors, page errors and every http(s) request."""

    def __init__(self, browser, *, tiles_ok: bool = False):
        self.context = browser.new_context(viewport=VIEW)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        tile = _png()

        def route(r):
            url = r.request.url
            self.requests.append(url)
            if tiles_ok and url.startswith("https://tile.openstreetmap.org/"):
                r.fulfill(status=200, content_type="image/png", body=tile)
            elif url.startswith("http://127.0.0.1:"):
                r.continue_()
            else:
                r.abort()

        self.context.route(lambda url: url.startswith("http"), route)

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_function("window.circlesMap !== undefined && Object.keys(SC.layers).length > 0")
        self.page.wait_for_timeout(300)
        return self.page

    def close(self):
        self.context.close()


def overlay_labels(page) -> list[str]:
    return [t.strip() for t in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]


def click_latlng(page, lat: float, lon: float, zoom: int) -> None:
    """Centre the map on a point and click there with the mouse."""
    xy = page.evaluate(
        """([lat, lon, zoom]) => { const m = window.circlesMap; m.setView([lat, lon], zoom, {animate: false});
           const p = m.latLngToContainerPoint([lat, lon]); const r = m.getContainer().getBoundingClientRect();
           return [r.left + p.x, r.top + p.y]; }""", [lat, lon, zoom])
    page.wait_for_timeout(200)
    page.mouse.click(*xy)


def lonely_facility(result, layer: str, min_gap_m: float = 60.0):
    """A snapped facility of ``layer`` with a Chinese name and no other facility within ``min_gap_m``."""
    net = result.network
    pts = []
    for lr in result.layers.values():
        f = lr.facilities
        if len(f):
            pts.append(net.project(f.geometry.x.to_numpy(), f.geometry.y.to_numpy()))
    allxy = np.vstack(pts)
    lr = result.layers[layer]
    xy = net.project(lr.facilities.geometry.x.to_numpy(), lr.facilities.geometry.y.to_numpy())
    for i, name in enumerate(lr.facilities["name"]):
        d = np.hypot(*(allxy - xy[i]).T)
        if (lr.snapped.ok[i] and isinstance(name, str) and any("\u4e00" <= c <= "\u9fff" for c in name)
                and (d < min_gap_m).sum() == 1):
            return lr.facilities.iloc[i]
    pytest.fail(f"no isolated Chinese-named facility of {layer} in the data")


def check_map(page, result, tag: str) -> None:
    """What a person checks: the map shows, lists its groups, opens a facility's and a gap's popup.
    The planner's own layer (stations, given as a file) is the one shown at first."""
    box = page.locator(".leaflet-container").bounding_box()
    assert box and box["width"] > 600 and box["height"] > 400
    assert page.locator(".leaflet-overlay-pane, .leaflet-pane canvas").count() > 0
    labels = overlay_labels(page)
    n = {k: len(v.facilities) for k, v in result.layers.items()}
    for expect in ("党群服务中心 · 10分钟服务圈", "党群服务中心 · 15分钟服务圈", "驿站 · 10分钟服务圈",
                   "党群服务中心 · 15分钟外缺口", f"党群服务中心（{n['centres']}）", f"驿站（{n['stations']}）",
                   f"充换电点（{n['charging']}）"):
        assert expect in labels, (expect, labels)
    def checked(text: str) -> bool:
        return page.locator(".leaflet-control-layers-overlays label", has_text=text).locator("input").is_checked()

    assert checked(f"驿站（{n['stations']}）") and checked(f"充换电点（{n['charging']}）")
    assert not checked(f"党群服务中心（{n['centres']}）") and not checked("党群服务中心 · 15分钟服务圈")
    assert "覆盖情况" in page.locator(".sc-summary").inner_text()
    assert "© OpenStreetMap contributors" in page.locator(".sc-summary").inner_text()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{tag}.png"))

    # a facility: its popup carries its name as written and the people it serves
    fac = lonely_facility(result, "stations")
    click_latlng(page, fac.geometry.y, fac.geometry.x, 17)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible", timeout=5000)
    text = popup.inner_text()
    assert fac["name"] in text and "10分钟内服务人口" in text and "15分钟内服务人口" in text
    page.wait_for_timeout(400)  # let the popup fade in before the picture
    page.screenshot(path=str(OUTPUT / f"{tag}-facility-popup.png"))
    page.locator(".leaflet-popup-close-button").click()

    # a gap: switch the layer control from the night gaps to the daytime 15-minute gaps, click the biggest
    for label in labels:
        if "开放）" in label and label.startswith("驿站"):
            page.locator(".leaflet-control-layers-overlays label", has_text=label).locator("input").uncheck()
    day = page.locator(".leaflet-control-layers-overlays label", has_text="驿站 · 15分钟外缺口").locator("input")
    day.check()
    from shapely.ops import polylabel

    gaps = result.gaps
    top = gaps[(gaps["layer"] == "stations") & (gaps["minutes"] == 15) & (gaps["profile"] == "adult")].iloc[0]
    geom = top.geometry if top.geometry.geom_type == "Polygon" else max(top.geometry.geoms, key=lambda g: g.area)
    inside = polylabel(geom, tolerance=1e-6)
    click_latlng(page, inside.y, inside.x, 16)
    popup.wait_for(state="visible", timeout=5000)
    text = popup.inner_text()
    assert "缺口 1" in text and f"{int(top['homes']):,}" in text, text
    if isinstance(top["nearest_facility"], str):
        assert top["nearest_facility"] in text
    page.wait_for_timeout(400)
    page.screenshot(path=str(OUTPUT / f"{tag}-gap-popup.png"))


def test_map_file_opens_with_no_network_at_all(browser, binjiang_plan, tmp_path):
    from maps.render import map_html

    path = tmp_path / "map.html"
    path.write_text(map_html(binjiang_plan, tiles="none"), encoding="utf-8")
    pg = Page(browser)
    try:
        page = pg.open(path.as_uri())
        check_map(page, binjiang_plan, "map-binjiang-file")
        assert pg.errors == []
        assert pg.requests == []  # Leaflet inlined, no tiles: not one request
    finally:
        pg.close()


def test_map_file_with_osm_tiles_asks_only_for_tiles(browser, binjiang_plan, tmp_path):
    from maps.render import map_html

    path = tmp_path / "map.html"
    path.write_text(map_html(binjiang_plan), encoding="utf-8")
    pg = Page(browser, tiles_ok=True)
    try:
        page = pg.open(path.as_uri())
        page.wait_for_timeout(500)
        assert pg.errors == []
        assert pg.requests and all(u.startswith("https://tile.openstreetmap.org/") for u in pg.requests), pg.requests
        assert "OpenStreetMap" in page.locator(".leaflet-control-attribution").inner_text()
    finally:
        pg.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api_server(binjiang_path):
    """The API (api.app.create_app) on a free loopback port, in a thread of this process."""
    import uvicorn

    from api.app import create_app
    from api.settings import Settings
    from tests.conftest import DATA

    app = create_app(Settings(osm=binjiang_path, at="Mon 22:00", crs="gcj02",
                              stations=DATA / "binjiang_stations_gcj02_gbk.csv",
                              charging=DATA / "binjiang_charging_gcj02_gbk.csv"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the API server did not start")
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_api_map_opens_in_the_browser(browser, api_server, binjiang_plan):
    pg = Page(browser, tiles_ok=True)
    try:
        page = pg.open(f"{api_server}/map")
        check_map(page, binjiang_plan, "map-binjiang-api")
        assert pg.errors == []
        others = [u for u in pg.requests if not u.startswith(("https://tile.openstreetmap.org/", api_server))]
        assert others == []
    finally:
        pg.close()


# ---------------------------------------------------------------- a map that orients offline


@pytest.fixture(scope="module")
def offline_page(browser, binjiang_plan, tmp_path_factory):
    """The Binjiang map with no tile server, opened from a file with every request refused."""
    from maps.render import map_html

    path = tmp_path_factory.mktemp("offline") / "map.html"
    path.write_text(map_html(binjiang_plan, tiles="none"), encoding="utf-8")
    pg = Page(browser)
    page = pg.open(path.as_uri())
    yield page, pg
    pg.close()


def fit(page, result) -> None:
    """Back to the whole district, as the map opens."""
    lon0, lat0, lon1, lat1 = result.network.bbox_lonlat()
    page.evaluate(f"window.circlesMap.fitBounds([[{lat0}, {lon0}], [{lat1}, {lon1}]], {{animate: false}}); 1")
    page.wait_for_timeout(400)


def base_pixels(page) -> dict:
    """What the base-map canvas holds: painted pixels and how many are in the major-street colour."""
    return page.evaluate("""() => {
        const c = document.querySelector('.leaflet-sc-base-pane canvas');
        if (!c) return null;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0, major = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] > 0) painted++;
            if (Math.abs(d[i] - 0xbf) < 4 && Math.abs(d[i + 1] - 0xb3) < 4 && Math.abs(d[i + 2] - 0xa2) < 4 && d[i + 3] > 200) major++;
        }
        return {painted: painted, major: major, total: d.length / 4};
    }""")


def test_basemap_from_the_extract_is_drawn_with_no_network(offline_page, binjiang_plan):
    page, pg = offline_page
    fit(page, binjiang_plan)
    px = base_pixels(page)
    assert px is not None, "no base-map canvas"
    # streets, water and parks cover a good part of the canvas (which reaches 30 % beyond the view on
    # each side); the major streets are drawn in their colour
    assert px["painted"] > 0.05 * px["total"] and px["major"] > 0.005 * px["total"], px
    # no street names at district zoom, names along the streets from zoom 16
    assert page.locator(".sc-label-1").count() == 0
    streets = binjiang_plan.base.extras["streets"]
    name = streets[streets["class"] == "major"]["name"].dropna().value_counts().index[0]
    line = streets[streets["name"] == name].geometry.iloc[0]
    mid = line.interpolate(0.5, normalized=True)
    page.evaluate(f"window.circlesMap.setView([{mid.y}, {mid.x}], 16, {{animate: false}}); 1")
    page.wait_for_timeout(400)
    labels = page.locator(".sc-label").all_inner_texts()
    assert name in labels and page.locator(".sc-label-1").count() > 0, (name, labels[:20])
    page.screenshot(path=str(OUTPUT / "map-binjiang-offline-z16.png"))
    # the base map can be switched off like any layer
    page.locator(".leaflet-control-layers-overlays label", has_text="底图").locator("input").uncheck()
    page.wait_for_timeout(200)
    assert base_pixels(page) is None or base_pixels(page)["painted"] == 0
    page.locator(".leaflet-control-layers-overlays label", has_text="底图").locator("input").check()
    assert pg.errors == [] and pg.requests == []


def test_dense_layers_are_clusters_at_district_zoom_and_points_closer_in(offline_page, binjiang_plan):
    page, pg = offline_page
    fit(page, binjiang_plan)
    assert page.evaluate("window.circlesMap.getZoom()") <= 13  # the district in one view
    n = len(binjiang_plan.layers["stations"].facilities)
    single = """() => { const g = SC.layers['facilities:stations']; const b = circlesMap.getBounds();
                 return g.points.getLayers().filter(l => l._map && b.contains(l.getLatLng())).length; }"""
    in_view = """() => { const g = SC.layers['facilities:stations']; const b = circlesMap.getBounds();
                  return g.points.getLayers().filter(l => b.contains(l.getLatLng())).length; }"""
    clusters = page.locator(".leaflet-sc-clusters-pane .sc-cluster")
    assert clusters.count() > 0
    counts = [int(t) for t in clusters.all_inner_texts()]
    assert sum(counts) + page.evaluate(single) == page.evaluate(in_view) and page.evaluate(single) < n
    page.screenshot(path=str(OUTPUT / "map-binjiang-clusters-z13.png"))
    # closer in, every station in view is its own marker
    fac = binjiang_plan.layers["stations"].facilities.geometry.iloc[0]
    page.evaluate(f"window.circlesMap.setView([{fac.y}, {fac.x}], 16, {{animate: false}}); 1")
    page.wait_for_timeout(400)
    assert clusters.count() == 0
    assert page.evaluate(single) == page.evaluate(in_view) >= 1
    assert pg.errors == [] and pg.requests == []


def test_legend_swatches_are_the_colours_drawn(offline_page, binjiang_plan):
    page, pg = offline_page
    pairs = page.evaluate("""() => [...document.querySelectorAll('.sc-legend i[data-key]')].map(el => {
        const s = getComputedStyle(el), key = el.dataset.key, layer = SC.layers[key];
        const o = layer ? layer.getLayers()[0].options : null;
        return {key: key, border: s.borderTopColor, fill: s.backgroundColor,
                drawn: o && {color: o.color, opacity: o.opacity, fillColor: o.fillColor, fillOpacity: o.fillOpacity}};
    })""")
    assert {p["key"] for p in pairs} >= {"circle:centres:adult:10", "circle:stations:adult:15", "circle:charging:adult:10"}

    def rgba(hexc: str, a: float) -> str:
        r, g, b = (int(hexc[k:k + 2], 16) for k in (1, 3, 5))
        return f"rgba({r}, {g}, {b}, {a:g})"

    for p in pairs:
        d = p["drawn"]
        assert d is not None, p["key"]
        assert p["border"] == rgba(d["color"], d["opacity"]), p
        assert p["fill"] == rgba(d["fillColor"], d["fillOpacity"]), p
    # facility dots: every fill colour drawn for a visible layer's markers has its legend dot
    dots = set(page.evaluate("() => [...document.querySelectorAll('.sc-legend i[data-fill]')].map(e => e.dataset.fill)"))
    drawn = set(page.evaluate("""() => { const out = [];
        for (const k of ['facilities:stations', 'facilities:charging', 'facilities:centres']) {
            const g = SC.layers[k], pts = g.points || g;
            pts.getLayers().forEach(l => out.push(l.options.fillColor)); }
        return out; }"""))
    assert drawn and drawn <= dots, (drawn, dots)
    # a metric scale only
    scale = page.locator(".leaflet-control-scale-line")
    assert scale.count() == 1 and scale.inner_text().strip().endswith(("m", "km"))
    assert pg.errors == []


def test_api_docs_and_redoc_render_with_the_network_off(browser, api_server):
    """``/docs`` (Swagger UI) and ``/redoc`` load their scripts from the app itself: with every
    request that leaves 127.0.0.1 refused, the operations are listed."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{api_server}/openapi.json") as r:  # loopback only
        doc = json.load(r)
    ops = sum(len([m for m in item if m in ("get", "post", "put", "delete", "patch")]) for item in doc["paths"].values())
    pg = Page(browser)
    try:
        page = pg.page
        page.goto(f"{api_server}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        page.wait_for_timeout(300)
        assert page.locator(".opblock").count() == ops
        assert page.locator(".opblock-summary-path", has_text="/nearest").count() >= 1
        page.screenshot(path=str(OUTPUT / "api-docs-offline.png"))
        page.goto(f"{api_server}/redoc")
        page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
        assert page.locator("[data-section-id^='operation/']").count() == ops
        page.screenshot(path=str(OUTPUT / "api-redoc-offline.png"))
        outside = [u for u in pg.requests if not u.startswith(api_server)]
        assert outside == [], outside
        assert any("/docs-assets/" in u for u in pg.requests)
        # ReDoc's build asks a CDN for the Redocly logo: the pages' policy stops it in the browser (and says so)
        refused = [e for e in pg.errors if "Content Security Policy" in e]
        assert all("cdn.redoc.ly" in e for e in refused), refused
        assert [e for e in pg.errors if e not in refused] == []
    finally:
        pg.close()
