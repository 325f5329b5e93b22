"""The API on a real Hangzhou network (Binjiang clip): /nearest walk distances equal networkx
shortest paths on the same arrays, routes are as long as the walk, filters use the right labels."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from geo.network import MIN_ARC_M

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]


@pytest.fixture(scope="module")
def street_graph(binjiang_client):
    """The network as a networkx graph (parallel edges keep the shortest, as the CSR does)."""
    net = binjiang_client.app.state.served.result.network
    g = nx.Graph()
    for e in range(net.n_edges):
        u, v, w = int(net.edge_u[e]), int(net.edge_v[e]), max(float(net.edge_len[e]), MIN_ARC_M)
        if u != v and (not g.has_edge(u, v) or g[u][v]["weight"] > w):
            g.add_edge(u, v, weight=w)
    return g


def reference_metres(g, net, fac, mask, lon, lat):
    """Walk metres from the snapped query point to every facility in ``mask``, by networkx:
    the query and the facilities join ``g`` as extra nodes on their edges (removed after)."""
    q = net.snap(net.project([lon], [lat]), max_dist=1000)

    def attach(name, e, a):
        u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_len[e])
        if u == v:
            g.add_edge(name, u, weight=max(min(a, length - a), MIN_ARC_M))
        else:
            g.add_edge(name, u, weight=max(a, MIN_ARC_M))
            g.add_edge(name, v, weight=max(length - a, MIN_ARC_M))

    ids = [int(i) for i in np.flatnonzero(fac.ok & mask)]
    try:
        attach("q", int(q.edge[0]), float(q.along[0]))
        for i in ids:
            attach(("f", i), int(fac.edge[i]), float(fac.along[i]))
            if fac.edge[i] == q.edge[0]:
                g.add_edge("q", ("f", i), weight=max(abs(float(fac.along[i]) - float(q.along[0])), MIN_ARC_M))
        d = nx.single_source_dijkstra_path_length(g, "q", weight="weight")
    finally:
        g.remove_nodes_from(["q"] + [("f", i) for i in ids])
    return {i: d[("f", i)] for i in ids if ("f", i) in d}


def test_nearest_matches_networkx(binjiang_client, street_graph):
    c = binjiang_client
    res = c.app.state.served.result
    net = res.network
    lr = res.layers["centres"]
    rng = np.random.default_rng(66)
    nodes = rng.choice(net.n_nodes, size=6, replace=False)
    for lon, lat in net.unproject(net.node_xy[nodes] + rng.uniform(-40, 40, (6, 2))):
        body = c.get("/nearest", params={"lon": lon, "lat": lat, "layer": "centres", "k": 3}).json()
        ref = reference_metres(street_graph, net, lr.snapped, np.ones(len(lr.facilities), bool), lon, lat)
        want = [d for d in sorted(ref.values()) if d <= 60 * 80.0][:3]  # within the 60-minute search
        got = [r["walk_metres"] for r in body["results"]]
        assert got == pytest.approx(want, abs=0.01)
        ones = c.get("/nearest", params={"lon": lon, "lat": lat, "layer": "centres"}).json()["results"]
        assert [o["walk_metres"] for o in ones] == pytest.approx(want[:1], abs=0.01)
        ids = list(lr.facilities["id"])
        for r in body["results"] + ones:
            assert ref[ids.index(r["facility"]["properties"]["id"])] == pytest.approx(r["walk_metres"], abs=0.01)
            xy = net.project(*np.asarray(r["route"]["coordinates"]).T)
            assert float(np.hypot(*np.diff(xy, axis=0).T).sum()) == pytest.approx(r["walk_metres"], abs=0.1)


def test_tier_filter_uses_the_subset_labels_and_agrees_with_search(binjiang_client, street_graph):
    """centres[tier=community] has precomputed labels (k=1); k=2 searches. Both must agree,
    and match networkx over the community centres only."""
    c = binjiang_client
    res = c.app.state.served.result
    assert "centres[tier=community]" in res.subsets
    net = res.network
    lr = res.layers["centres"]
    community = lr.facilities["tier"].to_numpy(dtype=object) == "community"
    assert 0 < community.sum() < len(community)
    rng = np.random.default_rng(7)
    for node in rng.choice(net.n_nodes, size=4, replace=False):
        lon, lat = net.node_lonlat[node]
        q = {"lon": lon, "lat": lat, "layer": "centres", "tier": "community"}
        one = c.get("/nearest", params=q).json()["results"]
        two = c.get("/nearest", params={**q, "k": 2}).json()["results"]
        ref = [d for d in sorted(reference_metres(street_graph, net, lr.snapped, community, lon, lat).values())
               if d <= 60 * 80.0]
        assert [r["walk_metres"] for r in one] == pytest.approx(ref[:1], abs=0.01)
        assert [r["walk_metres"] for r in two] == pytest.approx(ref[:2], abs=0.01)
        assert all(r["facility"]["properties"]["tier"] == "community" for r in one + two)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_chinese_map_coordinates(binjiang_client, crs):
    """A point copied from AMap (GCJ-02) or Baidu (BD-09) gets the answer of its WGS84 position."""
    from geo.crs import wgs84_to_bd09, wgs84_to_gcj02

    c = binjiang_client
    net = c.app.state.served.result.network
    lon, lat = net.node_lonlat[net.n_nodes // 2] + 0.0002
    glon, glat = (wgs84_to_gcj02 if crs == "gcj02" else wgs84_to_bd09)(lon, lat)
    assert abs(float(glon) - lon) + abs(float(glat) - lat) > 0.002  # hundreds of metres apart
    plain = c.get("/nearest", params={"lon": lon, "lat": lat}).json()
    shifted = c.get("/nearest", params={"lon": float(glon), "lat": float(glat), "crs": crs, "out_crs": "wgs84"}).json()
    assert shifted["query"]["crs"] == crs and shifted["query"]["lon"] == pytest.approx(float(glon))
    np.testing.assert_allclose(shifted["query"]["snapped"]["coordinates"], plain["query"]["snapped"]["coordinates"],
                               atol=1e-6)
    assert shifted["results"] == plain["results"]
    # asked in AMap/Baidu coordinates, answered in them (routes drawn on those maps line up)
    native = c.get("/nearest", params={"lon": float(glon), "lat": float(glat), "crs": crs}).json()
    assert native["query"]["out_crs"] == crs
    to = wgs84_to_gcj02 if crs == "gcj02" else wgs84_to_bd09
    for a, b in zip(native["results"], plain["results"]):
        want = np.column_stack(to(*np.asarray(b["route"]["coordinates"]).T))
        np.testing.assert_allclose(a["route"]["coordinates"], want, atol=2e-7)
        np.testing.assert_allclose(a["facility"]["geometry"]["coordinates"],
                                   np.ravel(to(*b["facility"]["geometry"]["coordinates"])), atol=2e-7)
