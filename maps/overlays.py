"""The groups a plan's map draws: circles, circles before, gap areas, facilities, sites, base layer.

Each function adds its groups (:class:`maps.elements.Group`) to the map (:class:`maps.page.MapPage`)
:func:`maps.render.render_map` builds; geometry arrives encoded (:class:`Encoded`), once for all groups.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geo import hours
from geo.kinds import LAYERS, TIERS
from maps.content import (
    GAP_COLOURS,
    GAP_EDGE,
    GAP_EDGE_OPACITY,
    GAP_FILL_OPACITY,
    GAP_PROPS_COLUMNS,
    LAYER_COLOURS,
    NO_TIER_COLOUR,
    TIER_COLOURS,
    TIER_RADIUS,
    circle_style,
    esc,
    facility_popup,
    facility_tip,
    gap_props,
    open_24h,
    served_people,
)
from maps.display import encoded_collection_text, points_text, safe_json
from maps.elements import GeoJson, Group, Points, Script
from maps.parts import MapParts, content_key

if TYPE_CHECKING:
    import geopandas as gpd

    from geo.plan import PlanResult
    from maps.basemap import Basemap
    from maps.labels import Words
    from maps.page import MapPage

PLAIN_LAYERS = LAYERS
#: layers with more points than this are grouped at low zoom
CLUSTER_MIN = 20


@dataclass(frozen=True)
class Encoded:
    """Rows of a (circle or gap) table and their display polygons, encoded once for all groups."""

    rows: gpd.GeoDataFrame
    shapes: list[str | None]

    @classmethod
    def of(cls, rows: gpd.GeoDataFrame, *, lat: float, parts: MapParts) -> Encoded:
        """``rows`` and their geometry encoded (through ``parts``: what it holds is not encoded again)."""
        return cls(rows, parts.encode(rows.geometry.values, lat=lat)[1] if len(rows) else [])


def _circle_js_style(style: dict) -> str:
    return "{" + f'pane:"sc-circles",interactive:false,style:{safe_json(style)}' + "}"


def add_circles(
    m: MapPage, result: PlanResult, layer: str, enc: Encoded, words: Words, first: str, *, show: bool
) -> None:
    """The circle groups of one layer: per profile, view and threshold (the layer's first profile shown)."""
    rows = enc.rows
    if len(rows) == 0:
        return
    smallest = min(result.params.minutes)
    base = rows["layer"].astype(str).str.partition("[")[0].to_numpy()
    # this layer's first profile, then views and other profiles; larger thresholds first (smaller on top)
    ordered = sorted(
        np.flatnonzero(base == layer).tolist(),
        key=lambda i: (rows["profile"].iloc[i] != first, rows["layer"].iloc[i] != layer, -rows["minutes"].iloc[i]),
    )
    for i in ordered:
        name, mins, prof = rows["layer"].iloc[i], float(rows["minutes"].iloc[i]), rows["profile"].iloc[i]
        if enc.shapes[i] is None:
            continue
        key = "circle.profile" if prof != first else "circle"
        label = words(key, layer=_view_label(name, words), m=f"{mins:g}", profile=words.profile(prof))
        grp = Group(esc(label), shown=show and name == layer and prof == first)
        grp.add(
            GeoJson(
                f"circle:{name}:{prof}:{mins:g}",
                encoded_collection_text([enc.shapes[i]], [{}]),
                _circle_js_style(circle_style(name, mins, smallest)),
            )
        )
        m.add(grp)


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


def add_before(
    m: MapPage, before: PlanResult, layer: str, enc: Encoded, words: Words, first: str, *, show: bool
) -> None:
    """The circles of one layer before a change, as outlines (the largest threshold shown)."""
    rows = enc.rows
    if len(rows) == 0:
        return
    biggest = max(before.params.minutes)
    for i in range(len(rows)):
        name, mins = rows["layer"].iloc[i], float(rows["minutes"].iloc[i])
        if name != layer or rows["profile"].iloc[i] != first or enc.shapes[i] is None:
            continue
        grp = Group(esc(words("before.circle", layer=words.layer(name), m=f"{mins:g}")), shown=show and mins == biggest)
        grp.add(
            GeoJson(
                f"before:{name}:{mins:g}",
                encoded_collection_text([enc.shapes[i]], [{}]),
                _circle_js_style(circle_style(name, mins, 0, outline=True)),
            )
        )
        m.add(grp)


def gap_rows(result: PlanResult, first: str, at_label: str | None) -> gpd.GeoDataFrame:
    """The gap rows the map draws: the first profile's, of the plain layers and their night views."""
    gaps = result.gaps
    if len(gaps) == 0:
        return gaps
    names = list(PLAIN_LAYERS) + ([f"{n}[open={at_label}]" for n in PLAIN_LAYERS] if at_label else [])
    return gaps[(gaps["profile"] == first) & gaps["layer"].isin(names)]


@dataclass(frozen=True)
class Gaps:
    """The map's gap rows: encoded geometry, the columns their popups show, groups by view and threshold."""

    keys: list[str]
    shapes: list[str | None]
    columns: dict[str, list]
    groups: dict[tuple[str, float], list[int]]

    @classmethod
    def of(cls, rows: gpd.GeoDataFrame, *, lat: float, parts: MapParts) -> Gaps:
        """The gap rows of :func:`gap_rows`, prepared once for all layers."""
        if len(rows) == 0:
            return cls([], [], {}, {})
        keys, shapes = parts.encode(rows.geometry.values, lat=lat)
        # the values as to_dict("records") gives them (Python scalars), column by column: faster
        columns = {c: rows[c].to_numpy().tolist() for c in GAP_PROPS_COLUMNS if c in rows}
        groups: dict[tuple[str, float], list[int]] = {}
        for i, group in enumerate(zip(rows["layer"].tolist(), rows["minutes"].astype(float).tolist(), strict=True)):
            groups.setdefault(group, []).append(i)
        return cls(keys, shapes, columns, groups)

    def text(self, idx: list[int], parts: MapParts) -> str:
        """The drawing of the rows ``idx``: their areas and popups (kept in ``parts`` by content)."""
        values = {c: [v[i] for i in idx] for c, v in self.columns.items()}
        key = content_key(
            "gaps",
            "\x00".join(self.keys[i] for i in idx),
            *(f"{c}=" + "\x00".join(map(repr, v)) for c, v in values.items()),
        )

        def build() -> str:
            records = [dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)]
            return encoded_collection_text([self.shapes[i] for i in idx], [gap_props(r) for r in records])

        return parts.collection(key, build)


