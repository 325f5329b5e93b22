"""What the map says: facility and gap popups, people served, the summary panel and the legend.

Everything here is HTML text built in Python and escaped here (names as written, Chinese intact);
:mod:`maps.render` places it on the map.
"""

from __future__ import annotations

import bisect
import datetime as dt
import html
import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geo.circles import metres_for
from geo.hours import REFERENCE_MONDAY, state_at
from maps.labels import Words

if TYPE_CHECKING:
    from geo.plan import PlanResult

LAYER_COLOURS = {"centres": "#d7301f", "stations": "#2171b5", "charging": "#238b45"}
TIER_COLOURS = {"district": "#54278f", "street": "#c51b8a", "community": "#f768a1", "special": "#fe9929"}
NO_TIER_COLOUR = "#969696"
TIER_RADIUS = {"district": 10, "street": 8, "community": 6, "special": 7}
#: people per gap area: class limits of the shading (upper bounds, last class open)
PEOPLE_BREAKS = (10, 100, 500, 2000)
GAP_COLOURS = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")
#: how gap areas are drawn (maps/static/map.js ``SC.gapStyle`` takes these)
GAP_EDGE, GAP_EDGE_OPACITY, GAP_FILL_OPACITY = "#3f007d", 0.7, 0.5
_ALWAYS = re.compile(r"^\s*(24\s*/\s*7|24\s*(小时|h|hours?)|全天(24小时)?)\s*(营业|开放)?\s*$", re.IGNORECASE)


def esc(v: object) -> str:
    """HTML-escaped text of ``v`` (quotes too): names as written, never markup."""
    return html.escape(str(v), quote=True)


