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
  those closed at ``--at`` faded; popup with name as written, tier, hours, stars, services and
  the people it serves within each threshold;
- a summary panel (coverage per layer, threshold and profile; data source and date; the OSM
  attribution) and a legend.
"""

from __future__ import annotations

import itertools

import folium
import numpy as np
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from geo.kinds import LAYERS, TIERS

from maps.assets import leaflet_assets, own
from maps.content import (
    GAP_COLOURS, LAYER_COLOURS, NO_TIER_COLOUR, TIER_COLOURS, TIER_RADIUS, esc, facility_popup, facility_tip,
    gap_props, gap_words, legend_html, open_24h, served_people, summary_html,
)
from maps.display import encode_polygons, encoded_collection_text, points_text, safe_json
from maps.labels import Words, check_lang, detect_lang
from maps.tiles import tile_spec

ATTRIBUTION = "© OpenStreetMap contributors"
PLAIN_LAYERS = LAYERS


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
        "SC.add({{ this.key|tojson }}, {{ this._parent.get_name() }}, L.geoJSON({% if this.encoded %}SC.decode({{ this.data }}){% else %}{{ this.data }}{% endif %}, "
        "{{ this.options }}), "
        "{{ this.front|tojson }});"
        "{% endmacro %}"
    )

    def __init__(self, key: str, data: str, options: str, *, front: bool = False, encoded: bool = True) -> None:
        super().__init__()
        self._name = "ScGeoJson"
        self.key, self.data, self.options, self.front, self.encoded = key, data, options, front, encoded


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


def _at_label(result) -> str | None:
    at = getattr(result.params, "at", None)
    if not at:
        return None
    from geo.hours import at_label, parse_at

    return at_label(parse_at(at))


def _names(result) -> list:
    return [n for lr in result.layers.values() for n in lr.facilities["name"].tolist()] if result.layers else []


def _circle_rows(circles):
    if len(circles) == 0:
        return circles
    return circles[circles["scope"] == "layer"] if "scope" in circles else circles


def render_map(result, *, lang: str | None = None, tiles: str | None = "osm", before=None,
               title: str | None = None, scenario=None, sites=None) -> folium.Map:
    """A folium map of a plan, ready to save; see the module docstring for what it shows.

    Parameters
    ----------
    result
        A :class:`geo.plan.PlanResult`.
    lang
        ``"zh"`` or ``"en"``; None (or ``"auto"``): Chinese when the facility names are Chinese.
    tiles
        ``"osm"`` (default), ``"none"`` (no base map, no network request) or an XYZ URL template.
        AMap/Gaode, Tencent and Baidu tiles are refused (they are drawn in GCJ-02/BD-09).
    before
        The PlanResult before a change (a scenario): its circles are drawn as outlines and its
        coverage is shown beside the new one.
    """
    spec = tile_spec(tiles)
    words = Words(check_lang(lang) or detect_lang(_names(result)))
    assets = leaflet_assets()
    lon0, lat0, lon1, lat1 = result.network.bbox_lonlat()
    lat_mid = (lat0 + lat1) / 2
    fig = Figure(title=title or f"{words('title')} · {_source_name(result)}")
    m = folium.Map(location=[lat_mid, (lon0 + lon1) / 2], zoom_start=13, tiles=None, control_scale=True,
                   prefer_canvas=True)
    m.default_js, m.default_css = [], []  # folium's CDN links: Leaflet is inlined, the rest is unused
    fig.add_child(m)
    fig.header.add_child(Element('<meta charset="utf-8"/>'), name="charset")
    fig.header.add_child(Element(assets.head()), name="leaflet")
    fig.header.add_child(Element(f"<style>{own('map.css')}</style>\n<script>{own('map.js')}</script>"), name="circles")
    if spec.url:
        folium.TileLayer(spec.url, attr=spec.attribution, name="base", control=False, max_zoom=19).add_to(m)
    m.add_child(_Init(words, None if spec.url else ATTRIBUTION))  # with tiles, the tile layer credits OSM

    at_label = _at_label(result)
    first = result.params.profiles[0]
    minutes = sorted(result.params.minutes)
    _add_circles(m, result, words, lat_mid, first)
    if before is not None:
        _add_before(m, before, words, lat_mid, first)
    has_gaps = _add_gaps(m, result, words, lat_mid, first, at_label)
    tiers = _add_facilities(m, result, words, first, at_label)

    notes = None if spec.url else words("notiles")
    m.add_child(_Panel("bottomleft", "sc-summary", summary_html(
        result, words=words, before=before, at_label=at_label, tiles_note=notes, cdn_note=not assets.inline)))
    m.add_child(_Panel("bottomright", "sc-legend", legend_html(
        words=words, layers=[n for n in result.layers if n in PLAIN_LAYERS], tiers=tiers, minutes=minutes,
        at_label=at_label, has_gaps=has_gaps, has_before=before is not None)))
    frame = None
    if scenario is not None:  # the edits, the areas that gain or lose, before/after (maps.scenario_map)
        from maps.scenario_map import add_scenario

        frame = add_scenario(m, scenario, words=words, first=first, minutes=sorted(result.params.minutes))
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.fit_bounds(frame or [[lat0, lon0], [lat1, lon1]])
    return m


def map_html(result, **options) -> str:
    """The map as one self-contained HTML page (options as :func:`render_map`)."""
    return render_map(result, **options).get_root().render()


def _source_name(result) -> str:
    from pathlib import Path

    return Path(str(result.source)).name


def _circle_style(layer: str, minutes: float, smallest: float, *, outline: bool = False) -> str:
    colour = LAYER_COLOURS.get(layer.partition("[")[0], "#555555")
    if outline:
        style = {"color": "#111111", "weight": 2, "dashArray": "2 5", "fill": False}
    elif minutes <= smallest:  # the inner circle: stronger fill, thin solid edge
        style = {"color": colour, "weight": 0.8, "opacity": 0.7, "fillColor": colour, "fillOpacity": 0.3}
    else:  # the outer circle: light fill, dashed edge
        style = {"color": colour, "weight": 0.8, "opacity": 0.6, "dashArray": "4 3", "fillColor": colour,
                 "fillOpacity": 0.12}
    return "{" + f'pane:"sc-circles",interactive:false,style:{safe_json(style)}' + "}"


def _add_circles(m, result, words: Words, lat: float, first: str) -> None:
    rows = _circle_rows(result.circles)
    if len(rows) == 0:
        return
    shapes = encode_polygons(rows.geometry.values, lat=lat)
    smallest = min(result.params.minutes)
    # larger thresholds first: the smaller (stronger) circle is drawn on top
    order = sorted(range(len(rows)), key=lambda i: (rows["profile"].iloc[i] != first, -rows["minutes"].iloc[i]))
    for i in order:
        layer, mins, prof = rows["layer"].iloc[i], float(rows["minutes"].iloc[i]), rows["profile"].iloc[i]
        if shapes[i] is None:
            continue
        key = "circle.profile" if prof != first else "circle"
        name = words(key, layer=words.layer(layer), m=f"{mins:g}", profile=words.profile(prof))
        grp = folium.FeatureGroup(name=esc(name), show=layer == "centres" and prof == first)
        grp.add_child(_GeoJson(f"circle:{layer}:{prof}:{mins:g}", encoded_collection_text([shapes[i]], [{}]),
                               _circle_style(layer, mins, smallest)))
        m.add_child(grp)


def _add_before(m, before, words: Words, lat: float, first: str) -> None:
    rows = _circle_rows(before.circles)
    if len(rows) == 0:
        return
    rows = rows[rows["profile"] == first]
    shapes = encode_polygons(rows.geometry.values, lat=lat)
    for i in range(len(rows)):
        layer, mins = rows["layer"].iloc[i], float(rows["minutes"].iloc[i])
        if shapes[i] is None:
            continue
        grp = folium.FeatureGroup(name=esc(words("before.circle", layer=words.layer(layer), m=f"{mins:g}")),
                                  show=layer == "centres" and mins == max(before.params.minutes))
        grp.add_child(_GeoJson(f"before:{layer}:{mins:g}", encoded_collection_text([shapes[i]], [{}]),
                               _circle_style(layer, mins, 0, outline=True)))
        m.add_child(grp)


def _add_gaps(m, result, words: Words, lat: float, first: str, at_label: str | None) -> bool:
    gaps = result.gaps
    if len(gaps) == 0:
        return False
    names = list(PLAIN_LAYERS) + ([f"{n}[open={at_label}]" for n in PLAIN_LAYERS] if at_label else [])
    sel = gaps[(gaps["profile"] == first) & gaps["layer"].isin(names)]
    if len(sel) == 0:
        return False
    shapes = encode_polygons(sel.geometry.values, lat=lat)
    biggest = max(result.params.minutes)
    records = sel.drop(columns=sel.geometry.name).to_dict("records")
    groups: dict[tuple[str, float], list[int]] = {}
    for i, rec in enumerate(records):
        groups.setdefault((rec["layer"], float(rec["minutes"])), []).append(i)
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
        show = base == "centres" and mins == biggest and bool(rest) == bool(at_label)
        popup_title = words("gap", rank="{rank}", m=f"{mins:g}", layer=label)
        style = ("{" + f'pane:"sc-gaps",style:SC.gapStyle({safe_json(list(GAP_COLOURS))}),'
                 f"onEachFeature:SC.gapBind({safe_json(popup_title)})" + "}")
        props = [gap_props(records[i]) for i in idx]
        grp = folium.FeatureGroup(name=esc(title), show=show)
        grp.add_child(_GeoJson(f"gaps:{name}:{mins:g}", encoded_collection_text([shapes[i] for i in idx], props), style))
        m.add_child(grp)
    return True


def _add_facilities(m, result, words: Words, first: str, at_label: str | None) -> list:
    """Facility groups (one per layer); returns the centre tiers present, for the legend."""
    speed = result.params.speeds()[first]
    minutes = sorted(result.params.minutes)
    at = None
    if at_label:
        from geo.hours import parse_at, state_at

        at = parse_at(result.params.at)
    tiers: list = []
    for name, lr in result.layers.items():
        fac = lr.facilities
        served = {f"{mm:g}": served_people(result, name, minutes=mm, speed_kmh=speed) for mm in minutes}
        records = fac.drop(columns=fac.geometry.name).to_dict("records") if len(fac) else []
        props = []
        for i, rec in enumerate(records):
            tier = rec.get("tier") if isinstance(rec.get("tier"), str) and rec.get("tier") else None
            if name == "centres" and tier not in tiers:
                tiers.append(tier)
            is24 = open_24h(rec.get("opening_hours"))
            state = state_at(rec.get("opening_hours"), at) if at is not None else None
            fill = TIER_COLOURS.get(tier, NO_TIER_COLOUR) if name == "centres" else LAYER_COLOURS.get(name, "#555")
            faded = at is not None and state is not True
            style = {"r": TIER_RADIUS.get(tier, 6) if name == "centres" else 6,
                     "c": "#111111" if is24 else "#ffffff", "w": 3 if is24 else 1.5, "f": fill,
                     "o": 0.35 if faded else 0.95}
            popup = facility_popup(
                rec, layer=name, words=words, is24=is24,
                served={mm: (float(served[mm][0][i]), int(served[mm][1][i])) for mm in served} if lr.snapped.ok[i] else {},
                open_at=(at_label, state) if at is not None else None,
            )
            props.append({"s": style, "popup": popup, "tip": facility_tip(rec, words=words, is24=is24)})
        # larger markers first, so small community centres stay clickable on top
        order = np.argsort([-p["s"]["r"] for p in props], kind="stable")
        lon = fac.geometry.x.to_numpy() if len(fac) else np.zeros(0)
        lat = fac.geometry.y.to_numpy() if len(fac) else np.zeros(0)
        grp = folium.FeatureGroup(name=esc(words("facilities", layer=words.layer(name), n=len(fac))), show=True)
        grp.add_child(_GeoJson(f"facilities:{name}", points_text(lon[order], lat[order], [props[j] for j in order]),
                               "{pointToLayer:SC.facilityMarker,onEachFeature:SC.bind}", front=True, encoded=False))
        m.add_child(grp)
    order = [*TIERS, None]
    return sorted(tiers, key=lambda t: order.index(t) if t in order else len(order))
