"""geo.cells: a table's cells taken out once; its CSV byte for byte as pandas writes it."""

import numpy as np
import openpyxl
import pandas as pd
import pytest

import geo.tables
from api.outputs import _csv_writer, _workbook
from geo.cells import Cells, csv_safe, write_csv
from geo.tables import check_sheet

TEXT = ["a,b", 'say "hi"', "two\nlines", "=1+2", "-2至站厅", None, "", " x ", "长河街道", "\rx", "@", "ok"]


def _tricky() -> pd.DataFrame:
    n = len(TEXT)
    floats = [1e16, 1e-5, 0.1 + 0.2, np.nan, -0.0, np.inf, -np.inf, 123456789.123456789, 1e15, 5e-324, 0.5, 2.0]
    return pd.DataFrame(
        {
            "text": pd.Series(TEXT, dtype=object),
            "str": pd.Series(TEXT, dtype="str"),
            "f": floats,
            "i": np.arange(n, dtype=np.int64) - 5,
            "u": np.arange(n, dtype=np.uint8),
            "b": [True, False] * (n // 2),
            "mixed": [-3, "-3", 2.5, "=x", None, True, np.nan, pd.NA, np.int64(7), 1.0, "a", ""],
            "名称": ["x"] * n,
        }
    )


def _pandas_csv(table: pd.DataFrame, path) -> bytes:
    csv_safe(table).to_csv(path, index=False, encoding="utf-8-sig")
    return path.read_bytes()


@pytest.mark.parametrize(
    "make",
    [
        _tricky,
        lambda: _tricky().iloc[:0],  # headers only
        lambda: pd.DataFrame(columns=["layer", "id", "name"]),  # an empty facility table
        lambda: _tricky().assign(when=pd.Timestamp("2026-01-01")),  # dates: pandas writes it
        lambda: _tricky().assign(n=pd.array([1, None] * 6, dtype="Int64")),  # nullable numbers: pandas
        lambda: pd.DataFrame({1: [1.5, 2.0], "x": ["a", "-b"]}),  # a header that is not text: pandas
        lambda: pd.DataFrame(index=range(3)),  # no columns
    ],
)
def test_write_csv_gives_pandas_bytes(make, tmp_path):
    table = make()
    write_csv(Cells.of(table), tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == _pandas_csv(table, tmp_path / "pandas.csv")
    _csv_writer(table)(tmp_path / "w.csv")  # the plan's writer, given a frame
    assert (tmp_path / "w.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_the_tricky_table_is_written_here_not_by_pandas(tmp_path, monkeypatch):
    table = _tricky()
    expected = _pandas_csv(table, tmp_path / "pandas.csv")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("pandas' to_csv was called")

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)
    write_csv(Cells.of(table), tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == expected
    text = expected.decode("utf-8-sig")
    for written in ("'=1+2", "'-2至站厅", "1e+16", ",-5,", '"a,b"', '"say ""hi"""', '"two\nlines"'):
        assert written in text


def test_cells_hold_each_columns_values_as_a_column_gives_them():
    table = _tricky()
    cells = Cells.of(table)
    assert cells.kinds == ("T", "T", "f", "i", "i", "b", "T", "T")
    assert len(cells) == len(table)
    for j, values in enumerate(cells.columns):
        one = table.iloc[:, j].to_numpy(dtype=object)
        assert [type(v) for v in values] == [type(v) for v in one]
        assert pd.Series(values, dtype=object).equals(pd.Series(one, dtype=object))
    dated = Cells.of(table.assign(when=pd.Timestamp("2026-01-01")))  # taken a column at a time
    assert dated.kinds[-1] == ""
    assert isinstance(dated.columns[-1][0], pd.Timestamp)


def test_check_sheet_says_the_same_of_a_frame_and_its_cells(monkeypatch):
    monkeypatch.setattr(geo.tables, "EXCEL_TEXT", 10)
    long = pd.DataFrame(
        {"n": [1, 2, 3], "name": ["x", "y" * 11, "z" * 12], "s": pd.Series(["a", None, "b"], dtype="str")}
    )
    for table in (long, Cells.of(long)):
        with pytest.raises(ValueError, match=r"sheet 's', row 4, column 'name' holds 12 characters"):
            check_sheet(table, file="f.xlsx", sheet="s")
    monkeypatch.setattr(geo.tables, "EXCEL_ROWS", 3)
    for table in (long, Cells.of(long)):
        with pytest.raises(ValueError, match=r"f\.xlsx: sheet 's' would need 4 rows"):
            check_sheet(table, file="f.xlsx", sheet="s")


def test_the_workbook_writes_each_kind_of_cell(tmp_path):
    table = pd.DataFrame(
        {
            "mixed": [None, np.nan, True, np.int64(3), 0.5, "x", "=1+2", np.float64(1.5)],
            "People covered": np.arange(8, dtype=np.int64),
            "Share of people": [0.25, np.nan, 1.0, 1.5, -0.1, 0.0, 1, 0.5],
            "ok": [True, False] * 4,
        }
    )
    for k, sheets in enumerate(
        ({"summary": table, "coverage": table}, {"summary": Cells.of(table), "coverage": table})
    ):
        _workbook(tmp_path / f"{k}.xlsx", sheets)
        ws = openpyxl.load_workbook(tmp_path / f"{k}.xlsx")["summary"]
        rows = list(ws.iter_rows(min_row=2, max_row=9))
        assert [r[0].value for r in rows] == [None, None, True, 3, 0.5, "x", "=1+2", 1.5]
        assert [r[0].data_type for r in rows][2:] == ["b", "n", "n", "s", "s", "n"]
        assert [r[1].value for r in rows] == list(range(8))
        assert [r[2].value for r in rows] == [0.25, None, 1, 1.5, -0.1, 0, 1, 0.5]
        shares = [r[2].number_format for r in rows]
        assert shares == ["0.0%", "General", "0.0%", "General", "General", "0.0%", "0.0%", "0.0%"]
        assert {r[1].number_format for r in rows} == {"General"}  # not a share column
        assert [r[3].value for r in rows] == [True, False] * 4
        assert [c.value for c in ws[11]] == ["mixed", "People covered", "Share of people", "ok"]  # the second table


def _same_cells(a: Cells, b: Cells) -> None:
    assert (a.heads, a.kinds, a.rows) == (b.heads, b.kinds, b.rows)
    for x, y in zip(a.columns, b.columns, strict=True):
        assert [type(v) for v in x] == [type(v) for v in y]
        assert pd.Series(x, dtype=object).equals(pd.Series(y, dtype=object))


def test_localised_cells_are_the_cells_of_the_localised_frame(binjiang_plan, tmp_path):
    from geo.tables import localised, localised_cells, plan_tables

    tables = plan_tables(binjiang_plan).sheets()
    tables["streets"] = pd.concat([tables["streets"], tables["streets"].iloc[:1].assign(name=None)])  # unnamed
    tables["dated"] = tables["gaps"].assign(when=pd.Timestamp("2026-01-01"))  # a frame pandas writes
    for lang in ("zh", "en"):
        for name, table in tables.items():
            fast, frame = localised_cells(table, lang), localised(table, lang)
            _same_cells(fast, Cells.of(frame))
            write_csv(fast, tmp_path / "fast.csv")
            assert (tmp_path / "fast.csv").read_bytes() == _pandas_csv(frame, tmp_path / "pandas.csv"), name
        assert localised_cells(tables["streets"], lang).columns[0][-1] == localised(tables["streets"], lang).iloc[-1, 0]
    summary = localised_cells(tables["summary"], "en")
    assert summary.heads == ("Item", "Value")
    assert "Study area" in list(summary.columns[0])
    with pytest.raises(ValueError, match="lang 'fr'"):
        localised_cells(tables["summary"], "fr")
