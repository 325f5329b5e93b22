"""Kept scenarios through the API: POST /scenarios keeps them, GET reads them back after a restart,
compare and delete them, and unknown ids are 404 with a clear detail."""

from __future__ import annotations

import pytest

from tests.api.test_whatif import _far_node


@pytest.fixture(scope="module")
def plan_folder(client, tmp_path_factory):
    """The session's Helsinki plan saved to a folder, as `circles plan --out` leaves it."""
    from geo.saved import PLAN_FOLDER, save_plan

    folder = tmp_path_factory.mktemp("kept-plan")
    save_plan(client.app.state.served.result, folder / PLAN_FOLDER)
    return folder


def _app(folder):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    return TestClient(create_app(Settings(plan=folder)))


def _centre_doc(result, name: str = "new") -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": name},
         "geometry": {"type": "Point", "coordinates": _far_node(result, "centres")}}]}


def test_kept_scenarios_survive_a_restart(client, plan_folder):
    result = client.app.state.served.result
    doc = _centre_doc(result, "新中心")
    with _app(plan_folder) as first:
        assert first.get("/scenarios").json()["scenarios"] == []
        r = first.post("/scenarios", params={"name": "a new centre", "by": "planner-1"}, json=doc)
        assert r.status_code == 200, r.text
        posted = r.json()
        sid = posted["id"]
        assert posted["kept_in"] == "scenarios.gpkg of the served plan"
        r2 = first.post("/scenarios", params={"keep": "false"}, json=doc)
        assert r2.status_code == 200 and "id" not in r2.json()
    assert (plan_folder / "scenarios.gpkg").is_file()
    with _app(plan_folder) as again:  # a new app, a new process pool: read back from the file
        listed = again.get("/scenarios").json()["scenarios"]
        assert [(s["id"], s["name"], s["created_by"], s["this_plan"]) for s in listed] == \
            [(sid, "a new centre", "planner-1", True)]
        r = again.get(f"/scenarios/{sid}")
        assert r.status_code == 200, r.text
        kept = r.json()
        assert kept["coverage"]["layers"] == posted["coverage"]["layers"]
        assert kept["edits"]["features"][0]["properties"] == {"edit": "add_facility", "layer": "centres",
                                                              "name": "新中心"}
        assert len(kept["changed_areas"]["features"]) == len(posted["changed_areas"]["features"]) >= 1
        assert kept["changed_homes"]["features"] == posted["changed_homes"]["features"]
        big = f"{max(result.params.minutes):g}"
        gained = sum(f["properties"]["homes"] for f in kept["changed_areas"]["features"]
                     if f["properties"]["layer"] == "centres" and f["properties"]["minutes"] == float(big))
        assert gained == kept["coverage"]["layers"]["centres"]["minutes"][big]["homes_gained"] >= 1


def test_compare_and_delete(client, plan_folder):
    result = client.app.state.served.result
    net = result.network
    with _app(plan_folder) as c:
        a = c.post("/scenarios", params={"name": "centre"}, json=_centre_doc(result)).json()
        # the same centre and a closure of the street under it: never more people than the centre alone
        far = _far_node(result, "centres")
        closure = {"type": "Feature", "properties": {"edit": "close"},
                   "geometry": {"type": "Polygon", "coordinates": [[[far[0] - 1e-4, far[1] - 1e-4],
                                                                    [far[0] + 1e-4, far[1] - 1e-4],
                                                                    [far[0] + 1e-4, far[1] + 1e-4],
                                                                    [far[0] - 1e-4, far[1] + 1e-4],
                                                                    [far[0] - 1e-4, far[1] - 1e-4]]]}}
        doc_b = _centre_doc(result)
        doc_b["features"].append(closure)
        b = c.post("/scenarios", params={"name": "centre, street closed"}, json=doc_b).json()
        r = c.get("/scenarios/compare", params={"ids": f"{a['id']},{b['id']}"})
        assert r.status_code == 200, r.text
        cmp = r.json()
        assert cmp["same_plan"] is True and [s["name"] for s in cmp["scenarios"]] == ["centre", "centre, street closed"]
        for m, row in cmp["layers"]["centres"].items():
            fa, fb = row["after"][str(a["id"])], row["after"][str(b["id"])]
            assert fa["people_covered"] == a["coverage"]["layers"]["centres"]["minutes"][m]["after"]["people_covered"]
            assert fb["people_covered"] == b["coverage"]["layers"]["centres"]["minutes"][m]["after"]["people_covered"]
            assert fb["people_covered"] <= fa["people_covered"]
            assert row["before"]["people_covered"] == client.app.state.served.coverage["layers"]["centres"]["minutes"][m]["people_covered"]
        same = c.get("/scenarios/compare", params=[("ids", str(a["id"])), ("ids", str(b["id"]))]).json()
        assert same == cmp
        assert c.delete(f"/scenarios/{b['id']}").json() == {"deleted": b["id"]}
        r = c.get(f"/scenarios/{b['id']}")
        assert r.status_code == 404
        assert r.json()["detail"] == (f"scenario {b['id']}: no kept scenario has this id in "
                                      "scenarios.gpkg of the served plan (`circles scenario list` shows them)")
        assert net is result.network  # the served plan is untouched


