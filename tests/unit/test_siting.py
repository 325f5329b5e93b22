"""Siting: the solvers on instances with known optima, the coverage sets on a hand-built street."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from geo.errors import InputError
from geo.network import network_from_lines
from geo.plan import PlanInputs, PlanParams, plan
from geo.siting import cover_matrix, exact, greedy, node_sites, plan_with_sites, read_candidates, site, thin_nodes
from tests.conftest import toy_base


def suboptimal_instance():
    """Site A covers homes 1-4 (1 person each), B covers 1, 2 and 5, C covers 3, 4 and 6
    (homes 5 and 6: 1.5 people). Choosing 2: greedy takes A (4) then B or C (+1.5) = 5.5; the
    optimum is B + C = 7."""
    a = np.zeros((3, 6), bool)
    a[0, :4] = True
    a[1, [0, 1, 4]] = True
    a[2, [2, 3, 5]] = True
    return sp.csr_matrix(a), np.array([1, 1, 1, 1, 1.5, 1.5])


def test_greedy_is_suboptimal_and_exact_finds_the_optimum():
    a, w = suboptimal_instance()
    chosen, gains = greedy(a, w, 2)
    assert chosen == [0, 1] and gains == [4.0, 1.5]
    ex = exact(a, w, 2)
    assert sorted(ex.chosen) == [1, 2]
    assert ex.objective == pytest.approx(7.0) and ex.status == "optimal"
    assert ex.bound == pytest.approx(7.0)


def test_exact_matches_brute_force_on_random_instances():
    from itertools import combinations

    rng = np.random.default_rng(7)
    for _ in range(5):
        a = rng.random((8, 15)) < 0.3
        w = rng.integers(1, 10, 15).astype(float)
        best = max(w[a[list(c)].any(axis=0)].sum() for c in combinations(range(8), 3))
        ex = exact(sp.csr_matrix(a), w, 3)
        g = sum(greedy(sp.csr_matrix(a), w, 3)[1])
        assert ex.objective == pytest.approx(best)
        assert g <= best + 1e-9


def test_greedy_stops_when_nothing_is_left():
    a, w = suboptimal_instance()
    chosen, gains = greedy(a, w, 5)
    assert len(chosen) == 3 and sum(gains) == pytest.approx(7.0)  # A, B, C cover all; a 4th adds nothing


def street():
    """One street x 0..1000 with nodes every 100 m."""
    return network_from_lines([[(x, 0), (x + 100, 0)] for x in range(0, 1000, 100)])


def test_cover_matrix_on_a_street():
    net = street()
    nodes = np.array([int(np.argmin(np.hypot(*(net.node_xy - [x, 0]).T))) for x in (0, 400, 800)])
    sites = node_sites(net, nodes)
    homes = net.snap(np.array([[150.0, 5], [450.0, 5], [950.0, 5], [620.0, -5]]), max_dist=50)
    m = cover_matrix(net, sites, homes, 200.0).toarray()
    # distances along the street: |x_site - x_home| <= 200
    want = np.abs(np.array([0, 400, 800])[:, None] - np.array([150, 450, 950, 620])[None, :]) <= 200
    assert np.array_equal(m, want)


def test_thin_nodes_one_per_cell():
    xy = np.array([[10.0, 10], [60, 60], [90, 90], [150, 50], [310, 10]])
    out = thin_nodes(xy, np.arange(5), grid_m=100)
    assert out.tolist() == [1, 3, 4]  # the node nearest each cell's centre (50, 50), (150, 50), (350, 50)
    assert len(thin_nodes(xy, np.arange(5), grid_m=100, cap=2)) <= 2


def test_site_on_a_hand_built_plan():
    """Homes at x=100 (5 people), 500 (30), 900 (10) along one street; a station at x=0 with a
    160 m limit covers only the first. Two new sites: the best cover x=500 (30 people), then 900."""
    net = street()
    base = toy_base(net, [[100.0, 5], [500.0, 5], [900.0, 5]], [5.0, 30.0, 10.0],
                    facilities={"stations": [{"id": "s0", "name": "s0", "x": 0.0}]})
    params = PlanParams(minutes=(2.0,), speed_kmh=4.8)  # 160 m
    before = plan(PlanInputs(), params, base=base)
    res = site(before, layer="stations", add=2, exact_solve=True, grid_m=50)
    assert res.sites["people_gained"].tolist() == [30.0, 10.0]
    assert res.sites["rank"].tolist() == [1, 2]
    assert res.summary["greedy_people"] == 40.0 and res.summary["exact"]["people"] == 40.0
    x = net.project(res.sites.geometry.x.to_numpy(), res.sites.geometry.y.to_numpy())[:, 0]
    assert abs(x[0] - 500) <= 160 and abs(x[1] - 900) <= 160
    assert res.summary["coverage_after"]["2"]["people_covered"] == 45
    # each site's coordinates in WGS84 and in GCJ-02 (for AMap); none here: outside China
    assert res.sites["lon"].tolist() == pytest.approx(res.sites.geometry.x.tolist(), abs=1e-7)
    # the plan with the sites added covers what the siting said, and draws only the new circles
    after = plan_with_sites(before, res)
    assert after.coverage["layers"]["stations"]["minutes"]["2"]["people_covered"] == 45
    per = after.circles[(after.circles["scope"] == "facility") & (after.circles["layer"] == "stations")]
    assert len(per) == 3


def _west_plan():
    """Homes at x=100, 500 and 900 (5, 30 and 100 people), a station at x=0, a study area of x < 600, 160 m."""
    from geo.areas import StudyArea

    net = street()
    base = toy_base(net, [[100.0, 5], [500.0, 5], [900.0, 5]], [5.0, 30.0, 100.0],
                    facilities={"stations": [{"id": "s0", "name": "s0", "x": 0.0}]})
    area_m = shapely.box(-50, -50, 600, 50)
    area = StudyArea("west", "test", None, shapely.transform(area_m, lambda c: net.unproject(c)))
    before = plan(PlanInputs(), PlanParams(minutes=(2.0,), speed_kmh=4.8), base=base, area=area)
    return net, before


def test_sites_lie_inside_the_study_area():
    """With a study area covering x < 600 only, the site goes where the area's people are."""
    import dataclasses

    net, before = _west_plan()
    assert len(before.homes) == 2  # the home at x=900 is outside: not counted
    res = site(before, layer="stations", add=1, grid_m=50)
    x = net.project(res.sites.geometry.x.to_numpy(), res.sites.geometry.y.to_numpy())[:, 0]
    assert x[0] < 600 and res.sites["people_gained"].tolist() == [30.0]
    del dataclasses


