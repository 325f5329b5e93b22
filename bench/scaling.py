"""Question 5: the same pipeline on synthetic street grids of 10^4, 10^5 and 10^6 nodes.

A square grid with 100 m blocks near Hangzhou (UTM 51N), built straight into
:class:`geo.network.Network` arrays. Facilities: one per 200 nodes, homes: one per 10 nodes,
both at random places along the streets (fixed seed). Each size runs in its own child process
(``python -m bench.scaling child N``) so its peak RSS is its own; stages are timed one by one:
network arrays, CSR, edge index (STRtree), snapping, ``multi_source``, point coverage, and the
dissolved 10-minute layer circle drawn on the grid (:mod:`geo.raster`) as a plan draws it: on
the plan's default cells (width / 9), or on the larger cell :func:`geo.raster.fitting_cell` picks when the extent does
not fit one canvas (the table says which).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from bench.common import SEED, child_print, fmt_s, peak_rss_mb, random_on_streets, run_child, table

BLOCK_M = 100.0
ORIGIN = (220_000.0, 3_340_000.0)  # EPSG:32651, near Hangzhou


def grid_network(side: int):
    """A ``side`` x ``side`` street grid (nodes ``side**2``, edges ``2 side (side-1)``)."""
    from geo.network import Network, transformer

    n = side * side
    i = np.arange(n)
    xy = np.column_stack([ORIGIN[0] + (i % side) * BLOCK_M, ORIGIN[1] + (i // side) * BLOCK_M])
    right = i[(i % side) < side - 1]
    up = i[i < n - side]
    u = np.concatenate([right, up]).astype(np.int64)
    v = np.concatenate([right + 1, up + side]).astype(np.int64)
    e = len(u)
    lon, lat = transformer(32651, 4326).transform(xy[:, 0], xy[:, 1])
    lonlat = np.column_stack([lon, lat])
    geom = np.empty(2 * e, dtype=np.int64)
    geom[0::2], geom[1::2] = u, v
    start = np.arange(0, 2 * e, 2, dtype=np.int64)
    return Network(crs=32651, node_xy=xy, node_lonlat=lonlat, node_osm=i.astype(np.int64), edge_u=u, edge_v=v,
                   edge_len=np.full(e, BLOCK_M), geom_start=start, geom_end=start + 1, geom_xy=xy[geom],
                   geom_lonlat=lonlat[geom], edge_highway=np.full(e, "residential", dtype=object),
                   edge_name=np.full(e, "", dtype=object))


def pipeline(side: int, *, polygons: bool = True) -> dict:
    """Run the stages on one grid; seconds per stage and the peak RSS."""
    from geo.circles import multi_source, point_distances
    from geo.plan import CELLS_PER_WIDTH
    from geo.raster import CircleDrawer, RasterGeometry, draw_pad, fitting_cell

    stages: dict[str, float] = {}
    rss0 = peak_rss_mb()

    def stage(name, fn):
        t = time.perf_counter()
        res = fn()
        stages[name] = time.perf_counter() - t
        return res

    net = stage("network arrays", lambda: grid_network(side))
    stage("CSR", lambda: net.csr)
    stage("edge index (STRtree)", lambda: net.edge_tree)
    rng = np.random.default_rng(SEED + 5)
    n = net.n_nodes
    fac_xy = random_on_streets(net, max(n // 200, 1), rng).xy
    home_xy = random_on_streets(net, max(n // 10, 1), rng).xy
    fac = stage("snap facilities", lambda: net.snap(fac_xy, max_dist=300.0))
    homes = stage("snap homes", lambda: net.snap(home_xy, max_dist=500.0))
    reach = stage("multi_source", lambda: multi_source(net, fac))
    hd, _ = stage("point coverage", lambda: point_distances(net, reach, homes))
    out = {"side": side, "nodes": n, "edges": net.n_edges, "facilities": len(fac), "homes": len(homes),
           "homes_covered_10min": int((hd <= 800.0).sum()), "start_rss_mb": rss0}
    if polygons:
        width = 30.0
        cell = fitting_cell(net, width / CELLS_PER_WIDTH, draw_pad(width))
        geom = stage("raster geometry", lambda: RasterGeometry(net, cell, pad_m=draw_pad(width)))
        poly = stage("layer circle 10 min", lambda: CircleDrawer(geom, width).layer_circles(
            reach.dist, [800.0], fac.edge[fac.ok], fac.along[fac.ok])[0])
        out["circle_km2"] = poly.area / 1e6
        out["cell_m"] = cell
        out["circle_valid"] = bool(poly.is_valid)
    out["stages_s"] = stages
    out["total_s"] = sum(stages.values())
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run(sizes=(10**4, 10**5, 10**6), *, polygon_max: int = 10**6, reps: int = 1) -> dict:
    """Each size in a child process (median of ``reps``); one table of stage times and memory."""
    out: dict = {"sizes": {}}
    for n in sizes:
        side = int(round(np.sqrt(n)))
        docs = [run_child("bench.scaling", ["child", side, int(n <= polygon_max)], timeout=1800) for _ in range(reps)]
        doc = sorted(docs, key=lambda d: d["total_s"])[len(docs) // 2]
        out["sizes"][str(n)] = doc
    names = list(next(iter(out["sizes"].values()))["stages_s"])
    for d in out["sizes"].values():
        names += [s for s in d["stages_s"] if s not in names]
    header = ["stage"] + [f"{d['nodes']:,} nodes" for d in out["sizes"].values()]
    rows = [[s] + [fmt_s(d["stages_s"].get(s)) if s in d["stages_s"] else "skipped"
                   for d in out["sizes"].values()] for s in names]
    rows.append(["total"] + [fmt_s(d["total_s"]) for d in out["sizes"].values()])
    rows.append(["total without the circle"] + [fmt_s(d["total_s"] - d["stages_s"].get("layer circle 10 min", 0.0))
                                               for d in out["sizes"].values()])
    rows.append(["peak RSS MB"] + [f"{d['peak_rss_mb']:.0f}" for d in out["sizes"].values()])
    rows.append(["facilities / homes"] + [f"{d['facilities']:,} / {d['homes']:,}" for d in out["sizes"].values()])
    rows.append(["circle cell (m)"] + [f"{d['cell_m']:g}" if "cell_m" in d else "—" for d in out["sizes"].values()])
    out["table"] = table("5. Scaling — synthetic 100 m street grids (one child process per size; "
                         f"layer circle up to {polygon_max:,} nodes)", header, rows)
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "child":
        child_print(pipeline(int(sys.argv[2]), polygons=bool(int(sys.argv[3])) if len(sys.argv) > 3 else True))
    else:
        raise SystemExit("usage: python -m bench.scaling child SIDE [POLYGONS 0/1]")
