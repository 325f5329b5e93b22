"""Question 2: nearest facility and walk time for every node, and 10/15-minute coverage.

The same network arrays and the same facilities (uniformly random places along the streets,
fixed seed) for every method:

* **ours**: :func:`geo.circles.multi_source` (facilities as virtual nodes on their edges, one
  ``min_only`` Dijkstra) + :func:`geo.circles.point_distances` for the homes;
* **raw scipy**: ``csgraph.dijkstra(min_only=True)`` on the very CSR ``multi_source`` builds,
  made beforehand (the floor: no Python around it);
* **networkx** ``multi_source_dijkstra`` on a DiGraph of the same CSR (virtual nodes too), so
  its answer must be identical — checked in the run;
* **pandana** ``nearest_pois`` (contraction hierarchies; facilities snapped to their nearest
  node, unreachable reported as the search radius);
* **the osmnx tutorial loop**: ``nearest_nodes`` then ``ego_graph(radius=...)`` per facility
  and threshold. Timed on as many facilities as fit a time budget and extrapolated linearly
  (said so in the table) when the full loop would take longer.
"""

from __future__ import annotations

import time

import numpy as np

from bench.common import SEED, fmt_s, osmnx_like_graph, quiet_stdout, random_on_streets, ratio, table, timed, timed_interleaved
from geo.circles import PROFILES, metres_for, multi_source, point_distances

LIMITS_M = tuple(metres_for(m, PROFILES["adult"]) for m in (10.0, 15.0))  # 800 m, 1200 m


def virtual_graph(net, fac):
    """The CSR ``multi_source`` searches: the network plus one row per facility."""
    from geo.circles import _with_virtual

    g, _ = _with_virtual(net, fac)
    return g


def nx_digraph(g):
    import networkx as nx

    return nx.from_scipy_sparse_array(g, create_using=nx.DiGraph, edge_attribute="length")