def test_no_answer_shows_the_plans_folder(client, plan_folder):
    """The kept scenarios' answers name their GeoPackage without the server's folders (README:
    no answer shows a server path): the store's name, the 404s, the kept scenario."""
    result = client.app.state.served.result
    folders = {str(plan_folder), str(plan_folder.resolve()), str(plan_folder.parent)}
    with _app(plan_folder) as c:
        kept = c.post("/scenarios", params={"name": "named"}, json=_centre_doc(result))
        answers = [kept, c.post("/scenarios", params={"keep": "false"}, json=_centre_doc(result)),
                   c.get("/scenarios"), c.get(f"/scenarios/{kept.json()['id']}"), c.get("/scenarios/999"),
                   c.delete("/scenarios/999"), c.get("/scenarios/999/map"), c.get("/scenarios/compare?ids=1,999")]
        assert [r.status_code for r in answers] == [200, 200, 200, 200, 404, 404, 404, 404]
        assert kept.json()["kept_in"] == c.get("/scenarios").json()["kept_in"] == "scenarios.gpkg of the served plan"
        for r in answers:
            assert not [f for f in folders if f in r.text], (r.request.url, r.text[:300])
        for r in answers[4:]:
            assert "in scenarios.gpkg of the served plan" in r.json()["detail"], r.text


def test_unknown_and_bad_ids(client, plan_folder):
    with _app(plan_folder) as c:
        for method, url in (("get", "/scenarios/9999"), ("get", "/scenarios/9999/map"), ("delete", "/scenarios/9999")):
            r = getattr(c, method)(url)
            assert r.status_code == 404, (url, r.text)
            assert r.json()["detail"].startswith("scenario 9999: no kept scenario has this id in ")
        r = c.get("/scenarios/abc")
        assert r.status_code == 400 and "scenario_id" in r.json()["detail"]
        r = c.get("/scenarios/compare", params={"ids": "1,x"})
        assert r.status_code == 400 and r.json()["detail"] == "ids: 'x' is not a scenario id (a whole number from 1)"
        r = c.get("/scenarios/compare", params={"ids": "9999,9998"})
        assert r.status_code == 404
        r = c.get("/scenarios/compare")
        assert r.status_code == 400 and r.json()["detail"].startswith("ids: required")


def test_scenario_map_shows_the_edits_and_frames_them(client, plan_folder):
    import json
    import re

    result = client.app.state.served.result
    with _app(plan_folder) as c:
        sid = c.post("/scenarios", json=_centre_doc(result, "地图新中心")).json()["id"]
        r = c.get(f"/scenarios/{sid}/map", params={"tiles": "none", "lang": "en"})
        assert r.status_code == 200, r.text
        html = r.text
    assert "地图新中心" in html
    # the default view is fitted to the edits and changed areas, not to the whole extract
    fits = re.findall(r"\bmap\.fitBounds\(\s*(\[\[.*?\]\])", html, flags=re.S)
    assert len(fits) == 1, "one first view"
    (lat0, lon0), (lat1, lon1) = json.loads(fits[0])
    lon, lat = _far_node(result, "centres")
    assert lat0 <= lat <= lat1 and lon0 <= lon <= lon1
    blon0, blat0, blon1, blat1 = result.network.bbox_lonlat()
    assert (lat1 - lat0) * (lon1 - lon0) < (blat1 - blat0) * (blon1 - blon0)
    assert "SCN.toggle(" in html


def test_map_of_a_scenario_of_another_plan_is_refused(client, plan_folder):
    """A shared database may hold scenarios of other plans: they are listed (this_plan false) and
    read, but not mapped on this one."""
    from geo.scenario_store import new_scenario, open_store, plan_database
    from tests.unit.test_scenario_store import crossing_outcome

    _, toy = crossing_outcome()
    other = open_store(plan_database(plan_folder)).add(new_scenario(toy, name="elsewhere"))
    with _app(plan_folder) as c:
        listed = {s["id"]: s for s in c.get("/scenarios").json()["scenarios"]}
        assert listed[other]["this_plan"] is False and listed[other]["plan"] == "hand-built"
        assert c.get(f"/scenarios/{other}").json()["coverage"]["layers"]["stations"]["minutes"]["5"]["people_gained"] == 10
        r = c.get(f"/scenarios/{other}/map")
        assert r.status_code == 400
        assert r.json()["detail"].startswith(f"scenario {other}: was run on another plan (hand-built, ")
        mine = c.post("/scenarios", json=_centre_doc(client.app.state.served.result)).json()["id"]
        cmp = c.get("/scenarios/compare", params={"ids": f"{other},{mine}"}).json()
        assert cmp["same_plan"] is False
        # each keeps its own "before"
        assert cmp["layers"]["stations"]["5"]["before"][str(other)]["people_covered"] == 5


@pytest.mark.slow
def test_fuzz_the_kept_scenario_endpoints(plan_folder):
    """schemathesis on the read endpoints: no 5xx, answers match the schema."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    with _app(plan_folder) as c:
        schema = schemathesis.openapi.from_dict(c.get("/openapi.json").json())

        @settings(max_examples=30, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        @given(data=st.data())
        def check(data):
            for path in ("/scenarios", "/scenarios/{scenario_id}", "/scenarios/compare"):
                case = data.draw(schema[path]["GET"].as_strategy())
                kw = case.as_transport_kwargs(base_url="http://testserver")
                response = c.request(kw["method"], kw["url"], params=kw.get("params"), headers=kw.get("headers"))
                assert response.status_code < 500, response.text
                case.validate_response(response, excluded_checks=[positive_data_acceptance])

        check()
