"""A batch's part packed for its way to a worker (geo.batch.PackedPart on geo.packing.Packer and
pack_arrays): no pickle, every field back exactly as it was, and damaged or rewritten bytes refused
with a StoreError, never run."""

import dataclasses
import json
import pickle
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal

from geo.packing import PACK_MAGIC, Packer, Pieces, Rows, Unpacked, Wkb, pack_arrays, unpack_arrays
from geo.store import StoreError

ROOT = Path(__file__).resolve().parents[2]
STATIONS = ROOT / "tests" / "data" / "binjiang_stations_gcj02_gbk.csv"
HEAD = len(PACK_MAGIC) + 12  # the magic, the header's length (8 bytes) and the CRC-32 (4)


def wkb(geoms) -> list:
    return list(shapely.to_wkb(np.asarray(geoms, dtype=object).reshape(-1)))


def assert_table_equal(a, b, name: str) -> None:
    """Same type, columns, dtypes, index, CRS, geometry (WKB) and values (object values of the same types)."""
    assert type(a) is type(b), name
    if a is None:
        return
    assert list(a.columns) == list(b.columns), name
    assert list(a.dtypes) == list(b.dtypes), name
    assert type(a.index) is type(b.index), name
    assert a.index.equals(b.index), name
    assert a.index.name == b.index.name, name
    geoms = [c for c in a.columns if isinstance(a[c].dtype, gpd.array.GeometryDtype)]
    if isinstance(a, gpd.GeoDataFrame):
        assert a.active_geometry_name == b.active_geometry_name, name
    for c in geoms:
        assert a[c].array.crs == b[c].array.crs, (name, c)
        assert wkb(a[c].array) == wkb(b[c].array), (name, c)
    rest = [c for c in a.columns if c not in geoms]
    assert_frame_equal(pd.DataFrame(a[rest]), pd.DataFrame(b[rest]), check_exact=True, obj=name)
    for c in rest:
        if a[c].dtype == object:
            assert [(type(v), v) for v in a[c]] == [(type(v), v) for v in b[c]], (name, c)


def assert_same(a, b, name) -> None:
    """Equal, of the same type; arrays of the same dtype and shape (object ones of values of the same types)."""
    assert type(a) is type(b), name
    if isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        assert np.array_equal(a, b), name
        if a.dtype == object:
            assert [type(v) for v in a] == [type(v) for v in b], name
    elif isinstance(a, shapely.Geometry):
        assert wkb([a]) == wkb([b]), name
    else:
        assert a == b, name


def assert_part_equal(part, got) -> None:
    """Every field of the part, its area, its base (network, homes, land, tables) and its files."""
    from geo.batch import Part

    assert [f.name for f in dataclasses.fields(Part)] == ["key", "area", "base", "files"]
    assert got.key == part.key
    for f in dataclasses.fields(part.area):
        assert_same(getattr(part.area, f.name), getattr(got.area, f.name), f.name)
    for f in dataclasses.fields(part.base):
        a, b = getattr(part.base, f.name), getattr(got.base, f.name)
        if f.name in ("network", "homes"):
            for g in dataclasses.fields(a):
                assert_same(getattr(a, g.name), getattr(b, g.name), (f.name, g.name))
        elif f.name == "land_source":
            assert wkb(part.base.land) == wkb(got.base.land)
        elif f.name in ("osm_facilities", "extras"):
            assert list(a) == list(b), f.name
            for k in a:
                assert_table_equal(a[k], b[k], f"{f.name}[{k}]")
        elif f.name in ("admin", "places"):
            assert_table_equal(a, b, f.name)
        else:
            assert_same(a, b, f.name)
    assert list(part.files) == list(got.files)
    for k, (t, origin) in part.files.items():
        assert_table_equal(t, got.files[k][0], f"files[{k}]")
        assert got.files[k][1] == origin


def reseal(header: dict, body: bytes) -> bytes:
    """A buffer of pack_arrays' layout with this header and body, and a right checksum."""
    text = json.dumps(header).encode()
    rest = text + body
    return PACK_MAGIC + len(text).to_bytes(8, "little") + zlib.crc32(rest).to_bytes(4, "little") + rest


def parts_of(packed: bytes) -> tuple[dict, bytes]:
    """The header and the body of a pack_arrays buffer."""
    size = int.from_bytes(packed[len(PACK_MAGIC) : len(PACK_MAGIC) + 8], "little")
    return json.loads(packed[HEAD : HEAD + size]), packed[HEAD + size :]


