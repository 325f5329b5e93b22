"""The tables a plan hands out: circles, gap areas and facilities, as WGS84 GeoDataFrames."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from geo.drawing import DrawContext, FacilityJob, LayerJob, draw
from geo.gaps import GAP_COLUMNS, GapHomes, area_cells
from geo.grid import coarse_lattice
from geo.kinds import View
from geo.network import Network, Snapped, _ranges
from geo.raster import RasterGeometry

if TYPE_CHECKING:
    from geo.areas import StudyArea
    from geo.demand import Homes
    from geo.homeinfo import HomeLand
    from geo.plan import PlanParams
    from geo.whatif import Reuse

CIRCLE_COLUMNS = [
    "scope",
    "layer",
    "facility_id",
    "name",
    "tier",
    "minutes",
    "profile",
    "speed_kmh",
    "facilities",
    "area_km2",
]


def _val(v: object) -> Any:  # noqa: ANN401 - a table value as JSON takes it
    if v is None:
        return None
    try:  # (pandas' type stubs list array-like overloads only; isna takes any scalar)
        if not isinstance(v, (str, tuple, list)) and pd.isna(v):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):
        pass
    return v.item() if hasattr(v, "item") else v


def draw_context(  # noqa: PLR0913 - keyword-only: the parts of a plan the drawing needs
    *,
    params: PlanParams,
    net: Network,
    homes: Homes,
    layers: dict,
    subsets: dict,
    names: tuple,
    land: HomeLand,
    dists: dict,
    reuse: Reuse | None = None,
    area: StudyArea | None = None,
) -> DrawContext:
    """The :class:`geo.drawing.DrawContext` of a plan.

    Plain layers and night views with their gap areas, and (``params.per_facility``) every
    placed facility's own circles; with ``reuse``, only the views and facilities it says to draw again. ``land``
    (:class:`geo.homeinfo.HomeLand`) is the homes' land for the gap areas, cut at the study
    ``area`` (:class:`geo.areas.StudyArea`) when there is one.
    """
    limits = params.limits()
    views = {**layers, **{k: v for k, v in subsets.items() if View.parse(k).is_night}}
    jobs = []
    for key, lr in views.items():
        sn = lr.snapped
        if not sn.ok.any() and not View.parse(key).is_night:
            continue
        if reuse is not None and key not in reuse.views:
            continue
        jobs.append(LayerJob.of_layer(key, lr))
    fjobs = []
    if params.per_facility:
        for name, lr in layers.items():
            if name in dists:
                sn = lr.snapped
                rows = sn.ok if reuse is None else sn.ok & reuse.facilities[name]
                fjobs.append(FacilityJob(name, dists[name], sn.edge, sn.along, np.flatnonzero(rows)))
    # the grid and the homes' land cells only when something is drawn (a scenario may redraw nothing)
    draws = bool(jobs) or any(len(j.rows) for j in fjobs)
    geom = RasterGeometry(net, params.cell(), pad_m=params.draw_pad_m()) if draws else None
    gh = (
        None
        if geom is None or not jobs
        else _gap_homes(geom, params=params, homes=homes, names=names, land=land, area=area)
    )
    speeds = params.speeds()
    return DrawContext(
        net,
        tuple(m for m, _, _ in limits),
        params.width_m,
        params.cell(),
        params.circles,
        tuple(jobs),
        tuple(fjobs),
        gh,
        tuple((mi, p, speeds[p]) for _, mi, p in limits),
        geom,
    )


def _gap_homes(
    geom: RasterGeometry, *, params: PlanParams, homes: Homes, names: tuple, land: HomeLand, area: StudyArea | None
) -> GapHomes:
    """The homes, their land cells on ``geom``'s coarse lattice and their names, for the gap areas."""
    lat = coarse_lattice(geom.lattice)
    cells, owner = land.on(lat)
    street, community, named_from = names
    metric = getattr(area, "metric", None)
    inside = area_cells(lat, metric) if metric is not None else None
    return GapHomes(
        homes.xy,
        homes.people,
        np.ones(len(homes), bool),
        street,
        community,
        named_from,
        lat,
        cells,
        owner,
        params.gap_link_m,
        inside,
    )


