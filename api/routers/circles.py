"""Circles and gaps: the FeatureCollections ``circles plan`` writes, and one facility's circle."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.deps import Served, ServedDep
from api.errors import NotFoundError
from api.schemas import ErrorOut, Feature, FeatureCollection
from geo.errors import InputError, UnknownNameError
from geo.osm_layers import LAYERS

router = APIRouter(tags=["circles"])

Layer = Literal["centres", "stations", "charging"]
Profile = Literal["adult", "elderly"]
Scope = Literal["layer", "facility"]
BAD = {400: {"model": ErrorOut}}


def _minutes(served: Served, minutes: float | None) -> float | None:
    """``minutes`` as one of the plan's thresholds (10 and 10.0 are the same)."""
    if minutes is None:
        return None
    allowed = [float(m) for m in served.result.params.minutes]
    for m in allowed:
        if abs(m - minutes) < 1e-9:
            return m
    raise UnknownNameError("minutes", f"{minutes:g}", [f"{m:g}" for m in allowed])


def _profile(served: Served, profile: str | None) -> str | None:
    if profile is not None and profile not in served.result.params.profiles:
        raise UnknownNameError("profile (of the loaded plan)", profile, served.result.params.profiles)
    return profile


def _select(features: list[dict], **want) -> list[dict]:
    want = {k: v for k, v in want.items() if v is not None}
    return [f for f in features if all(f["properties"].get(k) == v for k, v in want.items())]


@router.get("/circles", response_model=FeatureCollection, responses=BAD,
            summary="Service circles (per layer, and per facility), as circles.geojson")
async def circles(
    served: ServedDep,
    layer: Annotated[Layer | None, Query(description="only this layer")] = None,
    minutes: Annotated[float | None, Query(ge=0, le=1000, description="only this walk-time threshold (see /layers)")] = None,
    profile: Annotated[Profile | None, Query(description="only this walking profile")] = None,
    scope: Annotated[Scope | None, Query(description="layer: dissolved per layer; facility: one per facility")] = None,
) -> dict:
    fc = served.circles_fc
    m = _minutes(served, minutes)
    feats = _select(fc["features"], layer=layer, minutes=m, profile=_profile(served, profile), scope=scope)
    return {"type": "FeatureCollection", "name": fc.get("name"), "features": feats}


@router.get("/gaps", response_model=FeatureCollection, responses=BAD,
            summary="Gap areas: uncovered homes grouped into areas, ranked by people, as gaps.geojson")
async def gaps(
    served: ServedDep,
    layer: Annotated[str | None, Query(max_length=200, description="a layer, or a view such as centres[tier=community] (see /coverage subsets)")] = None,
    minutes: Annotated[float | None, Query(ge=0, le=1000, description="only this walk-time threshold")] = None,
) -> dict:
    fc = served.gaps_fc
    if layer is not None:
        known = set(LAYERS) | {f["properties"].get("layer") for f in fc["features"]} | set(served.result.subsets)
        if layer not in known:
            raise UnknownNameError("layer", layer, sorted(k for k in known if k))
    feats = _select(fc["features"], layer=layer, minutes=_minutes(served, minutes))
    return {"type": "FeatureCollection", "name": fc.get("name"), "features": feats}


@router.get("/facilities/{facility_id}/circle", response_model=Feature,
            responses={**BAD, 404: {"model": ErrorOut}}, summary="One facility's service circle polygon")
async def facility_circle(
    served: ServedDep,
    facility_id: Annotated[str, Path(max_length=200, description="the facility's id (see /nearest results)")],
    minutes: Annotated[float | None, Query(ge=0, le=1000, description="walk-time threshold (default: the smallest)")] = None,
    profile: Annotated[Profile | None, Query(description="walking profile (default: the plan's)")] = None,
    layer: Annotated[Layer | None, Query(description="needed only when the id is in several layers")] = None,
) -> dict:
    result = served.result
    m = _minutes(served, minutes) if minutes is not None else float(min(result.params.minutes))
    p = _profile(served, profile) or result.params.profiles[0]
    where = [name for name, feats in served.facility_features.items()
             if (layer is None or name == layer) and any(str(f["properties"].get("id")) == facility_id for f in feats)]
    if not where:
        counts = ", ".join(f"{n}: {len(f)}" for n, f in served.facility_features.items())
        scope = f"the {layer} layer" if layer else "any loaded layer"
        raise NotFoundError(f"facility_id: no facility {facility_id!r} in {scope} ({counts} facilities); "
                            "ids are in the facility properties of /nearest answers")
    if len(where) > 1:
        raise InputError("layer", [f"facility {facility_id!r} is in several layers ({', '.join(where)}): "
                                   "give layer= one of them"])
    hits = [f for f in _select(served.circles_fc["features"], scope="facility", layer=where[0], minutes=m, profile=p)
            if str(f["properties"].get("facility_id")) == facility_id]
    if not hits:
        unsnapped = [u for u in result.layers[where[0]].unsnapped if str(u.get("id")) == facility_id]
        why = (f"it is {unsnapped[0]['distance_m']:.0f} m from the nearest walkable way, too far to be placed on the network"
               if unsnapped else "it is not placed on the walking network")
        raise NotFoundError(f"facility_id: {facility_id!r} ({where[0]}) has no circle: {why}")
    return hits[0]
