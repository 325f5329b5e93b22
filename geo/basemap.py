"""What a map needs to orient by when there is no tile server: streets, water, parks.

Read from the extract itself in the same pyosmium pass as everything else (:mod:`geo.osm`), kept
in the cached base (``Base.extras``) and drawn by :mod:`maps.basemap` as a light layer under the
circles. Full geometry is kept here; the map simplifies and rounds it for display.
"""

from __future__ import annotations

import hashlib
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from geo.osm import Features, OsmExtract, WalkWays

#: street classes the base layer draws (footways, paths, steps and service ways are left out:
#: they are most of the ways and add little to finding one's way at district zoom)
STREET_CLASSES = {
    "major": ("trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link"),
    "minor": ("tertiary", "tertiary_link", "unclassified", "residential", "living_street", "pedestrian", "road"),
}
CLASS_OF = {hw: cls for cls, values in STREET_CLASSES.items() for hw in values}
#: feature kinds of :func:`geo.osm.read_osm` -> basemap table
FEATURE_TABLES = {"water": "water", "waterway": "waterways", "green": "green"}
BASEMAP_TABLES = ("streets", *FEATURE_TABLES.values())


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v.strip() else None


def street_table(ways: WalkWays) -> gpd.GeoDataFrame:
    """The extract's streets (not footways) as WGS84 lines: ``class`` (major/minor), ``highway``, ``name``."""
    keep = np.array([hw in CLASS_OF for hw in ways.highway], bool)
    idx = np.flatnonzero(keep)
    starts, ends = ways.offsets[:-1][idx], ways.offsets[1:][idx]
    counts = ends - starts
    pos = (
        np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
        if len(idx)
        else np.zeros(0, np.int64)
    )
    xy = np.column_stack([ways.lon[pos], ways.lat[pos]])
    lines = shapely.linestrings(xy, indices=np.repeat(np.arange(len(idx)), counts)) if len(idx) else []
    hw = [ways.highway[i] for i in idx]
    return gpd.GeoDataFrame(
        {"class": [CLASS_OF[h] for h in hw], "highway": hw, "name": [_text(ways.name[i]) for i in idx]},
        geometry=lines,
        crs=4326,
    )


def feature_table(features: Features, kind: str) -> gpd.GeoDataFrame:
    """Water areas, waterway lines or green areas of an extract (WGS84): ``kind``, ``name``."""
    idx = [i for i, k in enumerate(features.kind) if k == kind]
    tags = [features.tags[i] for i in idx]
    what = [t.get("natural") or t.get("waterway") or t.get("leisure") or t.get("landuse") or kind for t in tags]
    geoms = shapely.from_wkb([features.wkb[i] for i in idx]) if idx else []
    return gpd.GeoDataFrame({"kind": what, "name": [_text(t.get("name")) for t in tags]}, geometry=geoms, crs=4326)


def basemap_tables(extract: OsmExtract) -> dict[str, gpd.GeoDataFrame]:
    """Basemap tables of an extract: name -> GeoDataFrame (WGS84).

    Parameters
    ----------
    extract
        A :class:`geo.osm.OsmExtract` (from a file or from osmnx).

    Returns
    -------
    dict
        ``streets`` (lines: class, highway, name), ``water`` (areas), ``waterways`` (river, canal
        and stream lines) and ``green`` (parks, gardens, woods); each has ``name``.
    """
    tables = {"streets": street_table(extract.ways)}
    for kind, name in FEATURE_TABLES.items():
        tables[name] = feature_table(extract.features, kind)
    return tables


def table_digest(table: gpd.GeoDataFrame) -> str:
    """A hash of what a base-map table draws from (hex): its rows' names, classes, admin levels and geometry.

    :func:`maps.basemap.basemap_key` keys a base layer by it; a saved plan keeps it beside each
    base-map table (:mod:`geo.saved`), so a follow-up finds its base layer without reading them.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(str(len(table)).encode())
    for col in ("name", "class", "admin_level"):
        if col in table:
            h.update(f"\x00{col}\x00".encode() + _joined(table[col]))
    h.update(_joined_wkb(np.asarray(table.geometry.values, dtype=object)))
    return h.hexdigest()


def _joined_wkb(geoms: np.ndarray) -> bytes:
    """The WKB of each geometry (``shapely.to_wkb``; none for a missing one) joined by NUL bytes."""
    if len(geoms) and sys.byteorder == "little":
        lines = _lines_wkb(geoms)
        if lines is not None:
            return lines
    parts = shapely.to_wkb(geoms).tolist()
    return b"\x00".join([b"" if w is None else w for w in parts] if None in parts else parts)


def _lines_wkb(geoms: np.ndarray) -> bytes | None:
    """:func:`_joined_wkb` of flat, non-empty LineStrings (a street table), written from their coordinates.

    Each is ``shapely.to_wkb`` writes it on a little-endian machine: byte order 1, type 2 and
    the number of points (4-byte unsigned integers), then the points' x and y (8-byte floats).
    None when any geometry is another kind (or missing, empty or 3D): ``shapely.to_wkb`` then.
    """
    if not (np.all(shapely.get_type_id(geoms) == 1) and not np.any(shapely.has_z(geoms))):
        return None
    counts = shapely.get_num_coordinates(geoms)
    if not np.all(counts > 0):
        return None
    xy = np.ascontiguousarray(shapely.get_coordinates(geoms), dtype="<f8")
    size = 9 + 16 * counts  # each one's bytes, a NUL after each but the last
    start = np.cumsum(size + 1) - (size + 1)
    buf = np.zeros(int(start[-1] + size[-1]), np.uint8)
    buf[start] = 1
    buf[start + 1] = 2
    count_bytes = counts.astype("<u4").view(np.uint8).reshape(-1, 4)
    for k in range(4):
        buf[start + 5 + k] = count_bytes[:, k]
    edges = np.zeros(len(buf) + 1, np.int64)  # +1 where each one's points begin, -1 where they end
    edges[start + 9] += 1
    edges[start + size] -= 1
    buf[np.cumsum(edges[:-1]) > 0] = xy.view(np.uint8).ravel()
    return buf.tobytes()


def _joined(values: pd.Series) -> bytes:
    """One text of a column's values: ``str`` of each, joined by NUL characters, as UTF-8.

    A column of text Arrow holds is joined by Arrow (a missing value written as ``str`` writes
    the column's missing value), without a Python string for each value.
    """
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return "\x00".join(map(str, values.tolist())).encode()
    arr = pa.chunked_array(pa.array(values.array)).combine_chunks()
    arr = pc.fill_null(arr, pa.scalar(str(dtype.na_value), arr.type))
    one = pa.ListArray.from_arrays(pa.array([0, len(arr)], pa.int32()), arr)
    return str(pc.binary_join(one, pa.scalar("\x00", arr.type))[0].as_py()).encode()