# ------------------------------------------------------------------------------ tables, made up


def every_kind_of_column() -> gpd.GeoDataFrame:
    df = gpd.GeoDataFrame(
        {
            "i": np.array([1, 2, 3], np.int64),
            "f": [1.5, np.nan, -0.0],
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01", "NaT", "2025-06-30"]),
            "s": pd.array(["a", None, "中文"], dtype="str"),
            "s_na": pd.array(["x", None, ""], dtype="string"),
            "s_py": pd.array(["p", None, "q"], dtype=pd.StringDtype("python")),
            "o": pd.Series(["x", None, ("a", (1, 2.5))], dtype=object),
            "o_text": pd.Series(["a", "b", "c"], dtype=object),  # object stays object (not str)
            "n": pd.array([1, None, 3], dtype="Int64"),
            "other": gpd.GeoSeries([shapely.LineString([(0, 0), (1, 1)]), shapely.Point(5, 5), None], crs=3857),
            "geometry": gpd.GeoSeries([shapely.Point(1, 2), None, shapely.Polygon()], crs=4326),
        },
        geometry="geometry",
    )
    df.index = pd.Index([10, 20, 30], name="row")
    return df


def test_tables_of_every_kind_of_column_come_back_as_they_were():
    tables = {
        "all": every_kind_of_column(),
        "plain": pd.DataFrame({"a": [1.0, 2.0], "b": pd.array(["x", None], dtype="str")}),
        "empty": every_kind_of_column().iloc[:0],
        "no crs": gpd.GeoDataFrame({"k": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)]),
        "none": None,
    }
    pk = Packer()
    pk.arrays["mine"] = np.arange(5)
    entries = {k: pk.table(v) for k, v in tables.items()}
    span = pk.geometries([shapely.Point(0, 0), None])
    data = pk.pack({"tables": entries, "span": span})
    assert data.startswith(PACK_MAGIC)
    got = Unpacked(data, names=("mine",))
    assert np.array_equal(got.arrays["mine"], np.arange(5))
    assert wkb(got.geometries(got.manifest["span"])) == wkb([shapely.Point(0, 0), None])
    for k, v in tables.items():
        assert_table_equal(v, got.table(got.manifest["tables"][k]), k)


def cut_by_table(tables: dict, picks: dict) -> bytes:
    """The buffer of Packer.table for each table's rows picks[k], cut with pandas (the reference)."""
    pk = Packer()
    entries = {k: pk.table(t.iloc[picks[k]].reset_index(drop=True)) for k, t in tables.items()}
    return pk.pack({"t": entries, "g": pk.geometries([shapely.Point(9, 9)])})


def cut_by_rows(tables: dict, picks: dict) -> bytes:
    """The same through Rows converted once and Packer.rows."""
    pk = Packer()
    entries = {k: pk.rows(Rows(t), np.asarray(picks[k], np.int64)) for k, t in tables.items()}
    return pk.pack({"t": entries, "g": pk.geometries([shapely.Point(9, 9)])})


def test_rows_of_a_converted_table_pack_as_the_table_cut_by_pandas():
    many = pd.concat([every_kind_of_column()] * 4)
    many.attrs["note"] = "kept"
    tables = {
        "all": many,
        "texts only": pd.DataFrame({"s": pd.array(["a", None, "b"], dtype="str")}),
        "no crs": gpd.GeoDataFrame(
            {"k": ["a", "b", "c"]}, geometry=[shapely.box(0, 0, 1, 1), None, shapely.Point(1, 1)]
        ),
    }
    assert Rows(tables["all"]).columns is not None
    categorical = Rows(pd.DataFrame({"c": pd.Categorical(["a", "b", "a"])}))
    assert categorical.columns is None  # (left to Packer.table, which refuses it)
    with pytest.raises(TypeError, match="Categorical"):
        Packer().rows(categorical, np.array([0]))
    for picks in ([0, 1, 2], [2], [], [0, 2]):
        picked = {
            k: [i for i in picks if i < len(t)] if k != "all" else [*picks, 5, 6, 7, 11] for k, t in tables.items()
        }
        assert cut_by_rows(tables, picked) == cut_by_table(tables, picked), picks
    none: dict[str, list[int]] = {k: [] for k in tables}
    assert cut_by_rows(tables, none) == cut_by_table(tables, none)
    texts = {"texts only": tables["texts only"]}  # no text at all: no Arrow stream, as Packer.table
    assert cut_by_rows(texts, {"texts only": []}) == cut_by_table(texts, {"texts only": []})
    with pytest.raises(TypeError, match="distinct text"):
        Packer().rows(Rows(pd.DataFrame({1: [1.0]})), np.array([0]))
    got = Unpacked(cut_by_rows(tables, {k: [0, 2] for k in tables}))
    assert_table_equal(got.table(got.manifest["t"]["all"]), many.iloc[[0, 2]].reset_index(drop=True), "all")


