"""Gap areas: uncovered homes grouped into areas a planner can act on, ranked by people.

Uncovered homes closer than ``gap_link_m`` (default 100 m) to one another form one area (single
linkage over a KD-tree). Each area is drawn as the concave hull of its homes, buffered by 25 m,
and carries: the home count, the estimated people, the walk time from its centre (the home
nearest the area's centroid) to the nearest facility of the layer and that facility's name,
and the street (街道, admin_level 8) and community (社区, admin_level 9-10) it lies in when the
extract has those boundaries — else the nearest named place node (``place=*`` named …街道 /
…社区, within :data:`PLACE_MAX_M`), as Chinese OSM data often has the names but not the lines.
Areas are made for every profile, so the elderly (slower) get their own, larger gaps.

Why straight-line linkage and not walking distance between homes: uncovered homes are by
definition far (in walking terms) from every facility; the grouping only decides which of
them a planner should look at *together*, and 100 m is short enough that homes so close are in
one block or across one street. A wide barrier splits them anyway (the Qiantang is ~1 km
wide, canals with no bridge near are rarer than 100 m apart); the walk time reported for an
area is measured on the network.
"""

from __future__ import annotations

from itertools import product

import numpy as np

from geo.circles import metres_for

HULL_BUFFER_M = 25.0
#: a named place node farther than this from an area's centre is not taken as its community.
PLACE_MAX_M = 1500.0
GAP_COLUMNS = [
    "rank", "layer", "minutes", "profile", "homes", "people", "walk_min_centre", "walk_min_max",
    "nearest_facility", "nearest_facility_id", "street", "community", "named_from",
]


def named_places(features):
    """Named place nodes/areas (``place=*``) of an extract: GeoDataFrame name, place (WGS84 points)."""
    import geopandas as gpd
    import shapely

    idx = [i for i, t in enumerate(features.tags) if t.get("place") and t.get("name")]
    geoms = shapely.from_wkb([features.wkb[i] for i in idx]) if idx else np.zeros(0, object)
    if len(geoms):
        geoms = shapely.point_on_surface(geoms)
    return gpd.GeoDataFrame(
        {"name": [features.tags[i]["name"] for i in idx], "place": [features.tags[i]["place"] for i in idx]},
        geometry=list(geoms), crs=4326,
    )


def base_places(base):
    """The named places a (possibly older, cached) Base carries, or None."""
    return getattr(base, "places", None)


def _place_lookup(places, xy: np.ndarray, project, suffixes: tuple[str, ...]) -> np.ndarray:
    """Name of the nearest place whose name ends with one of ``suffixes``, within PLACE_MAX_M."""
    from scipy.spatial import cKDTree

    out = np.full(len(xy), None, dtype=object)
    if places is None or len(places) == 0 or len(xy) == 0:
        return out
    names = places["name"].astype(str).to_numpy()
    sel = np.array([n.endswith(suffixes) for n in names], bool)
    if not sel.any():
        return out
    pxy = project(places.geometry.x.to_numpy()[sel], places.geometry.y.to_numpy()[sel])
    d, j = cKDTree(pxy).query(xy, distance_upper_bound=PLACE_MAX_M)
    hit = np.isfinite(d)
    out[hit] = names[sel][j[hit]]
    return out


def _hull(mp, n: int):
    """Concave hull of a gap's homes; GEOS fails on some degenerate (collinear) sets: convex then."""
    import shapely

    if n <= 2:
        return mp
    try:
        return shapely.concave_hull(mp, ratio=0.3)
    except shapely.errors.GEOSException:
        return shapely.convex_hull(mp)


