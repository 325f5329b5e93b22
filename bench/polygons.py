"""Benchmark: service circles drawn on a grid (geo.raster) against the exact buffer union.

On a real network, for random facilities (seeded) and the 10- and 15-minute thresholds at
4.8 km/h, it measures in one run:

* the walk-time search per facility (``per_source``): the floor every construction shares;
* grid circles per polygon on one core (in this process) and on every core (``geo.drawing``);
* the exact union per polygon on a sample (the reference construction, ``--circles exact``);
* the dissolved layer circle of all facilities, grid and exact;
* fidelity of the grid circles against the exact ones on that sample: symmetric difference
  (share of the exact area), area ratio, how far either pokes out of the other (cells), valid
  polygons, and the 10-minute circle outside the 15-minute one (must be 0).

Run: ``python -m bench.polygons [path.osm.pbf] [n_facilities]``.
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
    """The walking network of an extract, through the cache folder ($CIRCLES_CACHE_DIR)."""
    from geo.base import load_base
    from geo.plan import PlanInputs, PlanParams

    cache = os.environ.get("CIRCLES_CACHE_DIR")
    return load_base(PlanInputs(osm=Path(net_path)), PlanParams(cache_dir=Path(cache) if cache else None)).network


def sample_facilities(net, n_facilities: int, seed: int = 0):
    """``n_facilities`` random nodes, offset 5 m and snapped back onto the network."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(net.n_nodes, min(n_facilities, net.n_nodes), replace=False)
    return net.snap(net.node_xy[idx] + 5.0, max_dist=300.0)


def fidelity(raster: np.ndarray, exact: np.ndarray, cell: float) -> dict:
    """How close the grid circles are to the exact ones (both ``(n, limits)`` object arrays)."""
    import shapely

    sd, ratio, out_r, out_e, nest = [], [], [], [], []
    for i in range(raster.shape[0]):
        for j in range(raster.shape[1]):
            r, e = raster[i, j], exact[i, j]
            if e.is_empty:
                continue
            sd.append(shapely.symmetric_difference(r, e).area / e.area)
            ratio.append(r.area / e.area)
            # area of either beyond 1.5 cells of the other, in (2 cells)^2 units (holes that size aside)
            out_r.append(shapely.difference(r, shapely.buffer(e, 1.5 * cell)).area / (2 * cell) ** 2)
            out_e.append(shapely.difference(e, shapely.buffer(r, 1.5 * cell)).area / (2 * cell) ** 2)
        for j in range(raster.shape[1] - 1):
            nest.append(shapely.difference(raster[i, j], raster[i, j + 1]).area)
    valid = shapely.is_valid(raster.ravel())
    return {"polygons": len(sd), "symdiff_median": float(np.median(sd)), "symdiff_p95": float(np.percentile(sd, 95)),
            "symdiff_max": float(np.max(sd)), "area_ratio_median": float(np.median(ratio)),
            "beyond_1_5_cells_max": float(max(max(out_r), max(out_e))), "valid_share": float(valid.mean()),
            "nesting_violation_m2_max": float(max(nest) if nest else 0.0)}