def test_wkb_made_once_gives_the_wkb_of_the_geometries_taken():
    geoms = np.array(
        [shapely.Point(i, i) if i % 3 else None for i in range(10)] + [shapely.box(0, 0, 2, 1)], dtype=object
    )
    made = Wkb(geoms)
    for rows in ([], [0], [1, 2, 3], [0, 1, 2, 5, 6, 10], list(range(11)), [10]):
        pieces, lengths = made.pieces(np.array(rows, np.int64))
        blob = b"".join(pieces)
        picked = geoms[rows]
        assert lengths.tolist() == [-1 if g is None else len(shapely.to_wkb(g)) for g in picked]
        assert blob == b"".join(shapely.to_wkb(g) for g in picked if g is not None)


def test_bytes_given_in_pieces_pack_as_the_joined_array():
    parts = [b"abc", b"", b"\x00\xff" * 40, b"z"]
    joined = np.frombuffer(b"".join(parts), np.uint8)
    for given in (parts, []):
        whole = np.frombuffer(b"".join(given), np.uint8)
        arrays = {"x": np.arange(3.0), "t": np.array(["a", "中"], dtype=object)}
        pieces = Pieces([memoryview(b) for b in given], len(whole))
        assert pack_arrays({**arrays, "b": pieces, "y": np.ones(2)}) == pack_arrays(
            {**arrays, "b": whole, "y": np.ones(2)}
        )
    assert np.array_equal(
        unpack_arrays(pack_arrays({"b": Pieces([memoryview(b) for b in parts], len(joined))}))["b"], joined
    )


