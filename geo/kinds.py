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
    """Walking profiles."""

    ADULT = "adult"
    ELDERLY = "elderly"


LAYERS: tuple[str, ...] = tuple(m.value for m in Layer)
TIERS: tuple[str, ...] = tuple(m.value for m in Tier)
#: walking speeds in km/h. Adults 4.8 km/h: within the 4.5-5 km/h used in accessibility
#: studies; elderly 3.6 km/h as commonly used for older pedestrians (DOMAIN.md).
PROFILES: dict[str, float] = {Profile.ADULT.value: 4.8, Profile.ELDERLY.value: 3.6}


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
        return self.layer if self.by is None else f"{self.layer}[{self.by}={self.value}]"

    @property
    def is_night(self) -> bool:
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
