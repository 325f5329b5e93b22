"""Question 4 (in-process part; ``bench/http.py`` adds the HTTP round trip): nearest service.

"Which facility is nearest on foot to this address, how far, by which streets?"

* **ours**: the layer's :func:`geo.circles.multi_source` runs once (as ``plan`` does); a query
  is then project -> snap onto the nearest edge -> :func:`geo.circles.point_distances` ->
  :meth:`geo.circles.Reach.route_nodes`. Timed one query at a time and as one batch.
* **osmnx, as users write it**: ``nearest_nodes`` for the address, the straight-line nearest
  facility, then ``shortest_path`` to it (can pick the wrong facility: counted);
* **networkx exact**: ``nearest_nodes`` then ``multi_source_dijkstra`` from all facility
  nodes with the address as target.
"""

from __future__ import annotations

import time

import numpy as np

from bench.common import SEED, fmt_s, osmnx_like_graph, random_on_streets, ratio, table, timed

M_TO_ROUTE = 0.5  # metres: distances this close count as the same answer


def run(net, *, k: int = 500, queries: int = 200, slow_queries: int = 30, G_osmnx=None, label: str = "") -> dict:
    """Per-query times (medians): ours over ``queries`` addresses, the osmnx ways over the
    first ``slow_queries`` of them (each takes ~0.5 s: ``nearest_nodes`` rebuilds its index)."""
    import networkx as nx
    import osmnx as ox
    from scipy.spatial import cKDTree

    from geo.circles import multi_source, point_distances

    rng = np.random.default_rng(SEED + 4)
    fac = random_on_streets(net, k, rng)
    q = random_on_streets(net, queries, rng).xy + rng.normal(0.0, 20.0, (queries, 2))
    q_lonlat = net.unproject(q)
    G = osmnx_like_graph(net) if G_osmnx is None else G_osmnx
    t = time.perf_counter()
    reach = multi_source(net, fac)
    setup = time.perf_counter() - t
    _ = net.edge_tree

    def ours_one(lon, lat):
        xy = net.project(np.array([lon]), np.array([lat]))
        s = net.snap(xy, max_dist=500.0)
        d, src = point_distances(net, reach, s)
        e = int(s.edge[0])
        node = int(net.edge_u[e]) if reach.dist[net.edge_u[e]] + s.along[0] <= reach.dist[net.edge_v[e]] + (
            net.edge_len[e] - s.along[0]) else int(net.edge_v[e])
        return float(d[0]), int(src[0]), reach.route_nodes(node)

    ours_t, ours_d, ours_src = [], [], []
    for lon, lat in q_lonlat:
        t = time.perf_counter()
        d, s, _ = ours_one(lon, lat)
        ours_t.append(time.perf_counter() - t)
        ours_d.append(d)
        ours_src.append(s)
    def batch():
        s_all = net.snap(net.project(q_lonlat[:, 0], q_lonlat[:, 1]), max_dist=500.0)
        return point_distances(net, reach, s_all)[0]

    t_batch, batch_d = timed(batch, reps=5)
    batch_per = t_batch.median / queries

    fac_nodes = ox.distance.nearest_nodes(G, fac.xy[:, 0], fac.xy[:, 1])
    fac_kd = cKDTree(fac.xy)
    naive_t, naive_d, exact_t, exact_d, wrong = [], [], [], [], 0
    for i, (x, y) in enumerate(q[:slow_queries]):
        t = time.perf_counter()
        orig = ox.distance.nearest_nodes(G, x, y)
        j = int(fac_kd.query([x, y])[1])
        path = ox.shortest_path(G, orig, int(fac_nodes[j]), weight="length")
        length = sum(G[a][b][0]["length"] for a, b in zip(path[:-1], path[1:])) if path else np.inf
        naive_t.append(time.perf_counter() - t)
        naive_d.append(length)
        wrong += int(j != ours_src[i])
        t = time.perf_counter()
        orig = ox.distance.nearest_nodes(G, x, y)
        d, _ = nx.multi_source_dijkstra(G, set(int(v) for v in fac_nodes), target=orig, weight="length")
        exact_t.append(time.perf_counter() - t)
        exact_d.append(d)
    med = lambda a: float(np.median(a))  # noqa: E731
    ours_med = med(ours_t)
    out = {"k": k, "queries": queries, "multi_source_once_s": setup,
           "ours_s_per_query": ours_med, "ours_batch_s_per_query": batch_per,
           "batch_equals_one_by_one": bool(np.allclose(batch_d, ours_d)),
           "osmnx_naive_s_per_query": med(naive_t), "networkx_exact_s_per_query": med(exact_t),
           "naive_picks_other_facility": int(wrong),
           "slow_queries": len(exact_d),
           "median_abs_diff_m_vs_networkx_exact": med(np.abs(np.array(ours_d[:len(exact_d)]) - np.array(exact_d)))}
    rows = [
        ["ours in-process (one query)", fmt_s(ours_med), "1x", f"after one multi_source ({fmt_s(setup)})"],
        ["ours in-process (batch, per query)", fmt_s(batch_per), ratio(batch_per, ours_med), ""],
        ["osmnx nearest_nodes + straight-line nearest + shortest_path", fmt_s(med(naive_t)),
         ratio(med(naive_t), ours_med), f"other facility than the walk-nearest in {wrong}/{len(naive_t)}"],
        ["osmnx nearest_nodes + networkx multi_source_dijkstra(target)", fmt_s(med(exact_t)),
         ratio(med(exact_t), ours_med),
         f"median abs. difference vs ours {out['median_abs_diff_m_vs_networkx_exact']:.1f} m (node snapping)"],
    ]
    out["table"] = table(f"4. Nearest-service query {label}— {k} facilities, {queries} addresses "
                         f"(osmnx/networkx: first {len(naive_t)}; medians)",
                         ["method", "time per query", "vs ours", "note"], rows)
    return out
