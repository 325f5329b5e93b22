"""GCJ-02 / BD-09 conversions: published reference values, exact inverses, round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    metric_crs_for,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import UnknownNameError

lons = st.floats(73.0, 135.0, allow_nan=False)
lats = st.floats(18.0, 53.0, allow_nan=False)


def gcj_by_hand(lon: float, lat: float) -> tuple[float, float]:
    """The published WGS84 -> GCJ-02 formula written out step by step with scalar ``math``."""
    a, ee, pi = 6378245.0, 0.00669342162296594323, math.pi
    x, y = lon - 105.0, lat - 35.0
    t_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    t_lat += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    t_lat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    t_lat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    t_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    t_lon += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    t_lon += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    t_lon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1 - ee * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (t_lat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * pi)
    dlon = (t_lon * 180.0) / (a / sqrtmagic * math.cos(radlat) * pi)
    return lon + dlon, lat + dlat


def bd_by_hand(lon: float, lat: float) -> tuple[float, float]:
    """The published GCJ-02 -> BD-09 formula."""
    x_pi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


# Hangzhou: Binjiang district government area, Wulin square, West Lake, Xianlin (Yuhang)
HANGZHOU = [(120.2105, 30.2084), (120.1647, 30.2770), (120.1485, 30.2425), (119.9410, 30.4230)]


@pytest.mark.parametrize("lon,lat", HANGZHOU)
def test_forward_matches_the_formula_written_out(lon, lat):
    gx, gy = wgs84_to_gcj02(lon, lat)
    ex, ey = gcj_by_hand(lon, lat)
    assert abs(gx - ex) < 1e-12 and abs(gy - ey) < 1e-12
    # the offset in Hangzhou is a few hundred metres to the south-east... of the order 1e-3 degrees
    assert 1e-3 < gx - lon < 1e-2 and -1e-2 < gy - lat < 0
    bx, by = gcj02_to_bd09(gx, gy)
    fx, fy = bd_by_hand(float(gx), float(gy))
    assert abs(bx - fx) < 1e-12 and abs(by - fy) < 1e-12


def test_published_reference_pair_beijing():
    # wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915) and
    # gcj02tobd09(116.404, 39.915), both forward (exact) formulas.
    gx, gy = wgs84_to_gcj02(116.404, 39.915)
    assert gx == pytest.approx(116.41024449916938, abs=1e-12)
    assert gy == pytest.approx(39.91640428150164, abs=1e-12)
    bx, by = gcj02_to_bd09(116.404, 39.915)
    assert bx == pytest.approx(116.41036949371029, abs=1e-12)
    assert by == pytest.approx(39.92133699351021, abs=1e-12)
    # their one-step gcj02towgs84 gives (116.39775550083061, 39.91359571849836): ours is exact,
    # and that approximation is within ~1 m of it
    wx, wy = gcj02_to_wgs84(116.404, 39.915)
    assert abs(wx - 116.39775550083061) < 1e-5 and abs(wy - 39.91359571849836) < 1e-5
    assert wgs84_to_gcj02(wx, wy) == pytest.approx((116.404, 39.915), abs=1e-9)


@pytest.mark.parametrize("lon,lat", HANGZHOU)
def test_inverses_are_exact(lon, lat):
    wx, wy = gcj02_to_wgs84(lon, lat)
    gx, gy = wgs84_to_gcj02(wx, wy)
    assert abs(gx - lon) < 1e-9 and abs(gy - lat) < 1e-9
    bx, by = bd09_to_gcj02(lon, lat)
    fx, fy = gcj02_to_bd09(bx, by)
    assert abs(fx - lon) < 1e-9 and abs(fy - lat) < 1e-9
    wx, wy = bd09_to_wgs84(lon, lat)
    fx, fy = wgs84_to_bd09(wx, wy)
    assert abs(fx - lon) < 1e-9 and abs(fy - lat) < 1e-9


@settings(max_examples=300, deadline=None)
@given(lons, lats)
def test_round_trip_wgs_gcj_wgs(lon, lat):
    wx, wy = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert abs(wx - lon) < 1e-6 and abs(wy - lat) < 1e-6


@settings(max_examples=300, deadline=None)
@given(lons, lats)
def test_round_trip_wgs_bd_wgs(lon, lat):
    wx, wy = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert abs(wx - lon) < 1e-6 and abs(wy - lat) < 1e-6


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(lons, lats), min_size=1, max_size=20))
def test_vectorised_equals_one_by_one(points):
    lon, lat = np.array(points).T
    vx, vy = gcj02_to_wgs84(lon, lat)
    for k, (x, y) in enumerate(points):
        sx, sy = gcj02_to_wgs84(x, y)
        # the array stops iterating when its slowest point converges: equal to the tolerance
        assert abs(vx[k] - sx) < 1e-9 and abs(vy[k] - sy) < 1e-9


def test_outside_china_unchanged():
    lon = np.array([2.3522, -74.006, 139.6917, 120.0])
    lat = np.array([48.8566, 40.7128, 35.6895, -10.0])
    assert not in_china(lon, lat).any()
    for f in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84, bd09_to_gcj02, gcj02_to_bd09):
        x, y = f(lon, lat)
        assert np.array_equal(x, lon) and np.array_equal(y, lat)
    # a mixed array converts only the points inside China
    x, y = to_wgs84([2.3522, 120.2105], [48.8566, 30.2084], "gcj02")
    assert (x[0], y[0]) == (2.3522, 48.8566) and x[1] != 120.2105


def test_inputs_not_modified_and_shapes_kept():
    lon = np.array([[120.2, 120.3]])
    lat = np.array([[30.2, 30.3]])
    x, y = gcj02_to_wgs84(lon, lat)
    assert x.shape == (1, 2) and lon[0, 0] == 120.2
    x, y = gcj02_to_wgs84(np.array([]), np.array([]))
    assert x.shape == (0,)


@pytest.mark.parametrize("name,expected", [
    ("wgs84", "wgs84"), ("WGS84", "wgs84"), ("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("amap", "gcj02"),
    ("Gaode", "gcj02"), ("tencent", "gcj02"), ("bd09", "bd09"), ("BD-09", "bd09"), ("baidu", "bd09"),
])
def test_to_wgs84_names(name, expected):
    lon, lat = 120.2105, 30.2084
    want = {"wgs84": (lon, lat), "gcj02": gcj02_to_wgs84(lon, lat), "bd09": bd09_to_wgs84(lon, lat)}[expected]
    x, y = to_wgs84(lon, lat, name)
    assert (float(x), float(y)) == (float(want[0]), float(want[1]))


def test_to_wgs84_unknown_name():
    with pytest.raises(UnknownNameError, match=r"unknown coordinate system 'utm'.*gcj02"):
        to_wgs84(120.0, 30.0, "utm")


@pytest.mark.parametrize("lon,lat,epsg", [
    (120.2, 30.3, 32651), (114.0, 22.5, 32650), (-0.1, 51.5, 32630), (151.2, -33.9, 32756),
    (-180.0, 0.0, 32601), (180.0, 0.0, 32660), (0.0, 0.0, 32631),
])
def test_metric_crs_for(lon, lat, epsg):
    assert metric_crs_for(lon, lat) == epsg


def test_metric_crs_agrees_with_pyproj():
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    for lon, lat in HANGZHOU:
        info = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(lon, lat, lon, lat))
        assert metric_crs_for(lon, lat) in {int(i.code) for i in info}


def test_metric_crs_for_rejects_non_degrees():
    with pytest.raises(ValueError, match="not a longitude/latitude"):
        metric_crs_for(500000.0, 3300000.0)
