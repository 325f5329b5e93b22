"""Kept scenarios: list, show, map, compare and delete them.

``GET /scenarios``, ``/scenarios/{id}``, ``/scenarios/{id}/map``, ``/scenarios/compare?ids=``,
``DELETE /scenarios/{id}``.

``POST /scenarios`` (:mod:`api.routers.whatif`) keeps each scenario it runs in the store
:func:`store_target` names: ``CIRCLES_DB`` (a GeoPackage path or a ``postgresql://`` URL), else
``scenarios.gpkg`` in the served plan's folder, else (a plan made at start-up) a GeoPackage per
plan in the cache folder. Scenarios outlive the service: a new one on the same plan reads them.
Answers name the store by :func:`shown_store` (the file's name, never the server's folders).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api import work
from api.cli_common import default_cache_dir
from api.deps import PoolDep, Served, ServedDep, json_safe
from api.errors import NotFoundError
from api.schemas import ErrorOut
from geo.errors import InputError
from geo.io import feature_collection
from geo.scenario_store import (
    SavedScenario,
    ScenarioNotFoundError,
    ScenarioStore,
    compare,
    open_store,
    plan_database,
    plan_key,
)
from maps.tiles import tile_spec

router = APIRouter(tags=["scenarios"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}, 400: {"model": ErrorOut}}
ScenarioId = Annotated[int, Path(ge=1, description="a kept scenario's id (as POST /scenarios returned)")]


def store_target(served: Served) -> str:
    """Where this service keeps its scenarios (a path or a database URL)."""
    s = served.settings
    if s.db:
        return s.db
    if s.plan is not None:
        return str(plan_database(s.plan))
    folder = default_cache_dir() / "scenarios"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"plan-{plan_key(served.result)[0]}.gpkg")


def shown_store(served: Served, store: ScenarioStore | None = None) -> str:
    """How answers name the store this service keeps its scenarios in: never a server's folder.

    A GeoPackage by its file name and where it is ("scenarios.gpkg of the served plan"), a
    database by its URL without its password.
    """
    store = open_store(store_target(served)) if store is None else store
    path = getattr(store, "path", None)
    if path is None:  # a database: its label is its URL shown without the password
        return store.label
    s = served.settings
    if s.db:
        return f"{PurePath(path).name} named by CIRCLES_DB"
    if s.plan is not None:
        return f"{PurePath(path).name} of the served plan"
    return f"{PurePath(path).name} in the service's cache folder"


def _store(served: Served) -> ScenarioStore:
    """The store this service keeps its scenarios in, named in answers as :func:`shown_store` says."""
    store = open_store(store_target(served))
    store.label = shown_store(served, store)
    return store


def _get(served: Served, sid: int, *, geometry: bool) -> SavedScenario:
    """A kept scenario; 404 when there is none."""
    try:
        return _store(served).get(sid, geometry=geometry)
    except ScenarioNotFoundError as err:
        raise NotFoundError(str(err)) from None


@router.get("/scenarios", summary="The kept scenarios: id, name, who, when, people gained and lost")
def list_scenarios(served: ServedDep) -> dict:
    """The kept scenarios of this plan, newest first."""
    store = _store(served)
    key = plan_key(served.result)[0]
    items = [{**s.summary(), "this_plan": s.plan_key == key} for s in store.list()]
    return json_safe({"kept_in": store.label, "scenarios": items})


@router.get(
    "/scenarios/compare",
    responses=NOT_FOUND,
    summary="Kept scenarios side by side: coverage before and after each, per layer and threshold",
)
def compare_scenarios(
    served: ServedDep,
    ids: Annotated[list[str], Query(description="two or more scenario ids, comma-separated (ids=1,2) or repeated")],
) -> dict:
    """Kept scenarios side by side: coverage before and after each."""
    wanted = [i.strip() for item in ids for i in item.split(",") if i.strip()]
    problems = [f"{i!r} is not a scenario id (a whole number from 1)" for i in wanted if not i.isdigit() or int(i) < 1]
    if problems:
        raise InputError("ids", problems)
    return json_safe(compare([_get(served, int(i), geometry=False) for i in wanted]))


@router.get(
    "/scenarios/{scenario_id}",
    responses=NOT_FOUND,
    summary="One kept scenario: edits, coverage before and after, changed areas and homes (GeoJSON)",
)
def get_scenario(served: ServedDep, scenario_id: ScenarioId) -> dict:
    """One kept scenario with its edits and the areas and homes it changes."""
    s = _get(served, scenario_id, geometry=True)
    f = s.features
    edits = f["scenario_edits"]
    return json_safe(
        {
            **s.summary(),
            "edits": s.edits,
            "coverage": s.coverage,
            "edits_on_network": feature_collection(
                edits[edits["source"] == "network"].drop(columns="source"), name="edits_on_network"
            ),
            "changed_areas": feature_collection(f["scenario_areas"], name="changed_areas"),
            "changed_homes": feature_collection(f["scenario_homes"], name="changed_homes"),
        }
    )


@router.delete("/scenarios/{scenario_id}", responses=NOT_FOUND, summary="Delete a kept scenario")
def delete_scenario(served: ServedDep, scenario_id: ScenarioId) -> dict:
    """Delete a kept scenario."""
    try:
        _store(served).delete(scenario_id)
    except ScenarioNotFoundError as err:
        raise NotFoundError(str(err)) from None
    return {"deleted": scenario_id}


@router.get(
    "/scenarios/{scenario_id}/map",
    response_class=HTMLResponse,
    responses=NOT_FOUND,
    summary="The map of a kept scenario: its edits, the areas that gain or lose, before/after",
)
async def scenario_map(
    served: ServedDep,
    pool: PoolDep,
    scenario_id: ScenarioId,
    lang: Annotated[str | None, Query(pattern="^(zh|en)$", description="zh or en (default: by the names)")] = None,
    tiles: Annotated[str, Query(description="base map: osm, none, or an XYZ URL (as `circles plan --tiles`)")] = "osm",
) -> HTMLResponse:
    """The map of a kept scenario (drawn in a worker process)."""
    tile_spec(tiles, option="tiles")
    await run_in_threadpool(_get, served, scenario_id, geometry=False)  # 404 before any work
    html = await pool.run(work.scenario_map, db=store_target(served), scenario_id=scenario_id, lang=lang, tiles=tiles)
    return HTMLResponse(html)
