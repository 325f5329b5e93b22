"""Writers of tables and layers: what the faster writers write reads back as what the old ones wrote."""

import os

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely

from api.batch_merge import plain_sheet
from geo.io import atomic_write, write_gpkg


def cells(path):
    """Every sheet's cells as read back: value, its type, number format, bold; and the column widths."""
    book = openpyxl.load_workbook(path)
    return {
        ws.title: (
            {
                c.coordinate: (c.value, type(c.value).__name__, c.number_format, bool(c.font.b))
                for row in ws.iter_rows()
                for c in row
                if c.value is not None
            },
            {k: d.width for k, d in ws.column_dimensions.items() if d.width},
            ws.freeze_panes,
        )
        for ws in book.worksheets
    }


def test_plain_sheet_reads_back_as_pandas_to_excel_with_openpyxl(tmp_path):
    table = pd.DataFrame(
        {
            "area": ["长河街道#1", None, "=1+2", "x"],
            "rank": [1, 2, 3, 4],
            "share": [0.5141, np.nan, np.inf, 0.1 + 0.2],
            "people": [17917.0, 0.0, -np.inf, 1e20],
            "ok": [True, False, True, False],
            "mixed": ["a", 3, True, np.nan],
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    table.to_excel(tmp_path / "old.xlsx", index=False, engine="openpyxl")
    plain_sheet(tmp_path / "new.xlsx", table)
    old, new = cells(tmp_path / "old.xlsx"), cells(tmp_path / "new.xlsx")
    assert list(new) == ["Sheet1"]
    assert new == old
    assert new["Sheet1"][0]["C4"][0] == "inf"
    assert new["Sheet1"][0]["D4"][0] == "-inf"


def test_gpkg_layers_repaired_oriented_and_lists_as_text(tmp_path):
    cw = shapely.Polygon([(120.0, 30.0), (120.0, 30.001), (120.001, 30.001), (120.001, 30.0)])
    bowtie = shapely.Polygon([(120.0, 30.0), (120.001, 30.001), (120.001, 30.0), (120.0, 30.001)])  # invalid
    layer = gpd.GeoDataFrame(
        {
            "name": ["a", None, "c"],
            "services": [["助餐", "理发"], [], None],
            "n": [1, 2, 3],
            "x": [0.5, np.nan, 2.0],
            "snapped": np.array([True, False, np.True_], dtype=object),  # yes/no as Python objects
            "open": np.array([True, None, False], dtype=object),  # with a missing one: left as it is
        },
        geometry=[cw, bowtie, shapely.Point(120.0, 30.0)],
        crs=4326,
    )
    write_gpkg(tmp_path / "a.gpkg", {"layer": layer})
    back = pyogrio.read_dataframe(tmp_path / "a.gpkg", layer="layer")
    dtypes = pyogrio.read_info(tmp_path / "a.gpkg")["dtypes"].tolist()
    assert dtypes == ["object", "object", "int64", "float64", "bool", "object"]
    assert back["snapped"].tolist() == [True, False, True]
    assert back["services"].tolist()[:2] == ["助餐、理发", ""]  # lists as text
    assert pd.isna(back["services"][2])
    assert back["n"].tolist() == [1, 2, 3]
    assert back["x"].tolist()[::2] == [0.5, 2.0]
    assert shapely.is_valid(back.geometry.values).all()
    assert shapely.LinearRing(back.geometry[0].exterior.coords).is_ccw
    assert layer.geometry[1].equals(bowtie)  # the caller's layer is left as it was
    assert layer["services"][0] == ["助餐", "理发"]


def test_tables_xlsx_written_in_memory_reads_back_as_written_in_constant_memory(binjiang_plan, tmp_path, monkeypatch):
    """tables.xlsx of a real plan: the same sheets, cells, formats, widths and frozen rows either way."""
    import xlsxwriter

    from api.outputs import _workbook
    from geo.tables import localised, plan_tables

    sheets = {name: localised(t, "zh") for name, t in plan_tables(binjiang_plan).sheets().items()}
    _workbook(tmp_path / "new.xlsx", sheets)
    workbook = xlsxwriter.Workbook

    def constant_memory(path, options):
        assert options.pop("in_memory") is True  # the writer asks for the in-memory mode
        return workbook(path, {**options, "constant_memory": True})

    monkeypatch.setattr(xlsxwriter, "Workbook", constant_memory)
    _workbook(tmp_path / "old.xlsx", sheets)
    old, new = cells(tmp_path / "old.xlsx"), cells(tmp_path / "new.xlsx")
    assert new == old
    assert len(new["gaps"][0]) > 100
    assert new["gaps"][2] == "A2"


def test_atomic_write_leaves_the_file_or_nothing(tmp_path):
    target = tmp_path / "a" / "x.csv"
    seen = []

    def write(p):
        seen.append(p)
        assert not p.exists()  # a new name the writer creates, beside the target, with the target's suffix
        assert p.parent == target.parent
        assert p.suffix == ".csv"
        p.write_text("new", encoding="utf-8")

    assert atomic_write(target, write) == target
    assert target.read_text(encoding="utf-8") == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.csv"]

    def fail(p):
        p.write_text("half", encoding="utf-8")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text(encoding="utf-8") == "new"  # the old file stays whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.csv"]  # no temporary file left
    atomic_write(target, write)
    assert seen[0] != seen[1]


def _encode_lines_one_by_one(geoms, tolerance_m):
    """encode_lines as it was first written: rounded lines made, then each line's text on its own."""
    from maps.display import DECIMALS, M_PER_DEG, SCALE

    geoms = np.asarray([g for g in geoms if g is not None], dtype=object)
    if len(geoms) == 0:
        return None
    parts = shapely.get_parts(geoms)
    parts = parts[shapely.get_type_id(parts) == 1]
    s = shapely.transform(
        shapely.simplify(parts, tolerance_m / M_PER_DEG, preserve_topology=False), lambda c: np.round(c, DECIMALS)
    )
    s = s[(shapely.get_type_id(s) == 1) & (shapely.length(s) > 0)]
    if len(s) == 0:
        return None
    lines = []
    for line in s:
        ints = np.round(shapely.get_coordinates(line) * SCALE).astype(np.int64)
        steps = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64))
        steps[0] = ints[0]
        lines.append("[" + ",".join(str(v) for v in steps.ravel()) + "]")
    return "[" + ",".join(lines) + "]"


