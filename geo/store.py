"""What is written to disk and read back: arrays, tables and geometry, never code.

A *bundle* is a folder holding ``manifest.json`` (what the bundle is, its format version, and the
SHA-256 and size of every other file), arrays in ``.npz`` files read with
``numpy.load(allow_pickle=False)``, and tables in Parquet files (geometry as WKB with its CRS
in the manifest; every text, list or mixed column stored as JSON text). Nothing read back can execute code: there is no pickle.

Reading checks everything before anything is used: the manifest's kind and version, each file's
size and checksum, and the arrays' names. Any failure raises :class:`StoreError`, which a cache
treats as a miss (rebuild, carry on) and a saved plan reports as a clear error.

A bundle is written into a temporary folder beside its target and moved into place at the
end (:func:`replace_folder`), so an interrupted write leaves the previous bundle or none.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import shapely

MANIFEST = "manifest.json"
#: temporary folders are named ``.<target name>.tmp-<random>`` beside their target.
TMP_MARK = ".tmp-"


class StoreError(Exception):
    """A bundle is missing, incomplete, of another version, or does not match its checksums."""


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------ arrays


#: suffix of the array that marks its namesake as text (joined UTF-8, see :func:`_pack_text`)
TEXT_MARK = "@text"
_SEP = "\x00"


def _pack_text(a: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """An object array of text (None as "") as one UTF-8 byte array and its shape.

    The values are joined by NUL; None when a value holds a NUL itself (then it is stored as
    fixed-width text).
    """
    values = a.ravel().tolist()
    try:
        joined = _SEP.join(values)
    except TypeError:  # not all text
        values = ["" if v is None else str(v) for v in values]
        joined = _SEP.join(values)
    if joined.count(_SEP) != max(len(values) - 1, 0):
        return None
    return np.frombuffer(joined.encode("utf-8"), np.uint8), np.asarray(a.shape, np.int64)


def _unpack_text(blob: np.ndarray, shape_arr: np.ndarray) -> np.ndarray:
    shape = tuple(int(n) for n in np.asarray(shape_arr).ravel())
    size = int(np.prod(shape)) if shape else 1
    values = np.asarray(blob, np.uint8).tobytes().decode("utf-8").split(_SEP) if size else []
    if len(values) != size:
        raise ValueError(f"{len(values)} text values for an array of {size}")
    out = np.empty(size, dtype=object)
    out[:] = values
    return out.reshape(shape)


def _storable(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays as npz can hold them without pickle: object arrays of text packed as UTF-8."""
    out: dict[str, np.ndarray] = {}
    for k, given in arrays.items():
        a = np.asarray(given)
        if a.dtype == object:
            packed = _pack_text(a)
            if packed is not None:
                out[k], out[k + TEXT_MARK] = packed
                continue
            a = (
                np.asarray(["" if v is None else str(v) for v in a.ravel()], dtype=str).reshape(a.shape)
                if a.size
                else np.zeros(a.shape, dtype="<U1")
            )
        elif a.dtype.hasobject:
            raise TypeError(f"cannot store an array of dtype {a.dtype}")
        out[k] = a
    return out


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Named arrays as an ``.npz`` file (text arrays packed as UTF-8; never pickled)."""
    with Path(path).open("wb") as fh:
        # _storable leaves no object array, so nothing is pickled; np.savez's own allow_pickle
        # keyword is left out: the numpy versions this package allows before 2.x would store it
        # as an array named "allow_pickle"
        storable: dict[str, Any] = dict(_storable(arrays))  # (numpy's stubs read ** as its options)
        np.savez(fh, **storable)


def read_arrays(path: Path, *, names: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file; ``names`` must all be there; ``text`` come back as object arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001 - OSError, ValueError, zipfile.BadZipFile, zlib.error: a damaged file
        raise StoreError(f"{path.name}: damaged ({type(err).__name__}: {err})") from None
    return _arrays_of(raw, path.name, names, text)


def _arrays_of(raw: dict[str, np.ndarray], label: str, names: tuple[str, ...], text: tuple[str, ...]) -> dict:
    """The arrays :func:`_storable` made, back as they were given (text unpacked), checked."""
    try:
        out = {k: v for k, v in raw.items() if not k.endswith(TEXT_MARK)}
        for k, v in out.items():
            if k + TEXT_MARK in raw:
                out[k] = _unpack_text(v, raw[k + TEXT_MARK])
    except ValueError as err:  # (UnicodeDecodeError too)
        raise StoreError(f"{label}: damaged ({type(err).__name__}: {err})") from None
    missing = [n for n in names if n not in out]
    if missing:
        raise StoreError(f"{label}: arrays missing: {', '.join(missing)}")
    for k in text:
        if k in out:
            out[k] = out[k].astype(object)
    return out


#: the first bytes of :func:`pack_arrays`, then the header's length and the CRC-32 of the rest
PACK_MAGIC = b"SCARRAY1"
_PACK_HEAD = struct.Struct("<QI")
_ALIGN = 64


def pack_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Named arrays as one buffer in memory, as :func:`write_arrays` keeps them (never pickled).

    For arrays that never touch a disk (a batch's part on its way to a worker): the arrays'
    bytes one after another, described by a JSON header (each one's name, dtype, shape and
    place), with a CRC-32 of it all. Written and read back (:func:`unpack_arrays`) at the
    speed of a copy, where an npz's zip cost a checksum and a header to parse per array.
    """
    storable = {k: np.asarray(v, order="C") for k, v in _storable(arrays).items()}
    listed: list[tuple[str, str, list[int], int, int]] = []
    at = 0
    for k, v in storable.items():
        at += -at % _ALIGN
        listed.append((k, v.dtype.str, list(v.shape), at, v.nbytes))
        at += v.nbytes
    header = json.dumps({"arrays": listed}, ensure_ascii=False).encode("utf-8")
    header += b" " * (-(len(PACK_MAGIC) + _PACK_HEAD.size + len(header)) % _ALIGN)  # the arrays aligned
    pieces: list[bytes | memoryview] = [header]
    crc, end = zlib.crc32(header), 0
    for (_, _, _, start, nbytes), v in zip(listed, storable.values(), strict=True):
        if start > end:
            pieces.append(bytes(start - end))
            crc = zlib.crc32(pieces[-1], crc)
        pieces.append(v.reshape(-1).view(np.uint8).data)
        crc, end = zlib.crc32(pieces[-1], crc), start + nbytes
    return b"".join([PACK_MAGIC, _PACK_HEAD.pack(len(header), crc), *pieces])


