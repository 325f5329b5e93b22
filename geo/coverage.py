"""Coverage figures read off the walk distances of a plan, and the views by tier, service and time."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from geo.circles import metres_for, multi_source, point_distances
from geo.hours import at_label, open_mask, parse_at
from geo.kinds import View

if TYPE_CHECKING:  # annotations only: geo.plan imports this module
    from collections.abc import Callable, Sequence

    from geo.demand import Homes
    from geo.network import Network, Snapped
    from geo.plan import LayerResult, PlanParams
    from geo.plan_types import PlanResult


def minutes_key(m: float) -> str:
    """``10.0`` -> ``"10"``, ``7.5`` -> ``"7.5"`` (the keys of ``coverage.json``)."""
    return f"{m:g}"


def now_iso() -> str:
    """The current UTC time, to the second, in ISO 8601."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def layer_minutes(home_dist: np.ndarray, people: np.ndarray, minutes: Sequence[float], speed_kmh: float) -> dict:
    """Homes and people within each walk time, and their shares."""
    total_people = float(people.sum())
    out = {}
    for m in minutes:
        cov = home_dist <= metres_for(m, speed_kmh)
        pc = float(people[cov].sum())
        out[minutes_key(m)] = {
            "metres": round(metres_for(m, speed_kmh), 1),
            "homes": len(home_dist),
            "homes_covered": int(cov.sum()),
            "homes_share": round(float(cov.mean()), 4) if len(cov) else 0.0,
            "people": round(total_people),
            "people_covered": round(pc),
            "people_share": round(pc / total_people, 4) if total_people else 0.0,
        }
    return out


def by_profile(home_dist: np.ndarray, people: np.ndarray, params: PlanParams) -> dict:
    """``{"minutes": ...}`` for the first profile and, with several, ``"profiles"`` for each."""
    speeds = params.speeds()
    first = params.profiles[0]
    doc: dict = {"minutes": layer_minutes(home_dist, people, params.minutes, speeds[first])}
    if len(params.profiles) > 1:
        doc["profiles"] = {
            p: {"speed_kmh": speeds[p], "minutes": layer_minutes(home_dist, people, params.minutes, speeds[p])}
            for p in params.profiles
        }
    return doc


def coverage_summary(  # noqa: PLR0913 - each keyword is one part of coverage.json's stable shape
    *,
    source: str,
    data_date: str | None,
    homes: Homes,
    home_snap: Snapped,
    network: Network,
    layers: dict,
    params: PlanParams,
    area: dict | None = None,
    notes: dict | None = None,
) -> dict:
    """The stable ``coverage.json`` shape (see README)."""
    speeds = params.speeds()
    first = params.profiles[0]
    doc: dict = {
        "source": source,
        "data_date": data_date,
        "generated": now_iso(),
        "area": area,
        "profile": first,
        "speed_kmh": speeds[first],
        "minutes": [float(m) for m in params.minutes],
        "homes_method": homes.method,
        "homes": len(homes),
        "people": round(float(homes.people.sum())),
        **({"people_unassigned": homes.unassigned} if homes.unassigned else {}),
        "homes_unsnapped": int((~home_snap.ok).sum()),
        "network": {
            "nodes": network.n_nodes,
            "edges": network.n_edges,
            "km": round(float(network.edge_len.sum()) / 1000, 1),
        },
        "crossings": params.crossings,
        "signal_wait_s": params.signal_wait_s,
        "circles": {
            "construction": params.circles,
            "width_m": params.width_m,
            "cell_m": params.cell() if params.circles == "raster" else None,
        },
        "layers": {},
    }
    for name, lr in layers.items():
        doc["layers"][name] = {
            "facilities": len(lr.facilities),
            "snapped": int(lr.snapped.ok.sum()),
            "origin": lr.origin,
            "unsnapped": lr.unsnapped,
            **({"note": notes[name]} if notes and notes.get(name) else {}),
            "minutes": layer_minutes(lr.home_dist, homes.people, params.minutes, speeds[first]),
        }
    if len(params.profiles) > 1:
        doc["profiles"] = {
            p: {
                "speed_kmh": speeds[p],
                "layers": {
                    name: {"minutes": layer_minutes(lr.home_dist, homes.people, params.minutes, speeds[p])}
                    for name, lr in layers.items()
                },
            }
            for p in params.profiles
        }
    return doc


def _val(v: object) -> object:
    """A table cell as a plain JSON value: None for missing, numpy scalars as Python ones."""
    if v is None:
        return None
    try:
        # a cell of any dtype: pd.isna answers scalars (arrays raise ValueError in `not`)
        if not isinstance(v, (str, tuple, list)) and pd.isna(cast("Any", v)):
            return None
    except (TypeError, ValueError):
        pass
    return v.item() if hasattr(v, "item") else v