def nx_nearest(G, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """networkx multi-source Dijkstra from the virtual nodes: distance and facility per node."""
    import networkx as nx

    dist, paths = nx.multi_source_dijkstra(G, set(range(n, n + k)), weight="length")
    d = np.full(n, np.inf)
    s = np.full(n, -1, np.int64)
    for node, dd in dist.items():
        if node < n:
            d[node] = dd
            s[node] = paths[node][0] - n
    return d, s


def agreement(ours: np.ndarray, other: np.ndarray, limits=LIMITS_M) -> dict:
    """Covered-node sets compared at each limit: counts and the nodes that differ."""
    out = {}
    for lim in limits:
        a, b = ours <= lim, other <= lim
        diff = np.flatnonzero(a != b)
        out[f"{lim:g}"] = {"ours": int(a.sum()), "other": int(b.sum()), "only_ours": int((a & ~b).sum()),
                           "only_other": int((b & ~a).sum()), "identical": bool(len(diff) == 0),
                           "first_mismatches": [int(i) for i in diff[:10]]}
    return out


def pandana_network(net):
    import pandas as pd
    import pandana

    with quiet_stdout():
        p = pandana.Network(pd.Series(net.node_xy[:, 0]), pd.Series(net.node_xy[:, 1]),
                            pd.Series(net.edge_u), pd.Series(net.edge_v),
                            pd.DataFrame({"length": np.maximum(net.edge_len, 1e-3)}), twoway=True)
        p.precompute(max(LIMITS_M) + 1)
    return p


def pandana_nearest(p, xy: np.ndarray, maxdist: float) -> np.ndarray:
    """pandana's distance to the nearest facility per node (``maxdist`` where none in reach)."""
    with quiet_stdout():
        p.set_pois("fac", maxdist, 1, xy[:, 0], xy[:, 1])
        res = p.nearest_pois(maxdist, "fac", num_pois=1)
    return res[1].to_numpy(dtype=float)


def ego_loop(G, centre_nodes: np.ndarray, minutes, *, budget_s: float) -> tuple[float, int, set]:
    """The tutorial: one ``ego_graph(radius=trip_time, distance="time")`` per facility and
    threshold on an osmnx-shaped graph. Returns seconds per facility, how many facilities
    were timed, and the covered nodes at the largest threshold."""
    import networkx as nx

    covered: set = set()
    t0 = time.perf_counter()
    done = 0
    for c in centre_nodes:
        for m in minutes:
            sub = nx.ego_graph(G, int(c), radius=m, distance="time")
            if m == minutes[-1]:
                covered.update(sub.nodes)
        done += 1
        if time.perf_counter() - t0 > budget_s:
            break
    return (time.perf_counter() - t0) / done, done, covered


def run(net, *, homes_xy: np.ndarray | None = None, sizes=(50, 500, 2000), reps: int = 7,
        slow_reps: int = 3, ego_budget_s: float = 10.0, pandana_on: bool = True, label: str = "",
        G_osmnx=None) -> dict:
    """Compare the methods for each number of facilities; print one table per size.

    ``G_osmnx``: the network as an osmnx-shaped graph (:func:`bench.common.osmnx_like_graph`),
    built here when not given.
    """
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(SEED)
    n = net.n_nodes
    _ = net.csr, net.edge_tree  # one-off per network (cached): not part of the per-layer cost
    homes = net.snap(homes_xy, max_dist=500.0) if homes_xy is not None and len(homes_xy) else None
    t = time.perf_counter()
    G_osmnx = osmnx_like_graph(net) if G_osmnx is None else G_osmnx
    nx_build_s = time.perf_counter() - t
    kd = cKDTree(net.node_xy)
    pnet, pandana_setup_s = None, None
    if pandana_on:
        t = time.perf_counter()
        pnet = pandana_network(net)
        pandana_setup_s = time.perf_counter() - t
    out: dict = {"nodes": n, "edges": net.n_edges, "homes": 0 if homes is None else len(homes),
                 "limits_m": list(LIMITS_M), "networkx_graph_build_s": nx_build_s,
                 "pandana_network_and_precompute_s": pandana_setup_s, "sizes": {}}

    for k in sizes:
        fac = random_on_streets(net, k, rng)

        def ours():  # what every other method answers: nearest facility, distance, coverage per node
            r = multi_source(net, fac)
            return r, [int((r.dist <= lim).sum()) for lim in LIMITS_M]

        def ours_homes():  # and the homes placed along the streets (no other method does this)
            r, cov = ours()
            if homes is not None:
                hd, _ = point_distances(net, r, homes)
                cov = cov + [int((hd <= lim).sum()) for lim in LIMITS_M]
            return r, cov

        g = virtual_graph(net, fac)
        virtual = np.arange(n, n + k)
        tt, res = timed_interleaved({
            "ms": lambda: multi_source(net, fac),
            "ours": ours,
            "homes": ours_homes,
            "raw": lambda: dijkstra(g, directed=True, indices=virtual, min_only=True, return_predecessors=True),
        }, reps=reps)
        t_ms, t_ours, t_homes, t_raw = tt["ms"], tt["ours"], tt["homes"], tt["raw"]
        reach, (_, cov), raw = res["ms"], res["homes"], res["raw"]
        G = nx_digraph(g)
        t_nx, (nx_d, nx_s) = timed(lambda: nx_nearest(G, n, k), reps=slow_reps)
        row: dict = {"k": k, "ours_s": t_ours.as_dict(), "multi_source_s": t_ms.as_dict(),
                     "ours_with_homes_s": t_homes.as_dict(),
                     "raw_scipy_s": t_raw.as_dict(), "networkx_s": t_nx.as_dict(),
                     "covered_nodes": cov[:2], "covered_homes": cov[2:], "homes": out["homes"]}
        row["agree_networkx"] = agreement(reach.dist, nx_d)
        row["agree_raw_scipy"] = agreement(reach.dist, raw[0][:n])
        same_d = np.allclose(np.where(np.isfinite(reach.dist), reach.dist, -1), np.where(np.isfinite(nx_d), nx_d, -1))
        # nx's distance is the one from the facility it picked: equal distances with another
        # facility are ties (either is right), unequal ones are errors
        close = np.isclose(reach.dist, nx_d) | (~np.isfinite(reach.dist) & ~np.isfinite(nx_d))
        row["networkx_same_distances"] = bool(same_d)
        row["networkx_distance_mismatches"] = int((~close).sum())
        row["networkx_nearest_ties"] = int((close & (reach.source != nx_s)).sum())
        centres = kd.query(fac.xy)[1]
        per_fac, timed_k, ego_cov = ego_loop(G_osmnx, centres, (10.0, 15.0), budget_s=ego_budget_s)
        row["ego_graph"] = {"s_per_facility": per_fac, "timed_facilities": timed_k,
                            "total_s": per_fac * k, "extrapolated": timed_k < k}
        if timed_k == k:
            ego = np.full(n, np.inf)
            ego[list(ego_cov)] = 0.0
            row["agree_ego_graph_15min"] = agreement(reach.dist, ego, limits=(max(LIMITS_M),))
        if pnet is not None:
            t_pd, pd_d = timed(lambda: pandana_nearest(pnet, fac.xy, max(LIMITS_M)), reps=slow_reps)
            pd_d = np.where(pd_d >= max(LIMITS_M), np.inf, pd_d)  # pandana's "none within reach"
            row["pandana_s"] = t_pd.as_dict()
            row["agree_pandana"] = agreement(reach.dist, pd_d)
        out["sizes"][str(k)] = row
        out.setdefault("tables", []).append(_table(row, n, label))
        _print_agreement(row)
    return out


def _print_agreement(row: dict) -> None:
    a = row["agree_networkx"]
    bad = {lim: v for lim, v in a.items() if not v["identical"]}
    if bad:
        print(f"  MISMATCH vs networkx (k={row['k']}): {bad}", flush=True)
    else:
        print(f"  agreement (k={row['k']}): covered-node sets identical to networkx at "
              f"{', '.join(f'{float(x):g} m' for x in a)}; distances equal: {row['networkx_same_distances']}; "
              f"distances differ at {row['networkx_distance_mismatches']} nodes; "
              f"{row['networkx_nearest_ties']} nodes are ties between equally near facilities", flush=True)
    for name in ("agree_raw_scipy",):
        if not all(v["identical"] for v in row[name].values()):
            print(f"  MISMATCH vs raw scipy (k={row['k']}): {row[name]}", flush=True)
    for name, what in (("agree_pandana", "pandana (nearest-node snapping)"),
                       ("agree_ego_graph_15min", "ego_graph tutorial (nearest-node snapping)")):
        if name in row:
            parts = [f"{lim} m: {v['only_ours']} nodes only ours, {v['only_other']} only theirs"
                     for lim, v in row[name].items()]
            print(f"  differences vs {what}: {'; '.join(parts)}", flush=True)


def _table(row: dict, n: int, label: str) -> str:
    k = row["k"]
    ours = row["ours_s"]["median_s"]
    ego = row["ego_graph"]
    ego_note = (f"extrapolated from {ego['timed_facilities']} facilities" if ego["extrapolated"]
                else "full loop")
    homes = row["ours_with_homes_s"]["median_s"]
    rows = [
        ["ours: multi_source + node coverage", fmt_s(ours), "1x", "same answer as the rows below"],
        [f"ours, + point coverage of {row['homes']:,} homes", fmt_s(homes), ratio(homes, ours),
         "homes placed along their edges"],
        ["ours: multi_source alone", fmt_s(row["multi_source_s"]["median_s"]),
         ratio(row["multi_source_s"]["median_s"], ours),
         f"{row['multi_source_s']['median_s'] / row['raw_scipy_s']['median_s']:.2f}x the raw floor"],
        ["raw scipy dijkstra(min_only) on the same CSR", fmt_s(row["raw_scipy_s"]["median_s"]),
         ratio(row["raw_scipy_s"]["median_s"], ours), "floor (CSR built beforehand)"],
        ["networkx multi_source_dijkstra", fmt_s(row["networkx_s"]["median_s"]),
         ratio(row["networkx_s"]["median_s"], ours),
         "identical covered sets" if all(v["identical"] for v in row["agree_networkx"].values())
         else "MISMATCH (see above)"],
    ]
    if "pandana_s" in row:
        rows.append(["pandana set_pois + nearest_pois", fmt_s(row["pandana_s"]["median_s"]),
                     ratio(row["pandana_s"]["median_s"], ours), "facilities snapped to nodes"])
    rows.append(["osmnx tutorial: ego_graph per facility", fmt_s(ego["total_s"]), ratio(ego["total_s"], ours),
                 ego_note])
    return table(f"2. Coverage {label}— {k:,} facilities, {n:,} nodes, {row['homes']:,} homes, "
                 f"10/15 min (800/1200 m)", ["method", "time (median)", "vs ours", "note"], rows)
