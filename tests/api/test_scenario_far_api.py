"""POST /scenarios on the Binjiang plan: facility edits far from every street, and an id the layer
already has, are 400 with the engine's message (the QA pass had 200 and nothing changed)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]


def _post(client, props, lonlat):
    doc = {"type": "FeatureCollection",
           "features": [{"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": lonlat}}]}
    return client.post("/scenarios", json=doc)


def test_a_centre_near_shanghai_is_400_naming_the_edit_place_and_distance(binjiang_client):
    r = _post(binjiang_client, {"edit": "add_facility", "layer": "centres", "id": "n1", "name": "上海站"}, [121.5, 31.2])
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "feature 1 (add_facility): layer centres: the facility at 121.500000, 31.200000 (WGS84) is " in detail
    assert "m from the nearest walkable way (limit 300 m" in detail


def test_a_centre_moved_off_the_map_and_a_duplicate_id_are_400(binjiang_client):
    fac = binjiang_client.app.state.served.result.layers["centres"].facilities
    row = fac.iloc[0]
    r = _post(binjiang_client, {"edit": "move_facility", "layer": "centres", "id": str(row["id"])},
              [float(row.geometry.x), 30.5])
    assert r.status_code == 400, r.text
    assert "feature 1 (move_facility): layer centres: the facility at " in r.json()["detail"]
    r = _post(binjiang_client, {"edit": "add_facility", "layer": "centres", "id": str(row["id"])},
              [float(row.geometry.x), float(row.geometry.y)])
    assert r.status_code == 400, r.text
    assert f"layer centres already has a facility with id {str(row['id'])!r}" in r.json()["detail"]
