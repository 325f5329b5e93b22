"""Scenarios that are kept: one storage interface, a GeoPackage file or a PostGIS database.

A kept scenario has an id, a name, who ran it and when, its edits (a WGS84 GeoJSON
FeatureCollection that runs it again), its coverage before and after (the scenario's
``coverage.json``) and, as geometry, its edits, the areas and the homes that gain or lose.

:func:`open_store` picks the backend from its target:

* a path (default ``DIR/scenarios.gpkg`` beside a saved plan): a GeoPackage written with
  :mod:`sqlite3` following the OGC GeoPackage 1.3 encoding, so QGIS opens it and shows the
  ``scenario_edits``, ``scenario_areas`` and ``scenario_homes`` layers (``scenarios`` is an
  attributes table);
* ``postgresql://...`` (or ``postgres://``): the same tables in PostgreSQL with PostGIS
  geometry columns (EPSG:4326), through psycopg 3, for a team sharing one database.

Each scenario is written in one transaction (all of its rows or none). Nothing read back is
code: JSON text and WKB geometry only.

This module picks the store; the record and its tables are :mod:`geo.scenario_records`, the SQL
both stores share :mod:`geo.scenario_sql`, the backends :mod:`geo.scenario_gpkg` and
:mod:`geo.scenario_postgis`. Their public names are importable from here too.
"""

from __future__ import annotations

from pathlib import Path

from geo.errors import InputError
from geo.scenario_gpkg import GpkgStore, from_gpkg_blob, gpkg_blob
from geo.scenario_postgis import PostgisStore, shown_url
from geo.scenario_records import (
    FEATURE_TABLES,
    FORMAT_VERSION,
    GPKG_NAME,
    SCENARIO_COLUMNS,
    SRID,
    NewScenario,
    SavedScenario,
    ScenarioNotFoundError,
    compare,
    default_user,
    edits_document,
    new_scenario,
    plan_database,
    plan_key,
)
from geo.scenario_sql import ScenarioStore

__all__ = [
    "FEATURE_TABLES",
    "FORMAT_VERSION",
    "GPKG_NAME",
    "SCENARIO_COLUMNS",
    "SRID",
    "GpkgStore",
    "NewScenario",
    "PostgisStore",
    "SavedScenario",
    "ScenarioNotFoundError",
    "ScenarioStore",
    "compare",
    "default_user",
    "edits_document",
    "from_gpkg_blob",
    "gpkg_blob",
    "new_scenario",
    "open_store",
    "plan_database",
    "plan_key",
    "shown_url",
]


def open_store(target: str | Path) -> ScenarioStore:
    """The store at ``target``: ``postgresql://`` URL (PostGIS) or a GeoPackage path."""
    text = str(target).strip()
    if text.startswith(("postgresql://", "postgres://")):
        return PostgisStore(text)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise InputError(
            f"--db {scheme}://...",
            [
                (
                    f"unknown database kind {scheme!r}: give a GeoPackage path "
                    "(such as out/bj/scenarios.gpkg) or postgresql://user@host/db"
                )
            ],
        )
    path = Path(text)
    if path.is_dir():
        path = path / GPKG_NAME
    return GpkgStore(path)
