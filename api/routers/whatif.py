"""``POST /scenarios`` (test edits on a copy of the network) and ``POST /sites`` (propose sites).

Both work on the loaded plan and never change it: a scenario is applied to copies
(:mod:`geo.scenarios`, :mod:`geo.whatif`), siting only reads (:mod:`geo.siting`). The work runs
in the heavy worker processes (:mod:`api.heavy`) after the request is checked against the
settings' limits (edits, vertices, candidates x walk distance, sites).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from api import work
from api.deps import PoolDep, ServedDep
from api.routers.scenarios_store import shown_store, store_target
from api.schemas import ErrorOut
from geo.circles import metres_for
from geo.crs import to_wgs84
from geo.errors import InputError
from geo.kinds import COORD_SYSTEMS, DEFAULT_PROFILE, PROFILES, CoordSystem, Layer, Profile
from geo.scenarios import scenario_from_doc

router = APIRouter(tags=["what-if"])
HEAVY: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 503: {"model": ErrorOut}}

SCENARIO_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"edit": "add_link", "name": "new crosswalk", "penalty_s": 30},
            "geometry": {"type": "LineString", "coordinates": [[120.191241, 30.191322], [120.191057, 30.191259]]},
        },
        {
            "type": "Feature",
            "properties": {"edit": "add_facility", "layer": "stations", "name": "new station"},
            "geometry": {"type": "Point", "coordinates": [120.2, 30.2]},
        },
    ],
}


def _count(doc: object, limit: int) -> int:
    """Coordinates in a document (numbers counted in pairs), stopping past ``limit``."""
    n, stack = 0, [doc]
    while stack and n <= limit:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            if len(node) in (2, 3) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in node):
                n += 1
            else:
                stack.extend(node)
    return n


@router.post(
    "/scenarios",
    responses=HEAVY,
    summary="Test new links, closures and facility changes; get the coverage diff and the circles after; "
    "the scenario is kept and its id returned",
)
async def post_scenario(
    *,
    served: ServedDep,
    pool: PoolDep,
    scenario: Annotated[
        dict[str, Any],
        Body(
            description="GeoJSON FeatureCollection of edits (property 'edit'), "
            "or {'edits': [...]} as in a YAML scenario file; "
            "'crs': 'gcj02'|'bd09' for AMap/Baidu coordinates",
            examples=[SCENARIO_EXAMPLE],
        ),
    ],
    name: Annotated[str | None, Query(max_length=200, description="name the scenario is kept under")] = None,
    by: Annotated[str | None, Query(max_length=100, description="who ran it (default: api)")] = None,
    keep: Annotated[bool, Query(description="keep the scenario (GET /scenarios lists it)")] = True,
) -> dict:
    """Apply edits to a copy of the network and return the coverage before and after."""
    s = served.settings
    items = scenario.get("features") if scenario.get("type") == "FeatureCollection" else scenario.get("edits")
    if isinstance(items, list) and len(items) > s.max_edits:
        raise InputError("scenario", [f"{len(items)} edits: at most {s.max_edits} per request (CIRCLES_MAX_EDITS)"])
    vertices = _count(scenario, s.max_vertices)
    if vertices > s.max_vertices:
        raise InputError(
            "scenario",
            [(f"more than {s.max_vertices} coordinates: at most {s.max_vertices} per request (CIRCLES_MAX_VERTICES)")],
        )
    crs = scenario.get("crs")
    if crs is not None and crs not in COORD_SYSTEMS:
        raise InputError("crs", [f"{crs!r}: expected one of {', '.join(COORD_SYSTEMS)}"])
    scenario_from_doc(scenario, source="request body", crs=crs)  # every problem, before queueing work
    kept = {"db": store_target(served), "shown": shown_store(served), "name": name, "by": by or "api"} if keep else None
    return await pool.run(work.scenario, doc=scenario, keep=kept)


class SitesIn(BaseModel):
    """The body of ``POST /sites``."""

    model_config = ConfigDict(extra="forbid")  # a field the service does not know is an error, not dropped
    layer: Layer = Layer.STATIONS
    add: int = Field(5, ge=1, le=200, description="how many new sites (at most CIRCLES_MAX_SITES)")
    minutes: float | None = Field(None, gt=0, le=60, description="walk limit (default: the plan's largest threshold)")
    profile: Profile | None = None
    candidates: dict[str, Any] | None = Field(
        None,
        description="GeoJSON FeatureCollection of candidate points (WGS84, or 'crs'); default: network nodes "
        "near the uncovered homes",
    )
    crs: CoordSystem = CoordSystem.WGS84
    grid: float = Field(100.0, ge=10, le=5000, description="thinning of the default candidates (m)")
    exact: bool | None = Field(None, description="also solve exactly (HiGHS); default: when the problem is small")


@router.post("/sites", responses=HEAVY, summary="Propose new sites covering the most people the layer leaves out")
async def post_sites(served: ServedDep, pool: PoolDep, body: SitesIn) -> dict:
    """Propose new sites of a layer that cover the most people it leaves out."""
    s = served.settings
    params = served.result.params
    problems = []
    if body.add > s.max_sites:
        problems.append(f"add: {body.add}: at most {s.max_sites} sites per request (CIRCLES_MAX_SITES)")
    profile = body.profile or params.profiles[0]
    if profile not in params.speeds():
        problems.append(f"profile: {profile!r} is not a profile of the loaded plan ({', '.join(params.profiles)})")
    minutes = body.minutes if body.minutes is not None else max(params.minutes)
    limit = metres_for(minutes, params.speeds().get(profile, PROFILES.get(profile, DEFAULT_PROFILE.speed_kmh)))
    cand = _candidates(body.candidates, body.crs, s.max_candidates) if body.candidates is not None else None
    n_cand = len(cand) if cand is not None else s.max_candidates
    if n_cand * limit > s.max_site_work:
        problems.append(
            f"{n_cand} candidates x {limit:,.0f} m of walking is more than this service computes per "
            f"request ({s.max_site_work:,.0f}, CIRCLES_MAX_SITE_WORK): give fewer candidates or minutes"
        )
    if problems:
        raise InputError("sites", problems)
    return await pool.run(
        work.sites,
        layer=body.layer,
        add=body.add,
        minutes=minutes,
        profile=profile,
        candidates=cand,
        exact=body.exact,
        grid_m=body.grid,
    )


def _candidates(doc: dict, crs: str, cap: int) -> list[list[float]]:
    """The candidate points of a FeatureCollection as WGS84 ``[lon, lat]``; every bad one is said."""
    feats = doc.get("features") if doc.get("type") == "FeatureCollection" else None
    if not isinstance(feats, list) or not feats:
        raise InputError("candidates", ["give a GeoJSON FeatureCollection of Point features (lon, lat)"])
    if len(feats) > cap:
        raise InputError("candidates", [f"{len(feats)} points: at most {cap} (CIRCLES_MAX_CANDIDATES)"])
    problems, pts = [], []
    for i, f in enumerate(feats, start=1):
        g = f.get("geometry") if isinstance(f, dict) else None
        c = g.get("coordinates") if isinstance(g, dict) and g.get("type") == "Point" else None
        lonlat = _lonlat(c)
        if lonlat is not None:
            pts.append(lonlat)
        else:
            problems.append(
                f"feature {i}: geometry {g!r:.80} is not a Point with longitude -180..180, latitude -90..90"
            )
    if problems:
        raise InputError(
            "candidates", problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        )
    if crs != "wgs84":
        lon, lat = to_wgs84(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]), crs)
        pts = [[float(a), float(b)] for a, b in zip(np.ravel(lon), np.ravel(lat), strict=True)]
    return pts


def _lonlat(c: object) -> list[float] | None:
    """A Point's coordinates as ``[lon, lat]`` when they are numbers within -180..180, -90..90; else None."""
    if not isinstance(c, list) or len(c) < 2:
        return None
    lon, lat = c[0], c[1]
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (lon, lat)):
        return None
    try:  # a JSON integer may be too large for a float
        x, y = float(lon), float(lat)
    except OverflowError:
        return None
    if math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90:
        return [x, y]
    return None
