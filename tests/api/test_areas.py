"""GET /areas (coverage by street and community) and /facilities (people served), answered from
the same tables the CLI writes (geo.tables)."""


def test_areas_by_street_and_community_add_up(binjiang_client):
    served = binjiang_client.app.state.served
    cov = served.coverage
    for level in ("street", "community"):
        r = binjiang_client.get("/areas", params={"level": level})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["level"] == level and doc["count"] == len(doc["areas"])
        assert sum(a["homes"] for a in doc["areas"]) == cov["homes"]
        cols = {c["column"]: c for c in doc["coverage_columns"]}
        assert cols["centres_10min"] == {"column": "centres_10min", "layer": "centres", "minutes": 10.0,
                                         "profile": "adult"}
        covered = sum(a["centres_15min"] * a["people"] for a in doc["areas"])
        assert abs(covered - cov["layers"]["centres"]["minutes"]["15"]["people_covered"]) < 50
        assert doc["areas"][-1]["name"] is None or all(a["name"] for a in doc["areas"])
    community = binjiang_client.get("/areas", params={"level": "community"}).json()["areas"]
    assert any(a["name"].endswith(("社区", "村")) for a in community if a["name"])
    assert {a["named_from"] for a in community} <= {"admin boundary", "nearest place", "mixed", None}


def test_areas_rejects_an_unknown_level(binjiang_client):
    r = binjiang_client.get("/areas", params={"level": "district"})
    assert r.status_code == 400 and "street" in r.text and "community" in r.text


def test_facilities_carry_people_served_and_names(binjiang_client):
    r = binjiang_client.get("/facilities", params={"layer": "centres"})
    assert r.status_code == 200
    feats = r.json()["features"]
    served = binjiang_client.app.state.served.result.facilities
    assert len(feats) == int((served["layer"] == "centres").sum()) > 0
    p = feats[0]["properties"]
    assert {"street", "community", "people_10min", "people_15min", "people_nearest_15min"} <= set(p)
    assert feats[0]["geometry"]["type"] == "Point"
    # sorted by people served within the longest threshold, most first
    people = [f["properties"]["people_15min"] for f in feats]
    assert people == sorted(people, reverse=True)


def test_facilities_rejects_an_unknown_layer(binjiang_client):
    r = binjiang_client.get("/facilities", params={"layer": "parks"})
    assert r.status_code == 400 and "centres" in r.text
