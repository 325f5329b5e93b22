"""Invariants of coverage on the real Binjiang network, over random facility sets.

Each invariant compares two answers computed independently: the engine's (one multi-source
search bounded at its own threshold, :func:`geo.circles.multi_source`, then
:func:`geo.circles.point_distances`) and a reference written here from one bounded search per
facility (:func:`geo.circles.per_source`), its home distances taken as the minimum over the
facilities of the walks via either end of the home's edge or straight along a shared edge.
A search that stopped too early or too late, mixed up sources or mis-read a threshold breaks them.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.circles import metres_for, multi_source, per_source, point_distances

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: two float sums of the same walk taken in another order differ by far less than this
EPS = 1e-6


@pytest.fixture(scope="module")
def world(binjiang_net):
    rng = np.random.default_rng(11)
    homes = binjiang_net.snap(binjiang_net.node_xy[rng.choice(binjiang_net.n_nodes, 2000, replace=False)] + 10,
                              max_dist=300)
    return binjiang_net, homes


def facilities(net, seeds):
    idx = np.array([s % net.n_nodes for s in seeds], dtype=np.int64)
    return net.snap(net.node_xy[idx] + 3.0, max_dist=300)


def engine(net, homes, fac, limit):
    """Metres from each home to its nearest facility: one multi-source search bounded at ``limit``."""
    d, _ = point_distances(net, multi_source(net, fac, limit=limit), homes)
    return d


def reference(net, homes, fac, limit):
    """The same from one bounded search per facility (``inf`` beyond ``limit``)."""
    node = per_source(net, fac, limit=limit).toarray()
    node[node == 0] = np.inf  # absent entries: out of reach (stored distances are never 0)
    e, a = homes.edge, homes.along
    u, v, length = net.edge_u[e], net.edge_v[e], net.edge_len[e]
    best = np.minimum(node[:, u] + a, node[:, v] + (length - a))  # facilities x homes
    same = fac.ok[:, None] & (fac.edge[:, None] == e[None, :])
    best = np.where(same, np.minimum(best, np.abs(fac.along[:, None] - a[None, :])), best)
    d = best.min(axis=0) if len(fac) else np.full(len(e), np.inf)
    d[~homes.ok] = np.inf
    return np.where(d <= limit, d, np.inf)


def agree(d_engine, d_ref, limit):
    """Both say the same homes are within ``limit``, at the same distances."""
    within = (d_engine <= limit) | (d_ref <= limit)
    np.testing.assert_allclose(d_engine[within], d_ref[within], rtol=0, atol=EPS)


@SETTINGS
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=30, unique=True))
def test_ten_minute_coverage_lies_inside_fifteen(world, seeds):
    net, homes = world
    fac = facilities(net, seeds)
    m10, m15 = metres_for(10, 4.8), metres_for(15, 4.8)
    c10 = engine(net, homes, fac, m10) <= m10  # the engine's own search, stopped at 10 minutes
    d15 = reference(net, homes, fac, m15)  # per-facility searches, stopped at 15 minutes
    assert not (c10 & ~(d15 <= m15)).any()
    agree(engine(net, homes, fac, np.inf), d15, m15)


@SETTINGS
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20, unique=True), st.integers(0, 10**9))
def test_adding_a_facility_never_lowers_coverage(world, seeds, extra):
    net, homes = world
    limit = metres_for(10, 4.8)
    before = engine(net, homes, facilities(net, seeds), limit) <= limit
    after = reference(net, homes, facilities(net, [*seeds, extra]), limit) <= limit
    assert not (before & ~after).any()
    assert after.sum() >= before.sum()


@SETTINGS
@given(st.floats(1.0, 6.0), st.lists(st.integers(0, 10**9), min_size=1, max_size=10, unique=True))
def test_slower_walkers_cover_no_more(world, speed, seeds):
    net, homes = world
    fac = facilities(net, seeds)
    fast_m, slow_m = metres_for(15, speed + 0.5), metres_for(15, speed)
    fast = engine(net, homes, fac, fast_m) <= fast_m
    slow = reference(net, homes, fac, slow_m) <= slow_m
    assert not (slow & ~fast).any()
    agree(engine(net, homes, fac, slow_m), reference(net, homes, fac, slow_m), slow_m)
