"""PlanResult -> folium map: the one place that prepares geometry for display.

The CLI's ``map.html``, the API's ``/map`` and scenario maps all come from :func:`map_html`.
The map opens from a file with no server and no CDN: Leaflet is inlined from the installed
``xstatic-leaflet`` package (:mod:`maps.assets`), folium's own CDN links (jQuery, Bootstrap,
awesome-markers) are dropped, and the only requests the page makes are for base tiles
(``tiles="none"``: none at all).

What the map shows, each as a group in the layer control:

- circles per layer and threshold (dissolved), the smaller threshold solid and stronger, the
  larger dashed and lighter, one hue per layer so overlaps stay readable; other profiles and,
  with ``before``, the circles before a change (outlines) as extra groups, off at first;
- gap areas per layer and threshold, shaded by people, with a popup (homes, people, walk time
  to the nearest facility and its name, street and community); with ``--at``, the night gaps;
- facilities per layer: centres coloured and sized by tier, 24-hour ones ringed in black,
  those closed at ``--at`` faded; popup with name as written (unnamed ones called so in the
  map's language), tier, hours as written, stars, services and the people it serves within each
  threshold; layers of more than :data:`CLUSTER_MIN` points grouped at low zoom
  (Leaflet.markercluster, inlined from ``xstatic-leaflet-markercluster``);
- proposed sites (``circles site``) numbered in the order of people gained;
- the extract's own streets, water, parks and admin outlines, with names from closer zooms, under
  everything (:mod:`maps.basemap`), and the study area's outline;
- a summary panel (coverage per layer, threshold and profile; data source and date; the OSM
  attribution), a legend in the colours drawn and a metric scale.

The planner's own layer (the first given as a file, or the layer of proposed sites) comes first
in the layer control and is shown with its circles and gaps; the other layers start hidden.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

import folium
import numpy as np
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from geo import hours
from geo.kinds import LAYERS, TIERS
from maps.assets import cluster_assets, leaflet_assets, own
from maps.basemap import Basemap, basemap_data
from maps.content import (
    GAP_COLOURS,
    GAP_EDGE,
    GAP_EDGE_OPACITY,
    GAP_FILL_OPACITY,
    LAYER_COLOURS,
    NO_TIER_COLOUR,
    TIER_COLOURS,
    TIER_RADIUS,
    circle_style,
    esc,
    facility_popup,
    facility_tip,
    gap_props,
    gap_words,
    legend_html,
    open_24h,
    served_people,
    summary_html,
)
from maps.display import encode_polygons, encoded_collection_text, points_text, safe_json
from maps.labels import Words, check_lang, detect_lang
from maps.scenario_map import add_scenario
from maps.tiles import tile_spec

if TYPE_CHECKING:
    import geopandas as gpd

    from geo.plan import PlanResult
    from geo.whatif import ScenarioOutcome

ATTRIBUTION = "© OpenStreetMap contributors"
PLAIN_LAYERS = LAYERS
#: layers with more points than this are grouped at low zoom
CLUSTER_MIN = 20


class _Init(MacroElement):
    """Creates the panes the overlay is drawn in (circles < gaps < facilities)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.init({{ this._parent.get_name() }}, {{ this.words }}, {{ this.attribution|tojson }});"
        "{% endmacro %}"
    )

    def __init__(self, words: Words, attribution: str | None) -> None:
        super().__init__()
        self._name = "ScInit"
        self.words = safe_json(gap_words(words))
        self.attribution = attribution


