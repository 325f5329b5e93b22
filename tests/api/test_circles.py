"""GET /circles, /gaps (pages of the CLI's FeatureCollections) and /facilities/{id}/circle."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import shape

from geo.io import feature_collection


def _all(client, path, **params):
    """Every feature of a paged collection."""
    feats, offset = [], 0
    while True:
        body = client.get(path, params={**params, "offset": offset}).json()
        feats += body["features"]
        offset += body["numberReturned"]
        if offset >= body["numberMatched"] or body["numberReturned"] == 0:
            return feats


def test_circles_are_what_the_cli_writes(client, served, tmp_path):
    from api.outputs import write_plan

    out = tmp_path / "out"
    write_plan(served.result, out)
    on_disk = json.loads((out / "circles.geojson").read_text("utf-8"))
    assert _all(client, "/circles") == on_disk["features"]
    assert _all(client, "/gaps") == json.loads((out / "gaps.geojson").read_text("utf-8"))["features"]


def test_pages_and_bounding_boxes(client, served):
    body = client.get("/circles", params={"limit": 2}).json()
    n = len(served.result.circles)
    assert body["numberMatched"] == n and body["numberReturned"] == min(2, n) and len(body["features"]) == min(2, n)
    nxt = client.get("/circles", params={"limit": 2, "offset": 2}).json()["features"]
    assert [f["properties"] for f in nxt] == [f["properties"] for f in _all(client, "/circles")[2:4]]
    w, s, e, nth = served.result.network.bbox_lonlat()
    far = client.get("/circles", params={"bbox": f"{e + 1},{nth + 1},{e + 2},{nth + 2}"}).json()
    assert far["numberMatched"] == 0 and far["features"] == []
    inside = client.get("/circles", params={"bbox": f"{w},{s},{e},{nth}"}).json()
    assert inside["numberMatched"] == n
    r = client.get("/circles", params={"limit": 100_000_000})
    assert r.status_code == 400 and "at most 500 features per page" in r.json()["detail"]
    r = client.get("/circles", params={"bbox": "1,2,3"})
    assert r.status_code == 400 and r.json()["detail"].startswith("bbox: '1,2,3': give west,south,east,north")


def test_circles_filters(client, served):
    res = served.result
    body = client.get("/circles", params={"layer": "centres", "minutes": 15, "scope": "layer"}).json()
    (feat,) = body["features"]
    p = feat["properties"]
    assert (p["layer"], p["minutes"], p["scope"], p["facilities"]) == ("centres", 15.0, "layer",
                                                                        int(res.layers["centres"].snapped.ok.sum()))
    per = client.get("/circles", params={"layer": "centres", "scope": "facility", "minutes": 10}).json()["features"]
    assert len(per) == int(res.layers["centres"].snapped.ok.sum())
    assert client.get("/circles", params={"minutes": 10.0}).json() == client.get("/circles", params={"minutes": 10}).json()
    r = client.get("/circles", params={"minutes": 12})
    assert r.status_code == 400 and r.json() == {"detail": "unknown minutes '12': expected one of 10, 15"}
    r = client.get("/circles", params={"profile": "elderly"})
    assert r.status_code == 400
    assert r.json() == {"detail": "unknown profile (of the loaded plan) 'elderly': expected one of adult"}


def test_gaps_filters(client, served):
    gaps = served.result.gaps
    body = client.get("/gaps", params={"layer": "centres", "minutes": 10}).json()
    want = gaps[(gaps["layer"] == "centres") & (gaps["minutes"] == 10)]
    assert len(body["features"]) == len(want)
    assert [f["properties"]["rank"] for f in body["features"]] == want["rank"].tolist()
    r = client.get("/gaps", params={"layer": "shops"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("unknown layer 'shops': expected one of centres, charging, stations")


def test_facility_circle(client, served):
    res = served.result
    fid = served.example["facility_id"]
    for minutes in (10, 15):
        r = client.get(f"/facilities/{fid}/circle", params={"minutes": minutes})
        assert r.status_code == 200, r.text
        c = res.circles
        row = c[(c["scope"] == "facility") & (c["facility_id"] == fid) & (c["minutes"] == minutes)]
        assert len(row) == 1
        got = shape(r.json()["geometry"])
        assert shapely.equals_exact(shapely.normalize(got), shapely.normalize(shape(
            feature_collection(row)["features"][0]["geometry"])), tolerance=1e-9)
        assert r.json()["properties"]["facility_id"] == fid
    ten, fifteen = (shape(client.get(f"/facilities/{fid}/circle", params={"minutes": m}).json()["geometry"])
                    for m in (10, 15))
    # nested: the 10-minute circle inside the 15-minute one (up to ~0.1 m² of 7-decimal rounding)
    assert ten.difference(fifteen).area < 1e-10
    assert client.get(f"/facilities/{fid}/circle").json() == client.get(f"/facilities/{fid}/circle", params={"minutes": 10}).json()


def test_facility_circle_at_any_walk_time_is_drawn_on_demand(client, served):
    """12 minutes is no threshold of the plan: drawn on demand, between the 10- and 15-minute circles."""
    fid = served.example["facility_id"]
    r = client.get(f"/facilities/{fid}/circle", params={"minutes": 12})
    assert r.status_code == 200, r.text
    twelve = shape(r.json()["geometry"])
    assert r.json()["properties"]["on_demand"] is True
    ten, fifteen = (shape(client.get(f"/facilities/{fid}/circle", params={"minutes": m}).json()["geometry"])
                    for m in (10, 15))
    assert ten.area < twelve.area < fifteen.area
    # drawn apart from the plan's two, it may differ by the odd cell drawn to keep rings simple
    assert ten.difference(twelve).area < 1e-3 * ten.area and twelve.difference(fifteen).area < 1e-3 * twelve.area


def test_facility_circle_errors(client, served):
    r = client.get("/facilities/nope/circle")
    assert r.status_code == 404
    assert r.json() == {"detail": "facility_id: no facility 'nope' in any loaded layer (centres: 3, stations: 12, "
                                  "charging: 5 facilities); ids are in /facilities and in /nearest answers"}
    fid = served.example["facility_id"]
    other = next(n for n in ("centres", "stations", "charging") if n != served.example["layer"])
    r = client.get(f"/facilities/{fid}/circle", params={"layer": other})
    assert r.status_code == 404 and f"no facility '{fid}' in the {other} layer" in r.json()["detail"]
    r = client.get(f"/facilities/{fid}/circle", params={"minutes": 90})
    assert r.status_code == 400 and r.json()["detail"].startswith("minutes: 90 is not valid")
    r = client.get("/facilities/..%2F..%2Fetc%2Fpasswd/circle")  # an id is only ever looked up, never a path
    assert r.status_code == 404


@pytest.mark.parametrize("path", ["/circles", "/gaps"])
def test_feature_collections_are_rfc7946(client, path):
    body = client.get(path).json()
    assert body["type"] == "FeatureCollection"
    for f in body["features"]:
        if f["geometry"] is None:
            continue
        g = shape(f["geometry"])
        assert g.is_valid
        lon0, lat0, lon1, lat1 = g.bounds
        assert -180 <= lon0 <= lon1 <= 180 and -90 <= lat0 <= lat1 <= 90
