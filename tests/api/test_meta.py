"""/health, /layers, /coverage, /map and the OpenAPI document."""

from __future__ import annotations

from geo.circles import metres_for


def test_health(client, served):
    body = client.get("/health").json()
    net = served.result.network
    assert body == {"status": "ok", "source": "Helsinki.osm.pbf", "nodes": net.n_nodes, "edges": net.n_edges}


def test_layers(client, served):
    res = served.result
    body = client.get("/layers").json()
    assert body["source"] == "Helsinki.osm.pbf" and body["data_date"] == res.data_date == "2019-04-21"
    assert body["minutes"] == [10.0, 15.0] and body["profile"] == "adult"
    assert body["profiles"] == {"adult": 4.8, "elderly": 3.6}
    assert body["thresholds"] == [
        {"minutes": m, "profile": "adult", "speed_kmh": 4.8, "metres": round(metres_for(m, 4.8), 1)} for m in (10.0, 15.0)]
    assert [(x["name"], x["facilities"], x["snapped"]) for x in body["layers"]] == [
        (n, len(lr.facilities), int(lr.snapped.ok.sum())) for n, lr in res.layers.items()]
    centres = body["layers"][0]
    assert centres["tiers"] == {"community": 3} and centres["services"] == []
    assert (body["max_snap_metres"], body["max_walk_minutes"], body["max_k"]) == (1000.0, 60.0, 20)
    w, s, e, n = body["bbox"]
    assert w < e and s < n


def test_coverage_is_the_plans(client, served):
    body = client.get("/coverage").json()
    cov = served.result.coverage
    assert body["layers"].keys() == cov["layers"].keys()
    for name, layer in cov["layers"].items():
        assert body["layers"][name]["minutes"] == layer["minutes"]
    assert body["homes"] == cov["homes"]


def test_no_response_shows_a_path_of_the_server(client, served):
    """File names only: a server's folders are nobody's business."""
    import json
    from pathlib import Path

    full = str(Path(served.result.source).resolve().parent)
    for path in ("/health", "/layers", "/coverage", "/facilities", "/circles?limit=5", "/gaps?limit=5"):
        text = client.get(path).text
        assert full not in text and "/work/" not in text and "site-packages" not in text, path
    assert json.loads(client.get("/coverage").text)["source"] == "Helsinki.osm.pbf"


def test_map_is_html(client):
    r = client.get("/map")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower() and "leaflet" in r.text.lower()


def test_openapi_examples_work_on_the_loaded_data(client):
    doc = client.get("/openapi.json").json()
    params = {p["name"]: p.get("example") for p in doc["paths"]["/nearest"]["get"]["parameters"]}
    r = client.get("/nearest", params={k: params[k] for k in ("lon", "lat", "layer")})
    assert r.status_code == 200 and len(r.json()["results"]) == 1
    circle = doc["paths"]["/facilities/{facility_id}/circle"]["get"]
    example = {p["name"]: p.get("example") for p in circle["parameters"]}
    r = client.get(f"/facilities/{example['facility_id']}/circle", params={"minutes": example["minutes"]})
    assert r.status_code == 200
    # bad requests are documented as the 400 they are
    for path in doc["paths"].values():
        for op in path.values():
            assert "422" not in op["responses"]
    assert "400" in doc["paths"]["/nearest"]["get"]["responses"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "/docs-assets/redoc.standalone.js" in redoc.text
    assert "fonts.googleapis" not in redoc.text
    js = client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs-assets/..%2Fcore.py").status_code == 404
