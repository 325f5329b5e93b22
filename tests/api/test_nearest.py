"""GET /nearest on the embedded Helsinki extract: answers checked against the engine's own
coverage labels (geo.circles.point_distances), route geometry and exact error messages."""

from __future__ import annotations

import re

import numpy as np
import pytest

from geo.circles import point_distances


def metric_length(net, coords) -> float:
    xy = net.project(*np.asarray(coords).T)
    return float(np.hypot(*np.diff(xy, axis=0).T).sum())


def sample_points(net, n, seed=6):
    """Points near random street corners (up to ~40 m off)."""
    rng = np.random.default_rng(seed)
    nodes = rng.choice(net.n_nodes, size=n, replace=False)
    xy = net.node_xy[nodes] + rng.uniform(-30, 30, (n, 2))
    return net.unproject(xy)


@pytest.mark.parametrize("layer", ["centres", "stations", "charging"])
def test_k1_matches_coverage_labels(client, served, layer):
    result = served.result
    net = result.network
    lr = result.layers[layer]
    for lon, lat in sample_points(net, 15):
        r = client.get("/nearest", params={"lon": lon, "lat": lat, "layer": layer})
        assert r.status_code == 200, r.text
        body = r.json()
        snap = net.snap(net.project([lon], [lat]), max_dist=1000)
        dist, src = point_distances(net, lr.reach, snap)
        assert body["query"]["snap_metres"] == pytest.approx(snap.dist[0], abs=0.01)
        (res,) = body["results"]
        assert res["walk_metres"] == pytest.approx(dist[0], abs=0.01)
        assert res["facility"]["properties"]["id"] == lr.facilities["id"].iloc[src[0]]
        assert res["walk_seconds"] == pytest.approx(dist[0] / (4.8 / 3.6), abs=0.1)
        route = res["route"]["coordinates"]
        assert metric_length(net, route) == pytest.approx(res["walk_metres"], abs=0.05)
        np.testing.assert_allclose(route[0], body["query"]["snapped"]["coordinates"], atol=2e-7)
        np.testing.assert_allclose(route[-1], net.unproject(lr.snapped.xy[src[0]])[0], atol=2e-7)


def test_k_nearest_sorted_and_consistent_with_k1(client, served):
    net = served.result.network
    n_stations = int(served.result.layers["stations"].snapped.ok.sum())
    for lon, lat in sample_points(net, 8, seed=1):
        one = client.get("/nearest", params={"lon": lon, "lat": lat, "layer": "stations"}).json()["results"]
        many = client.get("/nearest", params={"lon": lon, "lat": lat, "layer": "stations", "k": 20}).json()["results"]
        metres = [m["walk_metres"] for m in many]
        assert len(many) == min(20, n_stations)  # Helsinki's extract is small: all within 60 min
        assert metres == sorted(metres)
        assert metres[0] == pytest.approx(one[0]["walk_metres"], abs=0.01)
        assert len({m["facility"]["properties"]["id"] for m in many}) == len(many)
        for m in many:
            assert metric_length(net, m["route"]["coordinates"]) == pytest.approx(m["walk_metres"], abs=0.05)


def test_profile_changes_seconds_not_metres(client, served):
    lon, lat = served.example["lon"], served.example["lat"]
    adult = client.get("/nearest", params={"lon": lon, "lat": lat}).json()
    old = client.get("/nearest", params={"lon": lon, "lat": lat, "profile": "elderly"}).json()
    assert old["query"]["speed_kmh"] == 3.6
    a, o = adult["results"][0], old["results"][0]
    assert o["walk_metres"] == a["walk_metres"]
    assert o["walk_seconds"] == pytest.approx(a["walk_seconds"] * 4.8 / 3.6, abs=0.2)


def test_filters(client, served):
    """Helsinki's centres: all tier "community"; one (Luckan) has opening hours Mo-Tu 11-17."""
    lon, lat = served.example["lon"], served.example["lat"]
    q = {"lon": lon, "lat": lat, "layer": "centres"}
    plain = client.get("/nearest", params=q).json()["results"]
    assert client.get("/nearest", params={**q, "tier": "community"}).json()["results"] == plain
    assert client.get("/nearest", params={**q, "tier": "district"}).json()["results"] == []
    every = client.get("/nearest", params={**q, "k": 20}).json()["results"]
    fac = served.result.layers["centres"].facilities
    open_ids = set(fac["id"][fac["opening_hours"].astype(str).str.startswith("Mo-Tu")])
    assert len(open_ids) == 1
    mon = client.get("/nearest", params={**q, "open_at": "Mon 12:00", "k": 5}).json()["results"]
    assert [m["facility"]["properties"]["id"] for m in mon] == [m["facility"]["properties"]["id"] for m in every
                                                                if m["facility"]["properties"]["id"] in open_ids]
    assert client.get("/nearest", params={**q, "open_at": "周日 12:00"}).json()["results"] == []


