"""The benchmark code runs and its agreement checks pass (no timing assertions).

Runs the functions of ``bench/`` on the embedded Helsinki extract and tiny grids with small
sizes, so the benchmarks do not rot between ``make bench`` runs.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

#: pandana comes with the ``bench`` extra (``make bench``); without it the pandana rows are skipped
HAS_PANDANA = importlib.util.find_spec("pandana") is not None


@pytest.fixture(scope="module")
def helsinki_net(helsinki_path):
    from geo.network import build_network
    from geo.osm import read_osm

    return build_network(read_osm(helsinki_path).ways)


@pytest.fixture(scope="module")
def helsinki_graph(helsinki_net):
    from bench.common import osmnx_like_graph

    return osmnx_like_graph(helsinki_net)


def test_coverage_agrees_with_networkx_and_raw_scipy(helsinki_net, helsinki_graph):
    from bench import coverage
    from bench.common import random_on_streets

    homes = random_on_streets(helsinki_net, 200, np.random.default_rng(1)).xy
    doc = coverage.run(helsinki_net, homes_xy=homes, sizes=(5, 40), reps=1, slow_reps=1, ego_budget_s=0.2,
                       G_osmnx=helsinki_graph, pandana_on=HAS_PANDANA)
    for row in doc["sizes"].values():
        assert all(v["identical"] for v in row["agree_networkx"].values())
        assert all(v["identical"] for v in row["agree_raw_scipy"].values())
        assert row["networkx_distance_mismatches"] == 0
        assert row["networkx_same_distances"]
        ego = row["ego_graph"]
        assert ego["extrapolated"] == (ego["timed_facilities"] < row["k"])
        # node-snapped tools cover roughly the same land: not identical, but overlapping
        if HAS_PANDANA:
            pd15 = row["agree_pandana"][f"{max(coverage.LIMITS_M):g}"]
            assert pd15["ours"] > 0 and pd15["other"] > 0
        else:
            assert "agree_pandana" not in row
        assert len(row["covered_homes"]) == 2 and row["covered_homes"][0] <= row["covered_homes"][1]


def test_overclaim_ours_stays_within_the_width_hull_does_not(helsinki_net, helsinki_graph):
    from bench import overclaim

    doc = overclaim.run(helsinki_net, k=3, minutes=(3.0, 5.0), G_osmnx=helsinki_graph)
    ours, exact = doc["methods"]["ours"], doc["methods"]["ours, exact"]
    hull = doc["methods"]["convex hull"]
    assert exact["max_overclaim"] < 1e-3  # the exact circles never claim land beyond the width
    assert ours["max_overclaim"] < 0.05  # the grid ones by at most a cell's rounding
    assert hull["median_overclaim"] > 5 * ours["median_overclaim"]


def test_polygon_bench_measures_speed_and_fidelity(helsinki_path):
    from bench import polygons

    doc = polygons.run(helsinki_path, n_facilities=8, exact_sample=4)
    fid = doc["fidelity"]
    # nested by construction: the 10-minute circle's vertices are lattice points of the 15-minute
    # one's canvas; what GEOS's overlay leaves of their difference is rounding (~1e-9 m²)
    assert fid["valid_share"] == 1.0 and fid["nesting_violation_m2_max"] < 1e-6
    assert fid["symdiff_median"] < 0.06 and 0.95 < fid["area_ratio_median"] < 1.05
    assert doc["raster_s_per_polygon_1core"] > 0 and doc["exact_s_per_polygon"] > 0


def test_query_batch_equals_one_by_one(helsinki_net, helsinki_graph):
    from bench import query

    doc = query.run(helsinki_net, k=20, queries=12, slow_queries=3, G_osmnx=helsinki_graph)
    assert doc["batch_equals_one_by_one"]
    assert 0 <= doc["naive_picks_other_facility"] <= 3


def test_scaling_grid_is_a_grid_and_the_pipeline_runs():
    from bench.scaling import BLOCK_M, grid_network, pipeline

    net = grid_network(5)
    assert (net.n_nodes, net.n_edges) == (25, 40)
    assert np.allclose(net.edge_len, BLOCK_M)
    # every edge joins horizontal or vertical neighbours exactly one block apart
    d = net.node_xy[net.edge_v] - net.node_xy[net.edge_u]
    assert np.allclose(np.abs(d).sum(axis=1), BLOCK_M)
    doc = pipeline(12, polygons=True)
    assert doc["nodes"] == 144 and doc["circle_km2"] > 0
    assert 0 <= doc["homes_covered_10min"] <= doc["homes"]


def test_walkable_xml_holds_the_walkable_ways(helsinki_path, tmp_path):
    from bench.network import walkable_xml
    from geo.osm import read_osm

    doc = walkable_xml(helsinki_path, tmp_path / "w.osm")
    assert doc["ways"] == len(read_osm(helsinki_path).ways.offsets) - 1
    assert doc["nodes"] > 0 and (tmp_path / "w.osm").stat().st_size == doc["bytes"]


def test_runner_helpers():
    from bench.common import ratio, table
    from bench.run import call_with, optional

    assert optional("no_such_benchmark") is None
    assert call_with(lambda net, k=3: (net, k), {"net": 1, "other": 2}) == (1, 3)
    with pytest.raises(TypeError, match="needs 'x'"):
        call_with(lambda x: x, {})
    assert ratio(30.0, 10.0) == "3x" and ratio(None, 1.0) == "-"
    assert "| a " in table("t", ["a", "b"], [[1, 2]])


def test_crossings_bench_runs_both_models(helsinki_path, tmp_path):
    from bench import crossings
    from bench.run import QUESTIONS

    assert "crossings" in QUESTIONS
    doc = crossings.run(helsinki_path, reps=1, quick=True, cache_dir=tmp_path, k_search=5)
    n = doc["network"]
    assert n["strict"]["split_nodes"] > 0 and n["strict"]["edges"] > n["anywhere"]["edges"]
    assert n["anywhere"]["split_nodes"] == 0
    assert n[crossings.SIGNALS]["edges"] > n["strict"]["edges"]  # Helsinki maps its traffic lights
    for layer in doc["layers"].values():
        for row in layer["minutes"].values():
            assert all(0.0 <= s <= 1.0 for s in row["people_share"].values())
            # the covered counts and the per-home changes agree
            assert row["homes"]["strict"] - row["homes"]["anywhere"] == row["homes_gained_strict"] - row["homes_lost_strict"]
    assert len(doc["table"]) == 2
