"""Gap areas on hand-built streets with known answers: the land of uncovered homes outside the
circle, grouped, split by street and community, ranked by people; the views by tier, service and
opening time; and the ``--at`` option."""

import datetime as dt

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geo.errors import InputError
from geo.hours import at_label, open_mask, parse_at, state_at
from geo.network import network_from_lines
from geo.plan import PlanInputs, PlanParams, plan
from tests.conftest import toy_base

# one long street, 0..3000 m along x; homes stand 40 m north of it
NET = network_from_lines([[(0, 0), (1000, 0)], [(1000, 0), (2000, 0)], [(2000, 0), (3000, 0)]])
Y = 40.0


def run(xs, people, centres, *, minutes=(10.0,), profiles=("adult",), land=None, admin=None, places=None, at=None):
    xy = np.column_stack([np.asarray(xs, float), np.full(len(xs), Y)])
    base = toy_base(NET, xy, people, land=land, admin=admin, places=places, facilities={"centres": centres})
    # cells of 3.75 m (gap land on 11.25 m cells), the size the tolerances below are written for:
    # 40 m squares are a few gap cells wide, so their drawn land depends on where the lattice falls
    return plan(PlanInputs(), PlanParams(minutes=minutes, profiles=profiles, at=at, cell_m=3.75), base=base)


def wgs84(poly):
    return shapely.transform(poly, lambda c: NET.unproject(c))


def test_gap_areas_count_homes_people_walk_time_and_nearest_facility():
    # facility at x=0; 10 min at 4.8 km/h = 800 m. Beyond: two groups 580 m apart
    places = gpd.GeoDataFrame({"name": ["浦沿街道", "东冠社区"], "place": ["suburb", "neighbourhood"]},
                              geometry=gpd.points_from_xy(*NET.unproject([[1100, 100], [1050, 60]]).T), crs=4326)
    r = run([100, 700, 1000, 1050, 1120, 1700, 1760], [5, 5, 10, 20, 30, 7, 8],
            [{"id": "c1", "name": "甲中心", "tier": "community", "x": 0.0}], places=places)
    g = r.gaps[r.gaps["layer"] == "centres"]
    assert list(g["homes"]) == [3, 2]  # 1000..1120 and 1700..1760; ranked by people
    assert list(g["people"]) == [60.0, 15.0] and list(g["rank"]) == [1, 2]
    first = g.iloc[0]
    # the area's centre is the home nearest the mean, x=1050: 1050 m along the street from where
    # the home meets it (walk times count along streets from there, at 80 m a minute)
    assert first["walk_min_centre"] == pytest.approx(round(1050 / 80.0, 1))
    assert first["walk_min_max"] == pytest.approx(round(1120 / 80.0, 1))
    assert first["nearest_facility"] == "甲中心" and first["nearest_facility_id"] == "c1"
    assert first["community"] == "东冠社区" and first["street"] == "浦沿街道"
    assert first["named_from"] == "nearest place"
    assert g.crs.to_epsg() == 4326
    # the land of those homes: their three 40 m squares, to a cell of 11.25 m
    a = wgs84(shapely.union_all([shapely.box(x - 20, 20, x + 20, 60) for x in (1000, 1050, 1120)]))
    assert shapely.symmetric_difference(first.geometry, a).area < 0.35 * a.area
    assert first["land_km2"] == pytest.approx(3 * 40 * 40 / 1e6, rel=0.35)
    # covered + uncovered = all homes
    covered = r.coverage["layers"]["centres"]["minutes"]["10"]["homes_covered"]
    assert int(g["homes"].sum()) + covered == len(r.homes)


def test_a_gap_never_claims_land_inside_its_circle():
    """A compound straddling the circle's edge: its uncovered home's land is the part outside."""
    land = [shapely.box(700, 10, 1000, 100)]  # one parcel x 700..1000; the circle ends at x ~830
    r = run([960.0], [50.0], [{"id": "c", "name": "c", "x": 0.0}], land=land)
    gap = r.gaps[(r.gaps["layer"] == "centres")].geometry.iloc[0]
    circle = r.circles[(r.circles["scope"] == "layer") & (r.circles["layer"] == "centres")].geometry.iloc[0]
    assert gap.intersection(circle).area <= 0.01 * gap.area
    xs = NET.project(*shapely.get_coordinates(gap).T)[:, 0]
    assert xs.min() > 800 + 30 - 12 and xs.max() < 1000 + 12  # from the circle's edge to the parcel's


