"""Walk times on real OSM data, checked against an independent networkx Dijkstra."""

import networkx as nx
import numpy as np
import pytest

from geo.circles import multi_source, per_source, point_distances
from geo.network import MIN_ARC_M

pytestmark = pytest.mark.slow


def test_binjiang_network_is_built_from_the_pbf(binjiang_net):
    net = binjiang_net
    assert net.n_nodes > 5000 and net.n_edges > net.n_nodes  # a real street grid
    lon0, lat0, lon1, lat1 = net.bbox_lonlat()
    assert 120.05 < lon0 < lon1 < 120.35 and 30.05 < lat0 < lat1 < 30.30
    assert net.crs == 32651  # UTM 51N for Hangzhou
    # lengths follow the geometry
    import shapely

    assert np.allclose(shapely.length(net.edge_lines), net.edge_len)


def test_walk_times_match_networkx_dijkstra(binjiang_net):
    net = binjiang_net
    rng = np.random.default_rng(7)
    fac_xy = net.node_xy[rng.choice(net.n_nodes, 25, replace=False)] + rng.normal(0, 20, (25, 2))
    fac = net.snap(fac_xy, max_dist=300)
    reach = multi_source(net, fac)

    # independent reference: networkx multi-source Dijkstra on the same edges, with each
    # facility inserted as its own node splitting its edge
    g = nx.Graph()
    for e in range(net.n_edges):
        u, v, w = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_len[e])
        if u != v and (not g.has_edge(u, v) or g[u][v]["weight"] > w):
            g.add_edge(u, v, weight=w)
    sources = []
    for i in np.flatnonzero(fac.ok):
        e = fac.edge[i]
        f = ("f", int(i))
        g.add_edge(f, int(net.edge_u[e]), weight=float(fac.along[i]))
        g.add_edge(f, int(net.edge_v[e]), weight=float(net.edge_len[e] - fac.along[i]))
        sources.append(f)
    ref = nx.multi_source_dijkstra_path_length(g, sources, weight="weight")
    sample = rng.choice(net.n_nodes, 500, replace=False)
    got = reach.dist[sample]
    want = np.array([ref.get(int(n), np.inf) for n in sample])
    assert np.allclose(got, want, rtol=0, atol=0.01)


def test_per_facility_distances_match_networkx_single_source(binjiang_net):
    """per_source cuts the network to what a chunk of facilities reaches: on a real network,
    chunks of 4 facilities spread over the extract (two on one edge, one on a loop, one unsnapped) give each
    facility networkx's bounded single-source distances, to exactly the nodes within the limit."""
    net = binjiang_net
    rng = np.random.default_rng(11)
    xy = net.node_xy[rng.choice(net.n_nodes, 18, replace=False)] + rng.normal(0, 20, (18, 2))
    chord = np.hypot(*(net.node_xy[net.edge_u] - net.node_xy[net.edge_v]).T)
    e0 = int(np.argmax(np.where(net.edge_len < 1.01 * chord, chord, 0)))  # the longest straight edge
    a = net.node_xy[net.edge_u[e0]]
    b = net.node_xy[net.edge_v[e0]]
    xy = np.vstack([xy, a + 0.3 * (b - a), a + 0.6 * (b - a), [net.node_xy[:, 0].max() + 5000, 0]])
    fac = net.snap(xy, max_dist=300)
    assert not fac.ok[-1]
    assert fac.ok[:-1].sum() >= 18
    on = fac.edge[fac.ok]
    assert (net.edge_u[on] == net.edge_v[on]).any()
    assert fac.edge[18] == fac.edge[19]
    limit = 900.0
    got = per_source(net, fac, limit=limit, chunk=4)
    assert got.shape == (len(fac), net.n_nodes)
    assert got.getrow(len(fac) - 1).nnz == 0

    g = nx.Graph()
    for e in range(net.n_edges):
        u, v, w = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_len[e])
        if u != v and (not g.has_edge(u, v) or g[u][v]["weight"] > w):
            g.add_edge(u, v, weight=w)
    for i in np.flatnonzero(fac.ok):
        e = fac.edge[i]
        h = nx.Graph(g)
        to_u, to_v = max(float(fac.along[i]), MIN_ARC_M), max(float(net.edge_len[e] - fac.along[i]), MIN_ARC_M)
        if net.edge_u[e] == net.edge_v[e]:  # on a loop: both ways lead to its one node, the nearer counts
            to_u = to_v = min(to_u, to_v)
        h.add_edge("f", int(net.edge_u[e]), weight=to_u)
        h.add_edge("f", int(net.edge_v[e]), weight=to_v)
        want = nx.single_source_dijkstra_path_length(h, "f", cutoff=limit, weight="weight")
        want.pop("f")
        row = got.getrow(i)
        assert np.all(np.diff(row.indices) > 0)  # columns in increasing order
        assert set(row.indices.tolist()) == set(want)
        assert np.allclose(row.data, [want[int(n)] for n in row.indices], rtol=0, atol=0.02)


def test_homes_on_real_edges_never_beat_straight_line(binjiang_net):
    net = binjiang_net
    rng = np.random.default_rng(3)
    fac = net.snap(net.node_xy[rng.choice(net.n_nodes, 10, replace=False)], max_dist=300)
    homes = net.snap(net.node_xy[rng.choice(net.n_nodes, 300, replace=False)] + 15, max_dist=300)
    reach = multi_source(net, fac)
    d, src = point_distances(net, reach, homes)
    ok = np.isfinite(d)
    straight = np.hypot(*(homes.xy[ok] - fac.xy[src[ok]]).T)
    assert (d[ok] >= straight - 1e-6).all()
