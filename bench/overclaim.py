"""Question 3 (with ``bench/polygons.py``): circle polygons against the tutorial's shapes.

For the same facilities (random places along the streets, fixed seed) and the 10/15-minute
limits:

* **ours**: :func:`geo.polygons.facility_polygons` (reached street stretches, cut where time
  runs out, buffered by ``width``; one process);
* **convex hull** of the nodes the tutorial's ``ego_graph`` reaches;
* **the osmnx tutorial's** ``make_iso_polys``: nodes of the ``ego_graph`` and the geometry of
  its edges buffered (``edge_buff=25``, ``node_buff=0``, ``infill=True``, as the notebook calls
  it), united with geopandas.

Over-claim: the share of a polygon's area farther than ``width`` (30 m) from every street
stretch really reached within the limit (the stretches of :func:`geo.polygons.source_intervals`,
buffered with fine round caps). Ours should be ~0 (its round caps are chords inside the true
buffer); a hull jumps blocks, rivers and rail lines.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bench.common import SEED, fmt_s, osmnx_like_graph, random_on_streets, ratio, table, timed

MINUTES = (10.0, 15.0)
SPEED_KMH = 4.8


def tutorial_iso_polys(G, center_node: int, trip_times, *, edge_buff=25.0, node_buff=0.0, infill=True) -> list:
    """The osmnx isochrone notebook's ``make_iso_polys`` (one centre), smallest time first."""
    import geopandas as gpd
    import networkx as nx
    from shapely.geometry import LineString, Point, Polygon

    polys = []
    for trip_time in sorted(trip_times, reverse=True):
        subgraph = nx.ego_graph(G, center_node, radius=trip_time, distance="time")
        node_points = [Point((data["x"], data["y"])) for node, data in subgraph.nodes(data=True)]
        nodes_gdf = gpd.GeoDataFrame({"id": list(subgraph.nodes)}, geometry=node_points).set_index("id")
        edge_lines = []
        for n_fr, n_to in subgraph.edges():
            f = nodes_gdf.loc[n_fr].geometry
            t = nodes_gdf.loc[n_to].geometry
            edge_lines.append(G.get_edge_data(n_fr, n_to)[0].get("geometry", LineString([f, t])))
        n = nodes_gdf.buffer(node_buff).geometry
        e = gpd.GeoSeries(edge_lines).buffer(edge_buff).geometry
        new_iso = gpd.GeoSeries(list(n) + list(e)).union_all()
        if infill and new_iso.geom_type == "Polygon":
            new_iso = Polygon(new_iso.exterior)
        polys.append(new_iso)
    return polys[::-1]


def hull_polys(G, center_node: int, trip_times) -> list:
    """Convex hull of the nodes ``ego_graph`` reaches (the other shape in the tutorial)."""
    import networkx as nx
    import shapely

    out = []
    for trip_time in sorted(trip_times):
        sub = nx.ego_graph(G, center_node, radius=trip_time, distance="time")
        pts = np.array([(d["x"], d["y"]) for _, d in sub.nodes(data=True)])
        out.append(shapely.convex_hull(shapely.multipoints(pts)))
    return out


def truth_zone(net, nodes, dist, limit_m: float, own, width: float):
    """Land within ``width`` of the street stretches reached within ``limit_m`` (fine caps)."""
    import shapely

    from geo.polygons import cut_lines, source_intervals

    e, s, t = source_intervals(net, nodes, dist, limit_m, own)
    keep = t > s
    lines = cut_lines(net, e[keep], s[keep], t[keep])
    return shapely.union_all(shapely.buffer(lines, width * (1 + 1e-6) + 1e-6, quad_segs=16))


def overclaim(poly, truth) -> float:
    """Share of ``poly``'s area outside ``truth``."""
    a = poly.area
    return float(poly.difference(truth).area / a) if a > 0 else 0.0


