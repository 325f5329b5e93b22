"""Tables by street and community (geo.tables), the planner's population by community
(geo.demand.read_community_population) and the files the plan writes (tables.xlsx, tables/*.csv):
known answers on hand-built streets, invariants on the real Binjiang plan."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import InputError
from geo.network import network_from_lines
from geo.plan import PlanInputs, PlanParams, plan
from geo.tables import area_table, localised, plan_tables
from tests.conftest import toy_base

# one street 0..3000 m along x; homes 40 m north of it; a centre at x=0.
# 10 min at 4.8 km/h = 800 m, 15 min = 1200 m along the street.
NET = network_from_lines([[(0, 0), (1000, 0)], [(1000, 0), (2000, 0)], [(2000, 0), (3000, 0)]])
XS = [100, 500, 900, 1300, 1700, 2500]
PEOPLE = [10, 20, 30, 40, 50, 60]


def wgs84(poly):
    return shapely.transform(poly, lambda c: NET.unproject(c))


def toy_plan(population: Path | None = None):
    admin = gpd.GeoDataFrame(
        {"name": ["东街道", "甲社区", "乙社区"], "admin_level": ["8", "10", "10"], "osm_id": ["r1", "r2", "r3"]},
        geometry=[
            wgs84(shapely.box(-100, -300, 2000, 300)),
            wgs84(shapely.box(-100, -300, 700, 300)),
            wgs84(shapely.box(700, -300, 1500, 300)),
        ],
        crs=4326,
    )
    # 丙社区 is mapped only as a place node: homes beyond the boundaries take the nearest one
    places = gpd.GeoDataFrame(
        {"name": ["丙社区"], "place": ["neighbourhood"]},
        geometry=gpd.points_from_xy(*NET.unproject([[1800.0, 60.0]]).T),
        crs=4326,
    )
    xy = np.column_stack([np.asarray(XS, float), np.full(len(XS), 40.0)])
    base = toy_base(
        NET,
        xy,
        PEOPLE,
        admin=admin,
        places=places,
        facilities={"centres": [{"id": "c1", "name": "甲中心", "tier": "community", "x": 0.0}]},
    )
    return plan(PlanInputs(population=population), PlanParams(minutes=(10.0, 15.0), cell_m=3.75), base=base)


@pytest.fixture(scope="module")
def toy():
    return toy_plan()


def test_streets_count_homes_people_and_shares_worst_first(toy):
    t = area_table(toy, level="street")
    assert list(t["name"]) == ["东街道", None]  # the home beyond every street boundary comes last
    east = t.iloc[0]
    assert east["homes"] == 5 and east["people"] == 150
    assert east["centres_10min"] == pytest.approx(30 / 150, abs=1e-4)  # homes at 100 and 500 m
    assert east["centres_15min"] == pytest.approx(60 / 150, abs=1e-4)  # and 900 m
    assert east["stations_10min"] == 0.0
    assert t.iloc[1]["homes"] == 1 and t.iloc[1]["people"] == 60 and t.iloc[1]["centres_15min"] == 0.0


def test_communities_from_boundaries_and_places_worst_first(toy):
    t = area_table(toy, level="community")
    assert list(t["name"]) == ["丙社区", "乙社区", "甲社区"]  # 0/0, 0/0.43, 1/1 covered
    rows = t.set_index("name")
    assert rows.loc["甲社区", "named_from"] == "admin boundary" and rows.loc["丙社区", "named_from"] == "nearest place"
    assert rows.loc["甲社区", "people"] == 30 and rows.loc["甲社区", "centres_10min"] == 1.0
    assert rows.loc["乙社区", "people"] == 70 and rows.loc["乙社区", "centres_15min"] == pytest.approx(
        30 / 70, abs=1e-4
    )
    assert rows.loc["丙社区", "homes"] == 2 and rows.loc["丙社区", "people"] == 110
    assert rows.loc["丙社区", "street"] == "东街道"  # its homes: one in 东街道, one in none
    assert int(t["homes"].sum()) == len(XS)


def test_facilities_and_gaps_tables(toy):
    tables = plan_tables(toy)
    fac = tables.facilities
    row = fac[fac["id"] == "c1"].iloc[0]
    assert row["street"] == "东街道" and row["community"] == "甲社区"
    assert row["people_10min"] == 30 and row["people_15min"] == 60
    assert row["lon"] == pytest.approx(NET.unproject(np.array([[0.0, 0.0]]))[0, 0], abs=1e-5)
    gaps = tables.gaps
    assert len(gaps) == len(toy.gaps) and {"street", "community", "people", "lon", "lat"} <= set(gaps.columns)
    cov = tables.coverage.set_index(["layer", "minutes"])
    assert cov.loc[("centres", 15.0), "people_covered"] == 60
    assert cov.loc[("centres", 15.0), "people_share"] == pytest.approx(60 / 210, abs=1e-4)
    summary = dict(zip(tables.summary["item"], tables.summary["value"]))
    assert summary["homes"] == 6 and summary["people"] == 210 and summary["area"] == "whole extract"


def test_headers_in_the_run_language_numbers_stay_numbers(toy):
    t = area_table(toy, level="community")
    zh = localised(t, "zh")
    assert list(zh.columns[:5]) == ["名称", "街道", "名称来源", "住宅数", "人口（估算）"]
    assert "党群服务中心 10分钟覆盖率" in zh.columns
    assert set(zh["名称来源"]) == {"行政边界", "最近的地名点"}
    en = localised(area_table(toy, level="street"), "en")
    assert "Centres ≤15 min share" in en.columns and list(en["Name"]) == ["东街道", "(no name found)"]
    assert en["Homes"].dtype.kind == "i" and en["Centres ≤15 min share"].dtype.kind == "f"
    with pytest.raises(ValueError, match="expected zh or en"):
        localised(t, "fr")


def test_population_table_by_community_replaces_the_estimate(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text("社区,人口\n甲社区,300\n丙社区,11\n", encoding="utf-8-sig")
    r = toy_plan(path)
    # 甲: 300 over its homes in proportion 10:20; 丙: 11 over 50:60; 乙 keeps the estimate
    assert r.homes.people.tolist() == pytest.approx([100, 200, 30, 40, 5, 6])
    assert "population table pop.csv" in r.coverage["homes_method"]
    t = area_table(r, level="community").set_index("name")
    assert t.loc["甲社区", "people"] == 300 and t.loc["丙社区", "people"] == 11


def test_population_table_in_english_from_xlsx(tmp_path):
    path = tmp_path / "pop.xlsx"
    pd.DataFrame({"community": ["乙社区"], "population": [700]}).to_excel(path, index=False)
    r = toy_plan(path)
    assert r.homes.people.tolist() == pytest.approx([10, 20, 300, 400, 50, 60])


def test_population_table_lists_every_problem_with_closest_names(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text("社区,人口\n甲社,300\n乙社区,abc\n乙社区,5\n,7\n丙社区,1.7e308\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        toy_plan(path)
    msg = str(err.value)
    assert "row 2: no home of the plan lies in a community named '甲社'; closest names in the plan: 甲社区" in msg
    assert "row 3: 人口 'abc' for 乙社区 is not a number of people 0..100,000,000" in msg
    assert "row 6: 人口 '1.7e308' for 丙社区 is not a number of people 0..100,000,000" in msg  # no overflow
    assert "row 4: 乙社区 is given twice" in msg
    assert "row 5: 社区 is empty" in msg
    path.write_text("名字,count\nA,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="no community column.*\n.*no population column"):
        toy_plan(path)


def test_plan_writes_tables_xlsx_and_csv(toy, tmp_path):
    import openpyxl

    from api.outputs import table_files

    written = table_files(toy, tmp_path, lang="zh")
    assert {p.name for p in written} == {
        "summary.csv",
        "coverage.csv",
        "streets.csv",
        "communities.csv",
        "facilities.csv",
        "gaps.csv",
        "tables.xlsx",
    }
    raw = (tmp_path / "tables" / "communities.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "丙社区".encode() in raw
    book = openpyxl.load_workbook(tmp_path / "tables.xlsx")
    assert book.sheetnames == ["summary", "streets", "communities", "facilities", "gaps"]
    ws = book["communities"]
    head = [c.value for c in ws[1]]
    assert head[:5] == ["名称", "街道", "名称来源", "住宅数", "人口（估算）"]
    first = [c.value for c in ws[2]]
    assert first[0] == "丙社区" and first[3] == 2 and first[4] == 110  # numbers stored as numbers
    share = ws.cell(row=4, column=head.index("党群服务中心 10分钟覆盖率") + 1)
    assert share.value == 1.0 and share.number_format == "0.0%"
    items = [c.value for c in book["summary"]["A"]]
    assert "数据来源" in items and "图层" in items  # the coverage table under the summary items


def test_binjiang_tables_add_up_to_the_coverage(binjiang_plan):
    """Two independent ways: the street table's shares x people against coverage.json."""
    r = binjiang_plan
    t = plan_tables(r)
    cov = r.coverage["layers"]
    for table in (t.streets, t.communities):
        assert int(table["homes"].sum()) == r.coverage["homes"]
        assert table["people"].sum() == pytest.approx(r.coverage["people"], abs=len(table))
        for layer in ("centres", "stations"):
            for m in ("10", "15"):
                got = float((table[f"{layer}_{m}min"] * table["people"]).sum())
                want = cov[layer]["minutes"][m]["people_covered"]
                assert got == pytest.approx(want, rel=2e-3, abs=50)
        named = table[table["name"].notna()]
        keys = list(zip(named["centres_10min"], named["centres_15min"]))
        assert keys == sorted(keys)  # worst first
    assert set(t.communities["named_from"].dropna()) <= {"admin boundary", "nearest place", "mixed"}
    assert any(str(n).endswith("街道") for n in t.streets["name"])
    assert len(t.facilities) == len(r.facilities) and t.facilities["street"].notna().any()


