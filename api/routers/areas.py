"""Coverage by street and community, and the facilities with the people they serve.

Both answer from the plan's tables (:func:`geo.tables.plan_tables`, the same tables the CLI
writes to ``tables.xlsx``), made on first use and kept on the app's state.
"""

from __future__ import annotations

from typing import Annotated, Literal

import geopandas as gpd
from fastapi import APIRouter, Query, Request

from api.deps import Served, ServedDep, json_safe
from api.schemas import ErrorOut
from geo.io import feature_collection
from geo.kinds import Layer
from geo.tables import PlanTables, cover_columns, plan_tables

router = APIRouter(tags=["areas"])


def _tables(request: Request, served: Served) -> PlanTables:
    """The plan's tables, made once per app (the app's state, never module state)."""
    tables = getattr(request.app.state, "plan_tables", None)
    if tables is None or tables[0] is not served.result:
        tables = (served.result, plan_tables(served.result))
        request.app.state.plan_tables = tables
    return tables[1]


@router.get(
    "/areas",
    responses={400: {"model": ErrorOut}},
    summary="Homes, people and the share covered per layer and threshold, by street or community",
)
async def areas(
    request: Request,
    served: ServedDep,
    level: Annotated[
        Literal["street", "community"], Query(description="street (街道/镇) or community (社区/村)")
    ] = "street",
) -> dict:
    """One row per street or community of the study area, worst covered first.

    Homes with no name found come last (``name`` null). Coverage columns are
    ``<layer>_<minutes>min`` (and ``_<profile>`` with several profiles): the share of the area's
    people within that walk.
    """
    t = _tables(request, served)
    table = t.streets if level == "street" else t.communities
    cols = [
        {"column": c, "layer": layer, "minutes": m, "profile": p}
        for c, layer, m, p in cover_columns(served.result.params)
    ]
    return json_safe(
        {"level": level, "count": len(table), "coverage_columns": cols, "areas": table.to_dict(orient="records")}
    )


@router.get(
    "/facilities",
    responses={400: {"model": ErrorOut}},
    summary="Every facility: where it was placed, its street and community, the people it serves",
)
async def facilities(
    request: Request,
    served: ServedDep,
    layer: Annotated[Layer | None, Query(description="only this layer")] = None,
) -> dict:
    """A GeoJSON FeatureCollection (WGS84 points) of the facilities and the people they serve.

    Per facility: its layer, id, name, street, community, placement, and per threshold
    ``people_<m>min`` / ``homes_<m>min`` (living within that walk) and ``people_nearest_<m>min``
    (those for whom it is the nearest).
    """
    fac = _tables(request, served).facilities
    if layer is not None and len(fac):
        fac = fac[fac["layer"] == str(layer)]
    gdf = gpd.GeoDataFrame(fac, geometry=gpd.points_from_xy(fac.get("lon", []), fac.get("lat", [])), crs=4326)
    return json_safe(feature_collection(gdf, name="facilities"))
