"""Points near points from a grid of cells (geo.nearby), against scipy's k-d tree.

The same pairs as ``cKDTree.query_pairs``, the same neighbours as ``query_ball_point``, and the
same "any within" as a bounded ``query``, on the homes of a real extract and on points on whole
metres (pairs exactly ``r`` apart), including in chunks smaller than one cell's work.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

import geo.nearby as nearby
from geo.nearby import CellGrid, near_any, nearest_within, pairs_within, within_of


def _as_set(p: np.ndarray) -> set:
    return set(map(tuple, np.sort(np.asarray(p).reshape(-1, 2), axis=1).tolist()))


def _grid_points(seed: int = 1, n: int = 3000) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(0, 200, size=(n, 2)))


@pytest.mark.parametrize("r", [5.0, 10.0, 13.0, 40.0])
@pytest.mark.parametrize("chunk", [nearby.CHUNK_PAIRS, 500])
def test_pairs_are_the_trees(r, chunk, monkeypatch):
    monkeypatch.setattr(nearby, "CHUNK_PAIRS", chunk)
    pts = _grid_points()
    want = cKDTree(pts).query_pairs(r, output_type="ndarray")
    got = pairs_within(pts, r)
    assert (got[:, 0] < got[:, 1]).all()
    assert len({tuple(p) for p in got.tolist()}) == len(got)  # each pair once
    assert _as_set(got) == _as_set(want)
    assert len(want) > 0


def test_pairs_at_exactly_r_and_of_few_points():
    pts = np.array([[0, 0], [3, 4], [6, 8], [0, 5], [5, 0], [10, 0], [-5, 0], [-5, 0]], float)
    assert _as_set(pairs_within(pts, 5.0)) == _as_set(cKDTree(pts).query_pairs(5.0, output_type="ndarray"))
    assert pairs_within(pts[:1], 5.0).shape == (0, 2)
    assert pairs_within(np.zeros((0, 2)), 5.0).shape == (0, 2)
    with pytest.raises(ValueError, match="positive"):
        pairs_within(pts, 0.0)


@pytest.mark.parametrize("r", [5.0, 10.0])
def test_near_any_and_neighbours_are_the_trees(r):
    pts = _grid_points(seed=2)
    q = np.round(np.random.default_rng(3).uniform(-30, 230, size=(4000, 2)))  # some far outside the points
    d, _ = cKDTree(pts).query(q, distance_upper_bound=r)
    assert np.array_equal(near_any(q, pts, r), np.isfinite(d))  # strictly closer than r, as the tree
    some = q[::37]
    ball = cKDTree(pts).query_ball_point(some, r)
    want = np.unique(np.concatenate([np.asarray(b, np.int64) for b in ball]))
    assert np.array_equal(within_of(CellGrid(pts, r), some), want)
    assert not near_any(np.zeros((0, 2)), pts, r).size
    assert not near_any(q, np.zeros((0, 2)), r).any()


def test_on_the_homes_of_a_real_extract(binjiang_path, cache_dir):
    from geo.base import load_base
    from geo.plan_types import PlanInputs, PlanParams

    base = load_base(PlanInputs(osm=binjiang_path), PlanParams(cache_dir=cache_dir))
    xy = base.homes.xy
    for r in (37.5, 100.0):
        assert _as_set(pairs_within(xy, r)) == _as_set(cKDTree(xy).query_pairs(r, output_type="ndarray"))
    nodes = base.network.node_xy
    d, _ = cKDTree(xy[::3]).query(nodes, distance_upper_bound=150.0)
    assert np.array_equal(near_any(nodes, xy[::3], 150.0), np.isfinite(d))
    # the nearest named place of each home, as the street and community names take it
    places = base.places
    pxy = base.network.project(places.geometry.x.to_numpy(), places.geometry.y.to_numpy())
    assert len(pxy) > 20
    for r in (300.0, 1500.0):
        d, j = cKDTree(pxy).query(xy, distance_upper_bound=r)
        got_d, got_j = nearest_within(xy, pxy, r)
        assert np.array_equal(got_j, j)
        assert np.allclose(got_d[np.isfinite(d)], d[np.isfinite(d)])
        assert np.array_equal(np.isfinite(got_d), np.isfinite(d))
    # a few points named without a tree, many with one: the same names
    from geo.areas import FEW_TO_NAME, name_points

    some = xy[:: max(1, len(xy) // (3 * FEW_TO_NAME))][: 3 * FEW_TO_NAME]
    many = name_points(some, places=places, project=base.network.project)
    for a in range(0, len(some), FEW_TO_NAME // 2):
        few = name_points(some[a : a + FEW_TO_NAME // 2], places=places, project=base.network.project)
        for whole, part in zip(many, few, strict=True):
            assert list(whole[a : a + FEW_TO_NAME // 2]) == list(part)


def test_nearest_within_is_the_trees_bounded_query_and_takes_the_lowest_of_ties():
    pts = _grid_points(seed=4)
    q = np.round(np.random.default_rng(5).uniform(-30, 230, size=(3000, 2)))
    for r in (3.0, 10.0):
        d, j = cKDTree(pts).query(q, distance_upper_bound=r)
        got_d, got_j = nearest_within(q, pts, r)
        hit = np.isfinite(d)
        assert np.array_equal(np.isfinite(got_d), hit)
        assert np.array_equal(got_d[hit], d[hit])
        assert (got_j[~hit] == len(pts)).all()
        assert np.allclose(np.hypot(*(q[hit] - pts[got_j[hit]]).T), d[hit])  # a nearest one, maybe another of a tie
    twins = np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    d, j = nearest_within(np.array([[0.0, 0.0], [9.0, 9.0]]), twins, 6.0)
    assert j.tolist() == [0, 3]
    assert d[0] == 5.0
    assert np.isinf(d[1])


def test_points_without_coordinates_are_refused_as_the_tree_refuses_them():
    pts = _grid_points(n=50)
    bad = pts.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        cKDTree(bad)
    with pytest.raises(ValueError, match="finite"):
        pairs_within(bad, 10.0)
    inf = pts.copy()
    inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        near_any(inf, pts, 10.0)