def _is_missing(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _services(v: object) -> tuple[str, ...]:
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(str(s) for s in v if not _is_missing(s))
    return () if _is_missing(v) else (str(v),)


def open_24h(hours: object) -> bool:
    """True when opening hours say open round the clock (``24/7``, ``24小时``, ``Mo-Su 00:00-24:00``)."""
    if _is_missing(hours):
        return False
    text = str(hours).strip()
    if _ALWAYS.match(text):
        return True
    times = [
        dt.datetime.combine(REFERENCE_MONDAY + dt.timedelta(days=d), dt.time(h, 30)) for d in range(7) for h in (3, 15)
    ]
    return all(state_at(text, t) is True for t in times)


def served_people(result: PlanResult, layer: str, *, minutes: float, speed_kmh: float) -> tuple[np.ndarray, np.ndarray]:
    """People and homes per facility of ``layer`` whose nearest facility it is, within ``minutes``.

    Summed over the facilities these give the layer's covered people and homes (each home is
    counted once, at its nearest facility), the same figures as ``coverage.json``.
    """
    lr = result.layers[layer]
    n = len(lr.facilities)
    near = (lr.home_dist <= metres_for(minutes, speed_kmh)) & (lr.home_src >= 0)
    src = lr.home_src[near]
    people = np.bincount(src, weights=result.homes.people[near], minlength=n)[:n]
    homes = np.bincount(src, minlength=n)[:n]
    return people, homes


def _stars(v: object) -> str | None:
    if _is_missing(v):
        return None
    if not isinstance(v, (str, int, float, np.number)):  # what float() does not take
        return esc(v)
    try:
        k = float(v)
    except (TypeError, ValueError):
        return esc(v)
    full = round(k)
    return esc(f"{'★' * full}{'☆' * max(0, 5 - full)} ({k:g})") if 0 <= k <= 5 else esc(f"{k:g}")


def circle_style(layer: str, minutes: float, smallest: float, *, outline: bool = False) -> dict:
    """How a layer's circle is drawn (Leaflet path options); the legend's swatches use the same."""
    colour = LAYER_COLOURS.get(layer.partition("[")[0], "#555555")
    if outline:
        return {"color": "#111111", "weight": 2, "dashArray": "2 5", "fill": False}
    if minutes <= smallest:  # the inner circle: stronger fill, thin solid edge
        return {"color": colour, "weight": 0.8, "opacity": 0.7, "fillColor": colour, "fillOpacity": 0.3}
    # the outer circle: light fill, dashed edge
    return {
        "color": colour,
        "weight": 0.8,
        "opacity": 0.6,
        "dashArray": "4 3",
        "fillColor": colour,
        "fillOpacity": 0.12,
    }


def facility_name(row: dict, *, layer: str, words: Words) -> str:
    """The name as written, or "unnamed charging point" (未命名充电点) in the map's language."""
    name = row.get("name")
    return words.unnamed(layer) if _is_missing(name) else str(name)


def hours_as_written(row: dict) -> str | None:
    """Opening hours as the planner wrote them (``opening_hours_raw``), else as read."""
    for key in ("opening_hours_raw", "opening_hours"):
        if not _is_missing(row.get(key)):
            return str(row[key])
    return None


def facility_popup(
    row: dict,
    *,
    layer: str,
    words: Words,
    served: dict[str, tuple[float, int]],
    is24: bool,
    open_at: tuple[str, bool | None] | None,
) -> str:
    """Popup HTML of one facility.

    Name as written (or "unnamed …"), tier, hours as written, stars, services, people served.
    """
    tier = row.get("tier")
    tier = tier if isinstance(tier, str) and tier else None
    head = f'<div class="sc-pop"><div class="sc-name">{esc(facility_name(row, layer=layer, words=words))}</div>'
    badges = []
    if layer == "centres" or tier:
        badges.append(
            f'<span class="sc-tier" style="background:{TIER_COLOURS.get(tier or "", NO_TIER_COLOUR)}">'
            f"{esc(words.tier(tier))}</span>"
        )
    if is24:
        badges.append(f'<span class="sc-24">{esc(words("open24"))}</span>')
    rows = []

    def add(key: str, value: str | None) -> None:
        if value:
            rows.append(f"<tr><th>{esc(words(key))}</th><td>{value}</td></tr>")

    add("kind", None if _is_missing(row.get("kind")) else esc(row["kind"]))
    hours = hours_as_written(row)
    add("hours", None if hours is None else esc(hours))
    if open_at is not None:
        label, state = open_at
        answer = words({True: "open.yes", False: "open.no", None: "open.unknown"}[state])
        rows.append(f"<tr><th>{esc(words('open.at', at=label))}</th><td>{esc(answer)}</td></tr>")
    add("stars", _stars(row.get("stars")))
    svc = _services(row.get("services"))
    add("services", esc("、".join(svc) if words.lang == "zh" else ", ".join(svc)) if svc else None)
    area = row.get("area_m2")
    add("area", None if area is None or _is_missing(area) else esc(f"{float(area):,.0f} m²"))
    add("address", None if _is_missing(row.get("address")) else esc(row["address"]))
    if _is_missing(row.get("name")) and not _is_missing(row.get("id")):
        add("id", esc(row["id"]))
    for m, (people, homes) in served.items():
        rows.append(
            f"<tr><th>{esc(words('served', m=m))}</th><td>≈{people:,.0f} · {esc(words('homes'))} {homes:,}</td></tr>"
        )
    what = words.layer(layer)
    note = f'<div class="sc-note">{esc(words("served.note", what=what))}</div>' if served else ""
    return head + " ".join(badges) + "<table>" + "".join(rows) + "</table>" + note + "</div>"


def facility_tip(row: dict, *, layer: str, words: Words, is24: bool) -> str:
    """A facility's hover text: its name (or "unnamed …"), and whether it is open 24 hours."""
    name = facility_name(row, layer=layer, words=words)
    return esc(f"{name} · {words('open24')}" if is24 else name)


def gap_class(people: float) -> int:
    """The shading class (0-4) of a gap area with ``people`` (:data:`PEOPLE_BREAKS`)."""
    return bisect.bisect_right(PEOPLE_BREAKS, float(people))  # NaN: the last class, as numpy's searchsorted


#: the words the map's script needs for gap popups (maps/static/map.js ``SC.gapBind``)
GAP_WORDS = ("homes", "people", "nearest", "unreachable", "walk", "street", "community")


def gap_words(words: Words) -> dict[str, str]:
    """The words the map's script needs for gap popups, in the map's language."""
    return {k: words(k) for k in GAP_WORDS}  # "walk" keeps its {min} for the script


#: the columns :func:`gap_props` reads
GAP_PROPS_COLUMNS = ("people", "rank", "homes", "nearest_facility", "walk_min_centre", "street", "community")


def gap_props(row: dict) -> dict:
    """Compact properties of a gap area.

    Its popup is built by the map's script (``SC.gapBind``): homes, people, walk time to the
    nearest facility and its name, street and community.
    """

    def opt(v: object) -> object:
        return None if _is_missing(v) else v

    walk = row.get("walk_min_centre")
    return {
        "k": gap_class(row["people"]),
        "r": int(row.get("rank") or 0),
        "h": int(row["homes"]),
        "p": round(float(row["people"])),
        "n": opt(row.get("nearest_facility")),
        "w": None if walk is None or _is_missing(walk) else round(float(walk), 1),
        "s": opt(row.get("street")),
        "c": opt(row.get("community")),
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def summary_html(
    result: PlanResult,
    *,
    words: Words,
    before: PlanResult | None = None,
    at_label: str | None = None,
    tiles_note: str | None = None,
    cdn_note: bool = False,
) -> str:
    """The summary panel.

    People covered per layer and threshold (each profile, night view, before/after), the data
    source and its date, and the OSM attribution.
    """
    cov = result.coverage
    minutes = [f"{m:g}" for m in result.params.minutes]
    prof = cov.get("profiles") or {cov["profile"]: {"speed_kmh": cov["speed_kmh"], "layers": cov["layers"]}}
    bcov = before.coverage if before is not None else None
    parts = [f"<details open><summary>{esc(words('title'))} · {esc(words('summary'))}</summary>"]
    for pname, pdoc in prof.items():
        speed = f"{pdoc['speed_kmh']:g}"
        parts.append(
            f'<div class="sc-note">{esc(words("profile", profile=words.profile(pname), speed=speed))}'
            f" · {esc(words('people.within'))}</div><table><thead><tr><th>{esc(words('layer'))}</th>"
            f"<th>{esc(words('n'))}</th>" + "".join(f"<th>≤{m}′</th>" for m in minutes) + "</tr></thead><tbody>"
        )
        for name, ldoc in pdoc["layers"].items():
            full = cov["layers"].get(name, {})
            n = (
                f"{full.get('snapped', '?')}/{full.get('facilities', '?')}"
                if full.get("snapped") != full.get("facilities")
                else f"{full.get('facilities', '?')}"
            )
            cells = "".join(f"<td>{_pct(ldoc['minutes'].get(m, {}).get('people_share'))}</td>" for m in minutes)
            parts.append(f"<tr><td>{esc(words.layer(name))}</td><td>{esc(n)}</td>{cells}</tr>")
            if bcov is not None:
                bl = _profile_layers(bcov, pname).get(name)
                if bl is not None:
                    bcells = "".join(f"<td>{_pct(bl['minutes'].get(m, {}).get('people_share'))}</td>" for m in minutes)
                    parts.append(f'<tr class="sc-sub"><td>↳ {esc(words("before"))}</td><td></td>{bcells}</tr>')
            if at_label:
                view = (cov.get("subsets") or {}).get(f"{name}[open={at_label}]")
                if view is not None:
                    vm = (view.get("profiles") or {}).get(pname, view) if pname != cov["profile"] else view
                    vcells = "".join(f"<td>{_pct(vm['minutes'].get(m, {}).get('people_share'))}</td>" for m in minutes)
                    parts.append(
                        f'<tr class="sc-sub"><td>↳ {esc(words("night", at=at_label))}</td>'
                        f"<td>{esc(view.get('open', view.get('facilities', '')))}</td>{vcells}</tr>"
                    )
        parts.append("</tbody></table>")
    src = Path(str(result.source)).name
    parts.append(
        f'<div class="sc-note">{esc(words("source"))}: {esc(src)}'
        + (f" · {esc(words('date', date=result.latest_edit))}" if result.latest_edit else "")
        + "<br>"
        + esc(words("homes.total", homes=f"{cov['homes']:,}", people=f"{cov['people']:,}"))
        + "<br>© OpenStreetMap contributors"
        + (f"<br>{esc(tiles_note)}" if tiles_note else "")
        + "</div>"
    )
    if cdn_note:
        parts.append(f'<div class="sc-warn">{esc(words("cdn"))}</div>')
    parts.append("</details>")
    return "".join(parts)


def _profile_layers(cov: dict, profile: str) -> dict:
    if cov.get("profiles") and profile in cov["profiles"]:
        return cov["profiles"][profile]["layers"]
    return cov["layers"] if cov.get("profile") == profile else {}


def rgba(colour: str, alpha: float) -> str:
    """``#rrggbb`` and an opacity as CSS ``rgba(r,g,b,a)``."""
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:g})"


