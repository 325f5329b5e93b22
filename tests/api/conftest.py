"""Apps under test: built with create_app(settings) and entered once per session (the lifespan
plans the data once). The network cache goes to the session's temporary folder."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CIRCLES_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


def _client(settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    return TestClient(create_app(settings))


@pytest.fixture(scope="session")
def client(_session_cache):
    """The embedded Helsinki extract, default settings."""
    from api.settings import Settings

    with _client(Settings()) as c:
        yield c


@pytest.fixture(scope="session")
def served(client):
    return client.app.state.served


@pytest.fixture(scope="session")
def binjiang_client(_session_cache, binjiang_path):
    from api.settings import Settings

    with _client(Settings(osm=binjiang_path)) as c:
        yield c
