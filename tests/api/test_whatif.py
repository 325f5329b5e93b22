"""POST /scenarios and POST /sites on the embedded Helsinki plan."""

from __future__ import annotations

import numpy as np
import pytest

from geo.circles import metres_for


def _far_node(result, layer: str) -> list[float]:
    """A street corner in the middle of the people the layer leaves out (from the plan itself)."""
    lr = result.layers[layer]
    lim = metres_for(max(result.params.minutes), result.speed_kmh)
    out = np.flatnonzero(~(lr.home_dist <= lim) & result.home_snap.ok)
    heavy = out[np.argmax(result.homes.people[out])]
    e = result.home_snap.edge[heavy]
    return [float(c) for c in result.network.node_lonlat[result.network.edge_u[e]]]


def test_scenario_add_facility_gains_what_the_engine_says(client):
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario

    result = client.app.state.served.result
    lonlat = _far_node(result, "centres")
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "new"},
         "geometry": {"type": "Point", "coordinates": lonlat}}]}
    r = client.post("/scenarios", json=doc)
    assert r.status_code == 200, r.text
    body = r.json()
    f = body["coverage"]["layers"]["centres"]["minutes"]
    big = f"{max(result.params.minutes):g}"
    assert f[big]["homes_gained"] >= 1 and f[big]["homes_lost"] == 0
    assert f[big]["after"]["homes_covered"] == f[big]["before"]["homes_covered"] + f[big]["homes_gained"]
    direct = run_scenario(result, scenario_from_doc(doc)).coverage["layers"]
    assert body["coverage"]["layers"]["centres"]["minutes"] == direct["centres"]["minutes"]
    gains = [ft for ft in body["changed_areas"]["features"] if ft["properties"]["layer"] == "centres"]
    assert sum(ft["properties"]["homes"] for ft in gains if ft["properties"]["minutes"] == float(big)) == f[big]["homes_gained"]
    # the plan the app serves is untouched
    assert client.app.state.served.result is result
    assert client.get("/coverage").json()["layers"]["centres"] == client.app.state.served.coverage["layers"]["centres"]


def test_scenario_problems_are_400_with_every_problem(client):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_bridge"}, "geometry": None},
        {"type": "Feature", "properties": {"edit": "add_link", "penalty_s": -3},
         "geometry": {"type": "LineString", "coordinates": [[24.9, 60.2], [24.91, 60.2]]}}]}
    r = client.post("/scenarios", json=doc)
    assert r.status_code == 400
    assert r.json()["detail"] == (
        "request body: 2 problems:\n"
        "  - feature 1: field 'edit' is 'add_bridge': expected one of add_link, close, add_facility, "
        "move_facility, remove_facility, set_hours\n"
        "  - feature 2 (add_link): field 'penalty_s' is -3: give the seconds of waiting, 0..3600")


def test_sites_gain_in_order(client):
    r = client.post("/sites", json={"layer": "centres", "add": 2, "exact": True, "grid": 50})
    assert r.status_code == 200, r.text
    body = r.json()
    props = [f["properties"] for f in body["sites"]["features"]]
    assert [p["rank"] for p in props] == list(range(1, len(props) + 1))
    assert sum(p["people_gained"] for p in props) == pytest.approx(body["summary"]["greedy_people"], abs=0.2)
    assert body["summary"]["exact"]["people"] >= body["summary"]["greedy_people"] - 0.1
    assert len(body["circles"]["features"]) == len(props)


def test_sites_bad_candidates_are_400(client):
    r = client.post("/sites", json={"layer": "centres", "candidates": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [24.9, 160.2]}}]}})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("candidates: feature 1: geometry")
    r = client.post("/sites", json={"layer": "parks"})
    assert r.status_code == 400 and "layer" in r.json()["detail"]


def test_request_bodies_are_bounded(client):
    """Too large a body is 413 before any handler reads it; too many edits or vertices, 400."""
    big = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "close"},
         "geometry": {"type": "LineString", "coordinates": [[24.9, 60.2]] * 100_000}}]}
    r = client.post("/scenarios", json=big)
    assert r.status_code == 413 and "at most 1,000,000" in r.json()["detail"]
    many = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "remove_facility", "layer": "centres", "id": "x"}, "geometry": None}
    ] * 101}
    r = client.post("/scenarios", json=many)
    assert r.status_code == 400 and "101 edits: at most 100 per request" in r.json()["detail"]
    lines = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "close"},
         "geometry": {"type": "LineString", "coordinates": [[24.9 + i * 1e-6, 60.2] for i in range(2500)]}}]}
    r = client.post("/scenarios", json=lines)
    assert r.status_code == 400 and "at most 2000 per request" in r.json()["detail"]
    r = client.post("/sites", json={"layer": "centres", "add": 51})
    assert r.status_code == 400 and "at most 50 sites per request" in r.json()["detail"]
    r = client.post("/sites", json={"layer": "centres", "minutes": 60})
    assert r.status_code == 400 and "CIRCLES_MAX_SITE_WORK" in r.json()["detail"]


@pytest.mark.parametrize("props", [[1, 2], 7, "edit", None])
def test_scenario_properties_of_any_json_type_are_400(client, props):
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props, "geometry": None}]}
    r = client.post("/scenarios", json=doc)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("request body: ")


def test_scenarios_and_sites_in_gcj02(client):
    """A gate given in AMap coordinates lands where it is, not 500 m off."""
    from geo.crs import wgs84_to_gcj02

    result = client.app.state.served.result
    lon, lat = _far_node(result, "centres")
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))
    wgs = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "x"},
         "geometry": {"type": "Point", "coordinates": [lon, lat]}}]}
    gcj = {**wgs, "crs": "gcj02", "features": [{**wgs["features"][0], "geometry": {"type": "Point",
                                                                               "coordinates": [glon, glat]}}]}
    a, b = client.post("/scenarios", json=wgs).json(), client.post("/scenarios", json=gcj).json()
    assert a["coverage"]["layers"] == b["coverage"]["layers"]
