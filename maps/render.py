"""PlanResult -> the Leaflet map page: the one place that prepares geometry for display.

The CLI's ``map.html``, the API's ``/map`` and scenario maps all come from :func:`map_html`.
The map opens from a file with no server and no CDN: Leaflet is inlined from the installed
``xstatic-leaflet`` package (:mod:`maps.assets`), the page itself is written by :mod:`maps.page`
(no jQuery, Bootstrap or other CDN links), and the only requests the page makes are for base
tiles (``tiles="none"``: none at all).

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

from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

from geo import hours
from maps.assets import cluster_assets, leaflet_assets, own
from maps.content import esc, legend_html, summary_html
from maps.elements import Init, Panel
from maps.labels import Words, check_lang, detect_lang
from maps.overlays import (
    CLUSTER_MIN,
    PLAIN_LAYERS,
    Encoded,
    Gaps,
    add_basemap,
    add_before,
    add_circles,
    add_facilities,
    add_gaps,
    add_sites,
    gap_rows,
    tier_order,
)
from maps.page import MapPage, Tiles
from maps.parts import MapParts
from maps.scenario_map import add_scenario
from maps.tiles import tile_spec

if TYPE_CHECKING:
    import geopandas as gpd

    from geo.plan import PlanResult
    from geo.whatif import ScenarioOutcome

__all__ = ["CLUSTER_MIN", "MapOptions", "MapParts", "layer_order", "map_html", "own_layers", "render_map"]

ATTRIBUTION = "© OpenStreetMap contributors"


def _at_label(result: PlanResult) -> str | None:
    at = getattr(result.params, "at", None)
    if not at:
        return None
    return hours.at_label(hours.parse_at(at))


def _names(result: PlanResult) -> list:
    return [n for lr in result.layers.values() for n in lr.facilities["name"].tolist()] if result.layers else []


def _circle_rows(circles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The dissolved circles of each layer (scope "layer"): the table itself when it holds no others (read only)."""
    if len(circles) == 0 or "scope" not in circles:
        return circles
    layer = (circles["scope"] == "layer").to_numpy(dtype=bool, na_value=False)
    return circles if layer.all() else circles[layer]


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
    parts: MapParts | None = None,
) -> MapPage:
    """The map of a plan, ready to write (:meth:`maps.page.MapPage.html`); see the module docstring for what it shows.

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
    parts
        Encoded geometry and base layers to reuse (:class:`maps.parts.MapParts`, e.g. those a saved
        plan keeps); what they do not hold is encoded and added to them. The page is the same.
    """
    parts = MapParts() if parts is None else parts
    spec = tile_spec(tiles)
    words = Words(check_lang(lang) or detect_lang(_names(result)))
    assets = leaflet_assets()
    clusters = cluster_assets()
    lon0, lat0, lon1, lat1 = result.network.bbox_lonlat()
    study = getattr(getattr(result, "area", None), "geometry", None)
    if study is not None and not study.is_empty:  # a study area is what the map frames, not its halo
        lon0, lat0, lon1, lat1 = (float(v) for v in study.bounds)
    lat_mid = (lat0 + lat1) / 2
    m = MapPage(
        [lat_mid, (lon0 + lon1) / 2],
        zoom=13,
        max_zoom=19,
        title=title or f"{words('title')} · {_source_name(result)}",
        lang=words.lang,
    )
    m.add_head("leaflet", assets.head())
    if clusters.inline:
        m.add_head("markercluster", clusters.head())
    m.add_head("circles", f"<style>{own('map.css')}</style>\n<script>{own('map.js')}</script>")
    if spec.url:
        m.tiles = Tiles(spec.url, spec.attribution, max_zoom=19)
    m.add(Init(words, None if spec.url else ATTRIBUTION))  # with tiles, the tile layer credits OSM

    at_label = _at_label(result)
    first = result.params.profiles[0]
    order = layer_order(result, sites=sites)
    primary = order[0] if order else None
    visible = {primary, *own_layers(result)}
    site_names = add_sites(m, sites, words) if sites is not None and len(sites) else {}
    circles = Encoded.of(_circle_rows(result.circles), lat=lat_mid, parts=parts)
    old = Encoded.of(_circle_rows(before.circles), lat=lat_mid, parts=parts) if before is not None else None
    gaps = Gaps.of(gap_rows(result, first, at_label), lat=lat_mid, parts=parts)
    tiers: list = []
    for name in order:
        tiers += add_facilities(
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
        add_circles(m, result, name, circles, words, first, show=name == primary)
        if before is not None and old is not None:
            add_before(m, before, name, old, words, first, show=name == primary)
        add_gaps(m, result, name, gaps, words, at_label, show=name == primary, parts=parts)
    add_basemap(m, parts.basemap(result), words, result)

    notes = None if spec.url else words("notiles")
    m.add(
        Panel(
            "bottomleft",
            "sc-summary",
            summary_html(
                result, words=words, before=before, at_label=at_label, tiles_note=notes, cdn_note=not assets.inline
            ),
        )
    )
    drawn = set(circles.rows["layer"]) if len(circles.rows) else set()
    m.add(
        Panel(
            "bottomright",
            "sc-legend",
            legend_html(
                words=words,
                layers=[n for n in order if len(result.layers[n].facilities)],
                tiers=tier_order(tiers),
                minutes=sorted(result.params.minutes),
                at_label=at_label,
                has_gaps=bool(gaps.keys),
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
    m.frame(frame or [[lat0, lon0], [lat1, lon1]])
    return m


class MapOptions(TypedDict, total=False):
    """The options of :func:`render_map` (and :func:`map_html`)."""

    lang: str | None
    tiles: str | None
    before: PlanResult | None
    title: str | None
    scenario: ScenarioOutcome | None
    sites: gpd.GeoDataFrame | None
    parts: MapParts | None


def map_html(result: PlanResult, **options: Unpack[MapOptions]) -> str:
    """The map as one self-contained HTML page (options as :func:`render_map`)."""
    return render_map(result, **options).html()


def _source_name(result: PlanResult) -> str:
    return Path(str(result.source)).name
