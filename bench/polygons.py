"""Benchmark: per-facility and per-layer service-circle polygons (geo.polygons).

Measures, on a real network, the cost per polygon of

* ``naive``: buffer every reached stretch and ``shapely.union_all`` them (one polygon at a time);
* ``geo.polygons.facility_polygons`` serial and on all cores (cached whole-edge buffers,
  dissolved buffers of fully reached 150 m cells, thresholds built on each other, worker
  processes), and serial without the cells;
* the dissolved layer circle (``layer_polygons``) for all facilities at once.

Facilities are random network nodes (seeded), thresholds 10 and 15 minutes at 4.8 km/h.
``sample_circles`` exposes the polygons for other benchmarks (e.g. over-claim against
straight-line buffers). Run: ``python -m bench.polygons [path.osm.pbf] [n_facilities]``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_NET = Path(__file__).resolve().parent.parent.parent / "shared/data/hangzhou/hangzhou_central_merged.osm.pbf"
LIMITS = (800.0, 1200.0)  # 10 and 15 min at 4.8 km/h


def load_network(net_path: str | Path):
    """The walking network of an extract, through the plan's cache ($CIRCLES_CACHE_DIR)."""
    from geo.plan import PlanInputs, PlanParams, load_base

    return load_base(PlanInputs(osm=Path(net_path)), PlanParams()).network


def sample_facilities(net, n_facilities: int, seed: int = 0):
    """``n_facilities`` random nodes, offset 5 m and snapped back onto the network."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(net.n_nodes, min(n_facilities, net.n_nodes), replace=False)
    return net.snap(net.node_xy[idx] + 5.0, max_dist=300.0)


def sample_circles(net, n_facilities: int, *, seed: int = 0, limits=LIMITS, width_m: float = 30.0):
    """``(snapped facilities, polygons (n, len(limits)) in the metric CRS)`` for other benchmarks."""
    from geo.polygons import facility_polygons

    fac = sample_facilities(net, n_facilities, seed)
    return fac, facility_polygons(net, fac, list(limits), width_m=width_m)


def _naive(net, dist, fac, i, lim, width_m):
    import shapely

    from geo.polygons import cut_lines, source_intervals

    row = dist.getrow(i)
    e, s, t = source_intervals(net, row.indices, row.data, lim, fac.subset(np.arange(len(fac)) == i))
    keep = t > s
    return shapely.union_all(shapely.buffer(cut_lines(net, e[keep], s[keep], t[keep]), width_m, quad_segs=4))


def run(net_path: str | Path = DEFAULT_NET, n_facilities: int = 500, seed: int = 0, *, naive_sample: int = 50,
        width_m: float = 30.0) -> dict:
    """Time the polygon builders; returns a flat dict of figures (seconds, ms per polygon)."""
    import shapely

    from geo.circles import multi_source, per_source
    from geo.polygons import cell_unions, edge_buffers, facility_polygons, layer_polygons

    t0 = time.perf_counter()
    net = load_network(net_path)
    t_load = time.perf_counter() - t0
    fac = sample_facilities(net, n_facilities, seed)
    t0 = time.perf_counter()
    edge_buffers(net, width_m)
    t_edge = time.perf_counter() - t0
    t0 = time.perf_counter()
    cells = cell_unions(net, width_m)
    t_cells = time.perf_counter() - t0
    t0 = time.perf_counter()
    dist = per_source(net, fac, limit=max(LIMITS))
    t_dist = time.perf_counter() - t0
    n_poly = int(fac.ok.sum()) * len(LIMITS)
    out = {"network": str(net_path), "nodes": net.n_nodes, "edges": net.n_edges, "facilities": int(fac.ok.sum()),
           "polygons": n_poly, "cores": os.cpu_count(), "load_s": round(t_load, 2),
           "edge_buffers_s": round(t_edge, 2), "cell_unions_s": round(t_cells, 2), "cells": cells.n_cells,
           "per_source_s": round(t_dist, 2)}
    # naive: a sample of facilities, both thresholds, each from scratch
    ids = np.flatnonzero(fac.ok)[:naive_sample]
    t0 = time.perf_counter()
    naive = [[_naive(net, dist, fac, i, lim, width_m) for lim in LIMITS] for i in ids]
    out["naive_ms_per_polygon"] = round((time.perf_counter() - t0) / (len(ids) * len(LIMITS)) * 1000, 2)
    t0 = time.perf_counter()
    facility_polygons(net, fac, list(LIMITS), dist=dist, width_m=width_m, workers=1, cells=False)
    out["facility_ms_per_polygon_workers1_without_cells"] = round((time.perf_counter() - t0) / n_poly * 1000, 2)
    for workers in sorted({1, os.cpu_count() or 1}):
        t0 = time.perf_counter()
        polys = facility_polygons(net, fac, list(LIMITS), dist=dist, width_m=width_m, workers=workers, cells=True)
        dt = time.perf_counter() - t0
        out[f"facility_s_workers{workers}"] = round(dt, 2)
        out[f"facility_ms_per_polygon_workers{workers}"] = round(dt / n_poly * 1000, 2)
    # same land as the naive construction (float noise only)
    diff = [shapely.symmetric_difference(naive[k][j], polys[i, j]).area / max(naive[k][j].area, 1.0)
            for k, i in enumerate(ids) for j in range(len(LIMITS))]
    out["max_rel_area_diff_vs_naive"] = float(np.max(diff)) if diff else 0.0
    t0 = time.perf_counter()
    layer = layer_polygons(net, multi_source(net, fac).dist, list(LIMITS), facilities=fac, width_m=width_m,
                           cells=cells)
    out["layer_s"] = round(time.perf_counter() - t0, 2)
    out["layer_area_km2"] = [round(p.area / 1e6, 2) for p in layer]
    out["mean_facility_area_km2"] = [round(float(np.mean(shapely.area(polys[fac.ok, j]))) / 1e6, 3)
                                     for j in range(len(LIMITS))]
    return out


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_NET
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    res = run(path, n_facilities=n)
    width = max(len(k) for k in res)
    for k, v in res.items():
        print(f"{k:<{width}}  {v}")
