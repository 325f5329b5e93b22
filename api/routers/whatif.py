"""``POST /scenarios`` (test edits on a copy of the network) and ``POST /sites`` (propose sites).

Both work on the plan loaded at start-up (``app.state.result``) and never change it: a scenario
is applied to copies (:mod:`geo.scenarios`), siting only reads (:mod:`geo.siting`). The work is
CPU-bound, so the handlers are plain functions (FastAPI runs them in its thread pool).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from api.deps import ResultDep, json_safe
from api.schemas import ErrorOut
from geo.errors import InputError

router = APIRouter(tags=["what-if"])

#: at most this many changed homes are listed in a /scenarios answer (the areas are all given).
MAX_HOMES_LISTED = 5000
#: at most this many candidate points in a /sites request.
MAX_CANDIDATES = 5000

SCENARIO_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"edit": "add_link", "name": "new crosswalk", "penalty_s": 30},
         "geometry": {"type": "LineString", "coordinates": [[120.191241, 30.191322], [120.191057, 30.191259]]}},
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "stations", "name": "new station"},
         "geometry": {"type": "Point", "coordinates": [120.2, 30.2]}},
    ],
}


class SitesIn(BaseModel):
    layer: Literal["centres", "stations", "charging"] = "stations"
    add: int = Field(5, ge=1, le=50, description="how many new sites")
    minutes: float | None = Field(None, gt=0, le=120, description="walk limit (default: the plan's largest threshold)")
    profile: Literal["adult", "elderly"] | None = None
    candidates: dict[str, Any] | None = Field(
        None, description="GeoJSON FeatureCollection of candidate points (WGS84); default: network nodes in the gap areas")
    exact: bool | None = Field(None, description="also solve exactly (HiGHS); default: when the problem is small")


@router.post("/scenarios", responses={400: {"model": ErrorOut}},
             summary="Test new links, closures and facility changes; get the coverage diff")
def post_scenario(
    result: ResultDep,
    scenario: Annotated[dict[str, Any], Body(description="GeoJSON FeatureCollection of edits (property 'edit'), "
                                                        "or {'edits': [...]} as in a YAML scenario file",
                                             examples=[SCENARIO_EXAMPLE])],
) -> dict:
    from geo.io import feature_collection
    from geo.scenarios import run_scenario, scenario_from_doc

    sc = scenario_from_doc(scenario, source="request body")
    out = run_scenario(result, sc)
    homes = out.homes
    truncated = len(homes) > MAX_HOMES_LISTED
    return json_safe({
        "coverage": out.coverage,
        "changed_areas": feature_collection(out.areas, name="changed_areas"),
        "changed_homes": feature_collection(homes.iloc[:MAX_HOMES_LISTED], name="changed_homes"),
        "changed_homes_truncated": truncated,
    })


@router.post("/sites", responses={400: {"model": ErrorOut}},
             summary="Propose new sites covering the most people the layer leaves out")
def post_sites(result: ResultDep, body: SitesIn) -> dict:
    from geo.io import feature_collection
    from geo.siting import site

    cand = None
    if body.candidates is not None:
        cand = _candidates(body.candidates)
    minutes = body.minutes
    res = site(result, layer=body.layer, add=body.add, minutes=minutes, profile=body.profile, candidates=cand,
               exact_solve=body.exact)
    return json_safe({"summary": res.summary, "sites": feature_collection(res.sites, name="sites"),
                      "circles": feature_collection(res.circles, name="site_circles")})


def _candidates(doc: dict):
    import geopandas as gpd
    import shapely.geometry

    feats = doc.get("features") if doc.get("type") == "FeatureCollection" else None
    if not isinstance(feats, list) or not feats:
        raise InputError("candidates", ["give a GeoJSON FeatureCollection of Point features (lon, lat)"])
    if len(feats) > MAX_CANDIDATES:
        raise InputError("candidates", [f"{len(feats)} points: at most {MAX_CANDIDATES}"])
    problems, geoms = [], []
    for i, f in enumerate(feats, start=1):
        g = (f or {}).get("geometry") if isinstance(f, dict) else None
        try:
            p = shapely.geometry.shape(g) if g else None
        except Exception:  # malformed coordinates: shapely raises several types
            p = None
        if p is None or p.geom_type != "Point" or not (-180 <= p.x <= 180 and -90 <= p.y <= 90):
            problems.append(f"feature {i}: geometry {g!r} is not a WGS84 Point (lon -180..180, lat -90..90)")
        else:
            geoms.append(p)
    if problems:
        raise InputError("candidates", problems[:20])
    return gpd.GeoDataFrame(geometry=geoms, crs=4326)
