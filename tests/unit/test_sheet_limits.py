"""What the table files can hold: Excel's row and text limits are refused, CSV formulas written as text."""

import dataclasses

import numpy as np
import openpyxl
import pandas as pd
import pytest

import geo.tables
from api.batch_merge import plain_sheet, table_writer
from api.outputs import _csv_writer, _workbook
from geo.tables import EXCEL_ROWS, EXCEL_TEXT, check_sheet, csv_safe


def test_limits_are_excels():
    # Excel's specifications: 1,048,576 rows per sheet, 32,767 characters per cell
    assert EXCEL_ROWS == 2**20 == 1_048_576
    assert EXCEL_TEXT == 2**15 - 1 == 32_767


def test_a_sheet_with_more_rows_than_excel_holds_is_refused_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(geo.tables, "EXCEL_ROWS", 5)
    fits = pd.DataFrame({"name": list("abcd")})  # header + 4 rows = 5
    plain_sheet(tmp_path / "fits.xlsx", fits)
    assert [r[0] for r in openpyxl.load_workbook(tmp_path / "fits.xlsx").active.iter_rows(values_only=True)] == [
        "name",
        *"abcd",
    ]
    big = pd.DataFrame({"name": list("abcde")})
    with pytest.raises(ValueError, match=r"streets\.xlsx: sheet 'Sheet1' would need 6 rows.*CSV"):
        plain_sheet(tmp_path / "streets.xlsx", big)
    assert not (tmp_path / "streets.xlsx").exists()
    # tables.xlsx: the summary sheet holds two tables, one below the other
    sheets = {"summary": pd.DataFrame({"item": ["a"]}), "coverage": pd.DataFrame({"x": [1.0, 2.0]}), "gaps": fits}
    with pytest.raises(ValueError, match=r"tables\.xlsx: sheet 'summary' would need 6 rows"):
        _workbook(tmp_path / "tables.xlsx", sheets)
    assert not (tmp_path / "tables.xlsx").exists()
    sheets["coverage"] = pd.DataFrame({"x": [1.0]})
    sheets["gaps"] = big
    with pytest.raises(ValueError, match=r"tables\.xlsx: sheet 'gaps' would need 6 rows"):
        _workbook(tmp_path / "tables.xlsx", sheets)
    sheets["gaps"] = fits
    _workbook(tmp_path / "tables.xlsx", sheets)
    assert openpyxl.load_workbook(tmp_path / "tables.xlsx")["gaps"].max_row == 5


def test_text_longer_than_a_cell_holds_is_refused_naming_sheet_row_and_column(tmp_path, monkeypatch):
    monkeypatch.setattr(geo.tables, "EXCEL_TEXT", 10)
    ok = pd.DataFrame({"n": [1, 2], "name": ["x" * 10, None]})
    check_sheet(ok, file="f.xlsx", sheet="s")
    long = pd.DataFrame({"n": [1, 2], "name": ["x", "y" * 11]})
    with pytest.raises(ValueError, match=r"areas\.xlsx: sheet 'Sheet1', row 3, column 'name' holds 11 characters"):
        plain_sheet(tmp_path / "areas.xlsx", long)
    assert not (tmp_path / "areas.xlsx").exists()
    with pytest.raises(ValueError, match=r"sheet 'gaps', row 3, column 'name' holds 11"):
        _workbook(tmp_path / "t.xlsx", {"summary": ok, "coverage": ok, "gaps": long})
    # on the summary sheet, below the first table: header at row 1, rows 2-3, blank, header 5, rows 6-7
    with pytest.raises(ValueError, match=r"sheet 'summary', row 7, column 'name'"):
        _workbook(tmp_path / "t.xlsx", {"summary": ok, "coverage": long})


def test_the_batch_merge_refuses_before_writing_any_file(tmp_path, monkeypatch):
    from api.batch_merge import write_merged

    monkeypatch.setattr(geo.tables, "EXCEL_ROWS", 1)  # the area table's header and one row do not fit
    area = type("A", (), {})()
    area.key, area.area = "a", type("S", (), {"name": "甲", "level": None, "source": None, "geometry": None})()
    with pytest.raises(ValueError, match=r"areas\.xlsx: sheet 'Sheet1' would need 2 rows"):
        write_merged(tmp_path, [area], {}, fmt="geojson", tiles="none", lang="zh", meta={})
    assert list(tmp_path.iterdir()) == []


NAMES = ["-2至站厅", "=1+2", "+86", "@SUM(A1)", "\tx", "\rx", "a-b", "'-1", "", None, "长河街道"]