def unpack_arrays(
    data: bytes | memoryview, *, names: tuple[str, ...] = (), text: tuple[str, ...] = (), label: str = "packed arrays"
) -> dict[str, np.ndarray]:
    """The arrays of :func:`pack_arrays`, as :func:`read_arrays` gives them; raises :class:`StoreError`."""
    buf = memoryview(data).cast("B")
    fixed = len(PACK_MAGIC) + _PACK_HEAD.size
    if len(buf) < fixed or bytes(buf[: len(PACK_MAGIC)]) != PACK_MAGIC:
        raise StoreError(f"{label}: not packed arrays")
    size, crc = _PACK_HEAD.unpack_from(buf, len(PACK_MAGIC))
    if zlib.crc32(buf[fixed:]) != crc:
        raise StoreError(f"{label}: does not match its checksum (damaged or cut short)")
    try:
        listed = json.loads(bytes(buf[fixed : fixed + size]).decode("utf-8"))["arrays"]
        raw = {str(e[0]): _unpacked(buf, fixed + size, *e) for e in listed}
    except (KeyError, TypeError, ValueError) as err:  # (json.JSONDecodeError, UnicodeDecodeError too)
        raise StoreError(f"{label}: damaged ({type(err).__name__}: {err})") from None
    return _arrays_of(raw, label, names, text)


def _unpacked(buf: memoryview, start: int, name: str, dtype: str, shape: list, at: int, nbytes: int) -> np.ndarray:
    """One array of :func:`unpack_arrays` (a copy: the buffer is not kept); ValueError when it does not fit."""
    dt = np.dtype(dtype)
    if dt.hasobject or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"array {name!r}: dtype {dtype!r}, shape {shape!r}")
    count = int(np.prod(shape, dtype=np.int64))
    if dt.itemsize * count != nbytes or not 0 <= at <= len(buf) - start - nbytes:
        raise ValueError(f"array {name!r} does not fit the buffer")
    got = np.frombuffer(buf, dt, count, start + at) if count else np.zeros(0, dt)
    return got.reshape(tuple(shape)).copy()