class _GeoJson(MacroElement):
    """One GeoJSON layer inside a feature group, with our own JS options (``maps/static/map.js``)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.add({{ this.key|tojson }}, {{ this._parent.get_name() }}, "
        "L.geoJSON({% if this.encoded %}SC.decode({{ this.data }}){% else %}{{ this.data }}{% endif %}, "
        "{{ this.options }}), "
        "{{ this.front|tojson }});"
        "{% endmacro %}"
    )

    def __init__(self, key: str, data: str, options: str, *, front: bool = False, encoded: bool = True) -> None:
        super().__init__()
        self._name = "ScGeoJson"
        self.key, self.data, self.options, self.front, self.encoded = key, data, options, front, encoded


class _Script(MacroElement):
    """A call into the map's script with the parent group: ``SC.<call>(key, group, *args)``."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.{{ this.call }}({{ this.key|tojson }}, "
        "{% if this.with_map %}{{ this._parent._parent.get_name() }}, {% endif %}"
        "{{ this._parent.get_name() }}{% for a in this.args %}, {{ a }}{% endfor %});"
        "{% endmacro %}"
    )

    def __init__(self, call: str, key: str, *args: str, with_map: bool = False) -> None:
        super().__init__()
        self._name = "ScScript"
        self.call, self.key, self.args, self.with_map = call, key, list(args), with_map