def circle_and_gap_frames(
    ctx: DrawContext,
    *,
    params: PlanParams,
    layers: dict,
    subsets: dict,
    reuse: Reuse | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Circles (per facility and dissolved per view) and gap areas of a plan (WGS84 frames).

    ``ctx`` is what to draw (:func:`draw_context` of the same ``params``, ``layers``, ``subsets``
    and ``reuse``); with ``reuse``, what it does not draw again comes from the plan before.
    """
    net = ctx.net
    drawn = draw(ctx, workers=params.workers, progress=_detail(say, "drawing service circles"))
    limits = params.limits()
    speeds = params.speeds()
    rows, geoms = [], []
    views = {**layers, **subsets}
    for name, arr in drawn.facilities.items():
        lr = layers[name]
        fac = lr.facilities
        ids, nm = fac["id"].to_numpy(dtype=object), fac["name"].to_numpy(dtype=object)
        tiers = fac["tier"].to_numpy(dtype=object) if "tier" in fac else np.full(len(fac), None, object)
        drawn_rows = lr.snapped.ok if reuse is None else lr.snapped.ok & reuse.facilities[name]
        for i in np.flatnonzero(drawn_rows):
            for j, (_, m, p) in enumerate(limits):
                poly = arr[i, j]
                rows.append(
                    {
                        "scope": "facility",
                        "layer": name,
                        "facility_id": _val(ids[i]),
                        "name": _val(nm[i]),
                        "tier": _val(tiers[i]),
                        "minutes": m,
                        "profile": p,
                        "speed_kmh": speeds[p],
                        "facilities": 1,
                        "area_km2": round(float(poly.area) / 1e6, 4),
                    }
                )
                geoms.append(poly)
    for name, polys in drawn.layers.items():
        n_fac = int(views[name].snapped.ok.sum())
        for (_, m, p), poly in zip(limits, polys, strict=True):
            rows.append(
                {
                    "scope": "layer",
                    "layer": name,
                    "facility_id": None,
                    "name": None,
                    "tier": None,
                    "minutes": m,
                    "profile": p,
                    "speed_kmh": speeds[p],
                    "facilities": n_fac,
                    "area_km2": round(float(poly.area) / 1e6, 3),
                }
            )
            geoms.append(poly)
    # layer circles first, so a reader that takes the first row per layer gets the dissolved one
    by = (["scope", "layer", "minutes"], [False, True, True])
    if reuse is None and rows and _sortable(rows, by[0]):
        circles = _wgs84_frame(rows, CIRCLE_COLUMNS, geoms, net.crs, _stable_order(rows, *by))
    else:
        circles = _wgs84(gpd.GeoDataFrame(rows, columns=CIRCLE_COLUMNS, geometry=geoms, crs=net.crs))
        if reuse is not None:
            circles = gpd.GeoDataFrame(
                pd.concat([circles, _kept_circles(reuse, layers, views)], ignore_index=True), crs=4326
            )
        circles = circles.sort_values(by[0], ascending=by[1], kind="stable").reset_index(drop=True)
    g_rows, g_geoms = [], []
    for rows_, polys_ in drawn.gaps.values():
        g_rows += rows_
        g_geoms += polys_
    return circles, _gap_frame(g_rows, g_geoms, net.crs, reuse)


#: the gap areas' order: by view and threshold, the most people first (``rank`` counts them from 1)
GAP_ORDER = (["layer", "profile", "minutes", "people"], [True, True, True, False])


def _gap_frame(rows: list[dict], geoms: list, crs: object, reuse: Reuse | None) -> gpd.GeoDataFrame:
    """The gap areas (rows and their metric polygons), ranked, as a WGS84 frame; with those ``reuse`` keeps."""
    by = GAP_ORDER
    if reuse is None and rows and _sortable(rows, by[0]):
        order = _stable_order(rows, *by)
        ranked, rank, group = [], 0, None
        for i in order:
            r = rows[i]
            key = (r["layer"], r["profile"], r["minutes"])
            rank = rank + 1 if key == group else 1
            group = key
            ranked.append({**r, "rank": rank})
        return _wgs84_frame(ranked, GAP_COLUMNS, [geoms[i] for i in order], crs, range(len(order)))
    fresh = gpd.GeoDataFrame(rows, columns=[c for c in GAP_COLUMNS if c != "rank"], geometry=geoms, crs=crs).to_crs(
        4326
    )
    if reuse is not None:
        old = reuse.before.gaps
        kept = old[~old["layer"].isin(list(reuse.views))].drop(columns=["rank"]) if len(old) else old
        fresh = gpd.GeoDataFrame(pd.concat([fresh, kept], ignore_index=True), crs=4326) if len(kept) else fresh
    if not len(fresh):
        return gpd.GeoDataFrame(columns=GAP_COLUMNS, geometry=[], crs=4326)
    gaps = fresh.sort_values(by[0], ascending=by[1], kind="stable")
    gaps["rank"] = gaps.groupby(by[0][:3]).cumcount() + 1
    return gaps[[*GAP_COLUMNS, "geometry"]].reset_index(drop=True)


def _kept_circles(reuse: Reuse, layers: dict, views: dict) -> gpd.GeoDataFrame:
    """Circle rows of the plan before that a scenario keeps.

    Views it does not draw again, and the facilities (by id) whose circles it does not draw again.
    """
    old = reuse.before.circles
    if len(old) == 0:
        return old
    keep_layer = (old["scope"] == "layer") & ~old["layer"].isin(list(reuse.views)) & old["layer"].isin(list(views))
    keep_fac = np.zeros(len(old), bool)
    for name, lr in layers.items():
        ids = lr.facilities["id"].astype(str).to_numpy()
        kept_ids = set(ids[lr.snapped.ok & ~reuse.facilities[name]])
        keep_fac |= (
            (old["scope"] == "facility") & (old["layer"] == name) & old["facility_id"].astype(str).isin(kept_ids)
        ).to_numpy()
    return old[keep_layer.to_numpy() | keep_fac]


def _sortable(rows: list[dict], keys: list[str]) -> bool:
    """Whether every row's ``keys`` are text or numbers that are not NaN (Python sorts them as pandas does)."""
    for k in keys:
        values = [r[k] for r in rows]
        if not (
            all(isinstance(v, str) for v in values)
            or all(isinstance(v, (int, float, np.integer, np.floating)) and v == v for v in values)  # noqa: PLR0124 - NaN
        ):
            return False
    return True


def _stable_order(rows: list[dict], keys: list[str], ascending: list[bool]) -> list[int]:
    """The rows' order by ``keys`` (each ascending or not), ties in their order: ``sort_values(kind="stable")``.

    The keys are :func:`_sortable`. One stable sort per key, the last key first.
    """
    order = list(range(len(rows)))
    for k, up in reversed(list(zip(keys, ascending, strict=True))):
        order.sort(key=lambda i: rows[i][k], reverse=not up)  # (reverse keeps ties in their order)
    return order


def _wgs84_frame(rows: list[dict], columns: list[str], geoms: list, crs: object, order: object) -> gpd.GeoDataFrame:
    """``gpd.GeoDataFrame(rows, columns=columns, geometry=geoms, crs=crs).to_crs(4326)`` taken in ``order``.

    The same frame (columns, dtypes, coordinates, a default index), made in fewer pandas steps:
    the table of the rows in order, and their geometries put into WGS84 as one array.
    """
    at = list(cast("Any", order))
    g = np.empty(len(at), dtype=object)
    g[:] = [geoms[i] for i in at]
    df = pd.DataFrame([rows[i] for i in at], columns=columns)
    df["geometry"] = gpd.array.GeometryArray(g, crs=crs).to_crs(4326)
    return gpd.GeoDataFrame(df, geometry="geometry", copy=False)


def _wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.to_crs(4326) if len(gdf) else gdf.set_crs(4326, allow_override=True)


def _detail(say: object, what: str) -> Callable[[int, int], None] | None:
    """``progress(done, total)`` for a long step, or None.

    Shown by a reporter that has a ``detail`` method (the CLI's progress bar) and ignored by
    plain ones (logs, benchmarks).
    """
    detail = getattr(say, "detail", None)
    if detail is None:
        return None
    return lambda done, total: detail(f"{what}: {done:,}/{total:,} polygons")


# ------------------------------------------------------------------------------ facilities


def home_distances(net: Network, fac: Snapped, dist: sp.csr_matrix, points: Snapped, limit: float) -> sp.csr_matrix:
    """``(facilities, points)``: walk metres from each facility to each point within ``limit``.

    The best of via either end of the point's edge, or along the shared edge.
    """
    ok = np.flatnonzero(points.ok)
    e, a = points.edge[ok], points.along[ok]
    d = dist.tocsc()
    rows, cols, vals = [], [], []
    for nodes, off in ((net.edge_u[e], a), (net.edge_v[e], net.edge_len[e] - a)):
        sub = d[:, nodes].tocoo()
        v = sub.data + off[sub.col]
        keep = v <= limit
        rows.append(sub.row[keep])
        cols.append(ok[sub.col[keep]])
        vals.append(v[keep])
    # facilities and points on the same edge: straight along it
    fok = np.flatnonzero(fac.ok)
    order = np.argsort(e, kind="stable")
    es = e[order]
    lo = np.searchsorted(es, fac.edge[fok], side="left")
    hi = np.searchsorted(es, fac.edge[fok], side="right")
    cnt = hi - lo
    if cnt.sum():
        f_rep = np.repeat(fok, cnt)
        p_idx = order[_ranges_np(lo, cnt)]
        v = np.abs(a[p_idx] - fac.along[f_rep])
        keep = v <= limit
        rows.append(f_rep[keep])
        cols.append(ok[p_idx[keep]])
        vals.append(v[keep])
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    n_p = len(points)
    key = r.astype(np.int64) * n_p + c
    o = np.lexsort((v, key))
    key, v = key[o], v[o]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    r, c = np.divmod(key[first], n_p)
    return sp.csr_matrix((v[first], (r, c)), shape=(len(fac), n_p))


def _ranges_np(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    keep = counts > 0
    return _ranges(starts[keep], counts[keep])


def facility_frame(
    net: Network,
    homes: Homes,
    home_snap: Snapped,
    layers: dict,
    dists: dict,
    params: PlanParams,
    reuse: Reuse | None = None,
) -> gpd.GeoDataFrame:
    """Every facility of the plan with its placement and the people it serves (WGS84).

    Columns: layer, id, name, tier, kind, opening_hours, snapped (placed on the network),
    snap_m (how far it was moved onto its street), snap_lon / snap_lat (where it was placed,
    WGS84), then for each threshold and profile
    ``people_<m>min`` / ``homes_<m>min`` (living within that walk of it, whichever facility is
    nearest) and ``people_nearest_<m>min`` (those of them for whom it is the nearest: these sum
    to the layer's covered people). With several profiles the columns end in ``_<profile>``.
    """
    limits = params.limits()
    multi = len(params.profiles) > 1
    frames = []
    for name, lr in layers.items():
        fac = lr.facilities
        n = len(fac)
        cols: dict[str, Any] = {"layer": [name] * n}
        for c in ("id", "name", "tier", "kind", "opening_hours", "address", "source"):
            cols[c] = [_val(v) for v in fac[c]] if c in fac else [None] * n
        cols["snapped"] = lr.snapped.ok.tolist()
        cols["snap_m"] = [
            round(float(d), 1) if ok else None for d, ok in zip(lr.snapped.dist, lr.snapped.ok, strict=True)
        ]
        placed = net.unproject(lr.snapped.xy) if n else np.zeros((0, 2))
        for k, axis in ((0, "snap_lon"), (1, "snap_lat")):
            cols[axis] = [round(float(v), 7) if ok else None for v, ok in zip(placed[:, k], lr.snapped.ok, strict=True)]
        m_all = home_distances(net, lr.snapped, dists[name], home_snap, limits[-1][0]) if name in dists else None
        for metres, minutes, profile in limits:
            suffix = f"{minutes:g}min" + (f"_{profile}" if multi else "")
            if m_all is not None:
                within = m_all.copy()
                within.data = (within.data <= metres).astype(float)
                within.eliminate_zeros()
                people = within @ homes.people
                count = np.asarray(within.sum(axis=1)).ravel()
            else:
                people, count = np.zeros(n), np.zeros(n)
            near = (lr.home_dist <= metres) & (lr.home_src >= 0)
            nearest = np.bincount(lr.home_src[near], weights=homes.people[near], minlength=n)[:n]
            cols[f"people_{suffix}"] = np.round(people, 1)
            cols[f"homes_{suffix}"] = count.astype(int)
            cols[f"people_nearest_{suffix}"] = np.round(nearest, 1)
        g = np.empty(n, dtype=object)
        g[:] = list(fac.geometry.values) if n else []
        cols["geometry"] = gpd.array.GeometryArray(g, crs=4326)
        frames.append(pd.DataFrame(cols))  # (one GeoDataFrame of them all: the same table, made once)
    if not frames:
        return gpd.GeoDataFrame(geometry=[], crs=4326)
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    if reuse is not None and len(reuse.before.facilities):
        # people served of facilities not drawn again: as before (their reach is unchanged)
        old = reuse.before.facilities
        key_old = old["layer"].astype(str) + "\x00" + old["id"].astype(str)
        lookup = dict(zip(key_old, range(len(old)), strict=True))
        served = [c for c in out.columns if c.startswith(("people_", "homes_"))]
        for name, lr in layers.items():
            keep = np.flatnonzero(lr.snapped.ok & ~reuse.facilities[name])
            at = np.flatnonzero(out["layer"].to_numpy() == name)[keep]
            src = [lookup.get(f"{name}\x00{i}") for i in lr.facilities["id"].astype(str).to_numpy()[keep]]
            ok = [k for k, s in enumerate(src) if s is not None]
            if ok:
                out.loc[out.index[at[ok]], served] = old[served].iloc[[src[k] for k in ok]].to_numpy()
    return out