def test_read_candidates_problems(tmp_path):
    p = tmp_path / "c.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(120.2, 30.2), shapely.LineString([(0, 0), (1, 1)])], crs=4326).to_file(p)
    with pytest.raises(InputError) as err:
        read_candidates(p)
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("feature 2: geometry is a LineString")
    with pytest.raises(InputError, match="file not found"):
        read_candidates(tmp_path / "none.geojson")


def test_candidates_are_read_as_facility_files_are_without_names(tmp_path):
    """Candidates in a GBK CSV, an XLSX and GeoJSON, in GCJ-02 (AMap) coordinates, give the same
    WGS84 points (a CSV used to end in an internal error); no name column is needed, and every
    bad row of the file is said at once, by row."""
    import pandas as pd

    from geo.crs import to_wgs84

    lon, lat = np.array([120.2101, 120.2202]), np.array([30.2003, 30.2104])
    frame = pd.DataFrame({"经度": lon, "纬度": lat, "备注": ["路口东", "公园北"]})
    csv, xlsx, gj = tmp_path / "c.csv", tmp_path / "c.xlsx", tmp_path / "c.geojson"
    csv.write_bytes(frame.to_csv(index=False).encode("gbk"))
    frame.to_excel(xlsx, index=False)
    gpd.GeoDataFrame({"备注": frame["备注"]}, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_file(gj)
    want_lon, want_lat = to_wgs84(lon, lat, "gcj02")
    for path in (csv, xlsx, gj):
        got = read_candidates(path, crs="gcj02")
        assert got.geometry.x.to_numpy() == pytest.approx(want_lon, abs=1e-7), path.name
        assert got.geometry.y.to_numpy() == pytest.approx(want_lat, abs=1e-7), path.name
        assert got["name"].isna().all()
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat\n120.21,30.20\nabc,30.2\n120.2,95\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_candidates(bad)
    assert len(err.value.problems) == 2
    assert "row 3" in err.value.problems[0] and "row 4" in err.value.problems[1]


def test_given_candidates_that_cannot_be_sites_are_listed():
    """A candidate too far from any street and one outside the study area are not sites; the
    summary names each (its file and row), where it is and why, and counts them."""
    net, before = _west_plan()
    ll = net.unproject(np.array([[500.0, 5.0], [300.0, 5000.0], [900.0, 5.0]]))
    cand = gpd.GeoDataFrame({"source": ["c.csv row 2", "c.csv row 3", "c.csv row 4"]},
                            geometry=gpd.points_from_xy(ll[:, 0], ll[:, 1]), crs=4326)
    res = site(before, layer="stations", add=1, candidates=cand)
    assert res.summary["candidates"] == 1
    assert res.summary["candidates_left_out_count"] == 2
    out = res.summary["candidates_left_out"]
    assert [o["candidate"] for o in out] == ["c.csv row 3", "c.csv row 4"]
    assert "from a walkable way" in out[0]["why"] and out[1]["why"] == "outside the study area"
    assert out[1]["lon"] == pytest.approx(ll[2, 0], abs=1e-7)
