"""An input error's message: every problem when there are few, the first ones and the rest
counted by kind when there are many (400,000 rows without coordinates printed 70 MB)."""

from __future__ import annotations

import pickle

from geo.errors import SHOWN, InputError


def test_a_few_problems_are_all_listed():
    err = InputError("f.csv", ["row 2: 经度 is empty", "row 5: 层级 '镇街' is not a known tier"])
    assert str(err) == "f.csv: 2 problems:\n  - row 2: 经度 is empty\n  - row 5: 层级 '镇街' is not a known tier"


def test_many_problems_show_the_first_and_count_the_rest_by_kind():
    rows = [f"row {i}: 经度 is empty — give a longitude" for i in range(2, 400_002)]
    rows += [f"feature {i}: geometry is a LineString" for i in (7, 9)]
    err = InputError("f.csv", rows)
    text = str(err)
    lines = text.splitlines()
    assert lines[0] == f"f.csv: {len(rows)} problems:"
    assert lines[1 : SHOWN + 1] == [f"  - {p}" for p in rows[:SHOWN]]
    assert lines[SHOWN + 1] == f"  ... and {len(rows) - SHOWN:,} more, of these kinds:"
    assert lines[SHOWN + 2] == f"    {400_000 - SHOWN:,} x 经度 is empty — give a longitude"
    assert lines[SHOWN + 3] == "    2 x geometry is a LineString"
    assert len(text) < 20_000
    assert err.problems == rows  # every problem kept for whoever reads them one by one
    assert pickle.loads(pickle.dumps(err)).problems == rows
