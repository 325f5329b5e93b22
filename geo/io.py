"""Writing results: atomic files, GeoJSON a GIS opens (RFC 7946), GeoPackage.

Every file is written to a temporary file in the target folder and renamed into place, so a
failed or interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.store import process_umask

#: ~1 cm at these latitudes: enough for planning, small files (RFC 7946 §11.2 advises 6-7 digits).
DECIMALS = 7


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename the temp file onto ``path``.

    ``tmp_path`` is a new random name beside ``path`` that ``write`` creates (a file made empty
    first and opened again to be truncated cost ext4 about twice the time of a new file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temp name keeps the real suffix: GDAL warns about a GeoPackage not named *.gpkg
    tmp_path = path.parent / f".{path.stem}.tmp-{secrets.token_hex(8)}{path.suffix}"
    try:
        write(tmp_path)
        tmp_path.chmod(0o666 & ~process_umask())  # the usual file mode, whatever mode the writer gave
        tmp_path.replace(path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: object) -> Path:
    """Write ``obj`` as indented UTF-8 JSON (numpy values as numbers, non-finite as null), atomically."""
    return write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default) + "\n")


def _json_default(o: object) -> Any:  # noqa: ANN401 - any JSON value
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def rfc7946(geoms: np.ndarray) -> np.ndarray:
    """Round lon/lat to :data:`DECIMALS` and orient rings by the right-hand rule."""
    g = shapely.transform(np.asarray(geoms, dtype=object), lambda c: np.round(c, DECIMALS))
    return shapely.orient_polygons(valid_polygons(g), exterior_cw=False)


def valid_polygons(geoms: np.ndarray) -> np.ndarray:
    """``geoms`` with every invalid (Multi)Polygon repaired (OGC valid).

    Rounding can make two rings touch or a thin ring collapse. Repaired shapes keep their polygonal parts only (a
    collapsed sliver's line is dropped), so a polygon stays a (Multi)Polygon; other types and
    valid polygons are returned as they are.
    """
    g = np.array(geoms, dtype=object, copy=True)
    kind = shapely.get_type_id(g)
    bad = np.flatnonzero(((kind == 3) | (kind == 6)) & ~shapely.is_valid(g))
    if len(bad):
        fixed = shapely.make_valid(g[bad])
        for i, f in zip(bad, fixed, strict=True):
            parts = [p for p in shapely.get_parts(f) if p.geom_type in ("Polygon", "MultiPolygon")]
            parts = [q for p in parts for q in shapely.get_parts(p)]
            g[i] = shapely.multipolygons(parts) if len(parts) > 1 else parts[0] if parts else shapely.Polygon()
    return g


def _clean(value: object) -> Any:  # noqa: ANN401 - any JSON value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_clean(v) for v in value]
    if isinstance(value, np.integer):
        out: object = int(value)
    elif isinstance(value, (float, np.floating)):
        out = None if not np.isfinite(value) else round(float(value), 6)
    elif isinstance(value, np.bool_):
        out = bool(value)
    else:
        out = None if value is None or _missing(value) else value
    return out


def _missing(value: object) -> bool:
    try:  # (pandas' type stubs list array-like overloads only; isna takes any scalar)
        return bool(value is pd.NA or (not isinstance(value, str) and pd.isna(value)))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _json_values(col: pd.Series) -> list[str]:
    """The JSON text of every value of a column.

    Numbers rounded to 6 decimals, missing and non-finite values as null, text as it is
    (UTF-8), lists as arrays.
    """
    dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    text = encode_basestring  # what ``dump`` does with a str, without its checks per value
    kind = col.dtype.kind
    if kind == "b" and not col.hasnans:
        return ["true" if v else "false" for v in col.to_numpy()]
    if kind in "iuf":
        a = col.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(a).tolist()
        if kind in "iu":  # integers (with missing values when the column is nullable)
            return [str(int(v)) if f else "null" for v, f in zip(a.tolist(), ok, strict=True)]
        return [repr(v) if f else "null" for v, f in zip(np.round(a, 6).tolist(), ok, strict=True)]
    return [
        "null" if v is None else text(v) if type(v) is str else dump(_clean(v))
        for v in col.to_numpy(dtype=object).tolist()
    ]


def feature_collection_text(gdf: gpd.GeoDataFrame, *, name: str | None = None) -> str:
    """A GeoDataFrame (any CRS) as the text of an RFC 7946 FeatureCollection in WGS84.

    Geometries go straight from GEOS's GeoJSON writer into the text (never parsed back into
    Python objects), so large layers are written quickly; UTF-8 text, Chinese names intact.
    """
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geoms = rfc7946(gdf.geometry.values)
    texts = shapely.to_geojson(geoms)
    blank = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    keys = [dump(str(c)) + ":" for c in cols]
    columns = [[k + t for t in _json_values(gdf[c])] for k, c in zip(keys, cols, strict=True)]
    props = ["{" + ",".join(row) + "}" for row in zip(*columns, strict=True)] if cols else ["{}"] * len(gdf)
    feats = [
        '{"type":"Feature","properties":' + p + ',"geometry":' + ("null" if b else g) + "}"
        for p, g, b in zip(props, texts, blank, strict=True)
    ]
    head = '{"type":"FeatureCollection",' + (f'"name":{dump(name)},' if name else "")
    return head + '"features":[' + ",\n".join(feats) + "]}\n"


def feature_collection(gdf: gpd.GeoDataFrame, *, name: str | None = None) -> dict:
    """A GeoDataFrame (any CRS) as an RFC 7946 FeatureCollection dict in WGS84."""
    return json.loads(feature_collection_text(gdf, name=name))


def write_geojson(path: str | Path, gdf: gpd.GeoDataFrame, *, name: str | None = None) -> Path:
    """Write a GeoDataFrame as RFC 7946 GeoJSON (:func:`feature_collection_text`), atomically."""
    return write_text(path, feature_collection_text(gdf, name=name))


def write_gpkg(path: str | Path, layers: dict) -> Path:
    """Several GeoDataFrames as layers of one GeoPackage (WGS84), written atomically.

    Polygons are repaired where invalid and oriented as GeoJSON wants (:func:`valid_polygons`);
    lists are written as text, their items joined by "、"; a column of Python objects that are
    all yes/no values as a boolean field (pyogrio would write them as text).
    """

    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        for lname, gdf in layers.items():
            out = gdf.to_crs(4326) if gdf.crs is not None and gdf.crs.to_epsg() != 4326 else gdf
            fixed = shapely.orient_polygons(
                valid_polygons(np.asarray(out.geometry.values, dtype=object)), exterior_cw=False
            )
            out = out.set_geometry(gpd.GeoSeries(fixed, crs=out.crs, index=out.index), crs=out.crs)
            for c in out.columns:
                # (only a column of Python objects can hold a list, or yes/no values pyogrio writes as text)
                if c == out.geometry.name or out[c].dtype != object:
                    continue
                values = out[c].tolist()
                if any(isinstance(v, (list, tuple)) for v in values):
                    out[c] = [("、".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for v in values]
                elif values and all(isinstance(v, (bool, np.bool_)) for v in values):
                    out[c] = np.asarray(values, dtype=bool)
            out.to_file(tmp, layer=lname, driver="GPKG", engine="pyogrio")

    return atomic_write(Path(path), write)
