"""Coverage figures and the circle table, read off the walk distances of a plan."""

from __future__ import annotations

import numpy as np

from geo.circles import metres_for
from geo.polygons import circle_polygon


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


def circles_frame(net, layers: dict, params):
    """Dissolved service circles per layer and threshold (first profile), WGS84."""
    import geopandas as gpd
    import shapely

    speed = params.speeds()[params.profiles[0]]
    rows, geoms = [], []
    for name, lr in layers.items():
        if not lr.snapped.ok.any():
            continue
        for m in sorted(params.minutes):
            poly = circle_polygon(net, lr.reach.dist, metres_for(m, speed), facilities=lr.snapped, width_m=params.width_m)
            rows.append({"layer": name, "minutes": float(m), "profile": params.profiles[0], "speed_kmh": speed,
                         "facilities": int(lr.snapped.ok.sum()), "area_km2": round(float(poly.area) / 1e6, 3)})
            geoms.append(poly)
    gdf = gpd.GeoDataFrame(rows, columns=["layer", "minutes", "profile", "speed_kmh", "facilities", "area_km2"],
                           geometry=geoms, crs=net.crs)
    return gdf.to_crs(4326) if len(gdf) else gdf.set_crs(4326, allow_override=True)