def cluster_points(xy: np.ndarray, link_m: float) -> np.ndarray:
    """Label points so that points within ``link_m`` of each other share a label."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xy)
    if n == 0:
        return np.zeros(0, np.int64)
    pairs = cKDTree(xy).query_pairs(link_m, output_type="ndarray")
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return labels


def _admin_lookup(admin, crs_points_lonlat: np.ndarray):
    """Street and community names for lon/lat points, from admin areas (or None)."""
    import shapely

    n = len(crs_points_lonlat)
    street = np.full(n, None, dtype=object)
    community = np.full(n, None, dtype=object)
    if admin is None or len(admin) == 0 or n == 0:
        return street, community
    pts = shapely.points(crs_points_lonlat)
    for levels, out in ((("8",), street), (("9", "10"), community)):
        sub = admin[admin["admin_level"].isin(levels)]
        if len(sub) == 0:
            continue
        tree = shapely.STRtree(sub.geometry.values)
        pi, ai = tree.query(pts, predicate="within")
        # smallest area wins when boundaries nest or overlap
        area = shapely.area(sub.geometry.values)[ai]
        order = np.lexsort((area, pi))
        pi, ai = pi[order], ai[order]
        first = np.ones(len(pi), bool)
        first[1:] = pi[1:] != pi[:-1]
        out[pi[first]] = sub["name"].to_numpy()[ai[first]]
    return street, community


def gap_areas(net, homes, layers: dict, params, *, admin=None, places=None):
    """Gap areas for every layer, threshold and profile, WGS84, ranked by people.

    Parameters
    ----------
    layers
        name -> LayerResult (plain layers and views such as ``"centres[tier=community]"``).
    admin, places
        Admin boundaries (name, admin_level) and named places (name, place), WGS84, for the
        street and community of each area; either may be None.
    """
    import geopandas as gpd
    import shapely

    rows, geoms = [], []
    for name, lr in layers.items():
        names = lr.facilities["name"].to_numpy() if len(lr.facilities) else np.zeros(0, object)
        ids = lr.facilities["id"].to_numpy() if len(lr.facilities) else np.zeros(0, object)
        for profile, m in product(params.profiles, sorted(params.minutes)):
            speed = params.speeds()[profile]
            limit = metres_for(m, speed)
            out = np.flatnonzero(~(lr.home_dist <= limit))
            if len(out) == 0:
                continue
            labels = cluster_points(homes.xy[out], params.gap_link_m)
            order = np.argsort(labels, kind="stable")
            bounds = np.flatnonzero(np.diff(labels[order])) + 1
            for grp in np.split(out[order], bounds):
                xy = homes.xy[grp]
                centre = xy.mean(axis=0)
                c = grp[int(np.argmin(np.hypot(*(xy - centre).T)))]
                d = lr.home_dist[c]
                src = lr.home_src[c]
                mp = shapely.multipoints(xy)
                hull = _hull(mp, len(grp))
                geoms.append(shapely.buffer(hull, HULL_BUFFER_M, quad_segs=4))
                finite = lr.home_dist[grp][np.isfinite(lr.home_dist[grp])]
                rows.append({
                    "layer": name, "minutes": float(m), "profile": profile,
                    "homes": int(len(grp)), "people": round(float(homes.people[grp].sum()), 1),
                    "walk_min_centre": round(float(d) / (speed * 1000 / 60), 1) if np.isfinite(d) else None,
                    "walk_min_max": round(float(finite.max()) / (speed * 1000 / 60), 1) if len(finite) == len(grp) else None,
                    "nearest_facility": names[src] if src >= 0 else None,
                    "nearest_facility_id": ids[src] if src >= 0 else None,
                    "_cx": centre[0], "_cy": centre[1],
                })
    if not rows:
        return gpd.GeoDataFrame(columns=GAP_COLUMNS, geometry=[], crs=4326)
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=net.crs)
    centres_ll = net.unproject(gdf[["_cx", "_cy"]].to_numpy())
    street, community = _admin_lookup(admin, centres_ll)
    cxy = gdf[["_cx", "_cy"]].to_numpy()
    from_admin = np.array([c is not None for c in community])
    miss = np.array([c is None for c in street])
    street[miss] = _place_lookup(places, cxy[miss], net.project, ("街道", "镇"))
    miss = ~from_admin
    community[miss] = _place_lookup(places, cxy[miss], net.project, ("社区", "村"))
    gdf["street"], gdf["community"] = street, community
    gdf["named_from"] = np.where(from_admin, "admin boundary",
                                 np.where([c is not None for c in community], "nearest place", None))
    gdf = gdf.sort_values(["layer", "profile", "minutes", "people"], ascending=[True, True, True, False], kind="stable")
    gdf["rank"] = gdf.groupby(["layer", "profile", "minutes"]).cumcount() + 1
    gdf = gdf[GAP_COLUMNS + ["geometry"]].reset_index(drop=True)
    return gdf.to_crs(4326)
