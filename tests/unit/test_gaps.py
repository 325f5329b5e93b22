"""Gap areas, coverage views by tier/service/opening time, and the ``--at`` option."""

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.circles import multi_source, point_distances
from geo.demand import Homes
from geo.errors import InputError
from geo.gaps import gap_areas
from geo.hours import at_label, open_mask, parse_at, state_at
from geo.network import network_from_lines
from geo.plan import LayerResult, PlanParams
from geo.report import layer_subsets, subset_coverage

# one long street, 0..3000 m along x
NET = network_from_lines([[(0, 0), (1000, 0)], [(1000, 0), (2000, 0)], [(2000, 0), (3000, 0)]])


def homes_at(xs, people):
    xy = np.column_stack([np.asarray(xs, float), np.full(len(xs), 10.0)])
    n = len(xs)
    return Homes(xy, np.asarray(people, float), np.array(["building"] * n), np.array([f"w{i}" for i in range(n)]), "test")


def layer(fac_rows, homes, name="centres"):
    fac = gpd.GeoDataFrame(fac_rows, geometry=[shapely.Point(0, 0)] * len(fac_rows), crs=4326)
    xy = np.array([[r["x"], 0.0] for r in fac_rows])
    sn = NET.snap(xy, max_dist=50)
    reach = multi_source(NET, sn)
    hs = NET.snap(homes.xy, max_dist=50)
    hd, src = point_distances(NET, reach, hs)
    return LayerResult(name, fac, "test", sn, [], reach, hd, src), hs


def test_gap_areas_count_homes_people_walk_time_and_nearest_facility():
    # facility at x=0; 10 min at 4.8 km/h = 800 m. Homes beyond: two groups 500 m apart
    homes = homes_at([100, 700, 1000, 1050, 1120, 1700, 1760], [5, 5, 10, 20, 30, 7, 8])
    lr, _ = layer([{"id": "c1", "name": "甲中心", "tier": "community", "x": 0.0}], homes)
    params = PlanParams(minutes=(10.0,))
    places = gpd.GeoDataFrame({"name": ["浦沿街道", "东冠社区"], "place": ["suburb", "neighbourhood"]},
                              geometry=gpd.points_from_xy(*NET.unproject([[1100, 100], [1050, 60]]).T), crs=4326)
    g = gap_areas(NET, homes, {"centres": lr}, params, places=places)
    assert list(g["homes"]) == [3, 2]  # 1000..1120 and 1700..1760; ranked by people
    assert list(g["people"]) == [60.0, 15.0] and list(g["rank"]) == [1, 2]
    first = g.iloc[0]
    # the area's centre is the home nearest the mean: x=1050 (+10 m off the street)
    assert first["walk_min_centre"] == pytest.approx(round(1050 / 80.0, 1))
    assert first["walk_min_max"] == pytest.approx(round(1120 / 80.0, 1))
    assert first["nearest_facility"] == "甲中心" and first["nearest_facility_id"] == "c1"
    assert first["community"] == "东冠社区" and first["street"] == "浦沿街道"
    assert first["named_from"] == "nearest place"
    assert g.iloc[1]["community"] == "东冠社区"  # 700 m from it: within PLACE_MAX_M
    assert g.crs.to_epsg() == 4326
    # covered + uncovered = all homes
    assert int(g["homes"].sum()) + int((lr.home_dist <= 800).sum()) == len(homes)


def test_each_profile_gets_its_own_gap_areas():
    homes = homes_at([100, 700, 1000], [1, 1, 1])
    lr, _ = layer([{"id": "c1", "name": "A", "x": 0.0}], homes)
    g = gap_areas(NET, homes, {"centres": lr}, PlanParams(minutes=(10.0,), profiles=("adult", "elderly")))
    assert dict(g.groupby("profile")["homes"].sum()) == {"adult": 1, "elderly": 2}  # 600 m at 3.6 km/h


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 3000), min_size=1, max_size=40), st.lists(st.floats(0, 3000), min_size=1, max_size=3),
       st.sampled_from([5.0, 10.0, 15.0]))
