"""The heavy requests' work, run in a worker process (:mod:`api.heavy`) with the loaded plan.

Each function takes the :class:`api.deps.Served` plan and plain, already checked arguments,
and returns plain JSON-ready data (it crosses a process boundary).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from api.deps import Served, json_safe
from geo.circles import metres_for
from geo.drawing import source_circles
from geo.errors import InputError
from geo.io import feature_collection
from geo.kinds import DEFAULT_PROFILE
from geo.scenario_store import new_scenario, open_store, plan_key
from geo.scenarios import scenario_from_doc
from geo.siting import site
from geo.whatif import run_scenario
from maps.render import map_html


def scenario(served: Served, *, doc: dict, keep: dict | None = None) -> dict:
    """``POST /scenarios``: apply the edits, recompute, and the coverage diff.

    With ``keep`` (``{"db": target, "name": ..., "by": ...}``) the scenario is kept and its
    ``id`` returned.
    """
    settings = served.settings
    sc = scenario_from_doc(doc, source="request body", crs=doc.get("crs") if isinstance(doc.get("crs"), str) else None)
    out = run_scenario(served.result, sc)
    homes = out.homes
    limit = settings.max_vertices * 10
    truncated = len(homes) > limit
    after = out.after.circles
    layer_circles = after[after["scope"] == "layer"] if len(after) else after
    kept = {}
    if keep is not None:
        store = open_store(keep["db"])
        store.label = keep.get("shown") or store.label  # answers name no server folder
        kept = {"id": store.add(new_scenario(out, name=keep.get("name"), by=keep.get("by"))), "kept_in": store.label}
    return json_safe(
        {
            **kept,
            "coverage": out.coverage,
            "changed_areas": feature_collection(out.areas, name="changed_areas"),
            "changed_homes": feature_collection(homes.iloc[:limit], name="changed_homes"),
            "changed_homes_truncated": truncated,
            "edits": feature_collection(out.edits, name="edits"),
            "circles_after": feature_collection(layer_circles, name="circles_after"),
        }
    )


def scenario_map(served: Served, *, db: str, scenario_id: int, lang: str | None, tiles: str) -> str:
    """``GET /scenarios/{id}/map``: the kept scenario run again on the loaded plan, as its map."""
    kept = open_store(db).get(scenario_id, geometry=False)
    key, label = plan_key(served.result)
    if kept.plan_key != key:
        raise InputError(
            f"scenario {scenario_id}",
            [
                (
                    f"was run on another plan ({kept.plan_label}, {kept.plan_key}); "
                    f"this service serves {label} ({key}): serve that plan to map it"
                )
            ],
        )
    out = run_scenario(served.result, scenario_from_doc(kept.edits, source=f"scenario {scenario_id}"))
    return map_html(
        out.after, before=served.result, scenario=out, lang=lang, tiles=tiles, title=f"{kept.name} · #{kept.id}"
    )


def sites(
    served: Served,
    *,
    layer: str,
    add: int,
    minutes: float | None,
    profile: str | None,
    candidates: list | None,
    exact: bool | None,
    grid_m: float,
) -> dict:
    """``POST /sites``: the proposed sites, their circles and the coverage before and after."""
    cand = None
    if candidates is not None:
        cand = gpd.GeoDataFrame(geometry=shapely.points(np.asarray(candidates, float)), crs=4326)
    res = site(
        served.result,
        layer=layer,
        add=add,
        minutes=minutes,
        profile=profile,
        candidates=cand,
        exact_solve=exact,
        grid_m=grid_m,
        time_limit=served.settings.exact_time_s,
    )
    return json_safe(
        {
            "summary": res.summary,
            "sites": feature_collection(res.sites, name="sites"),
            "circles": feature_collection(res.circles, name="site_circles"),
        }
    )


def facility_circle(served: Served, *, layer: str, index: int, minutes: float, profile: str) -> dict:
    """One facility's circle at any walk time, drawn on demand (the plan's construction)."""
    result = served.result
    params = result.params
    lr = result.layers[layer]
    one = lr.snapped.subset(np.arange(len(lr.snapped)) == index)
    limit = metres_for(minutes, params.speeds().get(profile) or params.speed_kmh or DEFAULT_PROFILE.speed_kmh)
    poly = source_circles(
        result.network, one, [limit], width_m=params.width_m, cell_m=params.cell(), construction=params.circles
    )[0, 0]
    ll = shapely.transform(poly, result.network.unproject)
    fac = lr.facilities.iloc[index]
    return json_safe(
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(ll) if not ll.is_empty else None,
            "properties": {
                "scope": "facility",
                "layer": layer,
                "facility_id": fac["id"],
                "name": fac["name"],
                "minutes": minutes,
                "profile": profile,
                "area_km2": round(float(poly.area) / 1e6, 4),
                "on_demand": True,
            },
        }
    )
