"""The plan's WGS84 frames made in few pandas steps (geo.frames) equal those made the plain pandas
way: a GeoDataFrame of the rows, to_crs(4326), a stable sort_values, ranks by groupby/cumcount."""

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.frames import CIRCLE_COLUMNS, GAP_ORDER, _gap_frame, _sortable, _stable_order, _wgs84_frame
from geo.gaps import GAP_COLUMNS
from geo.plan import PlanInputs, PlanParams, plan
from tests.conftest import grid_net, toy_base

UTM = 32651  # (Hangzhou's zone)


def _same(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(got.drop(columns="geometry"), want.drop(columns="geometry"))
    assert list(got.columns) == list(want.columns)
    assert got.geometry.name == want.geometry.name == "geometry"
    assert got.crs == want.crs
    assert isinstance(got.index, pd.RangeIndex)
    assert got.geometry.to_wkb().tolist() == want.geometry.to_wkb().tolist()
    assert got.to_json() == want.to_json()


def _polys(rng, n: int) -> list:
    x, y = rng.uniform(200_000, 210_000, n), rng.uniform(3_340_000, 3_350_000, n)
    return list(shapely.buffer(shapely.points(x, y), rng.uniform(5, 80, n), quad_segs=3))


def _gap_rows(rng, n: int) -> list[dict]:
    return [
        {
            "layer": str(rng.choice(["centres", "stations", "centres@night"])),
            "minutes": float(rng.choice([10.0, 15.0])),
            "profile": str(rng.choice(["adult", "elderly"])),
            "homes": int(rng.integers(1, 9)),
            "people": float(rng.integers(0, 4) * 2.5),  # many ties
            "walk_min_centre": None if rng.random() < 0.3 else float(rng.uniform(10, 30)),
            "walk_min_max": float(rng.uniform(10, 40)),
            "nearest_facility": None if rng.random() < 0.2 else "一号中心",
            "nearest_facility_id": None if rng.random() < 0.2 else int(rng.integers(1, 5)),
            "street": None if rng.random() < 0.5 else "某街道",
            "community": "某社区",
            "named_from": "admin boundary",
            "land_km2": round(float(rng.uniform(0, 0.05)), 4),
        }
        for _ in range(n)
    ]


def _pandas_gaps(rows, geoms) -> gpd.GeoDataFrame:
    by, up = GAP_ORDER
    fresh = gpd.GeoDataFrame(rows, columns=[c for c in GAP_COLUMNS if c != "rank"], geometry=geoms, crs=UTM)
    gaps = fresh.to_crs(4326).sort_values(by, ascending=up, kind="stable")
    gaps["rank"] = gaps.groupby(by[:3]).cumcount() + 1
    return gaps[[*GAP_COLUMNS, "geometry"]].reset_index(drop=True)


def test_the_stable_order_is_pandas_stable_sort():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 60, 200):
        rows = _gap_rows(rng, n)
        for i, r in enumerate(rows):
            r["scope"] = "layer" if i % 3 else "facility"
        for by, up in (GAP_ORDER, (["scope", "layer", "minutes"], [False, True, True])):
            assert _sortable(rows, by)
            want = pd.DataFrame(rows).sort_values(by, ascending=up, kind="stable").index.tolist()
            assert _stable_order(rows, by, up) == want


def test_gap_areas_are_those_pandas_ranks():
    rng = np.random.default_rng(1)
    for n in (1, 5, 80):
        rows, geoms = _gap_rows(rng, n), _polys(rng, n)
        _same(_gap_frame(rows, geoms, UTM, None), _pandas_gaps(rows, geoms))
    # a NaN among the people: pandas sorts it (last), as before
    rows, geoms = _gap_rows(rng, 30), _polys(rng, 30)
    rows[4]["people"] = float("nan")
    assert not _sortable(rows, GAP_ORDER[0])
    _same(_gap_frame(rows, geoms, UTM, None), _pandas_gaps(rows, geoms))
    empty = _gap_frame([], [], UTM, None)
    assert list(empty.columns) == [*GAP_COLUMNS, "geometry"]
    assert len(empty) == 0


def test_circle_rows_make_the_frame_pandas_makes():
    rng = np.random.default_rng(2)
    rows = [
        {
            "scope": "facility" if i % 4 else "layer",
            "layer": str(rng.choice(["centres", "stations"])),
            "facility_id": None if i % 4 == 0 else (int(i) if i % 3 else f"n{i}"),
            "name": None if i % 4 == 0 else "某中心",
            "tier": None,
            "minutes": float(rng.choice([10.0, 15.0])),
            "profile": "adult",
            "speed_kmh": 4.8,
            "facilities": int(rng.integers(1, 4)),
            "area_km2": round(float(rng.uniform(0, 2)), 4),
        }
        for i in range(40)
    ]
    geoms = _polys(rng, len(rows))
    by, up = ["scope", "layer", "minutes"], [False, True, True]
    want = (
        gpd.GeoDataFrame(rows, columns=CIRCLE_COLUMNS, geometry=geoms, crs=UTM)
        .to_crs(4326)
        .sort_values(by, ascending=up, kind="stable")
        .reset_index(drop=True)
    )
    _same(_wgs84_frame(rows, CIRCLE_COLUMNS, geoms, UTM, _stable_order(rows, by, up)), want)


def test_the_facility_table_keeps_its_columns_kinds_with_an_empty_layer():
    """The dtypes the frame had when each layer was a GeoDataFrame of its own, concatenated (charging is empty)."""
    net = grid_net(6, 100.0)
    xy = np.random.default_rng(1).uniform(0, 500, (60, 2))
    fac = {
        "centres": [
            {"x": 100.0, "y": 100.0, "id": "c1", "name": "A"},
            {"x": 400.0, "y": 300.0, "id": "c2", "tier": "x"},
        ],
        "stations": [{"x": 250.0, "y": 0.0, "id": 7, "name": "S"}],
    }
    f = plan(PlanInputs(), PlanParams(cell_m=3.75), base=toy_base(net, xy, np.ones(60), facilities=fac)).facilities
    assert len(f) == 3
    assert isinstance(f, gpd.GeoDataFrame)
    assert f.geometry.name == "geometry"
    assert f.crs.to_epsg() == 4326
    assert isinstance(f.index, pd.RangeIndex)
    kinds = dict(f.dtypes.astype(str))
    assert kinds.pop("geometry") == "geometry"
    assert {k for k, v in kinds.items() if v == "object"} == {
        "layer", "id", "name", "tier", "kind", "opening_hours", "address", "source", "snapped",
    }  # fmt: skip
    assert {k for k, v in kinds.items() if v == "int64"} == {"homes_10min", "homes_15min"}
    assert all(v == "float64" for k, v in kinds.items() if k.startswith(("snap_", "people_")))
    assert f["snapped"].tolist() == [True, True, True]
    assert f["id"].tolist() == ["c1", "c2", 7]