def test_csv_safe_escapes_text_that_starts_a_formula_and_never_numbers(tmp_path):
    table = pd.DataFrame(
        {
            "name": NAMES,
            "n": [-1, -2, 3, 4, 5, 6, 7, 8, 9, 10, -11],
            "x": [-1.5, np.nan, 2.0, -0.0, 1e9, -np.inf, 0, 1, 2, 3, 4],
            "mixed": [-3, "-3", 2.5, "=x", None, True, "ok", "a", "b", "c", "d"],
            "s": pd.array(["-s", None, "t", "+u", "v", "w", "x", "y", "z", "@", "="], dtype="string"),
        }
    )
    before = table.copy()
    out = csv_safe(table)
    pd.testing.assert_frame_equal(table, before)  # the table itself is left as it was
    assert [None if pd.isna(v) else v for v in out["name"]] == [
        "'-2至站厅",
        "'=1+2",
        "'+86",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "a-b",
        "''-1",  # its own ' kept it from looking like a formula: one more, so it reads back as it was
        *NAMES[8:],
    ]
    assert out["n"].tolist() == table["n"].tolist()
    assert out["n"].dtype == table["n"].dtype
    pd.testing.assert_series_equal(out["x"], table["x"])
    assert out["mixed"].tolist() == [-3, "'-3", 2.5, "'=x", None, True, "ok", "a", "b", "c", "d"]
    assert out["s"].dtype == table["s"].dtype
    assert out["s"].isna().tolist() == table["s"].isna().tolist()
    assert out["s"].tolist()[2:4] == ["t", "'+u"]
    assert out["s"][0] == "'-s"
    assert out["s"].tolist()[-2:] == ["'@", "'="]
    clean = pd.DataFrame({"name": ["a", None], "n": [-1, 2]})
    assert csv_safe(clean) is clean
    # both CSV writers escape; numbers are written as before
    for k, write in enumerate((_csv_writer(table), table_writer(table, "csv"))):
        write(tmp_path / f"{k}.csv")
        text = (tmp_path / f"{k}.csv").read_bytes().decode("utf-8-sig")
        assert text == out.to_csv(index=False) != table.to_csv(index=False)
        first = pd.read_csv(tmp_path / f"{k}.csv", encoding="utf-8-sig", nrows=3)
        assert first["name"].tolist() == ["'-2至站厅", "'=1+2", "'+86"]
        assert first["n"].tolist() == [-1, -2, 3]
        assert "\n-2至站厅" not in text
        assert ",-11," in text
        assert "-1.5" in text


def test_escaped_csv_text_reads_back_as_it_was(tmp_path):
    """What the batch merge's fallback reads from an area's streets.csv: every text cell as written."""
    from geo.cells import csv_unescaped

    # (a bare carriage return is left out: pandas writes it unquoted and reads it as a line end)
    texts = [*[n for n in NAMES if n and "\r" not in n], "'", "''", "'a", "''=x", "'" * 3 + "+1", "a'=", "=", "-", "'\t"]
    table = pd.DataFrame({"street": texts, "people": np.arange(len(texts))})
    csv_safe(table).to_csv(tmp_path / "s.csv", index=False, encoding="utf-8-sig")
    back = csv_unescaped(pd.read_csv(tmp_path / "s.csv", encoding="utf-8-sig", keep_default_na=False))
    assert back["street"].tolist() == texts
    assert back["people"].tolist() == list(range(len(texts)))
    plain = pd.DataFrame({"street": ["'a", "b"]})
    assert csv_unescaped(plain) is plain  # nothing escaped: the table itself


def test_the_xlsx_writers_keep_such_text_as_text(tmp_path):
    table = pd.DataFrame({"name": NAMES[:4], "n": [-1, 2, 3, 4]})
    plain_sheet(tmp_path / "p.xlsx", table)
    _workbook(tmp_path / "t.xlsx", {"summary": table, "coverage": table, "gaps": table})
    for path, sheet in ((tmp_path / "p.xlsx", "Sheet1"), (tmp_path / "t.xlsx", "gaps")):
        ws = openpyxl.load_workbook(path)[sheet]
        assert [ws.cell(i, 1).value for i in range(2, 6)] == NAMES[:4]
        assert {ws.cell(i, 1).data_type for i in range(2, 6)} == {"s"}  # strings, not formulas
        assert [ws.cell(i, 2).value for i in range(2, 6)] == [-1, 2, 3, 4]


def test_a_real_plans_csv_tables_escape_a_name_starting_with_minus(binjiang_plan, tmp_path):
    from api.outputs import table_files

    facilities = binjiang_plan.facilities.copy()
    first = facilities.index[facilities["name"].notna()][0]
    facilities.loc[first, "name"] = "-2至站厅"  # a name the merged extract holds
    result = dataclasses.replace(binjiang_plan, facilities=facilities)
    table_files(result, tmp_path, lang="zh")
    text = (tmp_path / "tables" / "facilities.csv").read_text(encoding="utf-8-sig")
    assert "'-2至站厅" in text
    assert not any(cell.startswith("-2至站厅") for cell in text.replace("\n", ",").split(","))
    ws = openpyxl.load_workbook(tmp_path / "tables.xlsx")["facilities"]
    assert "-2至站厅" in {c.value for row in ws.iter_rows() for c in row}