def test_what_could_not_come_back_as_it_was_is_refused():
    with pytest.raises(TypeError, match="Categorical"):
        Packer().table(pd.DataFrame({"c": pd.Categorical(["a", "b"])}))
    with pytest.raises(TypeError, match="distinct text"):
        Packer().table(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(TypeError, match="distinct text"):
        Packer().table(pd.DataFrame({1: [1.0]}))
    with pytest.raises(TypeError, match="index"):
        Packer().table(pd.DataFrame({"a": [1.0]}, index=["x"]))
    pk = Packer()
    pk.arrays["_x"] = np.zeros(1)
    with pytest.raises(ValueError, match="packer's own"):
        pk.pack({})


def test_arrays_come_back_as_write_arrays_keeps_them():
    arrays: dict[str, np.ndarray] = {
        "f": np.arange(12, dtype=np.float64).reshape(3, 4),
        "i": np.array([-1, 2**40], np.int64),
        "u": np.array([1, 2, 3], np.uint8),
        "empty": np.zeros((0, 2)),
        "scalar": np.array(7, np.int32),
        "text": np.array(["a", "", "中文"], dtype=object),
        "nul": np.array(["a\x00b"], dtype=object),  # (kept as fixed-width text)
    }
    got = unpack_arrays(pack_arrays(arrays), names=("f",), text=("text", "nul"))
    assert list(got) == list(arrays)
    for k, v in arrays.items():
        assert (got[k].dtype, got[k].shape) == (v.dtype, v.shape), k
        assert got[k].tolist() == v.tolist(), k
        assert got[k].flags.writeable, k
    with pytest.raises(StoreError, match="arrays missing: g"):
        unpack_arrays(pack_arrays(arrays), names=("g",))


# ------------------------------------------------------------------------------ damage


class Planted:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_cut_or_changed_bytes_are_refused(tmp_path):
    pk = Packer()
    pk.arrays["x"] = np.arange(100.0)
    entry = pk.table(every_kind_of_column())
    data = pk.pack({"t": entry})
    for cut in (0, 5, len(PACK_MAGIC), HEAD, HEAD + 10, len(data) // 2, len(data) - 1):
        with pytest.raises(StoreError):
            Unpacked(data[:cut])
    for at in (0, len(PACK_MAGIC) + 9, HEAD + 3, len(data) // 2, len(data) - 1):  # magic, CRC, header, arrays
        changed = bytearray(data)
        changed[at] ^= 0x41
        with pytest.raises(StoreError):
            Unpacked(bytes(changed))
    marker = tmp_path / "pickle-ran"
    with pytest.raises(StoreError):
        Unpacked(np.frombuffer(data, np.uint8)[::2].data)  # (not contiguous)
    for planted in (pickle.dumps(Planted(marker)), PACK_MAGIC + bytes(12) + pickle.dumps(Planted(marker))):
        with pytest.raises(StoreError):
            Unpacked(planted)
    assert not marker.exists()


def test_a_rewritten_buffer_with_a_right_checksum_is_refused_and_runs_nothing(tmp_path):
    """What a checksum cannot catch (bytes rewritten on purpose) is refused by the checks of what is read."""
    header, body = parts_of(pack_arrays({"x": np.arange(4.0)}))
    (name, dtype, _, at, nbytes) = header["arrays"][0]
    assert unpack_arrays(reseal(header, body))["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    marker = tmp_path / "pickle-ran"
    bad = {
        "object dtype": [[name, "|O", [4], at, 32]],
        "object field": [[name, [["a", "|O"]], [4], at, 32]],
        "beyond the end": [[name, dtype, [4], len(body) - 8, nbytes]],
        "before the start": [[name, dtype, [4], -8, nbytes]],
        "wrong size": [[name, dtype, [5], at, nbytes]],
        "negative shape": [[name, dtype, [-4], at, -32]],
        "overflowing shape": [[name, dtype, [2**32, 2**32, 2**32 + 1], at, 8 * 2**32 * 2**32 * (2**32 + 1)]],
        "not a list": {"x": 1},
    }
    for why, listed in bad.items():
        with pytest.raises(StoreError):
            unpack_arrays(reseal({"arrays": listed}, body))
        assert why
    pickled = pickle.dumps(np.array([Planted(marker)], dtype=object))
    with pytest.raises(StoreError):
        unpack_arrays(reseal({"arrays": [[name, "|O", [1], 0, len(pickled)]]}, pickled))
    assert not marker.exists()


def test_a_rewritten_manifest_gives_a_store_error():
    pk = Packer()
    entry = pk.table(every_kind_of_column())
    arrays = unpack_arrays(pk.pack({"t": entry}))
    assert json.loads(arrays["_manifest"][0])["t"] == json.loads(json.dumps(entry))

    def table_of(change) -> None:
        e = json.loads(json.dumps(entry))
        change(e)
        u = Unpacked(pack_arrays({**arrays, "_manifest": np.array([json.dumps({"t": e})], dtype=object)}))
        u.table(u.manifest["t"])

    table_of(lambda _: None)  # (unchanged, it reads)
    changes = [
        lambda e: e["columns"][0].update(kind="pickle"),
        lambda e: e["columns"][0].update(at="_999"),
        lambda e: e["columns"][-1].update(span=[0, 10**6]),
        lambda e: e["columns"][4].update(span=[2, 1]),
        lambda e: e["columns"][7].update(values=[1]),
        lambda e: e["columns"][7].update(values="x"),
        lambda e: e["columns"][-1].update(crs="EPSG:no such"),
        lambda e: e["columns"][9].update(dtype="no such dtype"),
        lambda e: e.update(rows=4),
        lambda e: e.pop("columns"),
        lambda e: e["columns"].append(e["columns"][0]),
    ]
    for change in changes:
        with pytest.raises(StoreError):
            table_of(change)
    with pytest.raises(StoreError):
        Unpacked(pack_arrays({**arrays, "_manifest": np.array(["[1, 2]"], dtype=object)}))
    with pytest.raises(StoreError):
        Unpacked(pack_arrays({**arrays, "_wkb_len": np.array([5, 5])}))


# ------------------------------------------------------------------------------ real parts


@pytest.fixture(scope="module")
def merged_bases(merged_path, cache_dir):
    """The merged extract's base as the batch reads it (built or from the cache) and read back from the cache."""
    from geo.base import load_base, read_base
    from geo.plan import PlanInputs, PlanParams

    base = load_base(PlanInputs(osm=merged_path), PlanParams(cache_dir=cache_dir))
    assert base.key is not None
    return {"loaded": base, "cached": dataclasses.replace(read_base(Path(cache_dir) / base.key), source=base.source)}


@pytest.mark.parametrize("which", ["loaded", "cached"])
def test_every_street_part_of_the_merged_extract_unpacks_to_the_part(merged_bases, which):
    from geo.batch import PackedPart, Partition, list_areas
    from geo.plan import PlanInputs, PlanParams, read_layer_files

    base = merged_bases[which]
    files, _ = read_layer_files(PlanInputs(layer_files={"stations": STATIONS}, crs="gcj02"))
    partition = Partition(base, PlanParams(), files)
    areas = [a for a in list_areas("level=8", admin=base.admin) if a.problem is None]
    assert len(areas) >= 20
    seen = {"land": 0, "files": 0, "homes": 0}
    for area in areas:
        part = partition.part(area)
        packed = PackedPart.pack(part)
        assert packed.key == part.key
        assert packed.data.dtype == np.uint8
        assert bytes(packed.data[: len(PACK_MAGIC)]) == PACK_MAGIC
        # as Dask sends it: pickled with the bytes out of band
        buffers: list = []
        sent = pickle.loads(pickle.dumps(packed, protocol=5, buffer_callback=buffers.append), buffers=buffers)
        assert len(buffers) == 1
        assert_part_equal(part, sent.unpack())
        # the driver's way (rows of tables converted once) packs the same bytes
        assert bytes(partition.packed(area).data) == bytes(packed.data), area.key
        seen["land"] += len(part.base.land)
        seen["files"] += len(part.files["stations"][0])
        seen["homes"] += len(part.base.homes)
    assert all(seen.values()), seen


def test_a_damaged_part_gives_a_store_error(merged_bases):
    from geo.batch import PART_VERSION, PackedPart, Partition, list_areas
    from geo.plan import PlanParams

    base = merged_bases["cached"]
    area = next(a for a in list_areas("level=8", admin=base.admin) if a.problem is None)
    packed = PackedPart.pack(Partition(base, PlanParams(), {}).part(area))
    data = packed.data.tobytes()
    for cut in (10, len(data) // 3, len(data) - 1):
        with pytest.raises(StoreError, match=area.key):
            PackedPart(packed.key, np.frombuffer(data[:cut], np.uint8)).unpack()
    arrays = unpack_arrays(data)
    doc = json.loads(arrays["_manifest"][0])
    same = pack_arrays({**arrays, "_manifest": np.array([json.dumps(doc)], dtype=object)})
    assert PackedPart(packed.key, np.frombuffer(same, np.uint8)).unpack().key == packed.key  # (unchanged, it reads)
    changes = {
        "version": lambda d: d.update(version=PART_VERSION + 1),
        "kind": lambda d: d.update(kind="service-circles/base"),
        "area shapes": lambda d: d.update(shapes=[0, 1]),
        "level": lambda d: d["area"].update(level=["street"]),
        "a table": lambda d: d["admin"].update(rows=-1),
        "files": lambda d: d.update(files={"stations": [None]}),
        "not a mapping": lambda d: d.update(base=[]),
    }
    for why, change in changes.items():
        d = json.loads(json.dumps(doc))
        change(d)
        rewritten = pack_arrays({**arrays, "_manifest": np.array([json.dumps(d)], dtype=object)})
        with pytest.raises(StoreError, match=area.key):
            PackedPart(packed.key, np.frombuffer(rewritten, np.uint8)).unpack()
        assert why
    homes = {**arrays, "homes.xy": arrays["homes.xy"][:-1]}
    with pytest.raises(StoreError, match="home arrays disagree"):
        PackedPart(packed.key, np.frombuffer(pack_arrays(homes), np.uint8)).unpack()


def test_a_text_column_rewritten_under_a_right_checksum_gives_a_store_error():
    """pyarrow raises OSError (ArrowIOError, not an ArrowException) for a broken IPC stream: still a StoreError."""
    pk = Packer()
    data = bytearray(pk.pack({"t": pk.table(pd.DataFrame({"s": pd.array(["a", "b"], dtype="string")}))}))
    header, body = parts_of(bytes(data))
    (_, _, _, at, _) = next(e for e in header["arrays"] if e[0] == "_text")
    body = body[:at] + b"\xff" * 8 + body[at + 8 :]  # the Arrow stream's first bytes
    with pytest.raises(StoreError, match="damaged"):
        Unpacked(reseal(header, body))
