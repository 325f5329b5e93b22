"""A real plan of the Binjiang clip (with a night time), shared by the map and browser tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def binjiang_plan(request, binjiang_path):
    # tests/browser/conftest.py has the same fixture: whichever runs first plans, the other reuses it
    cached = getattr(request.config, "_circles_binjiang_plan", None)
    if cached is None:
        from geo.plan import PlanInputs, PlanParams, plan

        cached = plan(PlanInputs(osm=binjiang_path), PlanParams(at="Mon 22:00"))
        request.config._circles_binjiang_plan = cached
    return cached