def test_encode_lines_equals_the_text_made_line_by_line():
    from maps.display import decode_lines, encode_lines

    rng = np.random.default_rng(7)
    lines = [
        shapely.LineString(np.cumsum(rng.normal(0, 2e-4, (n, 2)), axis=0) + np.array([120.2, 30.2]))
        for n in rng.integers(2, 40, 300)
    ]
    lines += [
        shapely.LineString([(120, 30), (120, 30)]),  # no length
        shapely.LineString([(120, 30), (120.000001, 30.000001)]),  # no length once rounded
        shapely.LineString([(-120.5, -30), (-120.4, -30.2)]),  # minus signs
        shapely.MultiLineString([[(121, 31), (121.5, 31.5)], [(3, 3), (3, 3)]]),
        shapely.Point(1, 1),
        shapely.LineString(),
        None,
    ]
    for tolerance in (0.5, 4.0, 50.0):
        text = encode_lines(lines, tolerance_m=tolerance)
        assert text == _encode_lines_one_by_one(lines, tolerance)
        assert all(len(line) >= 2 for line in decode_lines(text))
    assert encode_lines([shapely.LineString([(120, 30), (120, 30)])]) is None
    assert encode_lines([]) is None


def test_digests_made_once_are_those_the_map_and_the_saved_plan_make(binjiang_plan, tmp_path):
    import json

    from api.outputs import with_digests
    from geo.basemap import table_digest
    from geo.saved import save_plan
    from maps.basemap import basemap_key

    r = binjiang_plan
    d = with_digests(r)
    assert set(d.base.extras) == set(r.base.extras)
    assert all(d.base.extras[k] is r.base.extras[k] for k in r.base.extras)  # the same tables
    assert d.base.extras.digests == {k: table_digest(t) for k, t in r.base.extras.items()}
    assert len(d.base.extras.digests) == 4  # streets, water, waterways, green
    assert with_digests(d) is d
    assert basemap_key(d) == basemap_key(r)
    meta = [
        json.loads((save_plan(x, tmp_path / name) / "manifest.json").read_text("utf-8"))["meta"]
        for x, name in ((r, "a"), (d, "b"))
    ]
    assert meta[0]["extras_digests"] == meta[1]["extras_digests"] == d.base.extras.digests
