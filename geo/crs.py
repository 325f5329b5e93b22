"""Coordinate systems of Chinese web maps, and the metric CRS of a study area.

OpenStreetMap is WGS84. Coordinates copied from AMap/Gaode or Tencent maps are **GCJ-02** (WGS84
plus a deliberate, smooth offset of up to several hundred metres), and from Baidu maps **BD-09**
(GCJ-02 plus a second offset). Everything here is vectorised over numpy arrays.

The GCJ-02 offset is the algorithm as published in the open-source eviltransform and
coordtransform projects (Krasovsky 1940 ellipsoid, a = 6378245.0 m, e² = 0.00669342162296594323);
the BD-09 step is the equally public ``x_pi = pi * 3000 / 180`` formula. Only the formulas are
taken from there; the code is our own. The published *inverse* formulas are one-step
approximations (errors of 1-2 m); here both inverses are solved exactly by fixed-point iteration
of the forward transform until the correction is below 1e-9 degrees (~0.1 mm).

Outside the usual rough box around China (lon 72.004-137.8347, lat 0.8293-55.8271) the offset
does not apply and points are returned unchanged, as every published implementation does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from geo.errors import UnknownNameError
from geo.kinds import COORD_SYSTEMS

#: Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
X_PI = np.pi * 3000.0 / 180.0
#: the rough box within which the GCJ-02 offset is applied (lon_min, lat_min, lon_max, lat_max).
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
#: stop iterating an inverse when the correction is below this many degrees (~0.1 mm).
TOLERANCE_DEG = 1e-9
MAX_ITERATIONS = 60

CRS_ALIASES: dict[str, str] = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "wgs 84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "osm": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "高德": "gcj02",
    "tencent": "gcj02",
    "腾讯": "gcj02",
    "火星坐标": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
}
CRS_NAMES = COORD_SYSTEMS


def normalise_crs(crs: str) -> str:
    """``"GCJ-02"``, ``"amap"``, ``"Baidu"``... -> one of ``wgs84``, ``gcj02``, ``bd09``.

    Raises
    ------
    UnknownNameError
        For any other name; the message lists the accepted names.
    """
    key = str(crs).strip().lower()
    if key not in CRS_ALIASES:
        raise UnknownNameError("coordinate system", crs, sorted(set(CRS_ALIASES)))
    return CRS_ALIASES[key]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return x.astype(float, copy=True), y.astype(float, copy=True)


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a point lies in the rough box around China in which GCJ-02 applies."""
    x, y = _arrays(lon, lat)
    lon0, lat0, lon1, lat1 = CHINA_BOX
    return (x >= lon0) & (x <= lon1) & (y >= lat0) & (y <= lat1)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (degrees) to add to a WGS84 point, without the China test."""
    x = lon - 105.0
    y = lat - 35.0
    # the shared periodic term of both offsets
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    # metres on the Krasovsky ellipsoid -> degrees at this latitude
    rad = lat / 180.0 * np.pi
    w = 1.0 - KRASOVSKY_EE * np.sin(rad) ** 2
    sw = np.sqrt(w)
    dlat = dlat * 180.0 / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (w * sw) * np.pi)
    dlon = dlon * 180.0 / (KRASOVSKY_A / sw * np.cos(rad) * np.pi)
    return dlon, dlat


def _gcj_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _bd_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09, without the China test."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_inverse_approx(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published one-step BD-09 -> GCJ-02 formula: the starting guess of the exact inverse."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    return z * np.cos(theta), z * np.sin(theta)


_Convert = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""A conversion of longitude and latitude arrays."""


def _invert(
    forward: _Convert, lon: np.ndarray, lat: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from the guess ``(x, y)``.

    Both offsets change by far less than the step between two points (their derivative is
    of order 1e-3), so ``p <- p - (forward(p) - target)`` is a strong contraction: a handful
    of iterations reaches 1e-9 degrees.
    """
    for _ in range(MAX_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x = x - ex
        y = y - ey
        if x.size == 0 or max(np.nanmax(np.abs(ex), initial=0.0), np.nanmax(np.abs(ey), initial=0.0)) < TOLERANCE_DEG:
            break
    return x, y


def _in_china_only(lon: ArrayLike, lat: ArrayLike, convert: _Convert) -> tuple[np.ndarray, np.ndarray]:
    """``convert(lon, lat)`` applied to the points inside China; the others are returned unchanged."""
    x, y = _arrays(lon, lat)
    m = in_china(x, y)
    x[m], y[m] = convert(x[m], y[m])
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 (AMap/Gaode, Tencent). Points outside China are returned unchanged."""
    return _in_china_only(lon, lat, _gcj_forward)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS84, exact (iterated) to 1e-9 degrees. Points outside China are unchanged."""

    def exact(tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dlon, dlat = _gcj_offset(tx, ty)  # the usual one-step guess
        return _invert(_gcj_forward, tx, ty, tx - dlon, ty - dlat)

    return _in_china_only(lon, lat, exact)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (Baidu). Points outside China are returned unchanged."""
    return _in_china_only(lon, lat, _bd_forward)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> GCJ-02, exact (iterated) to 1e-9 degrees. Points outside China are unchanged."""

    def exact(tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _invert(_bd_forward, tx, ty, *_bd_inverse_approx(tx, ty))

    return _in_china_only(lon, lat, exact)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> BD-09 (through GCJ-02). Points outside China are returned unchanged."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> WGS84 (through GCJ-02), exact to 1e-9 degrees. Points outside China unchanged."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert points given in ``crs`` to WGS84.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (scalars or arrays of one shape).
    crs
        ``wgs84``, ``gcj02`` or ``bd09``, case-insensitive; aliases ``gcj-02``, ``amap``,
        ``gaode``, ``tencent`` (GCJ-02) and ``baidu``, ``bd-09`` (BD-09) are accepted.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lon, lat)`` in WGS84, float arrays of the broadcast input shape (0-d for scalars).

    Raises
    ------
    UnknownNameError
        ``crs`` is not a known coordinate system.
    """
    name = normalise_crs(crs)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    return _arrays(lon, lat)


def metric_crs_for(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing ``(lon, lat)``: 326zz north, 327zz south.

    The plain 6-degree zones are used (no Norway/Svalbard exceptions: irrelevant in China).
    Hangzhou (120.2 E, 30.3 N) is zone 51 N, EPSG:32651.
    """
    lon = float(lon)
    lat = float(lat)
    if not (np.isfinite(lon) and np.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"metric_crs_for: ({lon}, {lat}) is not a longitude/latitude in degrees")
    zone = int((lon + 180.0) // 6.0) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if lat >= 0.0 else 32700) + zone
