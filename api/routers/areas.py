"""The facilities with the people they serve, and coverage by street and community."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ServedDep, json_safe
from api.schemas import ErrorOut
from geo.kinds import Layer

router = APIRouter(tags=["areas"])


@router.get("/facilities", responses={400: {"model": ErrorOut}},
            summary="Every facility: where it was placed and the people it serves within each threshold")
async def facilities(
    served: ServedDep,
    layer: Annotated[Layer | None, Query(description="only this layer")] = None,
) -> dict:
    from geo.io import feature_collection

    fac = served.result.facilities
    if layer is not None and len(fac):
        fac = fac[fac["layer"] == str(layer)]
    return json_safe(feature_collection(fac, name="facilities"))
