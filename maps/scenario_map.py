"""What a scenario map adds to the plan map: edits, gains and losses, a before/after switch.

The map shows the edits, the areas and homes that gain or lose, a before/after switch, and opens
on a first view framed on the change. :func:`add_scenario` is called by :func:`maps.render.render_map` with the scenario's outcome
(:class:`geo.whatif.ScenarioOutcome`); it draws into the map page (:class:`maps.page.MapPage`) and returns the bounds the
map should open on. The page's behaviour is ``SCN`` (``maps/static/scenario.js``), which finds
the circle groups :func:`maps.render.render_map` drew through ``SC.layers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import shapely

from maps.content import esc
from maps.display import feature_collection_text, safe_json
from maps.page import Group, Line, MapPage, Where

if TYPE_CHECKING:
    from geo.plan import PlanResult
    from geo.whatif import ScenarioOutcome
    from maps.labels import Words

#: the first view spans at least this much around the change (m), so the streets around it show
MIN_SPAN_M = 400.0
GAIN, LOSS = "#1a9850", "#d73027"
EDIT_COLOURS = {
    "add_link": "#00a651",
    "close": "#d7191c",
    "add_facility": "#00a651",
    "move_facility": "#1f78b4",
    "remove_facility": "#d7191c",
    "set_hours": "#ff7f00",
}

LABELS = {
    "en": {
        "edits": "Scenario: the edits",
        "gain": "Gain: {layer} · {m} min ({homes} homes, ≈{people} people)",
        "loss": "Loss: {layer} · {m} min ({homes} homes, ≈{people} people)",
        "before": "Before",
        "after": "After",
        "both": "Both",
        "show": "Circles",
        "add_link": "new link",
        "close": "closed",
        "add_facility": "new facility",
        "move_facility": "moved facility",
        "remove_facility": "removed facility",
        "set_hours": "new opening hours",
        "net.add_link": "new link as joined to the streets",
        "net.close": "street closed",
        "homes": "homes",
        "people": "people (estimate)",
        "street": "street",
        "community": "community",
        "walk": "walk before → after (min)",
    },
    "zh": {
        "edits": "方案：改动",
        "gain": "新增覆盖：{layer} · {m}分钟（{homes} 处住宅，约 {people} 人）",
        "loss": "失去覆盖：{layer} · {m}分钟（{homes} 处住宅，约 {people} 人）",
        "before": "调整前",
        "after": "调整后",
        "both": "对比",
        "show": "服务圈",
        "add_link": "新增通道",
        "close": "封闭",
        "add_facility": "新增设施",
        "move_facility": "迁移设施",
        "remove_facility": "撤销设施",
        "set_hours": "调整开放时间",
        "net.add_link": "新增通道（接入路网）",
        "net.close": "封闭路段",
        "homes": "住宅",
        "people": "人口（估算）",
        "street": "街道",
        "community": "社区",
        "walk": "步行时间 调整前 → 后（分钟）",
    },
}


@dataclass
class _Layer:
    """A GeoJSON layer added to its group with SCN's styles."""

    data: str
    options: str

    def js(self, where: Where) -> str:
        """The line ``L.geoJSON(data, options).addTo(group);``."""
        return f"L.geoJSON({self.data}, {self.options}).addTo({where.into});"


def _script() -> str:
    return resources.files("maps").joinpath("static", "scenario.js").read_text(encoding="utf-8")


def _facility_point(before: PlanResult | None, layer: str | None, ref: str | None) -> shapely.Geometry | None:
    """Where a facility named by an edit (id or name) stands in the plan before."""
    if before is None or layer not in before.layers or ref is None:
        return None
    fac = before.layers[layer].facilities
    for col in ("id", "name"):
        if col in fac:
            hit = fac[fac[col].astype(str) == str(ref)]
            if len(hit):
                return hit.geometry.iloc[0]
    return None


def _edit_features(outcome: ScenarioOutcome, t: dict) -> tuple[list, list]:
    geoms: list[shapely.Geometry] = []
    props: list[dict] = []
    for e in outcome.scenario.edits:
        g = e.geometry if isinstance(e.geometry, shapely.Geometry) else None
        if g is None or e.kind == "move_facility":
            old = _facility_point(outcome.before, e.layer, e.ref)
            if old is not None and g is not None:  # moved: from where it was to where it goes
                geoms.append(shapely.LineString([old, g]))
                props.append({"c": EDIT_COLOURS[e.kind], "w": 2, "d": "4 4", "tip": esc(t[e.kind])})
            g = g if g is not None else old
        if g is None:
            continue
        name = e.props.get("name") or e.ref or ""
        tip = f"#{e.number} {t[e.kind]}" + (f": {name}" if name else "")
        style = {
            "c": EDIT_COLOURS.get(e.kind, "#333333"),
            "w": 6 if g.geom_type == "LineString" else 3,
            "d": "8 6" if e.kind == "close" else None,
            "fill": g.geom_type in ("Polygon", "MultiPolygon"),
            "x": e.kind == "remove_facility",
            "tip": esc(tip),
        }
        geoms.append(g)
        props.append(style)
    net = outcome.edits
    for g, kind, name, length in zip(net.geometry.to_numpy(), net["edit"], net["name"], net["length_m"], strict=True):
        label = t.get(f"net.{kind}", kind)
        tip = label + (f": {name}" if isinstance(name, str) and name else "") + f" · {float(length):.0f} m"
        geoms.append(g)
        props.append(
            {"c": EDIT_COLOURS.get(kind, "#333333"), "w": 3, "d": "2 4" if kind == "close" else None, "tip": esc(tip)}
        )
    return geoms, props


