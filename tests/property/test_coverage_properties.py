"""Invariants of coverage on the real Binjiang network, over random facility sets."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.circles import metres_for, multi_source, point_distances

pytestmark = pytest.mark.slow
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def world(binjiang_net):
    rng = np.random.default_rng(11)
    homes = binjiang_net.snap(binjiang_net.node_xy[rng.choice(binjiang_net.n_nodes, 2000, replace=False)] + 10, max_dist=300)
    return binjiang_net, homes


def covered(net, homes, idx, minutes, speed=4.8):
    fac = net.snap(net.node_xy[np.asarray(idx, dtype=np.int64)], max_dist=300)
    d, _ = point_distances(net, multi_source(net, fac), homes)
    return d <= metres_for(minutes, speed)


@SETTINGS
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=30, unique=True))
def test_ten_minute_coverage_lies_inside_fifteen(world, seeds):
    net, homes = world
    idx = [s % net.n_nodes for s in seeds]
    c10, c15 = covered(net, homes, idx, 10), covered(net, homes, idx, 15)
    assert not (c10 & ~c15).any()


@SETTINGS
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20, unique=True), st.integers(0, 10**9))
def test_adding_a_facility_never_lowers_coverage(world, seeds, extra):
    net, homes = world
    idx = [s % net.n_nodes for s in seeds]
    before = covered(net, homes, idx, 10)
    after = covered(net, homes, idx + [extra % net.n_nodes], 10)
    assert not (before & ~after).any()
    assert after.sum() >= before.sum()


@SETTINGS
@given(st.floats(1.0, 6.0), st.lists(st.integers(0, 10**9), min_size=1, max_size=10, unique=True))
def test_slower_walkers_cover_no_more(world, speed, seeds):
    net, homes = world
    idx = [s % net.n_nodes for s in seeds]
    fast = covered(net, homes, idx, 15, speed=speed + 0.5)
    slow = covered(net, homes, idx, 15, speed=speed)
    assert not (slow & ~fast).any()