def add_gaps(
    m: MapPage,
    result: PlanResult,
    layer: str,
    gaps: Gaps,
    words: Words,
    at_label: str | None,
    *,
    show: bool,
    parts: MapParts,
) -> None:
    """The gap groups of one layer (and its night view): one per threshold, shaded by people."""
    if not gaps.groups:
        return
    biggest = max(result.params.minutes)
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
        idx = gaps.groups.get((name, float(mins)))
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
        grp = Group(esc(title), shown=show and mins == biggest and bool(rest) == bool(at_label))
        grp.add(GeoJson(f"gaps:{name}:{mins:g}", gaps.text(idx, parts), style))
        m.add(grp)


def add_facilities(  # noqa: PLR0913 - the group's data and its keyword-only display options
    m: MapPage,
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
    at = hours.parse_at(result.params.at) if at_label and result.params.at else None
    tiers: list = []
    lr = result.layers[name]
    fac = lr.facilities
    served = {f"{mm:g}": served_people(result, name, minutes=mm, speed_kmh=speed) for mm in minutes}
    records = fac.drop(columns=fac.geometry.name).to_dict("records") if len(fac) else []
    props, radius = [], []
    for i, row in enumerate(records):
        rec = {**row, "name": site_names[row["id"]]} if row.get("id") in site_names else row
        tier: str | None = rec.get("tier") if isinstance(rec.get("tier"), str) and rec.get("tier") else None
        if name == "centres" and tier not in tiers:
            tiers.append(tier)
        is24 = open_24h(rec.get("opening_hours"))
        state = hours.state_at(rec.get("opening_hours"), at) if at is not None else None
        fill = TIER_COLOURS.get(tier or "", NO_TIER_COLOUR) if name == "centres" else LAYER_COLOURS.get(name, "#555")
        faded = at is not None and state is not True
        radius.append(TIER_RADIUS.get(tier or "", 6) if name == "centres" else 6)
        style = {
            "r": radius[-1],
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
            open_at=(at_label, state) if at is not None and at_label else None,
        )
        props.append({"s": style, "popup": popup, "tip": facility_tip(rec, layer=name, words=words, is24=is24)})
    # larger markers first, so small community centres stay clickable on top
    order = np.argsort([-r for r in radius], kind="stable")
    lon = fac.geometry.x.to_numpy() if len(fac) else np.zeros(0)
    lat = fac.geometry.y.to_numpy() if len(fac) else np.zeros(0)
    grp = Group(esc(words("facilities", layer=words.layer(name), n=len(fac))), shown=show)
    colour = LAYER_COLOURS.get(name, "#555555") if cluster and len(fac) > CLUSTER_MIN else None
    grp.add(
        Points(
            f"facilities:{name}",
            points_text(lon[order], lat[order], [props[j] for j in order]),
            "{pointToLayer:SC.facilityMarker,onEachFeature:SC.bind}",
            colour,
        )
    )
    m.add(grp)
    return tiers


def tier_order(tiers: list) -> list:
    """The centre tiers drawn, in the legend's order (:data:`geo.kinds.TIERS`, then none)."""
    order = [*TIERS, None]
    return sorted(set(tiers), key=lambda t: order.index(t) if t in order else len(order))


def add_sites(m: MapPage, sites: gpd.GeoDataFrame, words: Words) -> dict:
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
    grp = Group(esc(words("sites", n=len(sites))), shown=True)
    grp.add(
        GeoJson(
            "sites",
            points_text(np.asarray(lon), np.asarray(lat), props),
            "{pointToLayer:SC.siteMarker,onEachFeature:SC.bind}",
            front=True,
            encoded=False,
        )
    )
    m.add(grp)
    return names


def add_basemap(m: MapPage, basemap: Basemap, words: Words, result: PlanResult) -> None:
    """The extract's streets, water, parks and names (one group), and the study area's outline."""
    if not basemap.empty:
        grp = Group(esc(words("basemap")), shown=True)
        for kind, text in basemap.layers:
            grp.add(Script("base", f"base:{kind}", safe_json(kind), text))
        grp.add(Script("labels", "base:labels", basemap.labels, with_map=True))
        m.add(grp)
    if basemap.outline is not None:
        area = getattr(result, "area", None)
        grp = Group(esc(words("outline", name=getattr(area, "name", "") or "")), shown=True)
        grp.add(Script("outline", "outline", basemap.outline))
        m.add(grp)