class _Points(MacroElement):
    """Facility points, grouped at low zoom when there are many (``SC.cluster``)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.add({{ this.key|tojson }}, {{ this._parent.get_name() }}, "
        "{% if this.colour %}SC.cluster({% endif %}L.geoJSON({{ this.data }}, {{ this.options }})"
        "{% if this.colour %}, {{ this.colour|tojson }}){% endif %}, true);"
        "{% endmacro %}"
    )

    def __init__(self, key: str, data: str, options: str, colour: str | None) -> None:
        super().__init__()
        self._name = "ScPoints"
        self.key, self.data, self.options, self.colour = key, data, options, colour


class _Panel(MacroElement):
    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.panel({{ this._parent.get_name() }}, {{ this.position|tojson }}, {{ this.cls|tojson }}, {{ this.html }});"
        "{% endmacro %}"
    )

    def __init__(self, position: str, cls: str, html: str) -> None:
        super().__init__()
        self._name = "ScPanel"
        self.position, self.cls, self.html = position, cls, safe_json(html)


def _at_label(result: PlanResult) -> str | None:
    at = getattr(result.params, "at", None)
    if not at:
        return None
    return hours.at_label(hours.parse_at(at))


def _names(result: PlanResult) -> list:
    return [n for lr in result.layers.values() for n in lr.facilities["name"].tolist()] if result.layers else []


def _circle_rows(circles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if len(circles) == 0:
        return circles
    return circles[circles["scope"] == "layer"] if "scope" in circles else circles


def own_layers(result: PlanResult) -> list[str]:
    """The layers the planner gave as files (their origin is not the OSM tag rules), in layer order."""
    return [
        n
        for n, lr in result.layers.items()
        if n in PLAIN_LAYERS and not str(getattr(lr, "origin", "OSM")).startswith("OSM")
    ]


def layer_order(result: PlanResult, *, sites: gpd.GeoDataFrame | None = None) -> list[str]:
    """The order of the layers in the layer control.

    The planner's own layer first (the proposed sites' layer on a siting map), the other own
    layers, then the rest.
    """
    names = [n for n in result.layers if n in PLAIN_LAYERS]
    first = []
    if sites is not None and len(sites) and "layer" in sites and sites["layer"].iloc[0] in names:
        first.append(sites["layer"].iloc[0])
    first += [n for n in own_layers(result) if n not in first]
    if not first:
        first = [n for n in ("centres", *names) if n in names][:1]
    return first + [n for n in names if n not in first]


def render_map(
    result: PlanResult,
    *,
    lang: str | None = None,
    tiles: str | None = "osm",
    before: PlanResult | None = None,
    title: str | None = None,
    scenario: ScenarioOutcome | None = None,
    sites: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """A folium map of a plan, ready to save; see the module docstring for what it shows.

    Parameters
    ----------
    result
        A :class:`geo.plan.PlanResult`.
    lang
        ``"zh"`` or ``"en"``; None (or ``"auto"``): Chinese when the facility names are Chinese.
    tiles
        ``"osm"`` (default), ``"none"`` (no tile server, no network request: the extract's own
        streets, water and parks orient) or an XYZ URL template. AMap/Gaode, Tencent and Baidu
        tiles are refused (they are drawn in GCJ-02/BD-09).
    before
        The PlanResult before a change (a scenario): its circles are drawn as outlines and its
        coverage is shown beside the new one.
    sites
        Proposed sites (:attr:`geo.siting.SitingResult.sites`): numbered markers in the order of
        people gained, and their layer shown first.
    """
    spec = tile_spec(tiles)
    words = Words(check_lang(lang) or detect_lang(_names(result)))
    assets = leaflet_assets()
    clusters = cluster_assets()
    lon0, lat0, lon1, lat1 = result.network.bbox_lonlat()
    study = getattr(getattr(result, "area", None), "geometry", None)
    if study is not None and not study.is_empty:  # a study area is what the map frames, not its halo
        lon0, lat0, lon1, lat1 = (float(v) for v in study.bounds)
    lat_mid = (lat0 + lat1) / 2
    fig = Figure(title=title or f"{words('title')} · {_source_name(result)}")
    m = folium.Map(
        location=[lat_mid, (lon0 + lon1) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=False,
        maxZoom=19,
        prefer_canvas=True,
    )
    m.default_js, m.default_css = [], []  # folium's CDN links: Leaflet is inlined, the rest is unused
    fig.add_child(m)
    fig.header.add_child(Element('<meta charset="utf-8"/>'), name="charset")
    fig.header.add_child(Element(assets.head()), name="leaflet")
    if clusters.inline:
        fig.header.add_child(Element(clusters.head()), name="markercluster")
    fig.header.add_child(Element(f"<style>{own('map.css')}</style>\n<script>{own('map.js')}</script>"), name="circles")
    if spec.url:
        folium.TileLayer(spec.url, attr=spec.attribution, name="base", control=False, max_zoom=19).add_to(m)
    m.add_child(_Init(words, None if spec.url else ATTRIBUTION))  # with tiles, the tile layer credits OSM

    at_label = _at_label(result)
    first = result.params.profiles[0]
    order = layer_order(result, sites=sites)
    primary = order[0] if order else None
    visible = {primary, *own_layers(result)}
    site_names = _add_sites(m, sites, words) if sites is not None and len(sites) else {}
    circles = _Encoded(_circle_rows(result.circles), lat_mid)
    old = _Encoded(_circle_rows(before.circles), lat_mid) if before is not None else None
    gaps = _gap_rows(result, first, at_label)
    gap_shapes = _Encoded(gaps, lat_mid)
    tiers: list = []
    for name in order:
        tiers += _add_facilities(
            m,
            result,
            name,
            words,
            first,
            at_label,
            show=name in visible,
            cluster=clusters.inline,
            site_names=site_names,
        )
        _add_circles(m, result, name, circles, words, first, show=name == primary)
        if old is not None:
            _add_before(m, before, name, old, words, first, show=name == primary)
        _add_gaps(m, result, name, gaps, gap_shapes, words, at_label, show=name == primary)
    _add_basemap(m, basemap_data(result), words, result)

    notes = None if spec.url else words("notiles")
    m.add_child(
        _Panel(
            "bottomleft",
            "sc-summary",
            summary_html(
                result, words=words, before=before, at_label=at_label, tiles_note=notes, cdn_note=not assets.inline
            ),
        )
    )
    drawn = set(circles.rows["layer"]) if len(circles.rows) else set()
    m.add_child(
        _Panel(
            "bottomright",
            "sc-legend",
            legend_html(
                words=words,
                layers=[n for n in order if len(result.layers[n].facilities)],
                tiers=_tier_order(tiers),
                minutes=sorted(result.params.minutes),
                at_label=at_label,
                has_gaps=len(gaps) > 0,
                has_before=before is not None,
                circle_layers=[n for n in order if n in drawn],
                profile=first,
                has_sites=bool(site_names),
            )
            + ("" if clusters.inline else f'<div class="sc-warn">{esc(words("nocluster"))}</div>'),
        )
    )
    frame = None
    if scenario is not None:  # the edits, the areas that gain or lose, before/after (maps.scenario_map)
        frame = add_scenario(m, scenario, words=words, first=first, minutes=sorted(result.params.minutes))
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.fit_bounds(frame or [[lat0, lon0], [lat1, lon1]])
    return m


class MapOptions(TypedDict, total=False):
    """The options of :func:`render_map` (and :func:`map_html`)."""

    lang: str | None
    tiles: str | None
    before: PlanResult | None
    title: str | None
    scenario: ScenarioOutcome | None
    sites: gpd.GeoDataFrame | None


def map_html(result: PlanResult, **options: Unpack[MapOptions]) -> str:
    """The map as one self-contained HTML page (options as :func:`render_map`)."""
    return render_map(result, **options).get_root().render()


def _source_name(result: PlanResult) -> str:
    return Path(str(result.source)).name


class _Encoded:
    """Rows of a (circle or gap) table and their display polygons, encoded once for all groups."""

    def __init__(self, rows: gpd.GeoDataFrame, lat: float) -> None:
        self.rows = rows
        self.shapes = encode_polygons(rows.geometry.values, lat=lat) if len(rows) else []


def _circle_js_style(style: dict) -> str:
    return "{" + f'pane:"sc-circles",interactive:false,style:{safe_json(style)}' + "}"


def _add_circles(
    m: folium.Map, result: PlanResult, layer: str, enc: _Encoded, words: Words, first: str, *, show: bool
) -> None:
    rows = enc.rows
    if len(rows) == 0:
        return
    smallest = min(result.params.minutes)
    base = rows["layer"].astype(str).str.partition("[")[0].to_numpy()
    idx = np.flatnonzero(base == layer)
    # this layer's first profile, then views and other profiles; larger thresholds first (smaller on top)
    idx = sorted(
        idx, key=lambda i: (rows["profile"].iloc[i] != first, rows["layer"].iloc[i] != layer, -rows["minutes"].iloc[i])
    )
    for i in idx:
        name, mins, prof = rows["layer"].iloc[i], float(rows["minutes"].iloc[i]), rows["profile"].iloc[i]
        if enc.shapes[i] is None:
            continue
        key = "circle.profile" if prof != first else "circle"
        label = words(key, layer=_view_label(name, words), m=f"{mins:g}", profile=words.profile(prof))
        grp = folium.FeatureGroup(name=esc(label), show=show and name == layer and prof == first)
        grp.add_child(
            _GeoJson(
                f"circle:{name}:{prof}:{mins:g}",
                encoded_collection_text([enc.shapes[i]], [{}]),
                _circle_js_style(circle_style(name, mins, smallest)),
            )
        )
        m.add_child(grp)


def _view_label(name: str, words: Words) -> str:
    """``stations[open=Mon 22:00]`` -> 驿站（Mon 22:00开放）; other views keep their filter as written."""
    base, _, rest = name.partition("[")
    if rest.startswith("open=") and rest.endswith("]"):
        return (
            f"{words.layer(base)} ({words('night', at=rest[5:-1])})"
            if words.lang == "en"
            else f"{words.layer(base)}（{words('night', at=rest[5:-1])}）"
        )
    return words.layer(name)


def _add_before(
    m: folium.Map, before: PlanResult, layer: str, enc: _Encoded, words: Words, first: str, *, show: bool
) -> None:
    rows = enc.rows
    if len(rows) == 0:
        return
    biggest = max(before.params.minutes)
    for i in range(len(rows)):
        name, mins = rows["layer"].iloc[i], float(rows["minutes"].iloc[i])
        if name != layer or rows["profile"].iloc[i] != first or enc.shapes[i] is None:
            continue
        grp = folium.FeatureGroup(
            name=esc(words("before.circle", layer=words.layer(name), m=f"{mins:g}")), show=show and mins == biggest
        )
        grp.add_child(
            _GeoJson(
                f"before:{name}:{mins:g}",
                encoded_collection_text([enc.shapes[i]], [{}]),
                _circle_js_style(circle_style(name, mins, 0, outline=True)),
            )
        )
        m.add_child(grp)


def _gap_rows(result: PlanResult, first: str, at_label: str | None) -> gpd.GeoDataFrame:
    gaps = result.gaps
    if len(gaps) == 0:
        return gaps
    names = list(PLAIN_LAYERS) + ([f"{n}[open={at_label}]" for n in PLAIN_LAYERS] if at_label else [])
    return gaps[(gaps["profile"] == first) & gaps["layer"].isin(names)]


def _add_gaps(
    m: folium.Map,
    result: PlanResult,
    layer: str,
    sel: gpd.GeoDataFrame,
    enc: _Encoded,
    words: Words,
    at_label: str | None,
    *,
    show: bool,
) -> None:
    if len(sel) == 0:
        return
    biggest = max(result.params.minutes)
    records = sel.drop(columns=sel.geometry.name).to_dict("records")
    groups: dict[tuple[str, float], list[int]] = {}
    for i, rec in enumerate(records):
        groups.setdefault((rec["layer"], float(rec["minutes"])), []).append(i)
    names = [layer] + ([f"{layer}[open={at_label}]"] if at_label else [])
    look = safe_json(
        {
            "colours": list(GAP_COLOURS),
            "edge": GAP_EDGE,
            "edgeOpacity": GAP_EDGE_OPACITY,
            "fillOpacity": GAP_FILL_OPACITY,
        }
    )
    for name, mins in itertools.product(names, sorted(result.params.minutes, reverse=True)):
        idx = groups.get((name, float(mins)))
        base, _, rest = name.partition("[")
        if not idx or (rest and mins != biggest):  # night view: the largest threshold only
            continue
        label = words.layer(base)
        if rest:
            title = words("night.gaps", layer=label, at=at_label, m=f"{mins:g}")
            label = f"{label} ({words('night', at=at_label)})"
        else:
            title = words("gaps", layer=label, m=f"{mins:g}")
        popup_title = words("gap", rank="{rank}", m=f"{mins:g}", layer=label)
        style = (
            "{" + f'pane:"sc-gaps",style:SC.gapStyle({look}),onEachFeature:SC.gapBind({safe_json(popup_title)})' + "}"
        )
        props = [gap_props(records[i]) for i in idx]
        grp = folium.FeatureGroup(name=esc(title), show=show and mins == biggest and bool(rest) == bool(at_label))
        grp.add_child(
            _GeoJson(f"gaps:{name}:{mins:g}", encoded_collection_text([enc.shapes[i] for i in idx], props), style)
        )
        m.add_child(grp)


def _add_facilities(  # noqa: PLR0913 - the group's data and its keyword-only display options
    m: folium.Map,
    result: PlanResult,
    name: str,
    words: Words,
    first: str,
    at_label: str | None,
    *,
    show: bool,
    cluster: bool,
    site_names: dict,
) -> list:
    """The facility group of one layer; returns the centre tiers drawn, for the legend."""
    speed = result.params.speeds()[first]
    minutes = sorted(result.params.minutes)
    at = None
    if at_label:
        at = hours.parse_at(result.params.at)
    tiers: list = []
    lr = result.layers[name]
    fac = lr.facilities
    served = {f"{mm:g}": served_people(result, name, minutes=mm, speed_kmh=speed) for mm in minutes}
    records = fac.drop(columns=fac.geometry.name).to_dict("records") if len(fac) else []
    props = []
    for i, row in enumerate(records):
        rec = {**row, "name": site_names[row["id"]]} if row.get("id") in site_names else row
        tier = rec.get("tier") if isinstance(rec.get("tier"), str) and rec.get("tier") else None
        if name == "centres" and tier not in tiers:
            tiers.append(tier)
        is24 = open_24h(rec.get("opening_hours"))
        state = hours.state_at(rec.get("opening_hours"), at) if at is not None else None
        fill = TIER_COLOURS.get(tier, NO_TIER_COLOUR) if name == "centres" else LAYER_COLOURS.get(name, "#555")
        faded = at is not None and state is not True
        style = {
            "r": TIER_RADIUS.get(tier, 6) if name == "centres" else 6,
            "c": "#111111" if is24 else "#ffffff",
            "w": 3 if is24 else 1.5,
            "f": fill,
            "o": 0.35 if faded else 0.95,
        }
        popup = facility_popup(
            rec,
            layer=name,
            words=words,
            is24=is24,
            served={mm: (float(served[mm][0][i]), int(served[mm][1][i])) for mm in served} if lr.snapped.ok[i] else {},
            open_at=(at_label, state) if at is not None else None,
        )
        props.append({"s": style, "popup": popup, "tip": facility_tip(rec, layer=name, words=words, is24=is24)})
    # larger markers first, so small community centres stay clickable on top
    order = np.argsort([-p["s"]["r"] for p in props], kind="stable")
    lon = fac.geometry.x.to_numpy() if len(fac) else np.zeros(0)
    lat = fac.geometry.y.to_numpy() if len(fac) else np.zeros(0)
    grp = folium.FeatureGroup(name=esc(words("facilities", layer=words.layer(name), n=len(fac))), show=show)
    colour = LAYER_COLOURS.get(name, "#555555") if cluster and len(fac) > CLUSTER_MIN else None
    grp.add_child(
        _Points(
            f"facilities:{name}",
            points_text(lon[order], lat[order], [props[j] for j in order]),
            "{pointToLayer:SC.facilityMarker,onEachFeature:SC.bind}",
            colour,
        )
    )
    m.add_child(grp)
    return tiers


def _tier_order(tiers: list) -> list:
    order = [*TIERS, None]
    return sorted(set(tiers), key=lambda t: order.index(t) if t in order else len(order))


def _add_sites(m: folium.Map, sites: gpd.GeoDataFrame, words: Words) -> dict:
    """Proposed sites as markers numbered by people gained (most first).

    Returns the facility id of each site (``site-<rank>``) -> its label, so that its facility
    popup says the same number.
    """
    gained = sites["people_gained"].astype(float).to_numpy()
    ranks = sites["rank"].to_numpy() if "rank" in sites else np.arange(1, len(sites) + 1)
    order = np.lexsort((ranks, -gained))
    layer = str(sites["layer"].iloc[0]) if "layer" in sites else "stations"
    colour = LAYER_COLOURS.get(layer, "#555555")
    props, lon, lat, names = [], [], [], {}
    for n, i in enumerate(order, start=1):
        row = sites.iloc[i]
        title = words("site", n=n)
        names[f"site-{int(ranks[i])}"] = title
        cells = [(words("site.gained"), f"≈{float(row['people_gained']):,.0f}")]
        if "homes_gained" in sites:
            cells.append((words("site.homes"), f"{int(row['homes_gained']):,}"))
        if "people_share_after" in sites:
            cells.append((words("site.after"), f"{100 * float(row['people_share_after']):.1f}%"))
        for key in ("street", "community"):
            v = row.get(key) if key in sites else None
            if isinstance(v, str) and v:
                cells.append((words(key), v))
        table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in cells)
        props.append(
            {
                "n": n,
                "c": colour,
                "tip": esc(title),
                "popup": f'<div class="sc-pop"><div class="sc-name">{esc(title)}</div><table>{table}</table></div>',
            }
        )
        lon.append(row.geometry.x)
        lat.append(row.geometry.y)
    grp = folium.FeatureGroup(name=esc(words("sites", n=len(sites))), show=True)
    grp.add_child(
        _GeoJson(
            "sites",
            points_text(np.asarray(lon), np.asarray(lat), props),
            "{pointToLayer:SC.siteMarker,onEachFeature:SC.bind}",
            front=True,
            encoded=False,
        )
    )
    m.add_child(grp)
    return names


def _add_basemap(m: folium.Map, basemap: Basemap, words: Words, result: PlanResult) -> None:
    """The extract's streets, water, parks and names (one group), and the study area's outline."""
    if not basemap.empty:
        grp = folium.FeatureGroup(name=esc(words("basemap")), show=True)
        for kind, text in basemap.layers:
            grp.add_child(_Script("base", f"base:{kind}", safe_json(kind), text))
        grp.add_child(_Script("labels", "base:labels", basemap.labels, with_map=True))
        m.add_child(grp)
    if basemap.outline is not None:
        area = getattr(result, "area", None)
        grp = folium.FeatureGroup(name=esc(words("outline", name=getattr(area, "name", "") or "")), show=True)
        grp.add_child(_Script("outline", "outline", basemap.outline))
        m.add_child(grp)
