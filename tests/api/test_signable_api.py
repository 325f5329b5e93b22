"""The API with a study area (CIRCLES_AREA) on the merged Hangzhou extract, and what-ifs given in
AMap (GCJ-02) coordinates on Binjiang, where GCJ-02 and WGS84 are hundreds of metres apart."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tests.api.conftest import _client

AREA = "滨江区"


@pytest.fixture(scope="module")
def area_client(_session_cache, merged_path):
    from api.settings import Settings

    with _client(Settings(osm=merged_path, area=AREA, per_facility=False, workers=1)) as c:
        yield c


def test_settings_area_counts_inside_the_district(area_client):
    res = area_client.app.state.served.result
    cov = area_client.get("/coverage").json()
    assert cov["area"]["name"] == AREA and cov["area"]["level"] == "district"
    assert cov["homes"] == len(res.homes)
    inside = shapely.contains_xy(res.area.metric, res.homes.xy[:, 0], res.homes.xy[:, 1])
    assert inside.all()
    # the gap areas the API serves stop at the district's boundary (to within one land cell)
    gaps = area_client.get("/gaps", params={"layer": "centres", "minutes": 15}).json()["features"]
    geoms = [shapely.geometry.shape(f["geometry"]) for f in gaps if f["geometry"] is not None]
    assert len(geoms) > 50
    metric = shapely.transform(np.asarray(geoms, dtype=object), lambda c: res.network.project(c[:, 0], c[:, 1]))
    cell = res.params.cell() * 3
    assert shapely.area(shapely.difference(metric, shapely.buffer(res.area.metric, cell))).sum() < 1.0
    outside = shapely.area(shapely.difference(metric, res.area.metric)).sum()
    assert outside < 0.001 * shapely.area(metric).sum()


def test_sites_of_the_api_lie_in_the_area(area_client):
    res = area_client.app.state.served.result
    r = area_client.post("/sites", json={"layer": "centres", "add": 3, "exact": False})
    assert r.status_code == 200, r.text
    props = [f["properties"] for f in r.json()["sites"]["features"]]
    assert [p["rank"] for p in props] == [1, 2, 3]
    xy = res.network.project(np.array([p["lon"] for p in props]), np.array([p["lat"] for p in props]))
    assert shapely.contains_xy(res.area.metric, xy[:, 0], xy[:, 1]).all()
    assert all(p["street"] and p["community"] and p["lon_gcj02"] and p["lat_gcj02"] for p in props)


def test_an_unknown_area_stops_the_app_with_the_closest_names(_session_cache, merged_path):
    from api.settings import Settings
    from geo.errors import InputError

    with pytest.raises(InputError) as err, _client(Settings(osm=merged_path, area="滨江", per_facility=False)):
        pass
    assert "滨江区 (district)" in str(err.value)


def test_scenarios_in_gcj02_land_where_wgs84_ones_do(binjiang_client):
    """A centre given in AMap coordinates lands where the WGS84 one does; the same numbers read
    as WGS84 land ~500 m away and change other homes."""
    from geo.crs import wgs84_to_gcj02

    res = binjiang_client.app.state.served.result
    far = res.layers["centres"].home_dist.copy()
    far[~np.isfinite(far)] = -1
    lon, lat = (float(v) for v in res.network.unproject(res.homes.xy[int(np.argmax(far))])[0])
    glon, glat = (float(v) for v in wgs84_to_gcj02(lon, lat))

    def doc(x, y, crs=None):
        d = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "新中心"},
             "geometry": {"type": "Point", "coordinates": [x, y]}}]}
        return {**d, "crs": crs} if crs else d

    out = {}
    for key, body in (("wgs", doc(lon, lat)), ("gcj", doc(glon, glat, "gcj02")), ("off", doc(glon, glat))):
        r = binjiang_client.post("/scenarios", json=body, params={"keep": False})
        assert r.status_code == 200, r.text
        out[key] = r.json()["coverage"]["layers"]["centres"]
    assert out["gcj"] == out["wgs"]
    assert out["off"] != out["wgs"]
    assert _gained(out["wgs"]) > 0


def _gained(doc) -> float:
    if isinstance(doc, dict):
        return float(doc.get("people_gained", 0)) + sum(_gained(v) for k, v in doc.items() if k != "people_gained")
    return 0.0
