"""Coverage figures and the circle table, read off the walk distances of a plan."""

from __future__ import annotations

import numpy as np

from geo.circles import metres_for


def minutes_key(m: float) -> str:
    """``10.0`` -> ``"10"``, ``7.5`` -> ``"7.5"`` (the keys of ``coverage.json``)."""
    return f"{m:g}"


def layer_minutes(home_dist: np.ndarray, people: np.ndarray, minutes, speed_kmh: float) -> dict:
    total_people = float(people.sum())
    out = {}
    for m in minutes:
        cov = home_dist <= metres_for(m, speed_kmh)
        pc = float(people[cov].sum())
        out[minutes_key(m)] = {
            "metres": round(metres_for(m, speed_kmh), 1),
            "homes": int(len(home_dist)),
            "homes_covered": int(cov.sum()),
            "homes_share": round(float(cov.mean()), 4) if len(cov) else 0.0,
            "people": round(total_people),
            "people_covered": round(pc),
            "people_share": round(pc / total_people, 4) if total_people else 0.0,
        }
    return out


def coverage_summary(base, homes, home_snap, layers: dict, params) -> dict:
    """The stable ``coverage.json`` shape (see README)."""
    from geo.plan import now_iso

    speeds = params.speeds()
    first = params.profiles[0]
    doc = {
        "source": base.source,
        "data_date": base.latest_edit,
        "generated": now_iso(),
        "profile": first,
        "speed_kmh": speeds[first],
        "minutes": [float(m) for m in params.minutes],
        "homes_method": homes.method,
        "homes": int(len(homes)),
        "people": round(float(homes.people.sum())),
        "homes_unsnapped": int((~home_snap.ok).sum()),
        "network": {"nodes": base.network.n_nodes, "edges": base.network.n_edges,
                    "km": round(float(base.network.edge_len.sum()) / 1000, 1)},
        "layers": {},
    }
    for name, lr in layers.items():
        doc["layers"][name] = {
            "facilities": int(len(lr.facilities)),
            "snapped": int(lr.snapped.ok.sum()),
            "origin": lr.origin,
            "unsnapped": lr.unsnapped,
            "minutes": layer_minutes(lr.home_dist, homes.people, params.minutes, speeds[first]),
        }
    if len(params.profiles) > 1:
        doc["profiles"] = {
            p: {
                "speed_kmh": speeds[p],
                "layers": {
                    name: {"minutes": layer_minutes(lr.home_dist, homes.people, params.minutes, speeds[p])}
                    for name, lr in layers.items()
                },
            }
            for p in params.profiles
        }
    return doc


CIRCLE_COLUMNS = [
    "scope", "layer", "facility_id", "name", "tier", "minutes", "profile", "speed_kmh", "facilities", "area_km2",
]