def _frame(geoms: list, lat: float) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` around the geometries, at least :data:`MIN_SPAN_M` wide."""
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(np.array(geoms, dtype=object))
    half_lat = MIN_SPAN_M / 2 / 111_320.0
    half_lon = half_lat / max(np.cos(np.radians(lat)), 0.05)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x0, x1 = min(x0, cx - half_lon), max(x1, cx + half_lon)
    y0, y1 = min(y0, cy - half_lat), max(y1, cy + half_lat)
    return [[round(float(y0), 6), round(float(x0), 6)], [round(float(y1), 6), round(float(x1), 6)]]


def add_scenario(
    m: MapPage, outcome: ScenarioOutcome, *, words: Words, first: str, minutes: list[float]
) -> list[list[float]] | None:
    """Draw a scenario's edits, changed areas and homes, and the before/after switch, on ``m``.

    Parameters
    ----------
    m
        The plan map to draw into.
    outcome
        The scenario run (plan before and after, and the diff).
    words
        The map's words, in its language.
    first
        The walking profile shown first.
    minutes
        The plan's thresholds (minutes), smallest first.

    Returns
    -------
    list[list[float]] | None
        The bounds of the change, ``[[south, west], [north, east]]``, or None when nothing changed.
    """
    t = LABELS.get(words.lang, LABELS["en"])
    _, lat0, _, lat1 = outcome.before.network.bbox_lonlat()
    lat = (lat0 + lat1) / 2
    m.add_head("scenario", f"<script>{_script()}</script>")
    m.add(Line("SCN.init({map});"))

    biggest = max(minutes)
    areas = outcome.areas
    homes = outcome.homes
    sel = areas[areas["profile"] == first] if len(areas) else areas
    for (layer, mins, change), grp in sel.groupby(["layer", "minutes", "change"], sort=True) if len(sel) else []:
        hs = homes[
            (homes["layer"] == layer)
            & (homes["minutes"] == mins)
            & (homes["change"] == change)
            & (homes["profile"] == first)
        ]
        name = t[change].format(
            layer=words.layer(layer.partition("[")[0]) + layer[len(layer.partition("[")[0]) :],
            m=f"{mins:g}",
            homes=f"{int(grp['homes'].sum()):,}",
            people=f"{float(grp['people'].sum()):,.0f}",
        )
        group = Group(esc(name), shown=float(mins) == biggest and "[" not in layer)
        records = grp.drop(columns=grp.geometry.name).to_dict("records")
        props = [{"k": change, "popup": _area_popup(r, t)} for r in records]
        shapes = shapely.set_precision(shapely.simplify(grp.geometry.values, 1e-5), 1e-6)
        group.add(_Layer(feature_collection_text(shapes, props), "{style:SCN.areaStyle,onEachFeature:SCN.bind}"))
        if len(hs):
            hp = [
                {"k": change, "popup": _home_popup(r, t)} for r in hs.drop(columns=hs.geometry.name).to_dict("records")
            ]
            group.add(
                _Layer(
                    feature_collection_text(hs.geometry.values, hp), "{pointToLayer:SCN.homeDot,onEachFeature:SCN.bind}"
                )
            )
        m.add(group)

    geoms, props = _edit_features(outcome, t)
    edits = Group(esc(t["edits"]), shown=True)
    edits.add(
        _Layer(
            feature_collection_text(geoms, props),
            "{style:SCN.editStyle,pointToLayer:SCN.editPoint,onEachFeature:SCN.bind}",
        )
    )
    m.add(edits)

    pairs = [
        [f"circle:{layer}:{first}:{mm:g}", f"before:{layer}:{mm:g}"] for layer in outcome.after.layers for mm in minutes
    ]
    m.add(
        Line(
            f"SCN.toggle({{map}}, {safe_json(pairs)}, "
            f"{safe_json({k: t[k] for k in ('before', 'after', 'both', 'show')})});"
        )
    )
    return _frame(geoms + list(sel.geometry.values if len(sel) else []), lat)


def _area_popup(r: dict, t: dict) -> str:
    rows = [(t["homes"], f"{int(r['homes']):,}"), (t["people"], f"≈{float(r['people']):,.0f}")]
    rows += [(t[k], esc(r[k])) for k in ("street", "community") if isinstance(r.get(k), str) and r.get(k)]
    return (
        '<div class="sc-pop"><table>'
        + "".join(f"<tr><th>{esc(a)}</th><td>{b}</td></tr>" for a, b in rows)
        + "</table></div>"
    )


def _home_popup(r: dict, t: dict) -> str:
    def mins(v: float | None) -> str:
        return "–" if v is None or not np.isfinite(v) else f"{float(v):g}"

    return (
        f'<div class="sc-pop"><table><tr><th>{esc(t["people"])}</th><td>≈{float(r["people"]):,.1f}</td></tr>'
        f"<tr><th>{esc(t['walk'])}</th><td>{mins(r.get('walk_min_before'))} → {mins(r.get('walk_min_after'))}"
        "</td></tr></table></div>"
    )
