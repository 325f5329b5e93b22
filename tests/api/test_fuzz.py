"""Fuzz the OpenAPI schema with schemathesis: no 5xx, every answer matches its schema.

The number of examples is bounded (``max_examples``) so it runs inside ``make test``. The
schema is the one the app serves once its data is loaded, so the examples in it are real.
(Cases are drawn from schemathesis' strategies inside a hypothesis test: its lazy pytest
fixture loader does not work with the installed pytest.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

#: the GET endpoints of api/routers/{meta,nearest,circles}.py (the POST bodies: test_request_bodies_...)
PATHS = ["/health", "/layers", "/coverage", "/map", "/nearest", "/circles", "/gaps", "/facilities/{facility_id}/circle"]


@pytest.fixture(scope="session")
def api_schema(client):
    return schemathesis.openapi.from_dict(client.get("/openapi.json").json())


def test_schema_lists_the_endpoints(api_schema):
    assert set(PATHS) <= set(api_schema.raw_schema["paths"])


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(data=st.data())
def test_no_server_error_and_answers_match_the_schema(api_schema, client, path, data):
    case = data.draw(api_schema[path]["GET"].as_strategy())
    kw = case.as_transport_kwargs(base_url="http://testserver")
    response = client.request(kw["method"], kw["url"], params=kw.get("params"), headers=kw.get("headers"),
                              cookies=kw.get("cookies"))
    assert response.status_code < 500, response.text
    # a schema-valid request may still be refused with 400 (a point 7,000 km from the loaded streets,
    # a service no facility lists): what is valid depends on the data, which a schema cannot say
    case.validate_response(response, excluded_checks=[positive_data_acceptance])


#: request bodies: the what-if endpoints (POST), with schema-valid and schema-breaking bodies
BODIES = [("/scenarios", "positive", 15), ("/scenarios", "negative", 30), ("/sites", "positive", 8),
          ("/sites", "negative", 30)]


@pytest.mark.parametrize(("path", "mode", "n"), BODIES, ids=[f"{p}-{m}" for p, m, _ in BODIES])
def test_request_bodies_never_give_a_server_error(api_schema, client, path, mode, n):
    """Bodies drawn from (and against) the schema of POST /scenarios and POST /sites: every answer
    is 2xx or a 4xx with a ``detail`` text (a schema-valid body may still describe an impossible
    scenario or more work than allowed); never a 5xx. Few examples: a valid /sites body runs."""
    from schemathesis import GenerationMode

    strategy = api_schema[path]["POST"].as_strategy(generation_mode=GenerationMode(mode))

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(case=strategy)
    def check(case):
        kw = case.as_transport_kwargs(base_url="http://testserver")
        response = client.request(kw["method"], kw["url"], params=kw.get("params"), headers=kw.get("headers"),
                                  json=kw.get("json"), content=kw.get("data") if "json" not in kw else None)
        assert response.status_code < 500, response.text
        seen.add(response.status_code // 100)
        if response.status_code >= 400:
            assert isinstance(response.json().get("detail"), str) and response.json()["detail"], response.text

    seen: set[int] = set()
    check()
    if mode == "negative":  # a body against the schema is refused, always with a 4xx
        assert seen == {4}, seen
    elif path == "/sites":  # the schema says all a /sites body is: valid bodies are answered
        assert 2 in seen, seen