def circles_frame(net, layers: dict, params, *, say=None):
    """Service circles, WGS84: per facility (``scope="facility"``) and dissolved per layer
    (``scope="layer"``), for every threshold and profile.

    A facility's circles are nested (the smaller threshold inside the larger); the layer's
    circle is the union of its facilities' circles (built from the nearest-facility walk times,
    which reach exactly the same street stretches).
    """
    import geopandas as gpd

    import shapely

    from geo.circle_cache import CircleStore
    from geo.circles import per_source
    from geo.network import Snapped
    from geo.plan import cache_dir
    from geo.polygons import QUAD_SEGS, circle_sets

    speeds = params.speeds()
    combos = sorted(
        ((metres_for(m, speeds[p]), float(m), p) for p in params.profiles for m in params.minutes),
        key=lambda c: c[0],
    )
    limits = [c[0] for c in combos]
    rows, geoms = [], []
    drawn = [name for name, lr in layers.items() if lr.snapped.ok.any()]
    per_fac = [n for n in drawn if getattr(params, "per_facility", True)]
    # circles drawn by an earlier run on the same streets are reused (geo.circle_cache)
    store = CircleStore(cache_dir(params) if params.use_cache else None, net, limits, params.width_m, QUAD_SEGS)
    layer_circles = {n: store.get(store.layer_key(layers[n].snapped)) for n in drawn}
    facility_circles, missing = {}, {}
    for n in per_fac:
        fac = layers[n].snapped
        keys = store.facility_keys(fac)
        arr = np.full((len(fac), len(limits)), None, dtype=object)
        arr[:] = shapely.Polygon()
        todo = np.zeros(len(fac), bool)
        for i in np.flatnonzero(fac.ok):
            got = store.get(keys[i])
            if got is None:
                todo[i] = True
            else:
                arr[i] = got
        facility_circles[n] = arr
        if todo.any():
            missing[n] = (Snapped(fac.edge, fac.along, fac.dist, todo, fac.xy), keys)
    # what is left: dissolved layer circles and per-facility circles, in one pool of workers
    n_poly = sum(int(sub.ok.sum()) for sub, _ in missing.values()) * len(limits)
    n_kept = sum(int(layers[n].snapped.ok.sum()) for n in per_fac) * len(limits) - n_poly
    if say:
        say(f"drawing service circles ({n_poly} per-facility polygons, ~{n_poly * 0.008:.0f} s"
            + (f"; {n_kept} reused from an earlier run" if n_kept else "")
            + ("; --no-per-facility skips them" if n_poly else "") + ", and the dissolved layer circles)")
    new_layers = [n for n in drawn if layer_circles[n] is None]
    layer_polys, fac_polys = circle_sets(
        net, [(layers[n].reach.dist, layers[n].snapped) for n in new_layers],
        [(sub, per_source(net, sub, limit=limits[-1])) for sub, _ in missing.values()],
        limits, width_m=params.width_m, cache=cache_dir(params) if params.use_cache else None,
        progress=_detail(say, "drawing service circles"))
    for n, polys in zip(new_layers, layer_polys):
        layer_circles[n] = polys
        store.put(store.layer_key(layers[n].snapped), polys)
    for (n, (sub, keys)), polys in zip(missing.items(), fac_polys):
        for i in np.flatnonzero(sub.ok):
            facility_circles[n][i] = polys[i]
            store.put(keys[i], polys[i])
    store.save()
    for name, lr in layers.items():
        if not lr.snapped.ok.any():
            continue
        fac = lr.facilities
        per = facility_circles.get(name)
        todo = np.flatnonzero(lr.snapped.ok) if per is not None else np.zeros(0, int)
        for i in todo:
            for j, (_, m, p) in enumerate(combos):
                poly = per[i, j]
                rows.append({"scope": "facility", "layer": name, "facility_id": _val(fac["id"].iloc[i]),
                             "name": _val(fac["name"].iloc[i]),
                             "tier": _val(fac["tier"].iloc[i]) if "tier" in fac else None,
                             "minutes": m, "profile": p, "speed_kmh": speeds[p], "facilities": 1,
                             "area_km2": round(float(poly.area) / 1e6, 4)})
                geoms.append(poly)
        for (_, m, p), poly in zip(combos, layer_circles[name]):
            rows.append({"scope": "layer", "layer": name, "facility_id": None, "name": None, "tier": None,
                         "minutes": m, "profile": p, "speed_kmh": speeds[p],
                         "facilities": int(lr.snapped.ok.sum()), "area_km2": round(float(poly.area) / 1e6, 3)})
            geoms.append(poly)
    gdf = gpd.GeoDataFrame(rows, columns=CIRCLE_COLUMNS, geometry=geoms, crs=net.crs)
    # layer circles first, so a reader that takes the first row per layer gets the dissolved one
    gdf = gdf.sort_values(["scope", "layer", "minutes"], ascending=[False, True, True], kind="stable")
    gdf = gdf.reset_index(drop=True)
    return gdf.to_crs(4326) if len(gdf) else gdf.set_crs(4326, allow_override=True)