def test_the_merge_takes_street_names_as_made_and_its_csv_escapes_them_once(tmp_path):
    """An area's merge.pack keeps its street rows as made (its streets.csv escapes them for Excel)."""
    import geopandas as gpd
    import shapely

    from api.batch_merge import MERGE_PACK, merged_tables, pack_merge, read_merge

    rows = [{"street": "-2至站厅", "community": "=1+2", "homes": 3, "people": 7}]
    gaps = gpd.GeoDataFrame({"rank": [1]}, geometry=[shapely.box(120.0, 30.0, 120.001, 30.001)], crs=4326)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / MERGE_PACK).write_bytes(pack_merge({"gaps": gaps, "circles": None}, rows, area="甲"))
    said: list[str] = []
    layers, streets = read_merge(tmp_path / "a", "甲", "geojson", warn=said.append)
    assert said == [] and list(layers) == ["gaps"]
    assert layers["gaps"]["area"].tolist() == ["甲"] and layers["gaps"].crs.to_epsg() == 4326
    assert streets.to_dict("records") == [{"area": "甲", **rows[0]}]
    merged_tables(tmp_path / "m", pd.DataFrame([{"area": "甲"}]), streets, {}, index="<html></html>")
    text = (tmp_path / "m" / "streets.csv").read_text("utf-8-sig")
    assert "'-2至站厅" in text and "''-2" not in text and "'=1+2" in text
    assert pd.read_excel(tmp_path / "m" / "streets.xlsx")["street"].tolist() == ["-2至站厅"]  # a sheet needs none


def test_a_long_error_of_a_failed_area_is_cut_in_its_row_and_kept_whole_in_coverage_json(tmp_path):
    """A failed area's error longer than an Excel cell holds does not stop the merge (it did)."""
    import json

    from api.batch_merge import ERROR_CHARS, write_merged

    area = type("A", (), {})()
    area.key, area.area = "a", type("S", (), {"name": "甲", "level": None, "source": None, "geometry": None})()
    error = "x" * (EXCEL_TEXT + 10)
    outcomes = {"a": {"key": "a", "area": "甲", "status": "failed", "error": error}}
    write_merged(tmp_path, [area], outcomes, fmt="geojson", tiles="none", lang="zh", meta={})
    shown = pd.read_csv(tmp_path / "merged" / "areas.csv", encoding="utf-8-sig")["error"][0]
    assert shown.startswith("x" * ERROR_CHARS) and "logs/a.log" in shown and len(shown) < 2 * ERROR_CHARS
    assert pd.read_excel(tmp_path / "merged" / "areas.xlsx")["error"][0] == shown
    doc = json.loads((tmp_path / "merged" / "coverage.json").read_text("utf-8"))
    assert doc["failed"] == [{"area": "甲", "error": error}]


def test_an_area_whose_layers_cannot_be_packed_is_written_without_merge_pack(binjiang_plan, tmp_path, monkeypatch):
    """A column geo.packing cannot keep (a categorical) must not fail an area whose files are written."""
    import geopandas as gpd
    import shapely

    import api.batch_merge as bm
    from api.cli_batch import write_area

    cat = gpd.GeoDataFrame({"kind": pd.Categorical(["a"])}, geometry=[shapely.Point(120.2, 30.2)], crs=4326)
    with pytest.raises(TypeError):
        bm.pack_merge({"facilities": cat}, [], area="甲")
    monkeypatch.setattr(bm, "pack_merge", lambda *_a, **_k: bm.Packer().table(cat))  # raises the same TypeError
    write_area(binjiang_plan, tmp_path / "甲", {"area": "甲"}, {"streets": []}, fmt="geojson",
               map_options={"tiles": "none"}, saved=False)
    assert (tmp_path / "甲" / "batch.json").is_file() and not (tmp_path / "甲" / bm.MERGE_PACK).exists()
    said: list[str] = []
    layers, _ = bm.read_merge(tmp_path / "甲", "甲", "geojson", warn=said.append)
    assert "circles" in layers and len(said) == 1 and "甲" in said[0]  # read from its files, and said so


def test_the_batch_merge_reads_an_areas_streets_csv_back_unescaped(tmp_path):
    """An area's streets.csv is escaped as written; the merge's fallback reads the names as they were."""
    from api.batch_merge import _area_streets

    rows = pd.DataFrame({"street": ["=HYPERLINK(1)", "长河街道", "'-x"], "community": ["+1", "-", None], "people": [1, 2, 3]})
    csv_safe(rows).to_csv(tmp_path / "streets.csv", index=False, encoding="utf-8-sig")
    back = _area_streets(tmp_path, "滨江区")
    assert back["area"].tolist() == ["滨江区"] * 3
    assert back["street"].tolist() == rows["street"].tolist()
    assert back["community"].tolist()[:2] == ["+1", "-"]
    assert back["people"].tolist() == [1, 2, 3]
