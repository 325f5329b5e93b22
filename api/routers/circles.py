"""Circles and gaps (as ``circles plan`` writes them, in pages), and one facility's circle."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api import work
from api.deps import PoolDep, Served, ServedDep
from api.errors import NotFoundError
from api.schemas import ErrorOut
from geo.errors import InputError, UnknownNameError
from geo.kinds import Layer, Profile

router = APIRouter(tags=["circles"])

BAD: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut}}
#: the OpenAPI answer of a GeoJSON endpoint (the bytes are written once, not per request)
COLLECTION: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An RFC 7946 FeatureCollection (WGS84), with numberMatched, numberReturned "
        "and offset for paging",
        "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}},
    },
    **BAD,
}
FEATURE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An RFC 7946 Feature (WGS84)",
        "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/Feature"}}},
    }
}
GEOJSON = "application/geo+json"


class GeoJSONResponse(Response):
    """GeoJSON bytes (RFC 7946's media type)."""

    media_type = GEOJSON


Scope = Annotated[
    str | None,
    Query(pattern="^(layer|facility)$", description="layer: dissolved per layer; facility: one per facility"),
]


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


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        w, s, e, n = (float(x) for x in text.split(","))
    except ValueError:
        raise InputError(
            "bbox", [f"{text!r}: give west,south,east,north in degrees, e.g. 120.1,30.1,120.3,30.3"]
        ) from None
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise InputError(
            "bbox", [f"{text!r}: expected west <= east within -180..180 and south <= north within -90..90"]
        )
    return w, s, e, n


def _page_limit(served: Served, limit: int | None) -> int:
    """The page size asked for (default: the largest the settings allow), checked against that cap."""
    cap = served.settings.max_page
    if limit is None:
        return cap
    if limit > cap:
        raise InputError("limit", [f"{limit}: at most {cap} features per page (CIRCLES_MAX_PAGE); use offset to page"])
    return limit


@router.get(
    "/circles",
    response_class=GeoJSONResponse,
    responses=COLLECTION,
    summary="Service circles (per layer, and per facility), as circles.geojson, in pages",
)
async def circles(
    served: ServedDep,
    layer: Annotated[
        str | None, Query(max_length=200, description="a layer, or a night view such as centres[open=Wed 22:00]")
    ] = None,
    minutes: Annotated[
        float | None, Query(ge=0, le=1000, description="only this walk-time threshold (see /layers)")
    ] = None,
    profile: Annotated[Profile | None, Query(description="only this walking profile")] = None,
    scope: Scope = None,
    bbox: Annotated[
        str | None, Query(max_length=200, description="only features meeting west,south,east,north (degrees)")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="features per page (default and most: CIRCLES_MAX_PAGE)")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="features to skip")] = 0,
) -> Response:
    """Service circles as ``circles plan`` writes them, filtered and paged (RFC 7946, WGS84)."""
    store = served.circles
    if layer is not None and layer not in set(store.props["layer"]):
        raise UnknownNameError("layer", layer, sorted({str(x) for x in store.props["layer"]}))
    idx = store.select(
        layer=layer,
        minutes=_minutes(served, minutes),
        profile=_profile(served, profile and str(profile)),
        scope=scope,
        bbox=_bbox(bbox),
    )
    return GeoJSONResponse(store.page(idx, offset=offset, limit=_page_limit(served, limit), name="circles"))


