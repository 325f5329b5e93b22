"""Arrays, geometries and tables packed into one buffer in memory, never pickle.

For what goes from one process to another without touching a disk (a batch's part on its way
to a worker, :class:`geo.batch.PackedPart`): :func:`pack_arrays` lays named arrays one after
another under a JSON header, with a CRC-32 of it all, as :mod:`geo.store` keeps arrays (text
packed as UTF-8, no object array); :class:`Packer` adds geometries (WKB) and tables, column by
column. Reading back checks everything before anything is used (the checksum, each array's
dtype, shape and place, each table's columns and rows) and raises
:class:`geo.store.StoreError` for any damage. Nothing read back can execute code.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Mapping
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely

from geo.store import StoreError, arrays_of, crs_of, from_json_text, plain_value, storable_arrays

#: the first bytes of :func:`pack_arrays`, then the header's length and the CRC-32 of the rest
PACK_MAGIC = b"SCARRAY1"
_PACK_HEAD = struct.Struct("<QI")
_ALIGN = 64


class Pieces:
    """Bytes given in pieces, kept by :func:`pack_arrays` as one ``uint8`` array without being joined first."""

    def __init__(self, pieces: list[memoryview], nbytes: int) -> None:
        self.pieces, self.nbytes = pieces, nbytes  # nbytes: the pieces' bytes, all told


def pack_arrays(arrays: Mapping[str, np.ndarray | Pieces]) -> bytes:
    """Named arrays as one buffer in memory, as :func:`geo.store.write_bundle` keeps them in an ``.npz`` (never pickled).

    For arrays that never touch a disk (a batch's part on its way to a worker): the arrays'
    bytes one after another, described by a JSON header (each one's name, dtype, shape and
    place), with a CRC-32 of it all. Written and read back (:func:`unpack_arrays`) at the
    speed of a copy, where an npz's zip cost a checksum and a header to parse per array.
    """
    storable: dict[str, np.ndarray | Pieces] = {}
    for k, given in arrays.items():
        if isinstance(given, Pieces):
            storable[k] = given
        else:
            storable.update({n: np.asarray(v, order="C") for n, v in storable_arrays({k: given}).items()})
    listed: list[tuple[str, str, list[int], int, int]] = []
    at = 0
    for k, v in storable.items():
        at += -at % _ALIGN
        dtype, shape = ("|u1", [v.nbytes]) if isinstance(v, Pieces) else (v.dtype.str, list(v.shape))
        listed.append((k, dtype, shape, at, v.nbytes))
        at += v.nbytes
    header = json.dumps({"arrays": listed}, ensure_ascii=False).encode("utf-8")
    header += b" " * (-(len(PACK_MAGIC) + _PACK_HEAD.size + len(header)) % _ALIGN)  # the arrays aligned
    pieces: list[bytes | memoryview] = [header]
    crc, end = zlib.crc32(header), 0
    for (_, _, _, start, nbytes), v in zip(listed, storable.values(), strict=True):
        if start > end:
            pieces.append(bytes(start - end))
            crc = zlib.crc32(pieces[-1], crc)
        data: list[memoryview] = v.pieces if isinstance(v, Pieces) else [v.reshape(-1).view(np.uint8).data]
        for piece in data:
            crc = zlib.crc32(piece, crc)
        pieces += data
        end = start + nbytes
    return b"".join([PACK_MAGIC, _PACK_HEAD.pack(len(header), crc), *pieces])


def unpack_arrays(
    data: bytes | memoryview, *, names: tuple[str, ...] = (), text: tuple[str, ...] = (), label: str = "packed arrays"
) -> dict[str, np.ndarray]:
    """The arrays of :func:`pack_arrays`, as :func:`geo.store.read_arrays` gives them; raises :class:`StoreError`."""
    try:
        buf = memoryview(data).cast("B")
    except TypeError as err:  # (not a buffer, or not a contiguous one)
        raise StoreError(f"{label}: not packed arrays ({err})") from None
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
    return arrays_of(raw, label, names, text)


def _unpacked(buf: memoryview, start: int, name: str, dtype: str, shape: list, at: int, nbytes: int) -> np.ndarray:
    """One array of :func:`unpack_arrays` (a copy: the buffer is not kept); ValueError when it does not fit."""
    dt = np.dtype(dtype)
    if dt.hasobject or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"array {name!r}: dtype {dtype!r}, shape {shape!r}")
    count = math.prod(shape)
    if dt.itemsize * count != nbytes or not 0 <= at <= len(buf) - start - nbytes:
        raise ValueError(f"array {name!r} does not fit the buffer")
    got = np.frombuffer(buf, dt, count, start + at) if count else np.zeros(0, dt)
    return got.reshape(tuple(shape)).copy()


# ------------------------------------------------------------------------------ geometries and tables


def wkb_arrays(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometries (None: missing) as WKB: all in one byte array, and each one's length (-1: None)."""
    g = np.asarray(geoms, dtype=object)
    there = ~shapely.is_missing(g)
    wkb = shapely.to_wkb(g[there]).tolist()
    lengths = np.full(len(g), -1, np.int64)
    lengths[there] = np.fromiter(map(len, wkb), np.int64, count=len(wkb))
    return np.frombuffer(b"".join(wkb), np.uint8), lengths


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
DAMAGE = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    shapely.errors.GEOSException,
    pyproj.exceptions.CRSError,
    pa.ArrowException,
    OSError,  # pyarrow's ArrowIOError (an IPC stream rewritten under a valid checksum) is one
)


