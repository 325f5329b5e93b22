"""Apps under test: built with create_app(settings) and entered once per session (the lifespan
plans the data once). The network cache goes to the session's folder (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import DATA


@pytest.fixture(scope="session")
def _session_cache():
    yield


def _client(settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    return TestClient(create_app(settings))


@pytest.fixture(scope="session")
def client(_session_cache):
    """The embedded Helsinki extract, its OSM centres, and the stations and charging points of
    tests/data (made for the tests)."""
    from api.settings import Settings

    with _client(Settings(stations=DATA / "helsinki_stations.csv", charging=DATA / "helsinki_charging.csv")) as c:
        yield c


@pytest.fixture(scope="session")
def served(client):
    return client.app.state.served


@pytest.fixture(scope="session")
def binjiang_client(_session_cache, binjiang_path):
    from api.settings import Settings

    with _client(Settings(osm=binjiang_path)) as c:
        yield c