def test_several_profiles_get_their_own_columns():
    """In 12 min adults (4.8 km/h) walk 960 m: homes at 100, 500 and 900 m; the elderly
    (3.6 km/h) 720 m: 100 and 500 m only."""
    from geo.tables import cover_columns

    admin = gpd.GeoDataFrame(
        {"name": ["东街道"], "admin_level": ["8"], "osm_id": ["r1"]},
        geometry=[wgs84(shapely.box(-100, -300, 3000, 300))],
        crs=4326,
    )
    xy = np.column_stack([np.asarray(XS, float), np.full(len(XS), 40.0)])
    base = toy_base(NET, xy, PEOPLE, admin=admin, facilities={"centres": [{"id": "c1", "name": "甲中心", "x": 0.0}]})
    r = plan(PlanInputs(), PlanParams(minutes=(12.0,), profiles=("adult", "elderly"), cell_m=3.75), base=base)
    assert [c for c, *_ in cover_columns(r.params)][:2] == ["centres_12min_adult", "centres_12min_elderly"]
    row = area_table(r, level="street").iloc[0]
    assert row["centres_12min_adult"] == pytest.approx(60 / 210, abs=1e-4)
    assert row["centres_12min_elderly"] == pytest.approx(30 / 210, abs=1e-4)
    en = localised(area_table(r, level="street"), "en")
    assert "Centres ≤12 min share (elderly)" in en.columns


def test_mode_by_gives_each_groups_most_common_name_first_met_on_a_tie():
    from collections import Counter

    from geo.tables import _mode_of

    rng = np.random.default_rng(3)
    for _ in range(200):
        n, groups = int(rng.integers(0, 40)), int(rng.integers(1, 5))
        group = rng.integers(0, groups, n)
        values = np.array([None if x == 0 else f"社区{x}" for x in rng.integers(0, 4, n)], dtype=object)
        for mixed in (None, "mixed"):
            expected: list = []
            for k in range(groups):  # the plain way: count each group's names in the order they come
                counts = Counter(v for v, g in zip(values, group, strict=True) if g == k and v is not None)
                top = max(counts.values(), default=0)
                first = next((v for v, c in counts.items() if c == top), None)  # Counter keeps first-met order
                expected.append(mixed if mixed is not None and len(counts) > 1 else first)
            codes, uniques = pd.factorize(values)
            assert _mode_of(group, codes, np.asarray(uniques, dtype=object), groups, mixed=mixed) == expected