class Packer:
    """Arrays, geometries and tables gathered into one buffer (:func:`pack_arrays`) with a JSON manifest.

    For many small tables at once (a batch's parts, :class:`geo.batch.PackedPart`), where a
    Parquet file per table (:func:`geo.store.write_table`) cost more than the tables' data: a table's
    numeric columns stay arrays, its geometries join every other geometry in one WKB array
    (its CRS goes in the manifest), its text columns every other text in one Arrow column (an
    Arrow IPC stream: data only), and the values of its other columns go in the manifest as
    JSON (object columns as :func:`geo.store.write_table` keeps them, other pandas dtypes exactly). Every
    column's dtype comes back, and the index. :class:`Unpacked` reads it back.

    ``arrays``: named arrays of the caller's (names not starting with ``_``).
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._own: dict[str, np.ndarray] = {}
        self._geoms: list[np.ndarray | tuple[list[memoryview], np.ndarray]] = []  # geometries, or WKB and lengths
        self._n_geoms = 0
        self._texts: list[pa.Array] = []
        self._n_texts = 0

    def geometries(self, geoms: object) -> list[int]:
        """Keep geometries (an array or list; None: missing); their span for :meth:`Unpacked.geometries`."""
        g = np.asarray(geoms, dtype=object).reshape(-1)  # (a shapely geometry is no sequence)
        self._geoms.append(g)
        self._n_geoms += len(g)
        return [self._n_geoms - len(g), self._n_geoms]

    def wkb(self, made: Wkb, rows: np.ndarray) -> list[int]:
        """Keep some of the geometries of ``made`` (:meth:`Wkb.take`), as :meth:`geometries` keeps them."""
        blob, lengths = made.pieces(rows)
        self._geoms.append((blob, lengths))
        self._n_geoms += len(lengths)
        return [self._n_geoms - len(lengths), self._n_geoms]

    def table(self, df: pd.DataFrame | None) -> dict | None:
        """Keep a (Geo)DataFrame (None stays None); its manifest entry for :meth:`Unpacked.table`.

        Raises TypeError for column names not all distinct text, a column of a dtype that cannot
        be rebuilt from its name (a categorical), or an index neither the default one nor of a
        numpy dtype.
        """
        if df is None:
            return None
        if not all(isinstance(c, str) for c in df.columns) or df.columns.has_duplicates:
            raise TypeError(f"cannot keep columns {list(df.columns)!r}: names must be distinct text")
        plain = pd.DataFrame(df, copy=False)  # (its columns are Series, faster to make than GeoSeries)
        columns = [self._column(str(name), s) for name, s in plain.items()]
        entry: dict[str, Any] = {"rows": len(df), "columns": columns}
        if not df.index.equals(pd.RangeIndex(len(df))) or df.index.name is not None:
            if not (isinstance(df.index.dtype, np.dtype) and df.index.dtype.kind in "biufcmM"):
                raise TypeError(f"cannot keep an index of dtype {df.index.dtype!r} in arrays")
            entry["index"] = {"at": self._keep(df.index.to_numpy()), "name": plain_value(df.index.name)}
        if isinstance(df, gpd.GeoDataFrame):
            entry["geometry"] = df.active_geometry_name
        if df.attrs:
            entry["attrs"] = plain_value(df.attrs)
        return entry

    def _column(self, name: str, s: pd.Series) -> dict[str, Any]:
        """The manifest entry of one column, its data kept."""
        dtype = s.dtype
        if isinstance(dtype, gpd.array.GeometryDtype):
            crs = s.array.crs
            text = (crs.srs or crs.to_wkt()) if crs is not None else None
            return {"name": name, "kind": "geometry", "span": self.geometries(s.array), "crs": text}
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            return {"name": name, "kind": "array", "at": self._keep(s.to_numpy())}
        if isinstance(dtype, pd.StringDtype):
            return {
                "name": name,
                "kind": "text",
                "dtype": str(dtype),
                "storage": dtype.storage,
                "span": self._text(s.array),
            }
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            return {"name": name, "kind": "json", "values": [plain_value(v) for v in s.tolist()]}
        if pd.api.types.pandas_dtype(str(dtype)) != dtype:
            raise TypeError(f"column {name!r}: cannot keep a column of dtype {dtype!r} in arrays")
        got = cast("Any", s).to_numpy(dtype=object, na_value=None).tolist()  # (pandas-stubs: na_value)
        return {"name": name, "kind": "values", "dtype": str(dtype), "values": [plain_value(v) for v in got]}

    def rows(self, table: Rows, rows: np.ndarray) -> dict:
        """Keep some rows of a converted table: the entry :meth:`table` gives for them.

        The same entry, and the same bytes once packed, as ``table(df.iloc[rows].reset_index(drop=True))``
        for the table ``df`` the :class:`Rows` were made of, at the cost of those rows.
        """
        if table.columns is None:  # (a table Rows does not convert: kept as table() keeps it, or refused)
            return cast("dict", self.table(table.df.iloc[rows].reset_index(drop=True)))
        rows = np.asarray(rows, np.int64)
        at = rows.tolist() if table.has_values else []
        columns: list[dict[str, Any]] = []
        for kind, name, data, meta in table.columns:
            if kind == "geometry":
                columns.append({"name": name, "kind": kind, "span": self.wkb(data, rows), "crs": meta})
            elif kind == "array":
                columns.append({"name": name, "kind": kind, "at": self._keep(data[rows])})
            elif kind == "text":
                dtype, storage, empty = meta
                got = data.take(pa.array(rows)) if len(rows) else None
                self._texts += [got] if got is not None else [data.slice(0, 0)] * empty
                self._n_texts += len(rows)
                span = [self._n_texts - len(rows), self._n_texts]
                columns.append({"name": name, "kind": kind, "dtype": dtype, "storage": storage, "span": span})
            elif kind == "json":
                columns.append({"name": name, "kind": kind, "values": [data[i] for i in at]})
            else:
                columns.append({"name": name, "kind": kind, "dtype": meta, "values": [data[i] for i in at]})
        entry: dict[str, Any] = {"rows": len(rows), "columns": columns}
        entry.update(table.rest)
        return entry

    def _text(self, values: object) -> list[int]:
        """Keep a column of text (as Arrow holds it, without a Python string each)."""
        got = pa.array(values)
        chunks = got.chunks if isinstance(got, pa.ChunkedArray) else [got]
        self._texts += [c if c.type == pa.large_string() else c.cast(pa.large_string()) for c in chunks]
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
        blobs: list[memoryview] = []
        counts: list[np.ndarray] = [np.zeros(0, np.int64)]
        for g in self._geoms:  # (WKB made here, or pieces of a Wkb made once)
            if isinstance(g, tuple):
                blobs += g[0]
                counts.append(g[1])
            else:
                made, n = wkb_arrays(g)
                blobs.append(made.data)
                counts.append(n)
        lengths = np.concatenate(counts)
        blob = Pieces(blobs, int(np.maximum(lengths, 0).sum()))  # (joined once, with every other array)
        text = json.dumps(manifest, ensure_ascii=False, default=plain_value)
        own: dict[str, np.ndarray | Pieces] = {
            "_manifest": np.array([text], dtype=object),
            "_wkb": blob,
            "_wkb_len": lengths,
        }
        if self._texts:  # one Arrow column of every text, as an Arrow IPC stream (data only)
            sink = pa.BufferOutputStream()
            batch = pa.record_batch([pa.concat_arrays(self._texts)], names=["text"])
            with pa.ipc.new_stream(sink, batch.schema) as out:
                out.write_batch(batch)
            own["_text"] = np.frombuffer(sink.getvalue(), np.uint8)
        return pack_arrays({**self.arrays, **self._own, **own})


class Wkb:
    """Geometries as WKB made once (:func:`wkb_arrays`), to keep some of them at the cost of their bytes.

    ``pieces(rows)`` gives the bytes ``wkb_arrays(geoms[rows])`` would make, in pieces.
    """

    def __init__(self, geoms: object) -> None:
        self.blob, self.lengths = wkb_arrays(np.asarray(geoms, dtype=object).reshape(-1))
        self.ends = np.cumsum(np.maximum(self.lengths, 0))
        self.starts = self.ends - np.maximum(self.lengths, 0)

    def __len__(self) -> int:
        return len(self.lengths)

    def pieces(self, rows: np.ndarray) -> tuple[list[memoryview], np.ndarray]:
        """The WKB of the geometries ``rows`` and each one's length (-1: None).

        The WKB is left in pieces of the blob: a run of consecutive rows is one.
        """
        rows = np.asarray(rows, np.int64).reshape(-1)
        if not len(rows):
            return [], np.zeros(0, np.int64)
        cut = np.flatnonzero(np.diff(rows) != 1)
        first, last = rows[np.r_[0, cut + 1]], rows[np.r_[cut, len(rows) - 1]]
        blob = self.blob.data
        spans = zip(self.starts[first].tolist(), self.ends[last].tolist(), strict=True)
        return [blob[i:j] for i, j in spans], self.lengths[rows]


class Rows:
    """A table converted once, column by column, for :meth:`Packer.rows` to keep any of its rows.

    Its geometries as WKB (:class:`Wkb`), its text as one Arrow column, the JSON values of its
    other columns: keeping some rows then costs those rows, not a pandas table cut per use. A
    table :meth:`Packer.table` would refuse, or one of columns it keeps otherwise, is kept as
    it is (``columns`` None) and cut per use.
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.columns: list[tuple[str, str, Any, Any]] | None = None  # (kind, name, data, what the entry says)
        self.rest: dict[str, Any] = {}  # the entry's keys after its columns
        self.has_values = False  # whether a column is kept as JSON values
        try:
            self._convert()
        except TypeError:
            self.columns = None

    def _convert(self) -> None:
        df = self.df
        if not all(isinstance(c, str) for c in df.columns) or df.columns.has_duplicates:
            raise TypeError("column names are not distinct text")
        none = df.iloc[np.zeros(0, np.int64)].reset_index(drop=True)  # (what a cut keeps of the table)
        columns = []
        for (name, s), dtype in zip(pd.DataFrame(df, copy=False).items(), none.dtypes, strict=True):
            if s.dtype != dtype:
                raise TypeError(f"column {name!r}: its dtype changes when cut")
            columns.append(self._column(str(name), s, none[name]))
        self.columns = columns
        self.has_values = any(c[0] in ("json", "values") for c in columns)
        if isinstance(none, gpd.GeoDataFrame):
            self.rest["geometry"] = none.active_geometry_name
        if none.attrs:
            self.rest["attrs"] = plain_value(none.attrs)

    @staticmethod
    def _column(name: str, s: pd.Series, none: pd.Series) -> tuple[str, str, Any, Any]:
        """One column as :meth:`Packer._column` keeps it (TypeError: one it keeps otherwise, or refuses)."""
        dtype = s.dtype
        if isinstance(dtype, gpd.array.GeometryDtype):
            crs = s.array.crs
            return "geometry", name, Wkb(s.array), (crs.srs or crs.to_wkt()) if crs is not None else None
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            return "array", name, s.to_numpy(), None
        if isinstance(dtype, pd.StringDtype):
            got, empty = pa.array(s.array), pa.array(none.array)
            chunks = got.chunks if isinstance(got, pa.ChunkedArray) else [got]
            whole = pa.concat_arrays(
                [pa.array([], pa.large_string())]
                + [c if c.type == pa.large_string() else c.cast(pa.large_string()) for c in chunks]
            )
            n_empty = empty.num_chunks if isinstance(empty, pa.ChunkedArray) else 1
            return "text", name, whole, (str(dtype), dtype.storage, n_empty)
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            return "json", name, [plain_value(v) for v in s.tolist()], None
        if pd.api.types.pandas_dtype(str(dtype)) != dtype:
            raise TypeError(f"column {name!r}: cannot keep a column of dtype {dtype!r} in arrays")
        got = cast("Any", s).to_numpy(dtype=object, na_value=None).tolist()
        return "values", name, [plain_value(v) for v in got], str(dtype)


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
        except DAMAGE as err:
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
        except DAMAGE as err:
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
            crs = crs_of(col["crs"]) if col.get("crs") else None
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
                np.fromiter((from_json_text(x) for x in values), dtype=object, count=len(values)), dtype=object
            )
        if kind == "values":  # (pandas-stubs know a few dtypes here)
            return pd.array(values, dtype=cast("Any", pd.api.types.pandas_dtype(col["dtype"])))
        raise ValueError(f"column {col['name']!r} of an unknown kind {kind!r}")
