"""geo.tables' street and community tables equal a plain pandas groupby of the homes and their names."""

import dataclasses
from collections import Counter

import numpy as np
import pandas as pd
import pytest

import geo.tables
from geo.tables import area_table, plan_tables


def _clean(values):
    return [v.strip() if isinstance(v, str) and v.strip() else None for v in values]


def _expected(r, level):
    """The table the plain way: a groupby, a sort, the unnamed homes last."""
    street, community, named_from = (_clean(a) for a in r.home_names)
    key = street if level == "street" else community
    people = np.asarray(r.homes.people, float)
    covered = geo.tables._covered(r)
    df = pd.DataFrame({"name": key, "people": people, **{c: np.where(h, people, 0.0) for c, h in covered.items()}})
    df["homes"] = 1
    sums = df.groupby("name", dropna=False, sort=False).sum()
    rows = []
    for name, s in sums.iterrows():
        row = {"name": None if pd.isna(name) else name, "homes": int(s["homes"]), "people": round(s["people"], 1)}
        for c in covered:
            row[c] = round(s[c] / s["people"], 4) if s["people"] > 0 else 0.0
        if level == "community":
            mine = [i for i, k in enumerate(key) if (k is None if row["name"] is None else k == row["name"])]
            streets = Counter(street[i] for i in mine if street[i] is not None)
            top = max(streets.values(), default=0)
            row["street"] = next((v for v, n in streets.items() if n == top), None)
            sources = Counter(named_from[i] for i in mine if named_from[i] is not None)
            row["named_from"] = "mixed" if len(sources) > 1 else next(iter(sources), None)
        rows.append(row)
    named = pd.DataFrame([x for x in rows if x["name"] is not None], columns=list(rows[0]))
    named = named.sort_values([*covered, "people", "name"], ascending=[True] * len(covered) + [False, True])
    return pd.concat([named, pd.DataFrame([x for x in rows if x["name"] is None])]).reset_index(drop=True)


def _compare(table, expected):
    assert table["name"].tolist() == [None if pd.isna(v) else v for v in expected["name"]]
    for col in expected.columns:
        got = [None if pd.isna(v) else v for v in table[col]]
        want = [None if pd.isna(v) else v for v in expected[col]]
        assert got == pytest.approx(want) if table[col].dtype.kind == "f" else got == want, col


def test_area_tables_of_a_real_plan_are_its_homes_grouped(binjiang_plan):
    for level in ("street", "community"):
        _compare(area_table(binjiang_plan, level=level), _expected(binjiang_plan, level))


def test_area_tables_with_blank_names_and_ties_are_its_homes_grouped(binjiang_plan):
    """Names with spaces and blanks, one person per home (ties of people broken by the name)."""
    r = binjiang_plan
    n = len(r.homes)
    rng = np.random.default_rng(7)
    pick = np.array(["甲社区", " 甲社区", "乙社区 ", "丙社区", "", "  ", None, np.nan], dtype=object)
    community = pick[rng.integers(0, len(pick), n)]
    street = np.array(["一街道", "二街道", None, " 一街道"], dtype=object)[rng.integers(0, 4, n)]
    named_from = np.array(["admin boundary", "nearest place", None], dtype=object)[rng.integers(0, 3, n)]
    homes = dataclasses.replace(r.homes, people=np.ones(n))
    r = dataclasses.replace(r, homes=homes, home_names=(street, community, named_from))
    tables = plan_tables(r)
    for level, table in (("street", tables.streets), ("community", tables.communities)):
        _compare(table, _expected(r, level))
        pd.testing.assert_frame_equal(table, area_table(r, level=level))
    assert tables.communities["name"].tolist()[-1] is None  # the unnamed homes last
    nameless = dataclasses.replace(r, home_names=())
    assert area_table(nameless, level="community")["name"].tolist() == [None]


def test_facility_table_is_sorted_as_pandas_sorts_it(binjiang_plan):
    """Layers in the plan's order (others last), then most people served first; ties keep their order."""
    from geo.tables import facility_table

    r = binjiang_plan
    fac = r.facilities.iloc[np.random.default_rng(5).permutation(len(r.facilities))].copy()
    served = [c for c in fac.columns if c.startswith("people_") and not c.startswith("people_nearest")][-1]
    fac.loc[fac.index[:3], "layer"] = "other"  # a layer the plan does not have
    fac.loc[fac.index[3:6], served] = np.nan
    fac.loc[fac.index[6:12], served] = 5.0  # ties
    r = dataclasses.replace(r, facilities=fac)
    table = facility_table(r)
    rank = {name: i for i, name in enumerate(r.layers)}
    plain = pd.DataFrame(
        {"id": fac["id"].to_numpy(), "o": fac["layer"].map(rank).to_numpy(), "p": fac[served].to_numpy()}
    )
    expected = plain.sort_values(["o", "p"], ascending=[True, False], kind="stable")
    assert table["id"].tolist() == expected["id"].tolist()
    assert table["layer"].tolist()[-3:] == ["other"] * 3
    assert isinstance(table.index, pd.RangeIndex)


def test_gap_and_facility_tables_leave_the_plan_as_it_was(binjiang_plan):
    from geo.tables import facility_table, gap_table

    r = binjiang_plan
    gaps, fac = r.gaps.copy(), r.facilities.copy()
    table = gap_table(r)
    pts = r.gaps.geometry.representative_point()
    np.testing.assert_array_equal(table["lon"], np.round(pts.x.to_numpy(), 6))  # (NaN for an empty area)
    np.testing.assert_array_equal(table["lat"], np.round(pts.y.to_numpy(), 6))
    assert r.gaps.geometry.name not in table
    assert r.facilities.geometry.name not in facility_table(r)
    pd.testing.assert_frame_equal(r.gaps, gaps)  # geometry and all
    pd.testing.assert_frame_equal(r.facilities, fac)
