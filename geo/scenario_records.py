"""The record a kept scenario is: its tables' columns, what is written and read back, and comparing.

A kept scenario has an id, a name, who ran it and when, its edits (a WGS84 GeoJSON
FeatureCollection that runs it again), its coverage before and after (the scenario's
``coverage.json``) and, as geometry, its edits, the areas and the homes that gain or lose.
Both stores (:mod:`geo.scenario_gpkg`, :mod:`geo.scenario_postgis`) keep these same tables.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely.geometry

from geo.errors import CirclesError, InputError
from geo.saved import PLAN_FOLDER

if TYPE_CHECKING:  # annotations only: the engine loads where a scenario runs, not where one is read
    from geo.plan_types import PlanResult
    from geo.scenarios import Scenario
    from geo.whatif import ScenarioOutcome

#: version of the tables' layout written in every scenario row
FORMAT_VERSION = 1
#: the GeoPackage a saved plan's folder keeps its scenarios in
GPKG_NAME = "scenarios.gpkg"
SRID = 4326

#: the feature tables: name -> (geometry type, [(column, SQL type)])
FEATURE_TABLES = {
    "scenario_edits": (
        "GEOMETRY",
        [
            ("scenario_id", "INTEGER"),
            ("number", "INTEGER"),
            ("source", "TEXT"),
            ("edit", "TEXT"),
            ("name", "TEXT"),
            ("layer", "TEXT"),
            ("facility", "TEXT"),
            ("length_m", "REAL"),
        ],
    ),
    "scenario_areas": (
        "MULTIPOLYGON",
        [
            ("scenario_id", "INTEGER"),
            ("layer", "TEXT"),
            ("profile", "TEXT"),
            ("minutes", "REAL"),
            ("change", "TEXT"),
            ("homes", "INTEGER"),
            ("people", "REAL"),
            ("street", "TEXT"),
            ("community", "TEXT"),
        ],
    ),
    "scenario_homes": (
        "POINT",
        [
            ("scenario_id", "INTEGER"),
            ("layer", "TEXT"),
            ("profile", "TEXT"),
            ("minutes", "REAL"),
            ("change", "TEXT"),
            ("people", "REAL"),
            ("walk_min_before", "REAL"),
            ("walk_min_after", "REAL"),
        ],
    ),
}
SCENARIO_COLUMNS = [
    ("name", "TEXT"),
    ("created_by", "TEXT"),
    ("created_at", "TEXT"),
    ("plan_key", "TEXT"),
    ("plan_label", "TEXT"),
    ("n_edits", "INTEGER"),
    ("edits", "TEXT"),
    ("coverage", "TEXT"),
    ("format_version", "INTEGER"),
]


class ScenarioNotFoundError(CirclesError):
    """No kept scenario has this id."""


@dataclass(frozen=True, eq=False)
class NewScenario:
    """A scenario and its results, ready to be kept (no id yet)."""

    name: str
    created_by: str
    created_at: str
    plan_key: str
    plan_label: str
    edits: dict  # GeoJSON FeatureCollection (WGS84) that runs the scenario again
    coverage: dict
    features: dict  # table name -> GeoDataFrame (WGS84) with that table's columns


@dataclass(frozen=True, eq=False)
class SavedScenario:
    """A kept scenario as read back."""

    id: int
    name: str
    created_by: str
    created_at: str
    plan_key: str
    plan_label: str
    n_edits: int
    edits: dict
    coverage: dict
    features: dict  # table name -> GeoDataFrame (WGS84); empty dict when read without geometry

    def summary(self) -> dict:
        """Id, name, who, when, plan and the people gained/lost per layer at each threshold."""
        return {
            "id": self.id,
            "name": self.name,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "plan": self.plan_label,
            "plan_key": self.plan_key,
            "edits": self.n_edits,
            "people": {
                layer: {
                    m: {"gained": f.get("people_gained"), "lost": f.get("people_lost")}
                    for m, f in doc.get("minutes", {}).items()
                }
                for layer, doc in self.coverage.get("layers", {}).items()
            },
        }


# ------------------------------------------------------------------ building a record


def plan_key(result: PlanResult) -> tuple[str, str]:
    """``(key, label)`` of a plan.

    The key is the same for the same plan however it was loaded: a checksum of its coverage
    figures without the time they were made.
    """
    doc = {k: v for k, v in result.coverage.items() if k != "generated"}
    key = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]
    given = doc.get("area")
    area: dict = given if isinstance(given, dict) else {}
    label = " · ".join(str(x) for x in (Path(str(doc.get("source") or "")).name, area.get("name")) if x)
    return key, label


def edits_document(scenario: Scenario) -> dict:
    """The scenario's edits as a WGS84 GeoJSON FeatureCollection.

    :func:`geo.scenarios.scenario_from_doc` reads it back into the same edits.
    """
    feats = []
    for e in scenario.edits:
        props = {"edit": e.kind}
        if e.layer:
            props["layer"] = e.layer
        if e.ref is not None:
            props["id"] = e.ref
        props.update({k: v for k, v in e.props.items() if v is not None})
        geom = shapely.geometry.mapping(e.geometry) if e.geometry is not None else None
        feats.append({"type": "Feature", "properties": props, "geometry": _plain(geom)})
    return {"type": "FeatureCollection", "features": feats}


def _plain(obj: object) -> object:
    """Tuples from shapely's mapping as lists (JSON arrays)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def default_user() -> str:
    """The user name of the operating system (who ran a scenario, without ``--by``)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's numeric uid)
        return "unknown"


def new_scenario(outcome: ScenarioOutcome, *, name: str | None = None, by: str | None = None) -> NewScenario:
    """A record of a run (:class:`geo.whatif.ScenarioOutcome`) to keep."""
    key, label = plan_key(outcome.before)
    edits = edits_document(outcome.scenario)
    given = gpd.GeoDataFrame(
        {
            "number": [e.number for e in outcome.scenario.edits],
            "source": "given",
            "edit": [e.kind for e in outcome.scenario.edits],
            "name": [e.props.get("name") for e in outcome.scenario.edits],
            "layer": [e.layer for e in outcome.scenario.edits],
            "facility": [e.ref for e in outcome.scenario.edits],
            "length_m": [None] * len(outcome.scenario.edits),
        },
        geometry=[e.geometry for e in outcome.scenario.edits],
        crs=SRID,
    )
    net = outcome.edits.copy()
    net = gpd.GeoDataFrame(
        {
            "number": None,
            "source": "network",
            "edit": net["edit"],
            "name": net["name"],
            "layer": None,
            "facility": None,
            "length_m": net["length_m"],
        },
        geometry=net.geometry.values,
        crs=SRID,
    )
    edit_rows = gpd.GeoDataFrame(pd.concat([given, net], ignore_index=True), crs=SRID)
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    n = len(outcome.scenario.edits)
    src = Path(str(outcome.scenario.source)).name
    return NewScenario(
        name=(name or "").strip() or f"{src} ({n} edit{'s' if n != 1 else ''})",
        created_by=(by or "").strip() or default_user(),
        created_at=stamp,
        plan_key=key,
        plan_label=label,
        edits=edits,
        coverage=outcome.coverage,
        features={"scenario_edits": edit_rows, "scenario_areas": outcome.areas, "scenario_homes": outcome.homes},
    )


# ------------------------------------------------------------------ comparing


def compare(scenarios: list[SavedScenario]) -> dict:
    """Coverage of several kept scenarios side by side.

    Per layer and threshold: the figures before, and for each scenario the figures after and
    the homes and people gained and lost.

    Scenarios of different plans are compared too, with ``same_plan`` false and each one's own
    "before" given.
    """
    if len(scenarios) < 2:
        raise InputError("compare", [f"{len(scenarios)} scenario id given: give two or more ids to compare"])
    ids = [s.id for s in scenarios]
    if len(set(ids)) != len(ids):
        raise InputError("compare", [f"ids {ids}: an id is repeated: give different scenarios"])
    same_plan = len({s.plan_key for s in scenarios}) == 1
    layers: dict = {}
    for s in scenarios:
        for layer, doc in s.coverage.get("layers", {}).items():
            for m, f in doc.get("minutes", {}).items():
                row = layers.setdefault(layer, {}).setdefault(m, {"before": {}, "after": {}})
                row["before"][str(s.id)] = f.get("before")
                row["after"][str(s.id)] = {
                    **(f.get("after") or {}),
                    **{k: f.get(k) for k in ("homes_gained", "homes_lost", "people_gained", "people_lost")},
                }
    for rows in layers.values():
        for row in rows.values():
            befores = list(row["before"].values())
            if same_plan and all(b == befores[0] for b in befores):
                row["before"] = befores[0]
            best = max(row["after"], key=lambda k: row["after"][k].get("people_covered") or 0)
            row["most_people"] = int(best)
    return {"scenarios": [s.summary() for s in scenarios], "same_plan": same_plan, "layers": layers}


def plan_database(plan_dir: str | Path) -> Path:
    """The GeoPackage a saved plan keeps its scenarios in.

    ``scenarios.gpkg`` in the plan's output folder (given as that folder or as its ``plan/``).
    """
    folder = Path(plan_dir)
    if folder.name == PLAN_FOLDER and (folder / "manifest.json").exists():
        folder = folder.parent
    return folder / GPKG_NAME