def test_large_gaps_split_along_community_boundaries():
    """One cluster of homes (20 m apart) across two communities: two areas, each named."""
    west = wgs84(shapely.box(900, -200, 1500, 200))
    east = wgs84(shapely.box(1500, -200, 2100, 200))
    admin = gpd.GeoDataFrame({"name": ["西社区", "东社区"], "admin_level": ["10", "10"], "osm_id": ["r1", "r2"]},
                             geometry=[west, east], crs=4326)
    xs = np.arange(1300, 1700, 20.0)
    r = run(xs, np.ones(len(xs)), [{"id": "c", "name": "c", "x": 0.0}], admin=admin)
    g = r.gaps[r.gaps["layer"] == "centres"]
    assert sorted(g["community"]) == ["东社区", "西社区"]
    assert set(g["named_from"]) == {"admin boundary"}
    assert sorted(g["homes"]) == [10, 10]
    a, b = g.geometry.values
    assert a.intersection(b).area == 0


def test_each_profile_gets_its_own_gap_areas():
    r = run([100, 700, 1000], [1, 1, 1], [{"id": "c1", "name": "A", "x": 0.0}], profiles=("adult", "elderly"))
    g = r.gaps[r.gaps["layer"] == "centres"]
    assert dict(g.groupby("profile")["homes"].sum()) == {"adult": 1, "elderly": 2}  # 600 m at 3.6 km/h


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0, 3000), min_size=1, max_size=25), st.lists(st.floats(0, 3000), min_size=1, max_size=3),
       st.sampled_from([5.0, 10.0, 15.0]))
def test_covered_plus_uncovered_homes_is_all_homes(xs, fx, minutes):
    """Two counts from two sides: coverage.json's covered homes, and the gap areas' homes."""
    r = run(xs, np.ones(len(xs)), [{"id": f"f{i}", "name": f"F{i}", "x": x} for i, x in enumerate(fx)],
            minutes=(minutes,))
    g = r.gaps[r.gaps["layer"] == "centres"]
    covered = r.coverage["layers"]["centres"]["minutes"][f"{minutes:g}"]["homes_covered"]
    assert covered + int(g["homes"].sum() if len(g) else 0) == len(xs)
    along = np.abs(np.asarray(xs)[:, None] - np.asarray(fx)[None, :]).min(axis=1)
    assume(np.all(np.abs(along - minutes * 80.0) > 1e-3))  # not on the edge, where floats decide
    assert covered == int((along <= minutes * 80.0).sum())


def test_views_by_tier_service_and_opening_time_and_night_gaps():
    rows = [
        {"id": "a", "name": "社区A", "tier": "community", "services": ("elderly canteen",), "opening_hours": "24/7", "x": 0.0},
        {"id": "b", "name": "街道B", "tier": "street", "services": ("night school",), "opening_hours": "Mo-Fr 08:30-17:30", "x": 1500.0},
        {"id": "c", "name": "社区C", "tier": "community", "services": (), "opening_hours": None, "x": 2900.0},
    ]
    r = run([50, 1500, 2900], [10, 20, 30], rows, at="Mon 22:00")
    cov = r.coverage["subsets"]
    assert set(cov) == {"centres[tier=community]", "centres[tier=street]", "centres[service=elderly canteen]",
                        "centres[service=night school]", "centres[open=Mon 22:00]"}
    assert cov["centres[tier=community]"]["minutes"]["10"]["homes_covered"] == 2  # A and C
    assert cov["centres[service=night school]"]["minutes"]["10"]["people_covered"] == 20
    night = cov["centres[open=Mon 22:00]"]
    assert night["open"] == 1 and night["minutes"]["10"]["homes_covered"] == 1  # only the 24/7 one
    assert [c["name"] for c in night["closed"]] == ["街道B"]
    assert [c["name"] for c in night["unknown_hours"]] == ["社区C"]  # no hours: closed and listed
    # the night gaps are drawn against the night circle: homes by B and C are in them
    ng = r.gaps[r.gaps["layer"] == "centres[open=Mon 22:00]"]
    assert int(ng["homes"].sum()) == 2
    nc = r.circles[(r.circles["scope"] == "layer") & (r.circles["layer"] == "centres[open=Mon 22:00]")]
    assert len(nc) == 1 and all(g.intersection(nc.geometry.iloc[0]).area == 0 for g in ng.geometry)
    # in the day, B is open
    day = run([50, 1500, 2900], [10, 20, 30], rows, at="Mon 10:00").coverage["subsets"]
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
