"""The names the whole program shares: layers, tiers, walking profiles and coverage views.

One typed source for the CLI's choices, the API's schemas, the map and the engine. The
enumerations are ``StrEnum`` members, so they compare equal to (and serialise as) their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Layer(StrEnum):
    """Facility layers."""

    CENTRES = "centres"
    STATIONS = "stations"
    CHARGING = "charging"


class Tier(StrEnum):
    """Tiers of centres (Binjiang's "1+3+67+3N": district, street, community, special)."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    SPECIAL = "special"


class Profile(StrEnum):
    """Walking profiles, each with its speed (:attr:`speed_kmh`)."""

    ADULT = "adult"
    ELDERLY = "elderly"

    @property
    def speed_kmh(self) -> float:
        """Walking speed in km/h (:data:`PROFILES`)."""
        return PROFILES[self.value]


class AreaLevel(StrEnum):
    """Levels of administrative areas a study area (``--area``) or a gap can be named by."""

    DISTRICT = "district"  # 区/县, OSM admin_level 5-7
    STREET = "street"  # 街道/镇, admin_level 8
    COMMUNITY = "community"  # 社区/村, admin_level 9-10


class CoordSystem(StrEnum):
    """Coordinate systems facility, area and scenario files may come in (see :mod:`geo.crs`)."""

    WGS84 = "wgs84"  # GPS, OpenStreetMap
    GCJ02 = "gcj02"  # AMap/Gaode, Tencent
    BD09 = "bd09"  # Baidu


LAYERS: tuple[str, ...] = tuple(m.value for m in Layer)
TIERS: tuple[str, ...] = tuple(m.value for m in Tier)
AREA_LEVELS: tuple[str, ...] = tuple(m.value for m in AreaLevel)
COORD_SYSTEMS: tuple[str, ...] = tuple(m.value for m in CoordSystem)
#: walking speeds in km/h. Adults 4.8 km/h: within the 4.5-5 km/h used in accessibility
#: studies; elderly 3.6 km/h as commonly used for older pedestrians (DOMAIN.md).
PROFILES: dict[str, float] = {Profile.ADULT.value: 4.8, Profile.ELDERLY.value: 3.6}
DEFAULT_PROFILE = Profile.ADULT


def profile_help() -> str:
    """The profiles and their speeds, as the command line and the API describe them."""
    return ", ".join(f"{p} ({PROFILES[p]:g} km/h)" for p in PROFILES)


@dataclass(frozen=True)
class View:
    """A coverage view: a layer, or the part of it of one tier, service or opening time.

    Its key is the text used in ``coverage.json``, ``gaps.geojson`` and the API:
    ``"centres"``, ``"centres[tier=community]"``, ``"centres[service=老年食堂]"``,
    ``"centres[open=Wed 22:00]"``.
    """

    layer: str
    by: str | None = None  # "tier", "service" or "open"
    value: str | None = None

    @property
    def key(self) -> str:
        """The view's text, as ``coverage.json`` and the API name it."""
        return self.layer if self.by is None else f"{self.layer}[{self.by}={self.value}]"

    @property
    def is_night(self) -> bool:
        """Whether the view counts only the facilities open at a given time."""
        return self.by == "open"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> View:
        """The view of a key (see the class docstring); raises ValueError for other text."""
        m = _KEY.fullmatch(str(key))
        if m is None or m.group(1) not in LAYERS:
            raise ValueError(f"{key!r} is not a layer or a view such as centres[tier=community]")
        return cls(m.group(1), m.group(2), m.group(3))


_KEY = re.compile(r"([a-z]+)(?:\[(tier|service|open)=([^\]]+)\])?")
