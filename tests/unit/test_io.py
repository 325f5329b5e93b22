"""GeoJSON written as text straight from GEOS (geo.io): what a GIS and a browser read."""

import json

import geopandas as gpd
import numpy as np
import shapely

from geo.io import feature_collection, write_geojson


def frame():
    cw_square = shapely.Polygon([(120.0, 30.0), (120.0, 30.001), (120.001, 30.001), (120.001, 30.0)])
    return gpd.GeoDataFrame(
        {"name": ["滨江区 社区服务站", None], "people": [12.5, np.nan], "services": [["助餐", "理发"], []],
         "n": [np.int64(3), np.int64(0)]},
        geometry=[shapely.affinity.translate(cw_square, 1.23456789e-4, 0), shapely.Polygon()], crs=4326)


def test_feature_text_is_rfc7946_with_names_nulls_and_lists(tmp_path):
    path = write_geojson(tmp_path / "x.geojson", frame(), name="circles")
    text = path.read_text("utf-8")
    assert "滨江区 社区服务站" in text  # not \\u-escaped
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection" and doc["name"] == "circles"
    a, b = doc["features"]
    assert a["properties"] == {"name": "滨江区 社区服务站", "people": 12.5, "services": ["助餐", "理发"], "n": 3}
    assert b["properties"] == {"name": None, "people": None, "services": [], "n": 0}
    assert b["geometry"] is None  # an empty polygon is a null geometry, not an empty ring
    ring = np.array(a["geometry"]["coordinates"][0])
    assert shapely.LinearRing(ring).is_ccw  # exterior counter-clockwise (right-hand rule)
    assert np.allclose(ring, np.round(ring, 7)) and ring[0, 0] == round(120.0 + 1.23456789e-4, 7)
    assert doc == feature_collection(frame(), name="circles")


def test_a_projected_frame_is_written_in_lon_lat(tmp_path):
    g = frame().iloc[:1].to_crs(32651)
    doc = json.loads(write_geojson(tmp_path / "y.geojson", g).read_text("utf-8"))
    lon, lat = np.array(doc["features"][0]["geometry"]["coordinates"][0]).T
    assert 120.0 <= lon.min() and lon.max() <= 120.0013 and 30.0 <= lat.min() and lat.max() <= 30.001
    assert "name" not in doc


def test_text_values_are_written_as_json_writes_them():
    from geo.io import feature_collection_text

    names = ['a "quoted" name', "back\\slash", "line\nbreak\ttab", "nul\x00 and \x1f", "滨江 · 社区", "😀", "</script>"]
    g = gpd.GeoDataFrame({"name": names}, geometry=[shapely.Point(120.0, 30.0)] * len(names), crs=4326)
    text = feature_collection_text(g)
    for name in names:  # the same text as Python's json module writes, UTF-8 kept
        assert '"properties":{"name":' + json.dumps(name, ensure_ascii=False) + "}" in text
    assert [f["properties"]["name"] for f in json.loads(text)["features"]] == names
