"""What is written to disk and read back: arrays, tables and geometry, never code.

A *bundle* is a folder holding ``manifest.json`` (what the bundle is, its format version, and the
SHA-256 and size of every other file), arrays in ``.npz`` files read with
``numpy.load(allow_pickle=False)``, and tables in Parquet files (geometry as WKB with its CRS
in the manifest; every text, list or mixed column stored as JSON text). Nothing read back can execute code: there is no pickle.

Reading checks everything before anything is used: the manifest's kind and version, each file's
size and checksum, and the arrays' names. Any failure raises :class:`StoreError`, which a cache
treats as a miss (rebuild, carry on) and a saved plan reports as a clear error.

A bundle is written into a temporary folder beside its target and moved into place at the
end (:func:`replace_folder`), so an interrupted write leaves the previous bundle or none. Each
file's checksum is made from the bytes as they are written (:func:`write_bundle`), and a table's
Parquet file is made from its columns directly, byte for byte what pandas writes (:func:`write_table`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, cast

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


#: a bundle's files made from data up to this size are made in memory and checksummed as they are
#: written (:func:`write_bundle`); bigger ones (a province's base) are written and read again
IN_MEMORY = 64 << 20


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


def storable_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
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


def _savez(fh: IO[bytes], storable: Mapping[str, np.ndarray]) -> None:
    # storable_arrays leaves no object array, so nothing is pickled; np.savez's own allow_pickle
    # keyword is left out: the numpy versions this package allows before 2.x would store it
    # as an array named "allow_pickle"
    named: dict[str, Any] = dict(storable)  # (numpy's stubs read ** as its options)
    np.savez(fh, **named)


def read_arrays(path: Path, *, names: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file; ``names`` must all be there; ``text`` come back as object arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001 - OSError, ValueError, zipfile.BadZipFile, zlib.error: a damaged file
        raise StoreError(f"{path.name}: damaged ({type(err).__name__}: {err})") from None
    return arrays_of(raw, path.name, names, text)


def arrays_of(raw: dict[str, np.ndarray], label: str, names: tuple[str, ...], text: tuple[str, ...]) -> dict:
    """The arrays :func:`storable_arrays` made, back as they were given (text unpacked), checked."""
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


# ------------------------------------------------------------------------------ tables


def write_table(path: Path, gdf: pd.DataFrame) -> dict:
    """Write a (Geo)DataFrame as Parquet: the geometry as WKB, object columns as JSON text.

    Any mix of text, numbers, lists and missing values round-trips. The file is made in memory and
    checksummed as it is written; a table of more than :data:`IN_MEMORY` bytes is written to disk
    and read again (no second copy of it in memory). :func:`write_bundle` writes its tables here.

    Returns
    -------
    dict
        The table's manifest entry: its JSON columns, its geometry column and CRS, and the file's
        ``sha256`` and size in ``bytes``.
    """
    path = Path(path)
    entry, table = _parquet_table(gdf)
    if isinstance(table, pa.Table) and table.nbytes > IN_MEMORY:
        _write_parquet(table, str(path))
        return {**entry, **_put(path)}
    sink = pa.BufferOutputStream()
    _write_parquet(table, sink)
    return {**entry, **_put(path, memoryview(sink.getvalue()))}


def _put(path: Path, data: bytes | memoryview | None = None) -> dict[str, Any]:
    """Write ``data`` to ``path`` (None: written already, then read again); its SHA-256 and size."""
    if data is None:
        return {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    path.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": memoryview(data).nbytes}


def _write_parquet(table: pa.Table | pd.DataFrame, where: str | pa.NativeFile) -> None:
    """Write what :func:`_parquet_table` made (a frame: one with attrs, which pandas keeps) to a path or stream."""
    if isinstance(table, pd.DataFrame):
        table.to_parquet(where, index=False)
    else:
        pq.write_table(table, where, compression="snappy")


def _parquet_table(gdf: pd.DataFrame) -> tuple[dict, pa.Table | pd.DataFrame]:
    """The table :func:`write_table` writes as Parquet, and its manifest entry.

    The file is what ``DataFrame.to_parquet(index=False)`` writes for the frame with its object
    columns as JSON text and its geometry as WKB. For the columns a plan's tables hold (numbers,
    text, JSON and the geometry) the Arrow table is made from the columns directly
    (:func:`_arrow_table`), with pandas' own schema metadata; any other frame goes through pandas
    (a frame with attrs is given back for pandas to write: it keeps them in the file's metadata).
    """
    plain = pd.DataFrame(gdf, copy=False)  # (its columns are Series, faster to make than GeoSeries)
    columns = list(plain.items())
    geo = _geometry(gdf, columns)
    geom = None if geo is None else geo.name
    json_cols = [str(c) for c, col in columns if c != geom and _is_object(col.dtype)]
    entry: dict[str, Any] = {"json_columns": json_cols}
    if geo is not None:
        crs = geo.array.crs
        entry["geometry"] = str(geom)
        entry["crs"] = crs.to_string() if crs is not None else None
    table = _arrow_table(plain, columns, geom) if _DIRECT else None
    if table is not None:
        return entry, table
    df = plain.copy()
    for c in entry["json_columns"]:
        df[c] = _json_texts(df[c])
    if geo is not None:
        df[geom] = shapely.to_wkb(np.asarray(geo.array, dtype=object))
    df.columns = [str(c) for c in df.columns]
    if df.attrs:  # (kept by pandas in the file's metadata)
        return entry, df
    # what to_parquet writes, byte for byte, converted on this thread: a pool of threads per table cost more
    return entry, pa.Table.from_pandas(df, preserve_index=False, nthreads=1)


#: pandas 3 makes a column of JSON texts a ``str`` column (Arrow's large_string), as
#: :func:`_arrow_table` does; an older pandas keeps it as object: its frames go through pandas
_DIRECT = int(pd.__version__.split(".")[0]) >= 3
#: the name pyarrow's pandas metadata gives an Arrow type (``pyarrow.pandas_compat.get_logical_type``),
#: for the types :func:`_arrow_table` makes
_LOGICAL = {
    pa.bool_(): "bool",
    **{pa.from_numpy_dtype(np.dtype(t)): t for t in ("int8", "int16", "int32", "int64", "uint8", "uint16")},
    **{pa.from_numpy_dtype(np.dtype(t)): t for t in ("uint32", "uint64", "float16", "float32", "float64")},
    pa.null(): "empty",
    pa.binary(): "bytes",
    pa.string(): "unicode",
    pa.large_string(): "object",
}


def _geometry(gdf: pd.DataFrame, columns: list[tuple[Any, pd.Series]]) -> pd.Series | None:
    """The active geometry column of ``gdf`` (``columns``: its columns as Series), None without one."""
    name = gdf.active_geometry_name if isinstance(gdf, gpd.GeoDataFrame) else None
    found = [col for c, col in columns if name is not None and c == name]
    if len(found) != 1 or not isinstance(found[0].dtype, gpd.array.GeometryDtype):
        return None  # (GeoDataFrame.geometry raises an AttributeError then)
    return found[0]


def _is_object(dtype: object) -> bool:
    """Whether a column of ``dtype`` is kept as JSON text (numpy's object dtype)."""
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


#: ``json.dumps(value, ensure_ascii=False)`` makes this encoder for each value, then encodes it
_JSON = json.JSONEncoder(ensure_ascii=False)


def _json_texts(values: pd.Series) -> list[str]:
    """Each value as JSON text (``json.dumps(plain_value(v), ensure_ascii=False)``)."""
    encode = _JSON.encode
    return [encode(plain_value(v)) for v in values]


def _arrow_table(plain: pd.DataFrame, columns: list[tuple[Any, pd.Series]], geom: object) -> pa.Table | None:
    """The Arrow table ``pa.Table.from_pandas`` makes of the frame :func:`write_table` writes, made directly.

    Each column (``columns``: those of ``plain``) converted as ``from_pandas`` converts it
    (``pa.array(column, from_pandas=True)``, given the column's numpy array or pandas' Arrow
    array), without copying the frame; None for a frame of anything else (other dtypes, attrs,
    names not distinct once text), left to pandas.
    """
    names = [str(c) for c in plain.columns]
    if plain.attrs or len(set(names)) != len(names):
        return None
    arrays: list[pa.Array] = []
    meta: list[dict[str, Any]] = []
    for name, (c, s) in zip(names, columns, strict=True):
        dtype = s.dtype
        if c == geom:
            arr = pa.array(shapely.to_wkb(np.asarray(s.array, dtype=object)), from_pandas=True)
            numpy_type = "object"
        elif _is_object(dtype):
            arr = pa.array(_json_texts(s), type=pa.large_string()) if len(s) else pa.array([], pa.float64())
            numpy_type = "str" if len(s) else "float64"  # (pandas makes an empty column of no values float64)
        elif isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            arr = pa.array(s.to_numpy(), from_pandas=True)
            numpy_type = str(dtype)
        elif isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            arr = pa.array(s.array, from_pandas=True)
            numpy_type = str(dtype)
        else:
            return None
        logical = _LOGICAL.get(arr.type)
        if logical is None:
            return None
        arrays.append(arr)
        meta.append(
            {"name": name, "field_name": name, "pandas_type": logical, "numpy_type": numpy_type, "metadata": None}
        )
    pandas_meta = {
        "index_columns": [],
        "column_indexes": [],
        "columns": meta,
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": pd.__version__,
    }
    schema = pa.schema(
        [pa.field(n, a.type) for n, a in zip(names, arrays, strict=True)],
        metadata={b"pandas": json.dumps(pandas_meta).encode("utf8")},
    )
    return pa.Table.from_arrays(arrays, schema=schema)


def plain_value(v: object) -> object:
    """A value as JSON holds it: numpy scalars as numbers, lists for arrays, None for NaN and NA."""
    if v is None or isinstance(v, str):  # (the most common values first)
        return v
    if isinstance(v, (list, tuple, np.ndarray)):
        return [plain_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain_value(x) for k, x in v.items()}
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
            values: list[Any] = [from_json_text(json.loads(v)) if isinstance(v, str) else None for v in df[c]]
            df[c] = values
        except (ValueError, RecursionError) as err:
            raise StoreError(f"{path.name}: column {c!r} is not JSON ({err})") from None
    geom = entry.get("geometry")
    if geom is None:
        return df
    if geom not in df.columns:
        raise StoreError(f"{path.name}: geometry column {geom!r} missing")
    try:
        values = shapely.from_wkb(df[geom].to_numpy())
        crs = crs_of(entry["crs"]) if entry.get("crs") else None
    except Exception as err:  # noqa: BLE001 - shapely.errors.GEOSException, pyproj.exceptions.CRSError
        raise StoreError(f"{path.name}: geometry unreadable ({type(err).__name__}: {err})") from None
    return gpd.GeoDataFrame(
        df.drop(columns=[geom]), geometry=gpd.GeoSeries(values, index=df.index, crs=crs, name=geom), crs=crs
    )[list(df.columns)]


@functools.lru_cache(maxsize=16)
def crs_of(text: str) -> pyproj.CRS:
    """One (immutable) CRS object per CRS text: parsing one costs ~20 ms."""
    return pyproj.CRS.from_user_input(text)


def from_json_text(v: object) -> object:
    """JSON lists back as tuples, nested ones too."""
    return tuple(from_json_text(x) for x in v) if isinstance(v, list) else v


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
    files: Mapping[str, bytes] = {},
    extra: Callable[[Path], list[str]] | None = None,
) -> Path:
    """Write a bundle into ``folder`` (a new folder, made atomically; an old one is replaced).

    ``files``: more files (name -> content); ``extra(tmp_folder)`` may write more files and
    returns their names. Both are checksummed too. A file made from data up to
    :data:`IN_MEMORY` bytes is made in memory and checksummed as it is written; a bigger one is
    written to disk and read again (no second copy of it in memory), as are those of ``extra``.
    """
    folder = Path(folder)

    def write(tmp: Path) -> None:
        listed: dict[str, dict] = {}

        for name, arrs in arrays.items():
            storable = storable_arrays(arrs)
            path = tmp / f"{name}.npz"
            if sum(a.nbytes for a in storable.values()) > IN_MEMORY:
                with path.open("wb") as fh:
                    _savez(fh, storable)
                listed[path.name] = _put(path)
            else:
                buf = io.BytesIO()
                _savez(buf, storable)
                listed[path.name] = _put(path, buf.getbuffer())
        for name, gdf in tables.items():
            listed[f"{name}.parquet"] = write_table(tmp / f"{name}.parquet", gdf)
        for fname, data in files.items():
            listed[fname] = _put(tmp / fname, data)
        for fname in extra(tmp) if extra is not None else []:
            listed[fname] = _put(tmp / fname)
        doc = {"kind": kind, "version": version, "files": listed, "meta": dict(meta)}
        (tmp / MANIFEST).write_text(
            json.dumps(doc, ensure_ascii=False, indent=1, default=plain_value), encoding="utf-8"
        )

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
    except (ValueError, RecursionError) as err:  # RecursionError: nested too deeply
        raise StoreError(f"{folder.name}: {MANIFEST} is not JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("kind") != kind:
        raise StoreError(f"{folder.name}: not a {kind} (kind {doc.get('kind') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != version:
        got = doc.get("version")
        newer = isinstance(got, int) and not isinstance(got, bool) and got > version
        raise StoreError(
            f"{folder.name}: format version {got!r}, this program reads {version}"
            + (": written by a newer service-circles — upgrade it (pip install -U service-circles)" if newer else "")
        )
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


def process_umask() -> int:
    """The process's umask, read without setting it (``os.umask`` sets it for every thread a moment).

    From ``/proc/self/status`` where Linux gives it; elsewhere set and restored at once.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def replace_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a new temporary folder beside ``target``, then put it in place.

    Either the old ``target`` or the complete new one is in place at any moment of an
    interruption, except between the two renames of a replacement, where neither is: the
    next :func:`replace_folder` or :func:`recover` on the same target puts the old one back.
    Temporary folders left by an interrupted run are removed by the next one.

    The new folder is synced before it is moved, and its parent after, except a parent that is
    itself the temporary folder of a :func:`replace_folder` (a saved plan in an output set): that
    one syncs it once its ``write`` is done, after this move.
    """
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_MARK}", dir=parent))
    tmp.chmod(0o777 & ~process_umask())  # mkdtemp makes 0700; give the usual folder mode
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
        if not _is_tmp(parent):
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


def _is_tmp(folder: Path) -> bool:
    """Whether ``folder`` is the temporary folder of a :func:`replace_folder` (being written)."""
    return folder.name.startswith(".") and TMP_MARK in folder.name and not folder.name.endswith(f"{TMP_MARK}old")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