@router.get(
    "/gaps",
    response_class=GeoJSONResponse,
    responses=COLLECTION,
    summary="Gap areas: the land of uncovered homes outside the circles, ranked by people, in pages",
)
async def gaps(
    served: ServedDep,
    layer: Annotated[
        str | None, Query(max_length=200, description="a layer, or a night view such as centres[open=Wed 22:00]")
    ] = None,
    minutes: Annotated[float | None, Query(ge=0, le=1000, description="only this walk-time threshold")] = None,
    profile: Annotated[Profile | None, Query(description="only this walking profile")] = None,
    bbox: Annotated[
        str | None, Query(max_length=200, description="only areas meeting west,south,east,north (degrees)")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="areas per page")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Gap areas as ``circles plan`` writes them, filtered and paged (RFC 7946, WGS84)."""
    store = served.gaps
    if layer is not None:
        known = set(Layer) | {str(x) for x in store.props["layer"]} | set(served.result.subsets)
        if layer not in known:
            raise UnknownNameError("layer", layer, sorted(k for k in known if k))
    idx = store.select(
        layer=layer,
        minutes=_minutes(served, minutes),
        profile=_profile(served, profile and str(profile)),
        bbox=_bbox(bbox),
    )
    return GeoJSONResponse(store.page(idx, offset=offset, limit=_page_limit(served, limit), name="gaps"))


@router.get(
    "/facilities/{facility_id}/circle",
    response_class=GeoJSONResponse,
    responses={**FEATURE, **BAD, 404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="One facility's service circle polygon (at a plan threshold, or drawn for any walk time)",
)
async def facility_circle(
    served: ServedDep,
    pool: PoolDep,
    facility_id: Annotated[str, Path(max_length=200, description="the facility's id (see /facilities or /nearest)")],
    minutes: Annotated[
        float | None,
        Query(
            gt=0,
            le=60,
            description="walk time in minutes (default: the smallest threshold); other than the plan's thresholds: drawn on demand",
        ),
    ] = None,
    profile: Annotated[Profile | None, Query(description="walking profile (default: the plan's)")] = None,
    layer: Annotated[Layer | None, Query(description="needed only when the id is in several layers")] = None,
) -> Response:
    """One facility's circle: read from the plan at its thresholds, drawn on demand at other walk times."""
    result = served.result
    p = str(profile) if profile is not None else result.params.profiles[0]
    if p not in result.params.speeds():
        raise UnknownNameError("profile (of the loaded plan)", p, result.params.profiles)
    where = [
        name
        for name, feats in served.facility_features.items()
        if (layer is None or name == layer) and any(str(f["properties"].get("id")) == facility_id for f in feats)
    ]
    if not where:
        counts = ", ".join(f"{n}: {len(f)}" for n, f in served.facility_features.items())
        scope = f"the {layer} layer" if layer else "any loaded layer"
        raise NotFoundError(
            f"facility_id: no facility {facility_id!r} in {scope} ({counts} facilities); "
            "ids are in /facilities and in /nearest answers"
        )
    if len(where) > 1:
        raise InputError(
            "layer", [(f"facility {facility_id!r} is in several layers ({', '.join(where)}): give layer= one of them")]
        )
    name = where[0]
    lr = result.layers[name]
    index = int(
        next(i for i, f in enumerate(served.facility_features[name]) if str(f["properties"].get("id")) == facility_id)
    )
    if not lr.snapped.ok[index]:
        unsnapped = [u for u in lr.unsnapped if str(u.get("id")) == facility_id]
        why = (
            f"it is {unsnapped[0]['distance_m']:.0f} m from the nearest walkable way, too far to be placed on the network"
            if unsnapped
            else "it is not placed on the walking network"
        )
        raise NotFoundError(f"facility_id: {facility_id!r} ({name}) has no circle: {why}")
    m = float(minutes) if minutes is not None else float(min(result.params.minutes))
    planned = [float(x) for x in result.params.minutes]
    if any(abs(m - x) < 1e-9 for x in planned) and result.params.per_facility:
        rows = served.circles.select(scope="facility", layer=name, minutes=m, profile=p, facility_id=None)
        ids = [i for i in rows if str(served.circles.props["facility_id"][i]) == facility_id]
        if ids:
            return GeoJSONResponse(served.circles.features[ids[0]])
    feature = await pool.run(work.facility_circle, layer=name, index=index, minutes=m, profile=p)
    return GeoJSONResponse(json.dumps(feature, ensure_ascii=False).encode("utf-8"))
