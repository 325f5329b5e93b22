"""What the crossing model changes: coverage per layer with and without it, and what it costs.

The same extract is built twice: ``crossings="strict"`` (big roads crossed only at crossings,
junctions, footbridges and underpasses: :mod:`geo.crossings`) and ``crossings="anywhere"`` (every
road crossable at every node, the naive graph). The homes and the OSM facility layers are the
same for both (one base); each network snaps them itself. Reported:

* the network: nodes, edges, barrier roads, nodes split into two sides, crossings found;
* coverage: people and homes within 10 and 15 minutes (adult, 4.8 km/h) of each OSM layer,
  both ways, and how many homes lose their coverage under the strict model;
* cost: building the network from the read ways (both models, interleaved medians), one
  multi-source search per layer with every home's distance, and 100 single-source searches to
  15 minutes from random places on the streets (what per-facility circles do).

Usage: ``python -m bench.crossings [path.osm.pbf]`` (default: the Hangzhou merged extract);
``make bench`` runs it as ``--only crossings``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import MERGED, SEED, fmt_s, random_on_streets, table, timed_interleaved

#: the strict model with 30 s of waiting at traffic lights (``--signal-wait 30``)
SIGNALS = "strict, 30 s at lights"
MODES = ("strict", "anywhere", SIGNALS)
WAIT_S = 30.0
MINUTES = (10.0, 15.0)


def run(path: Path = MERGED, *, reps: int = 3, quick: bool = False, cache_dir: Path | None = None,
        label: str = "", k_search: int = 100) -> dict:
    """Measure both crossing models on ``path``; returns a JSON-ready dict with its tables."""
    from geo.base import load_base
    from geo.circles import metres_for, multi_source, per_source
    from geo.crossings import BARRIER, walk_ways
    from geo.kinds import LAYERS
    from geo.network import build_network
    from geo.osm import read_osm
    from geo.plan import PlanInputs, PlanParams, layer_step

    path = Path(path)
    ext = read_osm(path)
    ways = {m: walk_ways(ext, crossings="anywhere" if m == "anywhere" else "strict") for m in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-crossings-") as tmp:
        params = PlanParams(minutes=MINUTES, cache_dir=Path(cache_dir or tmp))
        base = load_base(PlanInputs(osm=path), params)
    wait_m = PlanParams(signal_wait_s=WAIT_S).signal_wait_m()
    times, nets = timed_interleaved(
        {m: (lambda m=m: build_network(ways[m], signal_wait_m=wait_m if m == SIGNALS else 0.0)) for m in MODES},
        reps=1 if quick else reps, warmup=1)
    homes = base.homes
    speed = params.speeds()["adult"]
    people = homes.people
    cls = ext.ways.road_class
    doc: dict = {
        "source": path.name, "homes": len(homes), "people": round(float(people.sum())),
        "ways": len(cls), "barrier_ways": int((cls == BARRIER).sum()),
        "crossing_nodes": len(ext.ways.crossing_nodes),
        "network": {}, "build": {m: times[m].as_dict() for m in MODES}, "search": {}, "layers": {},
    }
    r = 1 if quick else reps
    snaps, srcs = {}, {}
    for m in MODES:
        net = nets[m]
        counts = np.unique(net.node_osm, return_counts=True)[1]  # a node split into two sides is there twice
        doc["network"][m] = {"nodes": net.n_nodes, "edges": net.n_edges,
                             "km": round(float(net.edge_len.sum()) / 1e3, 1),
                             "split_nodes": int((counts == 2).sum()) if m == "strict" else 0}
        snaps[m] = net.snap(homes.xy, max_dist=params.home_snap_max_m)
        srcs[m] = random_on_streets(net, k_search, np.random.default_rng(SEED))

    def all_layers(m: str) -> dict:
        return {name: layer_step(nets[m], name, base.osm_facilities[name], "OSM", snaps[m], params) for name in LAYERS}

    # every search timed round-robin over the two models, so a busy machine slows both alike
    t_layers, res = timed_interleaved({m: (lambda m=m: all_layers(m)) for m in MODES}, reps=r)
    dists = {m: {name: lr.home_dist for name, lr in res[m].items()} for m in MODES}
    t_multi, _ = timed_interleaved({m: (lambda m=m: [multi_source(nets[m], lr.snapped) for lr in res[m].values()])
                                    for m in MODES}, reps=r)
    limit = metres_for(15.0, speed)
    t_src, _ = timed_interleaved({m: (lambda m=m: per_source(nets[m], srcs[m], limit=limit)) for m in MODES}, reps=r)
    for m in MODES:
        doc["search"][m] = {"layers_with_homes": t_layers[m].as_dict(), "multi_source_all_layers": t_multi[m].as_dict(),
                            f"per_source_{k_search}_to_15min": t_src[m].as_dict()}
    rows = []
    for name in LAYERS:
        doc["layers"][name] = {"facilities": len(base.osm_facilities[name]), "minutes": {}}
        both = np.isfinite(dists["strict"][name]) & np.isfinite(dists["anywhere"][name])
        if both.any():  # how the walk to the nearest facility changes, home by home
            d = dists["strict"][name][both] - dists["anywhere"][name][both]
            doc["layers"][name]["walk_change_m"] = {
                "homes": int(both.sum()), "median": float(np.median(d)),
                "p1": float(np.percentile(d, 1)), "p99": float(np.percentile(d, 99)),
                "longer_by_100m": int((d > 100).sum()), "longer_by_300m": int((d > 300).sum()),
                "shorter_by_100m": int((d < -100).sum())}
        for mins in MINUTES:
            lim = metres_for(mins, speed)
            cov = {m: dists[m][name] <= lim for m in MODES}
            share = {m: float(people[cov[m]].sum() / people.sum()) if people.sum() else 0.0 for m in MODES}
            lost = int((cov["anywhere"] & ~cov["strict"]).sum())
            gained = int((cov["strict"] & ~cov["anywhere"]).sum())
            doc["layers"][name]["minutes"][f"{mins:g}"] = {
                "people_share": share, "homes": {m: int(cov[m].sum()) for m in MODES},
                "homes_lost_strict": lost, "homes_gained_strict": gained}
            rows.append([name, f"{mins:g}", doc["layers"][name]["facilities"], f"{share['anywhere']:.1%}",
                         f"{share['strict']:.1%}", f"{100 * (share['strict'] - share['anywhere']):+.1f}", lost, gained,
                         f"{share[SIGNALS]:.1%}"])
    t1 = table(f"Crossing model: coverage per layer {label}({path.name}, {len(homes):,} homes, adult 4.8 km/h)",
               ["layer", "min", "facilities", "people, anywhere", "people, strict", "points", "homes lost",
                "homes gained", f"people, strict + {WAIT_S:g} s at lights"], rows)
    n = doc["network"]
    s = doc["search"]
    g = SIGNALS
    rows2 = [
        ["network: nodes / edges", f"{n['anywhere']['nodes']:,} / {n['anywhere']['edges']:,}",
         f"{n['strict']['nodes']:,} / {n['strict']['edges']:,}",
         f"{n['strict']['edges'] / max(n['anywhere']['edges'], 1):.3g}x", f"{n[g]['nodes']:,} / {n[g]['edges']:,}"],
        ["build from read ways", fmt_s(times["anywhere"].median), fmt_s(times["strict"].median),
         f"{times['strict'].median / times['anywhere'].median:.3g}x", fmt_s(times[g].median)],
    ]
    for key, what in (("layers_with_homes", "every layer: search + homes' distances"),
                      ("multi_source_all_layers", "every layer: multi-source search"),
                      (f"per_source_{k_search}_to_15min", f"{k_search} single-source searches to 15 min")):
        a, b = s["anywhere"][key]["median_s"], s["strict"][key]["median_s"]
        rows2.append([what, fmt_s(a), fmt_s(b), f"{b / a:.3g}x" if a else "-", fmt_s(s[g][key]["median_s"])])
    t2 = table(f"Crossing model: cost {label}({doc['barrier_ways']:,} barrier ways, {n['strict']['split_nodes']:,} "
               f"nodes split into two sides, {doc['crossing_nodes']:,} crossing nodes)",
               ["measure", "anywhere", "strict", "strict / anywhere", f"strict + {WAIT_S:g} s at lights"], rows2)
    doc["table"] = [t1, t2]
    return doc


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.crossings [path.osm.pbf]``: run on one extract, save the result."""
    import datetime as dt

    from bench.common import machine, save

    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else MERGED
    meta = {"date": dt.datetime.now().isoformat(timespec="seconds"), "seed": SEED, "machine": machine(),
            "load_average": list(os.getloadavg())}
    doc = run(path)
    save("crossings", {"meta": meta, **{k: v for k, v in doc.items() if k != "table"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
