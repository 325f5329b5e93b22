"""geo.store's tables: what write_table writes (for write_bundle too) is what DataFrame.to_parquet writes, and reads back."""

import hashlib
import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

import geo.store
from geo.store import StoreError, _arrow_table, plain_value, read_bundle, read_table, write_bundle, write_table


def _table() -> gpd.GeoDataFrame:
    n = 3000  # more rows than 100 per column: pyarrow would convert the columns on a pool of threads
    rng = np.random.default_rng(5)
    return gpd.GeoDataFrame(
        {
            "name": pd.Series([f"路{i}" if i % 7 else None for i in range(n)], dtype="str"),
            "tags": [["a", i] if i % 3 else None for i in range(n)],
            "people": rng.uniform(0, 100, n),
            "count": np.arange(n),
        },
        geometry=shapely.points(rng.uniform(120, 121, n), rng.uniform(30, 31, n)),
        crs=4326,
    )


def test_write_table_writes_the_bytes_to_parquet_writes(tmp_path):
    gdf = _table()
    entry = write_table(tmp_path / "a.parquet", gdf)
    # the same conversion by hand, written by pandas
    df = pd.DataFrame(gdf).copy()
    df["tags"] = [json.dumps(v, ensure_ascii=False) for v in df["tags"]]
    df["geometry"] = shapely.to_wkb(np.asarray(gdf.geometry.values, dtype=object))
    df.to_parquet(tmp_path / "b.parquet", index=False)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert entry["json_columns"] == ["tags"]
    back = read_table(tmp_path / "a.parquet", entry)
    assert [None if v is None else list(v) for v in back["tags"]] == gdf["tags"].tolist()  # (lists come back as tuples)
    assert back["name"].tolist() == gdf["name"].tolist()
    assert np.array_equal(back["people"].to_numpy(), gdf["people"].to_numpy())
    assert shapely.equals_exact(back.geometry.values, gdf.geometry.values, tolerance=0).all()


def _by_pandas(gdf: pd.DataFrame) -> bytes:
    """What write_table wrote before its Arrow tables were made directly: the frame converted and written by pandas."""
    geom = gdf.active_geometry_name if isinstance(gdf, gpd.GeoDataFrame) else None
    df = pd.DataFrame(gdf).copy()
    for c in df.columns:
        if c != geom and df[c].dtype == np.dtype(object):
            df[c] = [json.dumps(plain_value(v), ensure_ascii=False) for v in df[c]]
    if geom is not None:
        df[geom] = shapely.to_wkb(np.asarray(gdf.geometry.values, dtype=object))
    df.columns = [str(c) for c in df.columns]
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _frames() -> dict[str, pd.DataFrame]:
    """Frames of every kind of column the plan's tables hold, and some they do not (written through pandas)."""
    n = 7
    pts = shapely.points(np.arange(n, dtype=float), np.arange(n, dtype=float))
    cols = {
        "i64": np.arange(n),
        "i32": np.arange(n, dtype=np.int32),
        "u8": np.arange(n, dtype=np.uint8),
        "f": [1.5, np.nan, 3.0, np.inf, -0.0, 2.0, 1e300],
        "f32": np.ones(n, dtype=np.float32),
        "b": [True, False] * 3 + [True],
        "s": pd.Series(["a", None, "路", "", "x\x00y", "b", "c"], dtype="str"),
        "na_s": pd.Series(["a", None, "b", "c", "d", "e", "f"], dtype="string"),
        "obj": [None, 1, 2.5, "t", ["a", 1], {"k": (1, 2)}, np.int64(3)],
        "all_none": [None] * n,
        "名": ["甲"] * n,
        5: np.zeros(n),
    }
    frames: dict[str, pd.DataFrame] = {
        "plain": pd.DataFrame(cols),
        "geo": gpd.GeoDataFrame(cols, geometry=pts, crs=4326),
        "other geometry name": gpd.GeoDataFrame({"a": np.arange(n)}, geometry=gpd.GeoSeries(pts, name="g"), crs=32650),
        "missing geometries": gpd.GeoDataFrame({"a": np.arange(3)}, geometry=[None, pts[0], None], crs=4326),
        "no geometries": gpd.GeoDataFrame({"a": np.arange(2)}, geometry=[None, None]),
        "no rows": gpd.GeoDataFrame(
            {"o": pd.Series([], dtype=object), "s": pd.Series([], dtype="str"), "f": pd.Series([], dtype=float)},
            geometry=[],
            crs=4326,
        ),
        "all NaN": gpd.GeoDataFrame({"a": [np.nan, np.nan]}, geometry=[pts[0], pts[1]], crs=4326),
        "a slice": gpd.GeoDataFrame(cols, geometry=pts, crs=4326).iloc[2:5],
        # through pandas: dtypes the direct tables leave to it, and attrs
        "category": pd.DataFrame({"c": pd.Categorical(["a", "b", "a"]), "x": [1, 2, 3]}),
        "dates": pd.DataFrame({"d": pd.to_datetime(["2024-01-01", None])}),
        "nullable ints": pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}),
    }
    with_attrs = pd.DataFrame({"x": [1, 2]})
    with_attrs.attrs["note"] = "kept"
    frames["attrs"] = with_attrs
    return frames