def test_no_facility_within_the_walk_limit(_session_cache):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    with TestClient(create_app(Settings(max_walk_minutes=0.5))) as c:  # 40 m
        ex = c.app.state.served.example  # ~400 m from the nearest facility
        body = c.get("/nearest", params={"lon": ex["lon"], "lat": ex["lat"], "layer": ex["layer"], "k": 3}).json()
        assert body["results"] == [] and body["query"]["max_walk_minutes"] == 0.5
        assert c.get("/nearest", params={"lon": ex["lon"], "lat": ex["lat"], "layer": ex["layer"]}).json()["results"] == []


BAD = [
    ({"lon": 24.94, "lat": 95}, "lat: 95 is not valid — Input should be less than or equal to 90 "
                                "(expected latitude in decimal degrees, -90..90)"),
    ({"lon": "abc", "lat": 60.17}, "lon: 'abc' is not valid — Input should be a valid number, unable to parse string "
                                   "as a number (expected longitude in decimal degrees, -180..180)"),
    ({"lon": "nan", "lat": 60.17}, "lon: 'nan' is not valid — Input should be less than or equal to 180 "
                                   "(expected longitude in decimal degrees, -180..180)"),
    ({"lat": 60.17}, "lon: required — give longitude in decimal degrees, -180..180"),
    ({"lon": 24.94, "lat": 60.17, "k": 0}, "k: 0 is not valid — Input should be greater than or equal to 1 "
                                           "(expected a whole number of facilities, 1..20)"),
    ({"lon": 24.94, "lat": 60.17, "k": 21}, "k: 21 is not valid — Input should be less than or equal to 20 "
                                            "(expected a whole number of facilities, 1..20)"),
    ({"lon": 24.94, "lat": 60.17, "layer": "shops"}, "layer: 'shops' is not valid — Input should be 'centres', "
     "'stations' or 'charging' (expected one of centres, stations, charging)"),
    ({"lon": 24.94, "lat": 60.17, "tier": "city"}, "tier: 'city' is not valid — Input should be 'district', 'street', "
     "'community' or 'special' (expected one of district, street, community, special)"),
    ({"lon": 24.94, "lat": 60.17, "crs": "utm"}, "crs: 'utm' is not valid — Input should be 'wgs84', 'gcj02' or "
     "'bd09' (expected one of wgs84, gcj02 (AMap/Tencent), bd09 (Baidu))"),
    ({"lon": 24.94, "lat": 60.17, "open_at": "midnight"}, "open_at: 'midnight' is not a weekday and time: give e.g. "
     "\"Mon 22:00\", \"周一 22:00\", \"22:00\" (a Wednesday) or \"2025-06-04 22:00\""),
    ({"lon": 24.94, "lat": 60.17, "service": "canteen"}, "service: 'canteen': none of the 3 centres loaded lists its "
     "services, so none can be picked by service; leave service out"),
]


@pytest.mark.parametrize(("params", "detail"), BAD)
def test_bad_requests_name_the_parameter(client, params, detail):
    r = client.get("/nearest", params=params)
    assert r.status_code == 400
    assert r.json() == {"detail": detail}


def test_far_and_swapped_points(client):
    r = client.get("/nearest", params={"lon": 24.9, "lat": 60.17})
    assert r.status_code == 400
    m = re.fullmatch(
        r"lon/lat: the point lon=24\.9, lat=60\.17 \(wgs84\) is ([\d,]+) m from the nearest walkable street of the "
        r"loaded network \(limit 1000 m\); the network covers lon 24\.9352\.\.24\.9534, lat 60\.1642\.\.60\.1791",
        r.json()["detail"])
    assert m, r.json()["detail"]
    # no nearer than the network's western edge: 0.0352 degrees of longitude at 60.17 N
    west = 0.0352 * 111_320 * np.cos(np.radians(60.17))
    assert west <= float(m.group(1).replace(",", "")) <= west + 100
    r = client.get("/nearest", params={"lon": 60.17, "lat": 24.94})
    assert r.status_code == 400
    assert r.json()["detail"].endswith("— lon and lat look swapped")
    r = client.get("/nearest", params={"lon": 179.9, "lat": -89.9})  # outside the UTM zone's reach
    assert r.status_code == 400 and r.json()["detail"].startswith("lon/lat: the point lon=179.9, lat=-89.9 (wgs84) is ")
