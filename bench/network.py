"""Question 1: building the walking network from an OSM extract — time and peak memory.

Ours: :func:`geo.osm.read_osm` + :func:`geo.network.build_network` straight from the PBF.
osmnx: ``graph_from_xml`` (it reads no PBF) on an ``.osm`` XML that pyosmium writes to a
temporary folder first, holding only the ways our reader finds walkable and their nodes — so
osmnx builds the same streets and parses less than our reader (which reads the whole file,
buildings and POIs too). The conversion is not counted. Then the cached reload of the whole
base (network, homes, OSM layers) with :func:`geo.base.load_base`.

Every measurement runs in its own child process (``python -m bench.network MODE ...``) so
the peak RSS is that tool's alone.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.common import child_print, fmt_s, peak_rss_mb, ratio, run_child, table


def walkable_xml(pbf: Path, out: Path) -> dict:
    """Write the walkable ways of ``pbf`` and their nodes to ``out`` (.osm XML) with pyosmium."""
    import osmium

    from geo.osm import is_walkable

    ways, need = set(), set()
    for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY).with_filter(osmium.filter.KeyFilter("highway")):
        tags = {t.k: t.v for t in w.tags}
        if is_walkable(tags):
            ways.add(w.id)
            need.update(n.ref for n in w.nodes)
    written: set[int] = set()
    n_ways = 0
    with osmium.SimpleWriter(str(out), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node() and obj.id in need:
                writer.add_node(obj)
                written.add(obj.id)
            elif obj.is_way() and obj.id in ways:
                # as geo.osm.read_osm: nodes missing from a clipped extract are left out, and
                # a way left with < 2 nodes is dropped (osmnx refuses ways with missing nodes)
                refs = [n.ref for n in obj.nodes if n.ref in written]
                if len(refs) >= 2:
                    writer.add_way(obj.replace(nodes=refs) if len(refs) < len(obj.nodes) else obj)
                    n_ways += 1
    return {"ways": n_ways, "nodes": len(written), "bytes": out.stat().st_size}


def _child(mode: str, path: str, cache: str | None = None) -> None:
    base_rss = peak_rss_mb()
    if mode == "ours":
        from geo.network import build_network
        from geo.osm import read_osm

        t = time.perf_counter()
        net = build_network(read_osm(path).ways)
        _ = net.csr  # the first search would build it: count it here
        dt = time.perf_counter() - t
        child_print({"seconds": dt, "peak_rss_mb": peak_rss_mb(), "start_rss_mb": base_rss,
                     "nodes": net.n_nodes, "edges": net.n_edges})
    elif mode == "osmnx":
        import osmnx as ox

        t = time.perf_counter()
        g = ox.graph_from_xml(path, bidirectional=True, simplify=True, retain_all=False)
        dt = time.perf_counter() - t
        undirected = g.to_undirected()
        child_print({"seconds": dt, "peak_rss_mb": peak_rss_mb(), "start_rss_mb": base_rss,
                     "nodes": g.number_of_nodes(), "edges": undirected.number_of_edges()})
    elif mode in ("base", "cached"):
        from geo.base import load_base
        from geo.plan import PlanInputs, PlanParams

        params = PlanParams(cache_dir=Path(cache))
        t = time.perf_counter()
        b = load_base(PlanInputs(osm=Path(path)), params)
        _ = b.network.csr
        dt = time.perf_counter() - t
        child_print({"seconds": dt, "peak_rss_mb": peak_rss_mb(), "start_rss_mb": base_rss,
                     "nodes": b.network.n_nodes, "edges": b.network.n_edges, "homes": len(b.homes)})
    else:
        raise SystemExit(f"unknown mode {mode!r}: use ours, osmnx, base or cached")


def run(pbf: Path, *, reps: int = 3, osmnx_reps: int = 2, label: str = "") -> dict:
    """Time and peak memory of network building on ``pbf`` (children, medians of ``reps``)."""
    import statistics

    med = statistics.median

    def several(mode, path, n, *extra):
        docs = [run_child("bench.network", [mode, path, *extra]) for _ in range(n)]
        return {"seconds": med(d["seconds"] for d in docs), "peak_rss_mb": med(d["peak_rss_mb"] for d in docs),
                "start_rss_mb": med(d["start_rss_mb"] for d in docs), "runs_s": [d["seconds"] for d in docs],
                "nodes": docs[0]["nodes"], "edges": docs[0]["edges"]}

    out: dict = {"file": str(pbf), "file_mb": round(pbf.stat().st_size / 1e6, 2)}
    out["ours"] = several("ours", pbf, reps)
    with tempfile.TemporaryDirectory(prefix="circles-bench-") as tmp:
        xml = Path(tmp) / "walkable.osm"
        t = time.perf_counter()
        out["xml"] = walkable_xml(pbf, xml)
        out["xml"]["convert_s"] = time.perf_counter() - t
        out["osmnx"] = several("osmnx", xml, osmnx_reps)
        cache = Path(tmp) / "cache"
        out["base_cold"] = several("base", pbf, 1, cache)
        out["base_cached"] = several("cached", pbf, reps, cache)
    o, x = out["ours"], out["osmnx"]
    rows = [
        ["ours: read_osm + build_network (PBF)", fmt_s(o["seconds"]), f"{o['peak_rss_mb']:.0f}",
         f"{o['nodes']:,} / {o['edges']:,}", "1x", "1x"],
        ["osmnx graph_from_xml (walkable XML)", fmt_s(x["seconds"]), f"{x['peak_rss_mb']:.0f}",
         f"{x['nodes']:,} / {x['edges']:,}", ratio(x["seconds"], o["seconds"]),
         ratio(x["peak_rss_mb"], o["peak_rss_mb"])],
        ["ours: load_base, cold (network+homes+layers)", fmt_s(out["base_cold"]["seconds"]),
         f"{out['base_cold']['peak_rss_mb']:.0f}", "", ratio(out["base_cold"]["seconds"], o["seconds"]), ""],
        ["ours: load_base, cached reload", fmt_s(out["base_cached"]["seconds"]),
         f"{out['base_cached']['peak_rss_mb']:.0f}", "", ratio(out["base_cached"]["seconds"], o["seconds"]), ""],
    ]
    out["table"] = table(
        f"1. Network build {label}({pbf.name}, {out['file_mb']} MB; medians of {reps} children, "
        f"osmnx {osmnx_reps}; XML conversion {out['xml']['convert_s']:.1f} s not counted)",
        ["method", "time", "peak RSS MB", "nodes / edges", "time vs ours", "memory vs ours"], rows)
    return out


if __name__ == "__main__":
    _child(*sys.argv[1:])