@pytest.mark.parametrize("big", [False, True], ids=["in memory", "written then read"])
def test_write_table_writes_what_pandas_writes_for_every_kind_of_column(tmp_path, monkeypatch, big):
    read_again: list[str] = []
    sha256_file = geo.store.sha256_file
    monkeypatch.setattr(geo.store, "sha256_file", lambda p: read_again.append(Path(p).name) or sha256_file(p))
    if big:  # every table "big" (an empty one too): written to disk, then read again for its checksum
        monkeypatch.setattr(geo.store, "IN_MEMORY", -1)
    for i, (label, frame) in enumerate(_frames().items()):
        path = tmp_path / f"{i}.parquet"
        entry = write_table(path, frame)
        data = path.read_bytes()
        assert data == _by_pandas(frame), label
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), label
        assert entry["bytes"] == len(data), label
        # the path taken: read again when big (a frame given to pandas, one with attrs, is made in memory)
        assert read_again == ([path.name] if big and isinstance(geo.store._parquet_table(frame)[1], pa.Table) else [])
        read_again.clear()
        back = read_table(path, entry)
        assert list(back.columns) == [str(c) for c in frame.columns], label
        assert len(back) == len(frame), label


def test_the_plans_tables_are_made_directly_not_through_pandas():
    # the direct path is the one taken for the columns a plan holds (else the test above checks only pandas)
    if not geo.store._DIRECT:
        pytest.skip("pandas before 3 keeps JSON texts as object columns: every table is written through pandas")
    frames = _frames()
    for label in ("plain", "geo", "other geometry name", "missing geometries", "no geometries", "no rows", "a slice"):
        frame = frames[label]
        geom = frame.active_geometry_name if isinstance(frame, gpd.GeoDataFrame) else None
        plain = pd.DataFrame(frame, copy=False)
        table = _arrow_table(plain, list(plain.items()), geom)
        assert table is not None, label
        assert table.schema.metadata == pq.read_schema(pa.BufferReader(_by_pandas(frame))).metadata, label
    for label in ("category", "dates", "nullable ints", "attrs"):
        assert _arrow_table(frames[label], list(frames[label].items()), None) is None, label


