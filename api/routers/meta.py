"""What is loaded: health, layers and thresholds, the coverage summary, the HTML map."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.deps import ServedDep, SettingsDep
from api.schemas import Health, LayerInfo, LayersOut, Threshold
from api.settings import MAX_K
from geo.circles import metres_for
from geo.kinds import PROFILES

router = APIRouter(tags=["meta"])


@router.get("/health", response_model=Health, summary="Is the service up, and on which data")
async def health(served: ServedDep) -> Health:
    """The service is up: the source and the size of its network."""
    net = served.result.network
    return Health(source=served.source_name, nodes=net.n_nodes, edges=net.n_edges)


@router.get("/layers", response_model=LayersOut, summary="Layers, facility counts, thresholds and profile")
async def layers(served: ServedDep, settings: SettingsDep) -> LayersOut:
    """The layers, their facility counts, the thresholds and the walking profiles."""
    result = served.result
    params = result.params
    speeds = params.speeds()
    infos = []
    for name, lr in result.layers.items():
        tiers: dict[str, int] = {}
        for t in served.tiers[name]:
            if isinstance(t, str) and t:
                tiers[t] = tiers.get(t, 0) + 1
        infos.append(
            LayerInfo(
                name=name,
                facilities=len(lr.facilities),
                snapped=int(lr.snapped.ok.sum()),
                origin=lr.origin,
                tiers=tiers,
                services=sorted({s for x in served.services[name] for s in x if s}),
            )
        )
    return LayersOut(
        source=served.source_name,
        data_date=result.data_date,
        profile=params.profiles[0],
        profiles={p: float(params.speed_kmh or v) for p, v in PROFILES.items()},
        minutes=[float(m) for m in params.minutes],
        thresholds=[
            Threshold(minutes=float(m), profile=p, speed_kmh=speeds[p], metres=round(metres_for(m, speeds[p]), 1))
            for p in params.profiles
            for m in params.minutes
        ],
        bbox=list(result.network.bbox_lonlat()),
        max_snap_metres=settings.max_snap_m,
        max_walk_minutes=settings.max_walk_minutes,
        max_k=MAX_K,
        layers=infos,
    )


@router.get("/coverage", response_model=dict, summary="The coverage summary (coverage.json of circles plan)")
async def coverage(served: ServedDep) -> dict:
    """The coverage summary, as ``coverage.json``."""
    return served.coverage


@router.get("/map", response_class=HTMLResponse, summary="The HTML map of the plan")
async def map_page(served: ServedDep) -> HTMLResponse:
    """The plan's HTML map."""
    return HTMLResponse(await run_in_threadpool(served.map_html))