def run(net_path: str | Path = DEFAULT_NET, n_facilities: int = 500, seed: int = 0, *, exact_sample: int = 60,
        width_m: float = 30.0, cell_m: float | None = None, label: str = "") -> dict:
    """Time and compare the constructions; returns figures and a table."""
    from bench.common import fmt_s, table
    from geo.circles import multi_source, per_source
    from geo.drawing import DrawContext, FacilityJob, draw
    from geo.plan import CELLS_PER_WIDTH
    from geo.polygons import ExactDrawer, facility_polygons, layer_polygons
    from geo.raster import CircleDrawer, RasterGeometry, draw_pad

    cell = cell_m if cell_m is not None else width_m / CELLS_PER_WIDTH  # the plan's default cell
    net = load_network(net_path)
    fac = sample_facilities(net, n_facilities, seed)
    ok = np.flatnonzero(fac.ok)
    n_poly = len(ok) * len(LIMITS)
    t0 = time.perf_counter()
    dist = per_source(net, fac, limit=max(LIMITS))
    t_search = time.perf_counter() - t0
    t0 = time.perf_counter()
    geom = RasterGeometry(net, cell, pad_m=draw_pad(width_m))
    geom.edge_px  # noqa: B018 - made once per network, shared by every circle
    t_geom = time.perf_counter() - t0
    drawer = CircleDrawer(geom, width_m)
    times = []
    for _ in range(3):  # the machine is shared: the best of three
        t0 = time.perf_counter()
        raster = drawer.source_circles(dist[ok], LIMITS, fac.edge[ok], fac.along[ok])
        times.append(time.perf_counter() - t0)
    t_raster1 = min(times)
    job = FacilityJob("bench", dist, fac.edge, fac.along, ok)
    ctx = DrawContext(net, LIMITS, width_m, cell, "raster", (), (job,), None, (), geom)
    t0 = time.perf_counter()
    draw(ctx, workers=os.cpu_count() or 1)
    t_raster_all = time.perf_counter() - t0
    sample = ok[:exact_sample]
    exact_drawer = ExactDrawer(net, width_m)
    exact_drawer.buffers  # noqa: B018 - made once per network, as a plan would
    t0 = time.perf_counter()
    exact = facility_polygons(net, fac.subset(np.isin(np.arange(len(fac)), sample)), LIMITS,
                              dist=dist[np.isin(np.arange(len(fac)), sample)], drawer=exact_drawer)
    t_exact = (time.perf_counter() - t0) / (len(sample) * len(LIMITS))
    fid = fidelity(raster[: len(sample)], exact, cell)
    reach = multi_source(net, fac)
    times = []
    for _ in range(3):  # best of three, as the per-facility circles
        t0 = time.perf_counter()
        layer_r = drawer.layer_circles(reach.dist, LIMITS, fac.edge[ok], fac.along[ok])
        times.append(time.perf_counter() - t0)
    t_layer_r = min(times) / len(LIMITS)
    t0 = time.perf_counter()
    layer_e = layer_polygons(net, reach.dist, LIMITS, facilities=fac, drawer=exact_drawer)
    t_layer_e = (time.perf_counter() - t0) / len(LIMITS)
    layer_fid = fidelity(np.array([layer_r], dtype=object), np.array([layer_e], dtype=object), cell)
    per_r1, per_all = t_raster1 / n_poly, t_raster_all / n_poly
    out = {"network": Path(str(net_path)).name, "nodes": net.n_nodes, "edges": net.n_edges,
           "facilities": len(ok), "polygons": n_poly, "cell_m": cell, "width_m": width_m, "cores": os.cpu_count(),
           "search_s_per_facility": t_search / len(ok), "raster_geometry_s": t_geom,
           "raster_s_per_polygon_1core": per_r1, "raster_s_per_polygon_all_cores": per_all,
           "exact_s_per_polygon": t_exact, "exact_sample_facilities": len(sample),
           "layer_raster_s_per_polygon": t_layer_r, "layer_exact_s_per_polygon": t_layer_e,
           "fidelity": fid, "layer_fidelity": layer_fid}
    rows = [
        ["walk-time search (per facility)", fmt_s(out["search_s_per_facility"]), "", ""],
        ["grid circles, 1 core", fmt_s(per_r1), f"{t_exact / per_r1:.1f}x faster than exact", ""],
        [f"grid circles, {os.cpu_count()} cores", fmt_s(per_all), f"{t_exact / per_all:.1f}x", ""],
        [f"exact union, 1 core ({len(sample)} facilities)", fmt_s(t_exact), "1x", ""],
        ["layer circle (dissolved), grid", fmt_s(t_layer_r), f"{t_layer_e / t_layer_r:.1f}x", ""],
        ["layer circle (dissolved), exact", fmt_s(t_layer_e), "1x", ""],
        ["fidelity: symmetric difference median / p95 / max",
         f"{fid['symdiff_median']:.2%} / {fid['symdiff_p95']:.2%} / {fid['symdiff_max']:.2%}", "", ""],
        ["fidelity: area ratio (median)", f"{fid['area_ratio_median']:.4f}", "", ""],
        ["beyond 1.5 cells of the other (max, in (2 cells)^2)", f"{fid['beyond_1_5_cells_max']:.2f}", "", ""],
        ["valid polygons / 10 min outside 15 min", f"{fid['valid_share']:.1%} / {fid['nesting_violation_m2_max']:.3g} m²",
         "", ""],
        ["layer circle symmetric difference", f"{layer_fid['symdiff_median']:.2%}", "", ""],
    ]
    out["table"] = table(f"3a. Circles on a {cell:g} m grid against the exact union {label}— {len(ok)} facilities x "
                         "10/15 min", ["construction", "per polygon", "vs exact", ""], rows)
    return out


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_NET
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    res = run(path, n_facilities=n)
    print(res.pop("table"))
    for k, v in res.items():
        print(f"{k:<36}  {v}")
