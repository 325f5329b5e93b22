"""A table's cells as the table files write them, taken out of the frame once.

A province batch writes, for each of its ~1,900 areas, six small tables (tens of rows) as CSV files
and as the sheets of ``tables.xlsx``. On tables that small pandas' costs are per call, not per
cell: ``to_csv`` ~1 ms a file, a column taken out of a frame 10-20 µs, ``Series.map`` ~0.1 ms.
:class:`Cells` takes a table's cells out once (one object array per column), and the CSV file,
the formula escaping and the sheet checks read them from there.

:func:`write_csv` writes a table as ``csv_safe(table).to_csv(path, index=False,
encoding="utf-8-sig")`` does, byte for byte: through the standard library's ``csv`` module as
pandas does, with pandas' conversion of each column (floats as NumPy's shortest text, missing
values empty). A table with a column of another kind (dates, categories, nullable numbers) is
written by pandas itself.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: the first characters that make Excel or WPS read a CSV cell as a formula (OWASP: CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _kind(dtype: object) -> str:
    """What a column's dtype holds: ``f`` float64, ``i`` integers, ``b`` booleans, ``T`` text, ``""`` other.

    Text: an object column (any Python objects) or a pandas string column.
    """
    if isinstance(dtype, np.dtype):
        if dtype == np.float64:
            return "f"
        return {"i": "i", "u": "i", "b": "b", "O": "T"}.get(dtype.kind, "")
    return "T" if isinstance(dtype, pd.StringDtype) else ""


@dataclass(frozen=True, eq=False)
class Cells:
    """A table's cells: its headers, per column its kind (see :func:`_kind`) and its values.

    The values (an object array per column) are those of ``column.to_numpy(dtype=object)``:
    Python floats, ints and bools for NumPy columns, the objects themselves for object columns,
    text or NaN for string columns. ``frame``: the table itself, which pandas writes when a column
    is of another kind; None only when every column is of a known kind and every header is text.
    """

    heads: tuple[object, ...]
    kinds: tuple[str, ...]
    columns: tuple[np.ndarray, ...]
    rows: int
    frame: pd.DataFrame | None = None

    @classmethod
    def of(cls, table: pd.DataFrame) -> Cells:
        """The cells of ``table`` (one conversion of the whole frame when every column is of a known kind)."""
        kinds = tuple(_kind(d) for d in table.dtypes.tolist())
        if kinds and "" not in kinds:
            columns = tuple(table.to_numpy(dtype=object).T)
        else:
            columns = tuple(table.iloc[:, j].to_numpy(dtype=object) for j in range(table.shape[1]))
        return cls(tuple(table.columns.tolist()), kinds, columns, len(table), table)

    def replaced(self, heads: list[str], columns: dict[int, np.ndarray]) -> Cells:
        """These cells with other headers (text) and some columns replaced by text columns (object arrays).

        Raises
        ------
        ValueError
            When a column is of another kind than those of :func:`_kind` (pandas would write the
            table: make it as a frame).
        """
        if "" in self.kinds:
            raise ValueError("a column of another kind: make the table as a frame")
        kinds = tuple("T" if j in columns else k for j, k in enumerate(self.kinds))
        new = tuple(columns.get(j, c) for j, c in enumerate(self.columns))
        return Cells(tuple(heads), kinds, new, self.rows)

    def __len__(self) -> int:
        """The number of rows."""
        return self.rows


def risky_rows(cells: np.ndarray) -> list[int]:
    """The rows of ``cells`` whose text gets a leading ``'`` in a CSV file.

    Text Excel would read as a formula (starting with one of :data:`FORMULA_STARTS`), and text
    that only its own leading ``'`` keep from looking like one (so that :func:`csv_unescaped`
    gives every cell back as it was).
    """
    return [i for i, v in enumerate(cells) if isinstance(v, str) and v.lstrip("'").startswith(FORMULA_STARTS)]


def csv_unescaped(table: pd.DataFrame) -> pd.DataFrame:
    """A table read back from a CSV file :func:`csv_safe` escaped: its text cells as they were."""
    return _text_changed(table, lambda c: [i for i in risky_rows(c) if c[i].startswith("'")], lambda v: v[1:])


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with text that Excel would read as a formula written as text (OWASP's CSV injection advice).

    A text cell (of an object or string column; numbers are never changed) starting with one of
    :data:`FORMULA_STARTS`, after any ``'`` it starts with, gets a leading ``'``
    (:func:`risky_rows`; :func:`csv_unescaped` takes it off again). ``table`` itself when no cell
    needs it.

    Parameters
    ----------
    table
        The table about to be written as CSV.

    Returns
    -------
    pandas.DataFrame
        ``table``, or a copy with those cells escaped.
    """
    return _text_changed(table, risky_rows, lambda v: "'" + v)


def _text_changed(
    table: pd.DataFrame, rows_of: Callable[[np.ndarray], list[int]], change: Callable[[str], str]
) -> pd.DataFrame:
    """``table`` with ``change`` made to the cells ``rows_of`` picks in each text column (a copy only then)."""
    out = table
    for j, dtype in enumerate(table.dtypes.tolist()):
        if dtype.kind != "O" and not isinstance(dtype, pd.StringDtype):
            continue
        values = table.iloc[:, j]
        cells = values.to_numpy(dtype=object)
        rows = rows_of(cells)
        if rows:
            if out is table:
                out = table.copy()
            cells = cells.copy()
            cells[rows] = [change(v) for v in cells[rows]]
            out.isetitem(j, pd.Series(cells, index=values.index, dtype=values.dtype).array)
    return out


def _csv_column(kind: str, cells: np.ndarray) -> np.ndarray:
    """One column's CSV cells as pandas hands them to the ``csv`` module (text escaped as :func:`csv_safe` does)."""
    if kind == "f":  # pandas: NumPy's text of each float, missing values empty
        values = np.asarray(cells, dtype=np.float64)
        text = values.astype(str).astype(object)
        text[np.isnan(values)] = ""
        return text
    if kind == "T":
        risky = risky_rows(cells)
        missing = pd.isna(cells)
        if risky or missing.any():
            cells = cells.copy()
            cells[risky] = ["'" + v for v in cells[risky]]
            cells[missing] = ""
    return cells  # integers and booleans: the csv module's str() as for NumPy's


def write_csv(cells: Cells, path: str | Path) -> None:
    """Write a table as ``csv_safe(table).to_csv(path, index=False, encoding="utf-8-sig")`` does, byte for byte.

    Tables with a column of another kind than those of :func:`_kind`, or headers that are not all
    text, are written by pandas.
    """
    heads = list(cells.heads)
    if cells.frame is not None and ("" in cells.kinds or not heads or not all(type(h) is str for h in heads)):
        csv_safe(cells.frame).to_csv(path, index=False, encoding="utf-8-sig")
        return
    columns = [_csv_column(k, c) for k, c in zip(cells.kinds, cells.columns, strict=True)]
    with Path(path).open("w", encoding="utf-8-sig", newline="") as fh:  # pandas' file and csv dialect
        out = csv.writer(fh, lineterminator=os.linesep)
        out.writerow(heads)
        out.writerows(zip(*columns, strict=True))