def test_covered_plus_uncovered_homes_is_all_homes(xs, fx, minutes):
    homes = homes_at(xs, np.ones(len(xs)))
    lr, _ = layer([{"id": f"f{i}", "name": f"F{i}", "x": x} for i, x in enumerate(fx)], homes)
    g = gap_areas(NET, homes, {"centres": lr}, PlanParams(minutes=(minutes,)))
    covered = int((lr.home_dist <= minutes * 80.0).sum())
    assert covered + int(g["homes"].sum() if len(g) else 0) == len(homes)


def test_views_by_tier_service_and_opening_time():
    homes = homes_at([50, 1500, 2900], [10, 20, 30])
    rows = [
        {"id": "a", "name": "社区A", "tier": "community", "services": ("elderly canteen",), "opening_hours": "24/7", "x": 0.0},
        {"id": "b", "name": "街道B", "tier": "street", "services": ("night school",), "opening_hours": "Mo-Fr 08:30-17:30", "x": 1500.0},
        {"id": "c", "name": "社区C", "tier": "community", "services": (), "opening_hours": None, "x": 2900.0},
    ]
    lr, hs = layer(rows, homes)
    params = PlanParams(minutes=(10.0,), at="Mon 22:00")
    views, info = layer_subsets(NET, {"centres": lr}, hs, params)
    assert set(views) == {"centres[tier=community]", "centres[tier=street]", "centres[service=elderly canteen]",
                          "centres[service=night school]", "centres[open=Mon 22:00]"}
    cov = subset_coverage(views, info, homes, params)
    assert cov["centres[tier=community]"]["minutes"]["10"]["homes_covered"] == 2  # A and C
    assert cov["centres[service=night school]"]["minutes"]["10"]["people_covered"] == 20
    night = cov["centres[open=Mon 22:00]"]
    assert night["open"] == 1 and night["minutes"]["10"]["homes_covered"] == 1  # only the 24/7 one
    assert [c["name"] for c in night["closed"]] == ["街道B"]
    assert [c["name"] for c in night["unknown_hours"]] == ["社区C"]  # no hours: closed and listed
    # in the day, B is open
    day = layer_subsets(NET, {"centres": lr}, hs, PlanParams(minutes=(10.0,), at="Mon 10:00"))[1]
    assert day["centres[open=Mon 10:00]"]["open"] == 2


@pytest.mark.parametrize("text, expected", [
    ("Mon 22:00", dt.datetime(2025, 6, 2, 22, 0)), ("周日 07:30", dt.datetime(2025, 6, 8, 7, 30)),
    ("22:00", dt.datetime(2025, 6, 4, 22, 0)), ("2025-06-07 22:00", dt.datetime(2025, 6, 7, 22, 0)),
])
def test_parse_at(text, expected):
    assert parse_at(text) == expected
    assert at_label(parse_at("Sat 9:05")) == "Sat 09:05"


@pytest.mark.parametrize("bad", ["Moonday 22:00", "25:00", "22h", ""])
def test_parse_at_rejects_with_a_message(bad):
    with pytest.raises(InputError, match="--at: .* is not a weekday and time: give e.g. \"Mon 22:00\""):
        parse_at(bad)


def test_opening_hours_states():
    night, day = parse_at("Mon 22:00"), parse_at("Mon 10:00")
    assert state_at("24/7", night) is True and state_at("24小时", night) is True
    assert state_at("Mo-Fr 08:30-17:30", night) is False and state_at("Mo-Fr 08:30-17:30", day) is True
    assert state_at(None, night) is None and state_at("whenever", night) is None
    t = gpd.GeoDataFrame({"opening_hours": ["24/7", None, "Sa-Su 09:00-12:00"]}, geometry=[shapely.Point(0, 0)] * 3)
    ok, unknown = open_mask(t, night)
    assert ok.tolist() == [True, False, False] and unknown.tolist() == [False, True, False]