# ------------------------------------------------------------------------------ tables


def write_table(path: Path, gdf: pd.DataFrame) -> dict:
    """A (Geo)DataFrame as Parquet: the geometry as WKB, object columns as JSON text.

    Any mix of text, numbers, lists and missing values round-trips. Returns the manifest entry's
    description of the table: its JSON columns, its geometry column and CRS.
    """
    geo_df = gdf if isinstance(gdf, gpd.GeoDataFrame) and hasattr(gdf, "geometry") else None
    geom = geo_df.geometry.name if geo_df is not None else None
    df = pd.DataFrame(gdf).copy()
    json_cols = [str(c) for c in df.columns if c != geom and df[c].dtype == object]
    for c in json_cols:
        df[c] = [json.dumps(_plain(v), ensure_ascii=False) for v in df[c]]
    entry: dict[str, Any] = {"json_columns": json_cols}
    if geo_df is not None:
        df[geom] = shapely.to_wkb(np.asarray(geo_df.geometry.values, dtype=object))
        entry["geometry"] = str(geom)
        entry["crs"] = geo_df.crs.to_string() if geo_df.crs is not None else None
    df.columns = [str(c) for c in df.columns]
    if df.attrs:  # (kept by pandas in the file's metadata)
        df.to_parquet(path, index=False)
    else:  # what to_parquet writes, byte for byte, converted on this thread: a pool of threads per table cost more
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False, nthreads=1), str(path), compression="snappy")
    return entry


def _plain(v: object) -> object:
    """A value as JSON holds it: numpy scalars as numbers, lists for arrays, None for NaN and NA."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (np.integer, np.floating, np.bool_, float)):
        return _number(v)
    if v is None or _missing(v):
        return None
    return v if isinstance(v, (str, int, bool)) else str(v)


def _number(v: np.integer | np.floating | np.bool_ | float) -> int | float | bool | None:
    """A numpy or Python number as a Python one; None for NaN and infinities."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    f = float(v)
    return f if np.isfinite(f) else None


def _missing(v: object) -> bool:
    """Whether pandas takes ``v`` (not text) for a missing value (NA, NaT, ...)."""
    if isinstance(v, str):
        return False
    try:
        # cast: pandas-stubs type isna for known scalars only; at run time it takes any object
        return v is pd.NA or bool(pd.isna(cast("Any", v)))
    except (TypeError, ValueError):
        return False


def read_table(path: Path, entry: Mapping[str, Any]) -> pd.DataFrame:
    """The table of :func:`write_table` (``entry``: its manifest entry)."""
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many types for damaged files
        raise StoreError(f"{path.name}: not a readable table ({type(err).__name__}: {err})") from None
    for c in entry.get("json_columns", []):
        if c not in df.columns:
            raise StoreError(f"{path.name}: column {c!r} missing")
        try:
            values: list[Any] = [_from_json(json.loads(v)) if isinstance(v, str) else None for v in df[c]]
            df[c] = values
        except ValueError as err:
            raise StoreError(f"{path.name}: column {c!r} is not JSON ({err})") from None
    geom = entry.get("geometry")
    if geom is None:
        return df
    if geom not in df.columns:
        raise StoreError(f"{path.name}: geometry column {geom!r} missing")
    try:
        values = shapely.from_wkb(df[geom].to_numpy())
        crs = _crs(entry["crs"]) if entry.get("crs") else None
    except Exception as err:  # noqa: BLE001 - shapely.errors.GEOSException, pyproj.exceptions.CRSError
        raise StoreError(f"{path.name}: geometry unreadable ({type(err).__name__}: {err})") from None
    return gpd.GeoDataFrame(
        df.drop(columns=[geom]), geometry=gpd.GeoSeries(values, index=df.index, crs=crs, name=geom), crs=crs
    )[list(df.columns)]