def _swatch(key: str, style: dict) -> str:
    """A legend swatch drawn with a circle's own style (edge colour, opacity, dash, fill)."""
    edge = rgba(style["color"], style.get("opacity", 1.0))
    fill = rgba(style["fillColor"], style["fillOpacity"]) if style.get("fill", True) else "transparent"
    dash = " dash" if style.get("dashArray") else ""
    return f'<i class="sw{dash}" data-key="{esc(key)}" style="border-color:{edge};background:{fill}"></i>'


def legend_html(  # noqa: PLR0913 - keyword-only, one per part of the legend a map may have
    *,
    words: Words,
    layers: list[str],
    tiers: list[str | None],
    minutes: list[float],
    at_label: str | None,
    has_gaps: bool,
    has_before: bool,
    circle_layers: list[str] | None = None,
    profile: str = "adult",
    has_sites: bool = False,
) -> str:
    """The legend, every swatch in the colour the map draws.

    Centre tiers and layer dots, the circles of each layer (solid inner, dashed outer threshold),
    gap shading, proposed sites.
    """
    rows = [f"<details open><summary>{esc(words('legend'))}</summary>"]
    for t in tiers:
        c = TIER_COLOURS.get(t or "", NO_TIER_COLOUR)
        rows.append(
            f'<div class="row"><i class="dot" data-fill="{c}" style="background:{c}"></i>{esc(words.tier(t))}</div>'
        )
    for name in layers:
        if name != "centres":
            c = LAYER_COLOURS.get(name, "#555")
            rows.append(
                f'<div class="row"><i class="dot" data-fill="{c}" style="background:{c}"></i>'
                f"{esc(words.layer(name))}</div>"
            )
    rows.append(
        f'<div class="row"><i class="dot dot24" style="background:#bbb"></i>{esc(words("legend.open24"))}</div>'
    )
    if at_label:
        rows.append(
            f'<div class="row"><i class="dot" style="background:#ddd;opacity:.5"></i>'
            f"{esc(words('legend.closed', at=at_label))}</div>"
        )
    if has_sites:
        rows.append(f'<div class="row"><i class="site">1</i>{esc(words("legend.sites"))}</div>')
    ms = sorted(minutes)
    if ms and circle_layers:
        for name in circle_layers:
            sw = "".join(_swatch(f"circle:{name}:{profile}:{m:g}", circle_style(name, m, ms[0])) for m in ms)
            rows.append(f'<div class="row">{sw}{esc(words.layer(name))}</div>')
        note = (
            words("legend.circles", a=f"{ms[0]:g}", b=f"{ms[-1]:g}")
            if len(ms) > 1
            else words("legend.circle", m=f"{ms[0]:g}")
        )
        rows.append(f'<div class="row sc-note">{esc(note)}</div>')
    if has_before:
        rows.append(
            f'<div class="row">{_swatch("before", circle_style("centres", 0, 0, outline=True))}'
            f"{esc(words('legend.before'))}</div>"
        )
    if has_gaps:
        lims = (
            ["<" + f"{PEOPLE_BREAKS[0]}"]
            + [f"{a}–{b}" for a, b in itertools.pairwise(PEOPLE_BREAKS)]
            + [f"≥{PEOPLE_BREAKS[-1]}"]
        )
        rows.append(f'<div class="row">{esc(words("legend.gaps"))}:</div>')
        for c, lab in zip(GAP_COLOURS, lims, strict=True):
            rows.append(
                f'<div class="row"><i class="sw" data-gap="{c}" style="border-color:{rgba(GAP_EDGE, GAP_EDGE_OPACITY)};'
                f'background:{rgba(c, GAP_FILL_OPACITY)}"></i>{esc(lab)}</div>'
            )
    rows.append("</details>")
    return "".join(rows)