def _detail(say, what: str):
    """``progress(done, total)`` for a long step, shown by a reporter that has a ``detail``
    method (the CLI's progress bar) and ignored by plain ones (logs, benchmarks)."""
    detail = getattr(say, "detail", None)
    if detail is None:
        return None
    return lambda done, total: detail(f"{what}: {done:,}/{total:,} polygons")


def _val(v):
    if v is None:
        return None
    try:
        import pandas as pd

        if not isinstance(v, (str, tuple, list)) and pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v.item() if hasattr(v, "item") else v


def layer_subsets(net, layers: dict, home_snap, params) -> tuple[dict, dict]:
    """Coverage views by tier, service and opening time, beside the plain layers.

    For each layer: one view per tier (``"centres[tier=community]"``) and per service
    (``"centres[service=elderly canteen]"``) when that attribute is present and the view is a
    true, non-empty part of the layer; with ``params.at``, one view of the facilities open then
    (``"centres[open=Mon 22:00]"``; unknown hours count as closed and are listed).

    Returns
    -------
    (views, info)
        ``views``: name -> LayerResult of the subset (same walk-time fields as a layer);
        ``info``: name -> what the view is (``of``, ``filter``, and for time views the
        ``closed`` and ``unknown_hours`` facilities).
    """
    from geo.circles import multi_source, point_distances
    from geo.plan import LayerResult

    views, info = {}, {}

    def add(name, layer, mask, meta):
        lr = layers[layer]
        mask = np.asarray(mask, bool)
        if not mask.any() and "open" not in meta:
            return
        if mask.all() and "open" not in meta:
            return
        sn = lr.snapped.subset(mask)
        fac = lr.facilities[mask].reset_index(drop=True)
        reach = multi_source(net, sn)
        hd, hs = point_distances(net, reach, home_snap)
        views[name] = LayerResult(name, fac, lr.origin, sn, [], reach, hd, hs)
        info[name] = {"of": layer, **meta, "facilities": int(mask.sum()), "snapped": int(sn.ok.sum())}

    at = None
    if getattr(params, "at", None):
        from geo.hours import at_label, open_mask, parse_at

        at = parse_at(params.at)
    for layer, lr in layers.items():
        fac = lr.facilities
        if len(fac) == 0:
            continue
        if "tier" in fac:
            tiers = fac["tier"].to_numpy(dtype=object)
            for t in sorted({t for t in tiers if isinstance(t, str) and t}):
                add(f"{layer}[tier={t}]", layer, tiers == t, {"filter": {"tier": t}})
        if "services" in fac:
            sv = [tuple(x) if isinstance(x, (list, tuple, np.ndarray)) else () for x in fac["services"]]
            for s in sorted({s for x in sv for s in x if s}):
                add(f"{layer}[service={s}]", layer, [s in x for x in sv], {"filter": {"service": s}})
        if at is not None:
            ok, unknown = open_mask(fac, at)
            label = at_label(at)

            def listed(mask):
                return [{"id": _val(fac["id"].iloc[i]), "name": _val(fac["name"].iloc[i]),
                         "opening_hours": _val(fac["opening_hours"].iloc[i]) if "opening_hours" in fac else None}
                        for i in np.flatnonzero(mask)]

            add(f"{layer}[open={label}]", layer, ok,
                {"filter": {"open_at": label}, "open": int(ok.sum()),
                 "closed": listed(~ok & ~unknown), "unknown_hours": listed(unknown)})
    return views, info


def subset_coverage(views: dict, info: dict, homes, params) -> dict:
    """``coverage.json["subsets"]``: each view's figures in the layers' shape, plus what it is."""
    speeds = params.speeds()
    first = params.profiles[0]
    out = {}
    for name, lr in views.items():
        out[name] = {**info[name], "minutes": layer_minutes(lr.home_dist, homes.people, params.minutes, speeds[first])}
        if len(params.profiles) > 1:
            out[name]["profiles"] = {
                p: {"speed_kmh": speeds[p], "minutes": layer_minutes(lr.home_dist, homes.people, params.minutes, speeds[p])}
                for p in params.profiles
            }
    return out
