"""Walk times on real OSM data, checked against an independent networkx Dijkstra."""

import networkx as nx
import numpy as np
import pytest

from geo.circles import multi_source, point_distances

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
