"""``GET /nearest``: the k nearest facilities on foot from a point, with the walking routes."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from api.deps import Served, ServedDep
from api.schemas import ErrorOut, NearestOut
from api.settings import MAX_K
from geo.circles import Reach, metres_for
from geo.crs import to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import InputError, UnknownNameError
from geo.hours import at_label, parse_at
from geo.kinds import PROFILES, CoordSystem, Layer, Profile, Tier
from geo.nearest import Route
from geo.network import Snapped

router = APIRouter(tags=["nearest"])

Crs = CoordSystem


@router.get(
    "/nearest",
    response_model=NearestOut,
    responses={400: {"model": ErrorOut}},
    summary="The nearest facilities on foot, with walk times and routes",
)
async def nearest(  # noqa: PLR0913 - FastAPI passes each query parameter as an argument
    *,
    served: ServedDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude (decimal degrees)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude (decimal degrees)")],
    layer: Annotated[Layer, Query(description="which facilities")] = Layer.CENTRES,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="how many facilities, nearest first")] = 1,
    tier: Annotated[Tier | None, Query(description="only centres of this tier")] = None,
    service: Annotated[
        str | None, Query(max_length=100, description="only facilities offering this service (see /layers)")
    ] = None,
    open_at: Annotated[
        str | None,
        Query(
            max_length=40,
            description='only facilities open then: "Mon 22:00", "周一 22:00", "22:00" (a Wednesday), "2025-06-04 22:00"',
        ),
    ] = None,
    profile: Annotated[
        Profile | None, Query(description="walking speed used for walk_seconds (default: the plan's profile)")
    ] = None,
    crs: Annotated[
        Crs, Query(description="coordinate system of lon/lat: gcj02 for AMap/Tencent, bd09 for Baidu")
    ] = CoordSystem.WGS84,
    out_crs: Annotated[
        Crs | None, Query(description="coordinate system of the answer's geometry (default: as crs)")
    ] = None,
) -> NearestOut | dict:
    """The ``k`` nearest facilities on foot from a point, with walk times and routes."""
    return answer(
        served,
        lon=lon,
        lat=lat,
        layer=str(layer),
        k=k,
        tier=str(tier) if tier else None,
        service=service,
        open_at=open_at,
        profile=str(profile) if profile else None,
        crs=crs,
        out_crs=out_crs or crs,
    )


def answer(  # noqa: PLR0913 - the arguments are the query's parameters, as /nearest takes them
    served: Served,
    *,
    lon: float,
    lat: float,
    layer: str,
    k: int = 1,
    tier: str | None = None,
    service: str | None = None,
    open_at: str | None = None,
    profile: str | None = None,
    crs: str = "wgs84",
    out_crs: str | None = None,
) -> dict:
    """The /nearest answer as a dict (see :class:`api.schemas.NearestOut`)."""
    result = served.result
    settings = served.settings
    net = result.network
    if layer not in result.layers:
        raise UnknownNameError("layer", layer, result.layers)
    profile = profile or result.params.profiles[0]
    if profile not in PROFILES:
        raise UnknownNameError("profile", profile, PROFILES)
    speed = float(result.params.speed_kmh or PROFILES[profile])
    limit = metres_for(settings.max_walk_minutes, speed)

    wlon, wlat = _to_wgs84(lon, lat, crs)
    point = _snap(served, lon, lat, wlon, wlat, crs)
    mask, labelled = _filters(served, layer, tier=tier, service=service, open_at=open_at)

    lr = result.layers[layer]
    if k == 1 and labelled is not None:
        reach, index = labelled
        r = served.nearest.from_labels(reach, point, limit=limit)
        routes = [] if r is None else [Route(int(index[r.facility]), r.metres, r.xy)]
    else:
        routes = served.nearest.search(lr.snapped, point, k=k, mask=mask, limit=limit)

    feats = served.facility_features[layer]
    out = out_crs or "wgs84"
    results = []
    for r in routes:
        ll = np.round(_from_wgs84(net.unproject(r.xy), out), 7)
        if len(ll) < 2:
            ll = np.vstack([ll, ll])
        feat = feats[r.facility]
        if out != "wgs84":
            c = _from_wgs84(np.asarray([feat["geometry"]["coordinates"]], float), out)[0]
            feat = {
                **feat,
                "geometry": {"type": "Point", "coordinates": [round(float(c[0]), 7), round(float(c[1]), 7)]},
            }
        results.append(
            {
                "facility": feat,
                "walk_seconds": round(r.metres / (speed / 3.6), 1),
                "walk_metres": round(r.metres, 2),
                "route": {"type": "LineString", "coordinates": ll.tolist()},
            }
        )
    snapped_ll = np.round(_from_wgs84(net.unproject(point.xy), out)[0], 7)
    return {
        "query": {
            "lon": lon,
            "lat": lat,
            "crs": crs,
            "out_crs": out,
            "layer": layer,
            "profile": profile,
            "speed_kmh": speed,
            "snapped": {"type": "Point", "coordinates": snapped_ll.tolist()},
            "snap_metres": round(float(point.dist[0]), 2),
            "max_walk_minutes": settings.max_walk_minutes,
        },
        "results": results,
    }


def _to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    if crs == "wgs84":
        return lon, lat
    out = to_wgs84(np.array([lon]), np.array([lat]), crs)
    return float(np.asarray(out[0]).ravel()[0]), float(np.asarray(out[1]).ravel()[0])


def _from_wgs84(ll: np.ndarray, crs: str) -> np.ndarray:
    """WGS84 ``(n, 2)`` lon/lat in ``crs`` (gcj02/bd09 for AMap/Baidu; unchanged outside China)."""
    if crs == "wgs84" or len(ll) == 0:
        return ll
    lon, lat = (wgs84_to_gcj02 if crs == "gcj02" else wgs84_to_bd09)(ll[:, 0], ll[:, 1])
    return np.column_stack([np.ravel(lon), np.ravel(lat)])


def _snap(served: Served, lon: float, lat: float, wlon: float, wlat: float, crs: str) -> Snapped:
    """The query point on its nearest walkable street, or a 400 that says why not."""
    net = served.result.network
    limit = served.settings.max_snap_m
    xy = net.project(np.array([wlon]), np.array([wlat]))
    if np.all(np.isfinite(xy)):
        point = net.snap(xy, max_dist=limit)
        if point.ok[0]:
            return point
        far = float(net.snap(xy, max_dist=1e12).dist[0])
    else:
        far = float("inf")
    w, s, e, n = net.bbox_lonlat()
    where = "far outside" if not np.isfinite(far) else f"{far:,.0f} m from"
    problem = (
        f"the point lon={lon:g}, lat={lat:g} ({crs}) is {where} the nearest walkable street of the loaded "
        f"network (limit {limit:g} m); the network covers lon {w:.4f}..{e:.4f}, lat {s:.4f}..{n:.4f}"
    )
    if w <= lat <= e and s <= lon <= n:
        problem += " — lon and lat look swapped"
    raise InputError("lon/lat", [problem])


def _filters(
    served: Served, layer: str, *, tier: str | None, service: str | None, open_at: str | None
) -> tuple[np.ndarray | None, tuple[Reach, np.ndarray] | None]:
    """The facility mask of the filters, and precomputed labels for it when the plan has them.

    Returns ``(mask or None, (reach, index) or None)``: ``index`` maps the labelled layer's
    facility numbers back to the layer's.
    """
    result = served.result
    lr = result.layers[layer]
    n = len(lr.facilities)
    mask = np.ones(n, bool)
    names = []
    if tier is not None:
        mask &= served.tiers[layer] == tier
        names.append(f"{layer}[tier={tier}]")
    if service is not None:
        known = sorted({s for x in served.services[layer] for s in x if s})
        if not known:
            raise InputError(
                "service",
                [
                    (
                        f"{service!r}: none of the {n} {layer} loaded lists its services, "
                        "so none can be picked by service; leave service out"
                    )
                ],
            )
        if service not in known:
            raise UnknownNameError("service", service, known)
        mask &= np.array([service in x for x in served.services[layer]], bool)
        names.append(f"{layer}[service={service}]")
    if open_at is not None:
        try:
            at = parse_at(open_at)
        except InputError as err:
            raise InputError("open_at", err.problems) from None
        mask &= served.open_mask(layer, at)
        names.append(f"{layer}[open={at_label(at)}]")
    if not names:
        return None, (lr.reach, np.arange(n))
    if len(names) == 1 and mask.all():
        return mask, (lr.reach, np.arange(n))
    sub = result.subsets.get(names[0]) if len(names) == 1 else None
    if sub is not None and len(sub.facilities) == int(mask.sum()):
        return mask, (sub.reach, np.flatnonzero(mask))
    return mask, None