@functools.lru_cache(maxsize=16)
def _crs(text: str) -> pyproj.CRS:
    """One (immutable) CRS object per CRS text: parsing one costs ~20 ms."""
    return pyproj.CRS.from_user_input(text)


def _from_json(v: object) -> object:
    """JSON lists back as tuples, nested ones too."""
    return tuple(_from_json(x) for x in v) if isinstance(v, list) else v


# ------------------------------------------------------------------------------ many tables in one npz


def wkb_arrays(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometries (None: missing) as WKB: all in one byte array, and each one's length (-1: None)."""
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object)).tolist()
    lengths = np.fromiter((-1 if w is None else len(w) for w in wkb), np.int64, count=len(wkb))
    return np.frombuffer(b"".join(w for w in wkb if w is not None), np.uint8), lengths


def geoms_from_wkb(blob: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The geometries of :func:`wkb_arrays`; ValueError or GEOSException when they are damaged."""
    raw, lengths = np.asarray(blob, np.uint8).tobytes(), np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind != "i" or (len(lengths) and lengths.min() < -1):
        raise ValueError("WKB lengths are not lengths")
    ends = np.cumsum(np.maximum(lengths, 0)).tolist()
    if (ends[-1] if ends else 0) != len(raw):
        raise ValueError(f"WKB lengths add up to {ends[-1] if ends else 0} bytes, not {len(raw)}")
    starts = [0, *ends[:-1]] if ends else []
    wkb = [None if n < 0 else raw[i:j] for n, i, j in zip(lengths.tolist(), starts, ends, strict=True)]
    return np.asarray(shapely.from_wkb(wkb), dtype=object).reshape(len(wkb))


#: what reading a :class:`Packer`'s buffer back raises for damage of its own
_DAMAGE = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    shapely.errors.GEOSException,
    pyproj.exceptions.CRSError,
    pa.ArrowException,
)


class Packer:
    """Arrays, geometries and tables gathered into one buffer (:func:`pack_arrays`) with a JSON manifest.

    For many small tables at once (a batch's parts, :class:`geo.batch.PackedPart`), where a
    Parquet file per table (:func:`write_table`) cost more than the tables' data: a table's
    numeric columns stay arrays, its geometries join every other geometry in one WKB array
    (its CRS goes in the manifest), its text columns every other text in one Arrow column (an
    Arrow IPC stream: data only), and the values of its other columns go in the manifest as
    JSON (object columns as :func:`write_table` keeps them, other pandas dtypes exactly). Every
    column's dtype comes back, and the index. :class:`Unpacked` reads it back.

    ``arrays``: named arrays of the caller's (names not starting with ``_``).
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._own: dict[str, np.ndarray] = {}
        self._geoms: list[np.ndarray] = []
        self._n_geoms = 0
        self._texts: list[pa.Array] = []
        self._n_texts = 0

    def geometries(self, geoms: object) -> list[int]:
        """Keep geometries (an array or list; None: missing); their span for :meth:`Unpacked.geometries`."""
        g = np.asarray(geoms, dtype=object).reshape(-1)  # (a shapely geometry is no sequence)
        self._geoms.append(g)
        self._n_geoms += len(g)
        return [self._n_geoms - len(g), self._n_geoms]

    def table(self, df: pd.DataFrame | None) -> dict | None:
        """Keep a (Geo)DataFrame (None stays None); its manifest entry for :meth:`Unpacked.table`.

        Raises TypeError for a column of a dtype that cannot be rebuilt from its name (a
        categorical), or an index neither the default one nor of a numpy dtype.
        """
        if df is None:
            return None
        columns = []
        for name, s in df.items():
            dtype = s.dtype
            col: dict[str, Any] = {"name": str(name)}
            if isinstance(dtype, gpd.array.GeometryDtype):
                crs = s.array.crs
                col.update(
                    kind="geometry", span=self.geometries(s.array), crs=crs.to_string() if crs is not None else None
                )
            elif isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
                col.update(kind="array", at=self._keep(s.to_numpy()))
            elif isinstance(dtype, pd.StringDtype):
                col.update(kind="text", dtype=str(dtype), storage=dtype.storage, span=self._text(s.array))
            elif isinstance(dtype, np.dtype) and dtype.kind == "O":
                col.update(kind="json", values=[_plain(v) for v in s.tolist()])
            else:
                if pd.api.types.pandas_dtype(str(dtype)) != dtype:
                    raise TypeError(f"column {name!r}: cannot keep a column of dtype {dtype!r} in arrays")
                got = cast("Any", s).to_numpy(dtype=object, na_value=None).tolist()  # (pandas-stubs: na_value)
                col.update(kind="values", dtype=str(dtype), values=[_plain(v) for v in got])
            columns.append(col)
        entry: dict[str, Any] = {"rows": len(df), "columns": columns}
        if not df.index.equals(pd.RangeIndex(len(df))) or df.index.name is not None:
            if not (isinstance(df.index.dtype, np.dtype) and df.index.dtype.kind in "biufcmM"):
                raise TypeError(f"cannot keep an index of dtype {df.index.dtype!r} in arrays")
            entry["index"] = {"at": self._keep(df.index.to_numpy()), "name": _plain(df.index.name)}
        if isinstance(df, gpd.GeoDataFrame):
            entry["geometry"] = df.active_geometry_name
        if df.attrs:
            entry["attrs"] = _plain(df.attrs)
        return entry

    def _text(self, values: object) -> list[int]:
        """Keep a column of text (as Arrow holds it, without a Python string each)."""
        got = pa.array(values)
        chunks = got.chunks if isinstance(got, pa.ChunkedArray) else [got]
        self._texts += [c.cast(pa.large_string()) for c in chunks]
        self._n_texts += len(got)
        return [self._n_texts - len(got), self._n_texts]

    def _keep(self, a: np.ndarray) -> str:
        name = f"_{len(self._own)}"
        self._own[name] = a
        return name

    def pack(self, manifest: Mapping[str, Any]) -> bytes:
        """The arrays, the geometries and ``manifest`` in one buffer (:func:`pack_arrays`)."""
        if any(k.startswith("_") for k in self.arrays):
            raise ValueError("names starting with _ are the packer's own")
        blob, lengths = wkb_arrays(np.concatenate(self._geoms) if self._geoms else np.zeros(0, dtype=object))
        text = json.dumps(manifest, ensure_ascii=False, default=_plain)
        own = {"_manifest": np.array([text], dtype=object), "_wkb": blob, "_wkb_len": lengths}
        if self._texts:  # one Arrow column of every text, as an Arrow IPC stream (data only)
            sink = pa.BufferOutputStream()
            batch = pa.record_batch([pa.concat_arrays(self._texts)], names=["text"])
            with pa.ipc.new_stream(sink, batch.schema) as out:
                out.write_batch(batch)
            own["_text"] = np.frombuffer(sink.getvalue(), np.uint8)
        return pack_arrays({**self.arrays, **self._own, **own})


class Unpacked:
    """The buffer of a :class:`Packer`, read back and checked; raises :class:`StoreError` when damaged.

    ``names``: the caller's arrays that must be there; ``text``: those that come back as object
    arrays of text.
    """

    def __init__(
        self,
        data: bytes | memoryview,
        *,
        names: tuple[str, ...] = (),
        text: tuple[str, ...] = (),
        label: str = "packed arrays",
    ) -> None:
        self.label = label
        self.arrays = unpack_arrays(data, names=(*names, "_manifest", "_wkb", "_wkb_len"), text=text, label=label)
        try:
            self.manifest: dict = json.loads(str(self.arrays["_manifest"].ravel()[0]))
            if not isinstance(self.manifest, dict):
                raise TypeError("the manifest is not a mapping")
            self._geoms = geoms_from_wkb(self.arrays["_wkb"], self.arrays["_wkb_len"])
            self._texts = pa.array([], pa.large_string())
            if "_text" in self.arrays:
                self._texts = pa.ipc.open_stream(pa.py_buffer(self.arrays["_text"])).read_all().column("text")
                self._texts = self._texts.combine_chunks().cast(pa.large_string())
                self._texts.validate(full=True)
        except _DAMAGE as err:
            raise StoreError(f"{self.label}: damaged ({type(err).__name__}: {err})") from None

    def geometries(self, span: object) -> np.ndarray:
        """The geometries of a span of :meth:`Packer.geometries`."""
        i, j = (int(k) for k in cast("Any", span))
        if not 0 <= i <= j <= len(self._geoms):
            raise StoreError(f"{self.label}: geometries {i}:{j} of {len(self._geoms)}")
        return self._geoms[i:j].copy()

    def table(self, entry: Mapping[str, Any] | None) -> pd.DataFrame | None:
        """The table of a :meth:`Packer.table` entry."""
        if entry is None:
            return None
        try:
            return self._table(entry)
        except _DAMAGE as err:
            raise StoreError(f"{self.label}: a table is damaged ({type(err).__name__}: {err})") from None

    def _table(self, entry: Mapping[str, Any]) -> pd.DataFrame:
        n = int(entry["rows"])
        cols: dict[str, Any] = {}
        for col in entry["columns"]:
            name = str(col["name"])
            if name in cols:
                raise ValueError(f"column {name!r} twice")
            cols[name] = v = self._column(col)
            if len(v) != n:
                raise ValueError(f"column {name!r} holds {len(v)} values for {n} rows")
        df = pd.DataFrame(cols, index=pd.RangeIndex(n), copy=False)
        if "index" in entry:
            df.index = pd.Index(self._numbers(entry["index"]["at"]), name=entry["index"]["name"])
        if "geometry" in entry:
            geom = entry["geometry"]
            df = (
                gpd.GeoDataFrame(df, geometry=geom, copy=False)
                if geom is not None
                else gpd.GeoDataFrame(df, copy=False)
            )
        if entry.get("attrs"):
            df.attrs.update(entry["attrs"])
        return df

    def _numbers(self, at: str) -> np.ndarray:
        v = self.arrays[at] if str(at).startswith("_") else None
        if v is None or v.ndim != 1 or v.dtype.hasobject:
            raise ValueError(f"{at} is not a column of numbers")
        return v

    def _column(self, col: Mapping[str, Any]) -> np.ndarray | pd.api.extensions.ExtensionArray | pd.Series:
        kind = col["kind"]
        if kind == "geometry":
            crs = _crs(col["crs"]) if col.get("crs") else None
            return gpd.array.GeometryArray(self.geometries(col["span"]), crs=crs)
        if kind == "array":
            return self._numbers(col["at"])
        if kind == "text":
            i, j = (int(k) for k in col["span"])
            if not 0 <= i <= j <= len(self._texts):
                raise ValueError(f"texts {i}:{j} of {len(self._texts)}")
            na = np.nan if col["dtype"] == "str" else pd.NA
            return pd.array(self._texts.slice(i, j - i), dtype=cast("Any", pd.StringDtype(col["storage"], na_value=na)))
        values = col["values"]
        if not isinstance(values, list):
            raise TypeError(f"column {col['name']!r}: values are not a list")
        if kind == "json":  # (a Series: pandas would take an object array of text for a str column)
            return pd.Series(
                np.fromiter((_from_json(x) for x in values), dtype=object, count=len(values)), dtype=object
            )
        if kind == "values":  # (pandas-stubs know a few dtypes here)
            return pd.array(values, dtype=cast("Any", pd.api.types.pandas_dtype(col["dtype"])))
        raise ValueError(f"column {col['name']!r} of an unknown kind {kind!r}")


# ------------------------------------------------------------------------------ bundles


class Bundle:
    """A bundle read back and checked; arrays and tables are loaded on first use."""

    def __init__(self, folder: Path, manifest: dict) -> None:
        self.folder = folder
        self.manifest = manifest
        self.meta: dict = manifest.get("meta", {})
        self._arrays: dict[str, dict[str, np.ndarray]] = {}

    def arrays(self, name: str, *, names: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """The bundle's arrays ``name`` (read once)."""
        if name not in self._arrays:
            self._arrays[name] = read_arrays(self._file(f"{name}.npz"), names=names, text=text)
        return self._arrays[name]

    def table(self, name: str) -> pd.DataFrame:
        """The bundle's table ``name`` (a GeoDataFrame when it was written with geometry)."""
        entry = self.manifest["files"].get(f"{name}.parquet")
        if entry is None:
            raise StoreError(f"{self.folder.name}: table {name!r} missing")
        return read_table(self._file(f"{name}.parquet"), entry)

    def has(self, filename: str) -> bool:
        """Whether the bundle lists ``filename``."""
        return filename in self.manifest["files"]

    def _file(self, filename: str) -> Path:
        if filename not in self.manifest["files"]:
            raise StoreError(f"{self.folder.name}: {filename} missing from the manifest")
        return self.folder / filename


def write_bundle(
    folder: Path,
    *,
    kind: str,
    version: int,
    meta: Mapping[str, Any],
    arrays: Mapping[str, Mapping[str, np.ndarray]] = {},
    tables: Mapping[str, Any] = {},
    extra: Callable[[Path], list[str]] | None = None,
) -> Path:
    """Write a bundle into ``folder`` (a new folder, made atomically; an old one is replaced).

    ``extra(tmp_folder)`` may write more files and returns their names (checksummed too).
    """
    folder = Path(folder)

    def write(tmp: Path) -> None:
        files: dict[str, dict] = {}
        for name, arrs in arrays.items():
            write_arrays(tmp / f"{name}.npz", arrs)
            files[f"{name}.npz"] = {}
        for name, gdf in tables.items():
            files[f"{name}.parquet"] = write_table(tmp / f"{name}.parquet", gdf)
        if extra is not None:
            for fname in extra(tmp):
                files[fname] = {}
        for fname, entry in files.items():
            entry["sha256"] = sha256_file(tmp / fname)
            entry["bytes"] = (tmp / fname).stat().st_size
        doc = {"kind": kind, "version": version, "files": files, "meta": dict(meta)}
        (tmp / MANIFEST).write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=_plain), encoding="utf-8")

    replace_folder(folder, write)
    return folder


def read_bundle(folder: Path, *, kind: str, version: int, verify: bool = True) -> Bundle:
    """Read and check a bundle (see the module docstring); raises :class:`StoreError`."""
    folder = Path(folder)
    mpath = folder / MANIFEST
    try:
        text = mpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"{folder.name}: no {MANIFEST}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise StoreError(f"{folder.name}: {MANIFEST} unreadable ({err})") from None
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise StoreError(f"{folder.name}: {MANIFEST} is not JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("kind") != kind:
        raise StoreError(f"{folder.name}: not a {kind} (kind {doc.get('kind') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != version:
        raise StoreError(f"{folder.name}: format version {doc.get('version')!r}, this program reads {version}")
    files = doc.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise StoreError(f"{folder.name}: {MANIFEST} lists no files")
    for fname, entry in files.items():
        p = folder / fname
        if "/" in fname or "\\" in fname or fname.startswith(".") or not p.is_file():
            raise StoreError(f"{folder.name}: {fname} missing")
        if p.stat().st_size != entry.get("bytes"):
            raise StoreError(
                f"{folder.name}: {fname} has {p.stat().st_size} bytes, the manifest says {entry.get('bytes')}"
            )
        if verify and sha256_file(p) != entry.get("sha256"):
            raise StoreError(f"{folder.name}: {fname} does not match its checksum (changed or damaged)")
    return Bundle(folder, doc)


# ------------------------------------------------------------------------------ atomic folders


def replace_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a new temporary folder beside ``target``, then put it in place.

    Either the old ``target`` or the complete new one is in place at any moment of an
    interruption, except between the two renames of a replacement, where neither is: the
    next :func:`replace_folder` or :func:`recover` on the same target puts the old one back.
    Temporary folders left by an interrupted run are removed by the next one.
    """
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_MARK}", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; give the usual folder mode
    try:
        write(tmp)
        _fsync_dir(tmp)
        if target.exists():
            old = parent / f".{target.name}{TMP_MARK}old"
            if old.exists():
                shutil.rmtree(old, ignore_errors=True)
            target.replace(old)
            tmp.replace(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(target)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def recover(target: Path) -> None:
    """Finish what an interrupted :func:`replace_folder` left.

    Puts a moved-away old folder back when the target is missing, and removes temporary folders.
    """
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return
    old = parent / f".{target.name}{TMP_MARK}old"
    if old.is_dir() and not target.exists():
        with contextlib.suppress(OSError):
            old.replace(target)
    for p in parent.glob(f".{target.name}{TMP_MARK}*"):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
