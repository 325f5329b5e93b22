"""The app factory, settings from the environment, and `circles serve`."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner


def test_nothing_is_built_at_import_or_creation():
    import api.app

    assert not hasattr(api.app, "app")  # no module-level app object
    from fastapi.testclient import TestClient

    from api.settings import Settings

    app = api.app.create_app(Settings(osm="/nonexistent/never-read.osm.pbf"))
    assert not hasattr(app.state, "result")  # nothing loaded until the lifespan runs
    r = TestClient(app).get("/health")  # no lifespan: a clear 503, not a crash
    assert r.status_code == 503
    assert r.json()["detail"].startswith("the service has no data loaded")


def test_settings_from_the_environment(monkeypatch):
    from api.settings import Settings, settings_from

    monkeypatch.setenv("CIRCLES_MINUTES", "5,10")
    monkeypatch.setenv("CIRCLES_MAX_SNAP_M", "250")
    monkeypatch.setenv("CIRCLES_OSM", "/data/x.osm.pbf")
    s = Settings()
    assert (s.minutes, s.max_snap_m, str(s.osm)) == ("5,10", 250.0, "/data/x.osm.pbf")
    assert settings_from(minutes="15").minutes == "15"  # an option given beats the environment
    env = s.to_env()
    assert env["CIRCLES_MINUTES"] == "5,10" and env["CIRCLES_NO_CACHE"] == "false"
    monkeypatch.setenv("CIRCLES_MAX_WALK_MINUTES", "lots")
    with pytest.raises(Exception) as err:
        settings_from()
    assert str(err.value) == ("settings: max_walk_minutes (CIRCLES_MAX_WALK_MINUTES): 'lots' — Input should be a "
                              "valid number, unable to parse string as a number")


def test_a_misspelt_environment_variable_is_refused_by_name(monkeypatch):
    """CIRCLES_MAX_BODY_BYTE=10 was ignored (the limit stayed at its default): a CIRCLES_*
    variable that no part of the tool reads is refused, with the closest setting's name."""
    from api.settings import settings_from
    from geo.errors import InputError

    monkeypatch.setenv("CIRCLES_CACHE_DIR", "/tmp/x")  # read by the engine, not a setting: fine
    settings_from()
    monkeypatch.setenv("CIRCLES_MAX_BODY_BYTE", "10")
    monkeypatch.setenv("CIRCLES_WHATEVER", "1")
    with pytest.raises(InputError) as err:
        settings_from()
    assert err.value.problems[0].startswith("CIRCLES_MAX_BODY_BYTE: no setting of that name — did you mean "
                                            "CIRCLES_MAX_BODY_BYTES?")
    assert err.value.problems[1].startswith("CIRCLES_WHATEVER: no setting of that name (")


def test_bad_input_fails_at_start_up_with_the_cli_message(_session_cache, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from geo.errors import InputError

    with pytest.raises(InputError) as err, TestClient(create_app(Settings(minutes="10,200"))):
        pass
    assert str(err.value) == "options: --minutes: 200 is not a walk time: give minutes above 0 and at most 120, e.g. 10,15"


def test_options_the_service_cannot_honour_are_errors():
    """A setting the service does not know is refused by name, not dropped."""
    from api.settings import settings_from
    from geo.errors import InputError

    with pytest.raises(InputError) as err:
        settings_from(per_facility=False, colour="red")
    assert str(err.value) == "settings: colour: the service does not take this option"
    assert settings_from(per_facility=False).per_facility is False


def test_serve_command(monkeypatch, _session_cache):
    """`circles serve` checks its inputs, warms the cache, then hands uvicorn the factory."""
    import api.app
    from api.cli import main
    from geo.plan import PlanResult

    calls = []
    monkeypatch.setattr(api.app, "serve", lambda *a, **k: calls.append((a, k)))
    for name in [n for n in os.environ if n.startswith("CIRCLES_") and n != "CIRCLES_CACHE_DIR"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CIRCLES_MAX_SNAP_M", "500")
    env_before = dict(os.environ)
    try:
        r = CliRunner().invoke(main, ["serve", "--minutes", "5,10", "--port", "8123", "--workers", "2"])
        assert r.exit_code == 0, r.output
        (args, kw), = calls
        assert kw.pop("result") is None  # several workers load their own: the supervisor keeps no plan
        assert (args, kw) == ((), {"host": "127.0.0.1", "port": 8123, "workers": 2, "keep_alive_s": 5.0,
                                   "header_timeout_s": 10.0})
        assert os.environ["CIRCLES_MINUTES"] == "5,10" and os.environ["CIRCLES_MAX_SNAP_M"] == "500.0"
        assert "CIRCLES_OSM" not in os.environ  # not given: the embedded default
        r = CliRunner().invoke(main, ["serve", "--minutes", "5,10", "--port", "8123"])
        assert r.exit_code == 0, r.output
        assert isinstance(calls[-1][1]["result"], PlanResult)  # the plan checked here, served by one worker as it is
    finally:
        os.environ.clear()
        os.environ.update(env_before)

    r = CliRunner().invoke(main, ["serve", "--minutes", "ten"])
    assert r.exit_code == 2
    assert "error: --minutes: 'ten' is not a comma-separated list of numbers, e.g. 10,15" in r.output
    r = CliRunner().invoke(main, ["serve", "--width", "nan"])
    assert r.exit_code == 2 and "--width: nan m is outside 1..500" in r.output
    r = CliRunner().invoke(main, ["serve", "--osm", "/nonexistent/x.osm.pbf"])
    assert r.exit_code == 2 and "/nonexistent/x.osm.pbf" in r.output
    assert len(calls) == 2  # the two good invocations above; the bad inputs never reached uvicorn


def test_an_app_given_the_plan_serves_it_without_loading_it_again(monkeypatch, client, served):
    """`circles serve` loads the plan to check it; its one worker serves that plan, not a second load."""
    from fastapi.testclient import TestClient

    import api.app

    def no_second_load(*a, **k):
        raise AssertionError("the plan was loaded again")

    monkeypatch.setattr(api.app, "prepare", no_second_load)
    with TestClient(api.app.create_app(client.app.state.settings, result=served.result)) as c:
        assert c.app.state.served.result is served.result
        assert c.get("/health").status_code == 200
        assert c.get("/coverage").json() == client.get("/coverage").json()