def views(
    net: Network,
    layers: dict,
    home_snap: Snapped,
    params: PlanParams,
    *,
    layer_result: Callable[..., LayerResult],
    before: PlanResult | None = None,
) -> tuple[dict, dict]:
    """Coverage views by tier, service and opening time, beside the plain layers.

    For each layer: one view per tier (``centres[tier=community]``) and per service
    (``centres[service=老年食堂]``) when that attribute is present and the view is a true,
    non-empty part of the layer; with ``params.at``, one view of the facilities open then
    (``centres[open=Wed 22:00]``; unknown hours count as closed and are listed).

    Returns
    -------
    (views, info)
        ``views``: key -> LayerResult of the part (``layer_result(name, facilities, origin,
        snapped, reach, home_dist, home_src)`` builds one); ``info``: key -> what the view is.

    With ``before`` (the plan a change starts from), the views of a layer it holds unchanged
    (the same layer result, on the same network and homes' places) are taken over from it
    instead of searched again (:func:`kept_views`).
    """
    out, info = {}, {}
    kept = kept_views(before, net=net, layers=layers, home_snap=home_snap)

    def add(view: View, lr: LayerResult, mask: np.ndarray | list[bool], meta: dict) -> None:
        mask = np.asarray(mask, bool)
        if not view.is_night and (not mask.any() or mask.all()):
            return
        sn = lr.snapped.subset(mask)
        if view.key in kept:
            out[view.key] = kept[view.key]
        else:
            fac = lr.facilities[mask].reset_index(drop=True)
            reach = multi_source(net, sn)
            hd, hs = point_distances(net, reach, home_snap)
            out[view.key] = layer_result(view.key, fac, lr.origin, sn, reach, hd, hs)
        info[view.key] = {"of": view.layer, **meta, "facilities": int(mask.sum()), "snapped": int(sn.ok.sum())}

    at = parse_at(params.at) if params.at else None
    for layer, lr in layers.items():
        fac = lr.facilities
        if len(fac) == 0:
            continue
        if "tier" in fac:
            tiers = fac["tier"].to_numpy(dtype=object)
            for t in sorted({t for t in tiers if isinstance(t, str) and t}):
                add(View(layer, "tier", t), lr, tiers == t, {"filter": {"tier": t}})
        if "services" in fac:
            sv = [tuple(x) if isinstance(x, (list, tuple, np.ndarray)) else () for x in fac["services"]]
            for s in sorted({s for x in sv for s in x if s}):
                add(View(layer, "service", s), lr, [s in x for x in sv], {"filter": {"service": s}})
        if at is not None:
            ok, unknown = open_mask(fac, at)
            label = at_label(at)

            def listed(mask: np.ndarray, fac: pd.DataFrame = fac) -> list[dict]:
                return [
                    {
                        "id": _val(fac["id"].iloc[i]),
                        "name": _val(fac["name"].iloc[i]),
                        "opening_hours": _val(fac["opening_hours"].iloc[i]) if "opening_hours" in fac else None,
                    }
                    for i in np.flatnonzero(mask)
                ]

            add(
                View(layer, "open", label),
                lr,
                ok,
                {
                    "filter": {"open_at": label},
                    "open": int(ok.sum()),
                    "closed": listed(~ok & ~unknown),
                    "unknown_hours": listed(unknown),
                },
            )
    return out, info


def kept_views(before: PlanResult | None, *, net: Network, layers: dict, home_snap: Snapped) -> dict:
    """The views of ``before`` that a plan of ``layers`` on ``net`` would find again: key -> LayerResult.

    A view depends only on its layer's facilities, the network and the homes' places (and the
    key, which names its filter), so those of a layer whose result is the very object ``before``
    holds, on ``before``'s own network and homes' places, are the same. Walk times that merely
    compare equal are not enough: a subset's nearest facility can change where the whole
    layer's does not, so nothing is kept after a network edit.
    """
    if before is None or before.network is not net or before.home_snap is not home_snap:
        return {}
    same = {name for name, lr in layers.items() if before.layers.get(name) is lr}
    return {k: v for k, v in (before.subsets or {}).items() if View.parse(k).layer in same}


def view_coverage(found: dict, info: dict, homes: Homes, params: PlanParams) -> dict:
    """``coverage.json["subsets"]``: each view's figures in the layers' shape, plus what it is."""
    return {name: {**info[name], **by_profile(lr.home_dist, homes.people, params)} for name, lr in found.items()}