def test_a_bundle_lists_the_checksums_of_what_it_wrote(tmp_path):
    gdf = _table().iloc[:50]
    folder = write_bundle(
        tmp_path / "b",
        kind="k",
        version=1,
        meta={},
        arrays={"a": {"x": np.arange(5), "t": np.array(["a", None], dtype=object)}},
        tables={"t": gdf},
        files={"f.json": b'{"a": 1}'},
        extra=lambda tmp: [(tmp / "e.txt").write_text("e", encoding="utf-8") and "e.txt"],
    )
    files = json.loads((folder / "manifest.json").read_text("utf-8"))["files"]
    assert list(files) == ["a.npz", "t.parquet", "f.json", "e.txt"]
    for name, entry in files.items():  # each checksum made again from the file read back
        assert entry["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest(), name
        assert entry["bytes"] == (folder / name).stat().st_size, name
    assert (folder / "f.json").read_bytes() == b'{"a": 1}'
    assert (folder / "t.parquet").read_bytes() == _by_pandas(gdf)
    b = read_bundle(folder, kind="k", version=1)
    assert b.arrays("a", text=("t",))["t"].tolist() == ["a", ""]
    assert b.table("t")["people"].tolist() == gdf["people"].tolist()


def test_a_bundle_of_big_files_writes_them_first_and_lists_the_same(tmp_path, monkeypatch):
    def bundle(folder: Path) -> Path:
        return write_bundle(
            folder,
            kind="k",
            version=1,
            meta={"m": 1},
            arrays={"a": {"x": np.arange(50), "t": np.array(["a", None], dtype=object)}},
            tables={"t": _table().iloc[:50], "attrs": _frames()["attrs"], "plain": _frames()["plain"]},
        )

    small = bundle(tmp_path / "small")
    monkeypatch.setattr(geo.store, "IN_MEMORY", 0)  # every file "big": written to disk, then read to checksum
    read_again: list[str] = []
    sha256_file = geo.store.sha256_file
    monkeypatch.setattr(geo.store, "sha256_file", lambda p: read_again.append(Path(p).name) or sha256_file(p))
    big = bundle(tmp_path / "big")
    assert {"a.npz", "t.parquet", "plain.parquet"} <= set(read_again)  # (the big path was taken)
    assert sorted(p.name for p in big.iterdir()) == sorted(p.name for p in small.iterdir())
    for p in small.iterdir():
        assert (big / p.name).read_bytes() == p.read_bytes(), p.name
    read_bundle(big, kind="k", version=1)  # (checks every checksum)


def test_a_folder_replaced_inside_another_being_written_is_synced_by_the_outer_one(tmp_path, monkeypatch):
    synced: list[str] = []
    monkeypatch.setattr(geo.store, "_fsync_dir", lambda p: synced.append(Path(p).name))
    made: list[str] = []

    def outer(tmp: Path) -> None:
        made.append(tmp.name)
        geo.store.replace_folder(tmp / "inner", lambda t: made.append(t.name) or (t / "f").write_text("x"))
        synced.append("(inner moved)")

    geo.store.replace_folder(tmp_path / "out" / "outer", outer)
    outer_tmp, inner_tmp = made
    # the inner folder's content before its move, the outer one (holding the move) after it, then the outer move
    assert synced == [inner_tmp, "(inner moved)", outer_tmp, "out"]
    assert (tmp_path / "out" / "outer" / "inner" / "f").read_text() == "x"


@pytest.mark.parametrize("manifest", ["[" * 100_000 + "]" * 100_000, '{"kind": ' * 50_000 + "1" + "}" * 50_000])
def test_a_manifest_nested_too_deeply_is_a_store_error_not_a_crash(tmp_path, manifest):
    """JSON nested deeper than Python's recursion limit makes ``json.loads`` raise RecursionError,
    not ValueError: a bundle with such a manifest is refused as any damaged bundle is (a saved plan
    says so, a network cache is rebuilt), not an internal error."""
    folder = write_bundle(tmp_path / "b", kind="k", version=1, meta={}, files={"f.json": b"{}"})
    (folder / "manifest.json").write_text(manifest, encoding="utf-8")
    with pytest.raises(StoreError, match="manifest.json is not JSON"):
        read_bundle(folder, kind="k", version=1)


def test_a_bundle_of_a_newer_format_says_to_upgrade(tmp_path):
    folder = write_bundle(tmp_path / "b", kind="k", version=1, meta={}, files={"f.json": b"{}"})
    doc = json.loads((folder / "manifest.json").read_text("utf-8"))
    (folder / "manifest.json").write_text(json.dumps({**doc, "version": 99}), encoding="utf-8")
    with pytest.raises(StoreError, match="format version 99, this program reads 1: written by a newer service-circles"):
        read_bundle(folder, kind="k", version=1)
    (folder / "manifest.json").write_text(json.dumps({**doc, "version": 0}), encoding="utf-8")
    with pytest.raises(StoreError, match=r"format version 0, this program reads 1$"):
        read_bundle(folder, kind="k", version=1)