def run(net, *, k: int = 30, width: float = 30.0, minutes=MINUTES, G_osmnx=None, label: str = "") -> dict:
    """Time per polygon, area and over-claim for ``k`` facilities at ``minutes`` (ascending)."""
    from scipy.spatial import cKDTree

    from geo.circles import per_source
    from geo.polygons import ExactDrawer, facility_polygons
    from geo.raster import CircleDrawer, RasterGeometry, draw_pad

    rng = np.random.default_rng(SEED + 3)
    fac = random_on_streets(net, k, rng)
    minutes = tuple(sorted(minutes))
    limits = [m * SPEED_KMH * 1000 / 60 for m in minutes]
    G = osmnx_like_graph(net) if G_osmnx is None else G_osmnx
    t0 = time.perf_counter()
    geom = RasterGeometry(net, width / 8, pad_m=draw_pad(width))  # once per network
    geom.edge_px  # noqa: B018
    exact = ExactDrawer(net, width, cells=True)  # whole-edge buffers and cells, once per network
    exact.cells  # noqa: B018
    one_off = time.perf_counter() - t0
    t_search, dist = timed(lambda: per_source(net, fac, limit=max(limits)), reps=3)
    ok = fac.ok
    t_ours, ours = timed(lambda: CircleDrawer(geom, width).source_circles(dist, limits, fac.edge, fac.along), reps=3)
    t_exact, exact_polys = timed(lambda: facility_polygons(net, fac, limits, dist=dist, drawer=exact), reps=1)
    del ok
    centres = cKDTree(net.node_xy).query(fac.xy)[1]
    t = time.perf_counter()
    tut = [tutorial_iso_polys(G, int(c), minutes) for c in centres]
    t_tut = time.perf_counter() - t
    t = time.perf_counter()
    hull = [hull_polys(G, int(c), minutes) for c in centres]
    t_hull = time.perf_counter() - t

    per = {"ours": [], "ours, exact": [], "convex hull": [], "tutorial buffer": []}
    for i in range(k):
        lo, hi = dist.indptr[i], dist.indptr[i + 1]
        nodes, dd = dist.indices[lo:hi], dist.data[lo:hi]
        own = fac.subset(np.arange(k) == i)
        for j, lim in enumerate(limits):
            truth = truth_zone(net, nodes, dd, lim, own, width)
            for name, poly in (("ours", ours[i, j]), ("ours, exact", exact_polys[i, j]), ("convex hull", hull[i][j]),
                               ("tutorial buffer", tut[i][j])):
                per[name].append({"minutes": minutes[j], "area_km2": poly.area / 1e6, "overclaim": overclaim(poly, truth)})
    n_poly = k * len(limits)
    times = {"ours": t_ours.median / n_poly, "ours, exact": t_exact.median / n_poly, "convex hull": t_hull / n_poly,
             "tutorial buffer": t_tut / n_poly}
    out: dict = {"k": k, "width_m": width, "limits_m": limits, "once_per_network_s": one_off,
                 "per_source_search_s": t_search.median, "methods": {}}
    rows = []
    for name, recs in per.items():
        oc = [r["overclaim"] for r in recs]
        area = [r["area_km2"] for r in recs]
        out["methods"][name] = {"s_per_polygon": times[name], "median_area_km2": statistics.median(area),
                                "median_overclaim": statistics.median(oc), "max_overclaim": max(oc),
                                "polygons": recs}
        rows.append([name, fmt_s(times[name]), ratio(times[name], times["ours"]), f"{statistics.median(area):.3f}",
                     f"{100 * statistics.median(oc):.1f}%", f"{100 * max(oc):.1f}%"])
    out["table"] = table(
        f"3. Circle polygons {label}— {k} facilities x {'/'.join(f'{m:g}' for m in minutes)} min; over-claim = area farther than "
        f"{width:g} m from any reached street (ours excludes the shared search, "
        f"{fmt_s(t_search.median / k)} per facility; hull and tutorial include their ego_graph)",
        ["method", "time per polygon", "vs ours", "median area km²", "median over-claim", "max over-claim"], rows)
    return out
