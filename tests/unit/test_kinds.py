"""One source for layer names, tiers, profiles, area levels and coordinate systems (geo.kinds):
the command line's choices and the API's schemas are read back and compared with it."""

from __future__ import annotations

import click
import pytest

from geo.kinds import (
    AREA_LEVELS,
    COORD_SYSTEMS,
    LAYERS,
    PROFILES,
    TIERS,
    CoordSystem,
    Layer,
    Profile,
    View,
    profile_help,
)


def choices(command: click.Command, option: str) -> tuple[str, ...]:
    (param,) = [p for p in command.params if option in p.opts]
    assert isinstance(param.type, click.Choice), option
    return tuple(param.type.choices)


def test_the_command_line_offers_the_shared_names():
    from api.cli import main

    plan = main.commands["plan"]
    assert choices(plan, "--area-level") == AREA_LEVELS
    assert choices(plan, "--crs") == COORD_SYSTEMS
    assert profile_help() in next(p for p in plan.params if "--profile" in p.opts).help
    assert choices(main.commands["site"], "--layer") == LAYERS
    assert choices(main.commands["layers"].commands["check"], "--layer") == LAYERS


def test_the_api_schemas_offer_the_shared_names():
    from api.app import create_app
    from api.settings import Settings

    schemas = create_app(Settings(osm="/nonexistent/never-read.osm.pbf")).openapi()["components"]["schemas"]
    enums = {name: tuple(s["enum"]) for name, s in schemas.items() if "enum" in s}
    assert enums["Layer"] == LAYERS
    assert enums["Profile"] == tuple(PROFILES)
    assert enums["CoordSystem"] == COORD_SYSTEMS
    assert enums["Tier"] == TIERS


def test_profiles_carry_their_speeds():
    assert [p.value for p in Profile] == list(PROFILES)
    assert Profile.ADULT.speed_kmh == 4.8 and Profile.ELDERLY.speed_kmh == 3.6
    assert Layer("centres") == "centres" and CoordSystem.GCJ02 == "gcj02"  # StrEnum: compare as text


@pytest.mark.parametrize("key", ["centres", "centres[tier=community]", "charging[open=Wed 22:00]",
                                 "centres[service=老年食堂]"])
def test_view_keys_round_trip(key):
    assert View.parse(key).key == key


@pytest.mark.parametrize("key", ["clinics", "centres[colour=red]", "centres[tier=]"])
def test_view_parse_refuses_other_text(key):
    with pytest.raises(ValueError, match="is not a layer or a view"):
        View.parse(key)
