"""Where the next facilities should go: maximal covering of the people still uncovered.

The solvers work on a plain coverage matrix (as ``spopt.locate`` does): ``cover[j, h]`` is true
when candidate site ``j`` is within the walk limit of demand point ``h``, and ``weights[h]`` are
the people living there. :func:`greedy` adds, one at a time, the site that covers the most
people not yet covered (any size; within ``1 - 1/e`` of the optimum); :func:`exact` solves the
maximal covering location problem as an integer programme with HiGHS (``highspy``) to show
how close the greedy answer is.

:func:`site` is the adapter from a plan: the demand points are the homes the layer leaves
outside the limit (the existing facilities are kept), candidates default to network nodes near
those homes (within :data:`NEAR_GAP_M`) inside the study area, thinned to one per ``grid_m``
cell, and the coverage sets come from bounded Dijkstra searches from every candidate
(:func:`geo.circles.per_source`, chunked).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from geo.areas import name_points
from geo.circles import metres_for, per_source
from geo.coverage import layer_minutes
from geo.crs import wgs84_to_gcj02
from geo.drawing import source_circles
from geo.errors import InputError, UnknownNameError
from geo.frames import home_distances
from geo.layers import read_facilities
from geo.nearby import near_any
from geo.network import Network, Snapped
from geo.osm_layers import FACILITY_COLUMNS
from geo.plan import layer_step
from geo.plan_types import LayerResult, PlanResult, Progress, finite_in, whole_in
from geo.whatif import Reuse, after_plan

if TYPE_CHECKING:  # annotations only: highspy loads for an exact solve only
    import highspy

#: default thinning of candidates: at most one network node per cell of this size (m).
GRID_M = 100.0
#: at most this many of the given candidates that cannot be sites are listed in the summary (all are counted)
LEFT_OUT_LISTED = 1000
#: at most this many candidates (the grid is coarsened until they fit).
MAX_CANDIDATES = 2000
#: the exact solve runs by default when the reduced problem has at most this many nonzeros.
EXACT_MAX_NNZ = 200_000
EXACT_TIME_S = 30.0


# ---------------------------------------------------------------- solvers on a matrix


def greedy(cover: sp.spmatrix, weights: np.ndarray, p: int) -> tuple[list[int], list[float]]:
    """Greedy maximal covering: ``p`` sites, each the one adding the most weight.

    Returns the chosen rows in order and the weight each adds (ties go to the lower index).
    Stops early when no site adds anything.
    """
    a = sp.csr_matrix(cover, dtype=float)
    w = np.asarray(weights, float).copy()
    chosen: list[int] = []
    gains: list[float] = []
    for _ in range(int(p)):
        score = a @ w
        if chosen:
            score[chosen] = -1.0
        j = int(np.argmax(score)) if len(score) else -1
        if j < 0 or score[j] <= 0:
            break
        chosen.append(j)
        gains.append(float(score[j]))
        lo, hi = a.indptr[j], a.indptr[j + 1]
        w[a.indices[lo:hi]] = 0.0
    return chosen, gains


@dataclass(frozen=True)
class ExactResult:
    """The exact maximal-covering answer: the chosen candidates, the weight covered, the bound, the status."""

    chosen: list[int]
    objective: float  # weight covered by ``chosen``
    bound: float  # upper bound proven by the solver (== objective when optimal)
    status: str  # "optimal" or the HiGHS status (e.g. "Time limit reached")
    seconds: float


def exact(cover: sp.spmatrix, weights: np.ndarray, p: int, *, time_limit: float = EXACT_TIME_S) -> ExactResult:
    """The maximal covering location problem solved as a MIP with HiGHS.

    maximise ``sum w_h y_h`` subject to ``y_h <= sum_j cover[j, h] x_j``, ``sum x_j = p``
    (at most the number of candidates), ``x`` binary, ``0 <= y <= 1``. Demand points with the
    same covering set are merged first (their weights summed), which keeps the model small.
    """
    import highspy

    t0 = time.perf_counter()
    a = sp.csc_matrix(cover, dtype=bool)
    w = np.asarray(weights, float)
    k = a.shape[0]
    p = min(int(p), k)
    a, w = _merge_columns(a, w)
    h = a.shape[1]
    rows = a.T.tocsr()  # one row per demand point: y_h - sum_j x_j <= 0
    n_col = k + h
    start = np.concatenate([rows.indptr[:-1] + np.arange(h), [rows.nnz + h]])
    index = np.empty(rows.nnz + h, np.int32)
    value = np.empty(rows.nnz + h)
    for i in range(h):  # y_h first, then the candidates covering it
        s, lo, hi = start[i], rows.indptr[i], rows.indptr[i + 1]
        index[s] = k + i
        value[s] = 1.0
        index[s + 1 : s + 1 + hi - lo] = rows.indices[lo:hi]
        value[s + 1 : s + 1 + hi - lo] = -1.0
    # the cardinality row
    start = np.concatenate([start[:-1], [len(index)], [len(index) + k]])
    index = np.concatenate([index, np.arange(k, dtype=np.int32)])
    value = np.concatenate([value, np.ones(k)])
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_col, h + 1
    lp.col_cost_ = np.concatenate([np.zeros(k), -w])
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.ones(n_col)
    lp.row_lower_ = np.concatenate([np.full(h, -highspy.kHighsInf), [p]])
    lp.row_upper_ = np.concatenate([np.zeros(h), [p]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_col, h + 1
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = start, index, value
    lp.integrality_ = [highspy.HighsVarType.kInteger] * k + [highspy.HighsVarType.kContinuous] * h
    solver = _quiet_solver()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("time_limit", float(time_limit))
    solver.setOptionValue("mip_rel_gap", 1e-6)
    solver.setOptionValue("threads", 1)
    solver.passModel(lp)
    solver.run()
    status = solver.modelStatusToString(solver.getModelStatus())
    x = np.asarray(solver.getSolution().col_value[:k])
    chosen = [int(j) for j in np.flatnonzero(x > 0.5)]
    covered = np.asarray(a[chosen].sum(axis=0)).ravel() > 0 if chosen else np.zeros(h, bool)
    obj = float(w[covered].sum())
    info = solver.getInfo()
    bound = -float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else obj
    return ExactResult(
        chosen, obj, max(bound, obj), "optimal" if status == "Optimal" else status, time.perf_counter() - t0
    )


def _merge_columns(a: sp.csc_matrix, w: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
    """Drop columns nobody covers; merge identical columns, summing their weights."""
    a = sp.csc_matrix(a)
    a.sort_indices()
    keys: dict[bytes, int] = {}
    groups = np.full(a.shape[1], -1, np.int64)
    for c in range(a.shape[1]):
        lo, hi = a.indptr[c], a.indptr[c + 1]
        if hi == lo:
            continue
        groups[c] = keys.setdefault(a.indices[lo:hi].tobytes(), len(keys))
    keep = groups >= 0
    n = len(keys)
    merge = sp.csr_matrix((np.ones(int(keep.sum())), (np.flatnonzero(keep), groups[keep])), shape=(a.shape[1], n))
    a2 = (a.astype(float) @ merge) > 0
    w2 = np.bincount(groups[keep], weights=w[keep], minlength=n)
    return sp.csc_matrix(a2), w2


# ---------------------------------------------------------------- the adapter from a plan


def node_sites(net: Network, nodes: np.ndarray) -> Snapped:
    """Network nodes as snapped points: on an edge incident to each node, at that end."""
    nodes = np.asarray(nodes, np.int64)
    ends = np.concatenate([net.edge_u, net.edge_v])
    edges = np.concatenate([np.arange(net.n_edges), np.arange(net.n_edges)])
    first = np.full(net.n_nodes, -1, np.int64)
    first[ends[::-1]] = edges[::-1]
    e = first[nodes]
    ok = e >= 0
    along = np.where(net.edge_u[np.maximum(e, 0)] == nodes, 0.0, net.edge_len[np.maximum(e, 0)])
    return Snapped(np.where(ok, e, -1), np.where(ok, along, 0.0), np.zeros(len(nodes)), ok, net.node_xy[nodes])


def thin_nodes(xy: np.ndarray, nodes: np.ndarray, *, grid_m: float = GRID_M, cap: int = MAX_CANDIDATES) -> np.ndarray:
    """One node per ``grid_m`` cell (the nearest to the cell's centre).

    The grid doubles until at most ``cap`` remain.
    """
    nodes = np.asarray(nodes, np.int64)
    g = float(grid_m)
    while True:
        cell = np.floor(xy[nodes] / g).astype(np.int64)
        d = np.hypot(*(xy[nodes] - (cell + 0.5) * g).T)
        order = np.lexsort((d, cell[:, 1], cell[:, 0]))
        c = cell[order]
        first = np.ones(len(c), bool)
        first[1:] = (c[1:] != c[:-1]).any(axis=1)
        out = np.sort(nodes[order][first])
        if len(out) <= cap:
            return out
        g *= 2


def cover_matrix(net: Network, sites: Snapped, points: Snapped, limit_m: float, *, chunk: int = 128) -> sp.csr_matrix:
    """``(len(sites), len(points))`` boolean: site ``j`` within ``limit_m`` walking of point ``h``.

    Distances as :func:`geo.circles.point_distances`: via either end of the point's edge, or
    along the edge when the site is on the same edge.
    """
    d = per_source(net, sites, limit=limit_m, chunk=chunk)
    m = home_distances(net, sites, d, points, limit_m)
    m.data = np.ones(len(m.data), bool)
    return m.astype(bool).tocsr()


@dataclass(frozen=True, eq=False)
class SitingResult:
    """Proposed sites of a layer, the people each gains, and coverage before and after."""

    layer: str
    minutes: float
    profile: str
    limit_m: float
    sites: gpd.GeoDataFrame  # WGS84 points: rank, people_gained, homes_gained, cumulative figures
    circles: gpd.GeoDataFrame  # WGS84 polygons: each site's walk-time circle
    snapped: Snapped  # the sites on the network
    summary: dict  # candidates, greedy and exact figures, coverage before and after


def site(  # noqa: PLR0913 - the options of `circles site` and POST /site, keyword-only, each documented below
    result: PlanResult,
    *,
    layer: str,
    add: int,
    minutes: float | None = None,
    profile: str | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    grid_m: float = GRID_M,
    cap: int = MAX_CANDIDATES,
    exact_solve: bool | None = None,
    time_limit: float = EXACT_TIME_S,
) -> SitingResult:
    """Propose ``add`` new sites of ``layer`` covering the most people the plan leaves out.

    Parameters
    ----------
    result
        A :class:`geo.plan.PlanResult`; its facilities are kept.
    minutes, profile
        The walk limit (default: the plan's largest threshold and first profile).
    candidates
        A WGS84 GeoDataFrame of candidate points (snapped to the nearest way within the plan's
        snap limit); default: network nodes inside the layer's gap areas, one per ``grid_m`` cell.
    exact_solve
        Also solve exactly with HiGHS: True, False, or None for "when the problem is small".
    """
    params = result.params
    minutes, profile = _checked(result, layer=layer, add=add, minutes=minutes, profile=profile, grid_m=grid_m)
    speed = params.speeds()[profile]
    limit = metres_for(minutes, speed)
    net, homes, lr = result.network, result.homes, result.layers[layer]
    demand = np.flatnonzero(~(lr.home_dist <= limit) & result.home_snap.ok)
    pts = result.home_snap.subset(demand)
    area = getattr(result, "area", None)
    cand, origin, left_out = _candidates(result, lr, limit, candidates=candidates, grid_m=grid_m, cap=cap)
    w = homes.people[demand]
    a = (
        cover_matrix(net, cand, pts, limit)
        if len(cand) and len(pts)
        else sp.csr_matrix((len(cand), len(pts)), dtype=bool)
    )
    chosen, gains = greedy(a, w, add)
    summary = {
        "area": area.describe() if area is not None else None,
        "layer": layer,
        "minutes": minutes,
        "profile": profile,
        "limit_m": round(limit, 1),
        "candidates": len(cand),
        "candidates_from": origin,
        "candidates_left_out": left_out[:LEFT_OUT_LISTED],
        "candidates_left_out_count": len(left_out),
        "demand_homes": len(demand),
        "demand_people": round(float(w.sum())),
        "greedy_people": round(float(sum(gains)), 1),
    }
    if exact_solve is None:
        exact_solve = a.nnz <= EXACT_MAX_NNZ
    if exact_solve and len(cand):
        summary["exact"] = _exact_summary(exact(a, w, add, time_limit=time_limit), float(sum(gains)))
    s = Snapped(cand.edge[chosen], cand.along[chosen], cand.dist[chosen], cand.ok[chosen], cand.xy[chosen])
    before_cov = float(homes.people[lr.home_dist <= limit].sum())
    ranked, covered = _ranked(a.tocsr(), chosen, gains, w, before_cov, float(homes.people.sum()))
    rows = [{**r, "layer": layer, "minutes": minutes, "profile": profile} for r in ranked]
    sites, circles = _site_frames(result, s, rows, limit, minutes)
    after = np.where(np.isin(np.arange(len(homes)), demand[covered]), 0.0, lr.home_dist)
    summary["coverage_before"] = layer_minutes(lr.home_dist, homes.people, [minutes], speed)
    summary["coverage_after"] = layer_minutes(after, homes.people, [minutes], speed)
    return SitingResult(layer, minutes, profile, limit, sites, circles, s, summary)


def _checked(
    result: PlanResult, *, layer: str, add: int, minutes: float | None, profile: str | None, grid_m: float
) -> tuple[float, str]:
    """The walk limit's minutes and profile of a siting run, its options checked in order."""
    params = result.params
    if layer not in result.layers:
        raise UnknownNameError("layer", layer, result.layers)
    if not whole_in(add, 1, 200):
        raise InputError("--add", [f"{add!r}: give the number of new sites, 1..200"])
    profile = profile or params.profiles[0]
    if profile not in params.speeds():
        raise UnknownNameError("profile", profile, params.speeds())
    minutes = float(minutes if minutes is not None else max(params.minutes))
    if not (0 < minutes <= 120):
        raise InputError("--minutes", [f"{minutes:g} is not a walk time: give minutes above 0 and at most 120"])
    if not finite_in(grid_m, 10, 5000):
        raise InputError("--grid", [f"{grid_m!r} m is outside 10..5000"])
    return minutes, profile


def _candidates(
    result: PlanResult,
    lr: LayerResult,
    limit: float,
    *,
    candidates: gpd.GeoDataFrame | None,
    grid_m: float,
    cap: int,
) -> tuple[Snapped, str, list[dict]]:
    """The candidate sites on the network (inside the study area), where they came from, and those left out.

    Left out: the given ``candidates`` that cannot be sites (too far from a walkable way, or
    outside the study area), each with why (:func:`_left_out`).
    """
    net, params = result.network, result.params
    area = getattr(result, "area", None)
    if candidates is None:
        nodes = _gap_nodes(result, lr, limit)
        if area is not None and len(nodes):
            nodes = nodes[shapely.contains_xy(area.metric, net.node_xy[nodes, 0], net.node_xy[nodes, 1])]
        cand = node_sites(net, thin_nodes(net.node_xy, nodes, grid_m=grid_m, cap=cap))
        origin = f"network nodes in gap areas, one per {grid_m:g} m cell" + (" inside the study area" if area else "")
        return cand, origin, []
    xy = net.project(candidates.geometry.x.to_numpy(), candidates.geometry.y.to_numpy())
    cand = net.snap(xy, max_dist=params.snap_max_m)
    inside = np.ones(len(xy), bool) if area is None else shapely.contains_xy(area.metric, xy[:, 0], xy[:, 1])
    if not (cand.ok & inside).any():
        raise InputError(
            "--candidates",
            [
                f"none of the {len(xy)} candidates lies within "
                f"{params.snap_max_m:g} m of a walkable way" + (" inside the study area" if area is not None else "")
            ],
        )
    origin = "candidates file" + (" (those inside the study area)" if area is not None else "")
    return cand.subset(cand.ok & inside), origin, _left_out(candidates, cand.ok, inside, params.snap_max_m)


def _exact_summary(ex: ExactResult, greedy_people: float) -> dict:
    """The exact solve's figures for the summary, with how far the greedy answer is from its bound."""
    return {
        "status": ex.status,
        "people": round(ex.objective, 1),
        "bound": round(ex.bound, 1),
        "seconds": round(ex.seconds, 2),
        "greedy_gap_share": round((ex.bound - greedy_people) / ex.bound, 4) if ex.bound > 0 else 0.0,
    }


def _ranked(
    csr: sp.csr_matrix, chosen: list[int], gains: list[float], w: np.ndarray, before_cov: float, total: float
) -> tuple[list[dict], np.ndarray]:
    """Per chosen site, in order: the people and homes it adds and the coverage after it.

    Also which demand points (columns of ``csr``) the chosen sites cover together.
    """
    covered = np.zeros(csr.shape[1], bool)
    rows = []
    for r, (j, gain) in enumerate(zip(chosen, gains, strict=True), start=1):
        new = np.zeros(csr.shape[1], bool)
        new[csr.indices[csr.indptr[j] : csr.indptr[j + 1]]] = True
        new &= ~covered
        covered |= new
        cum = before_cov + float(w[covered].sum())
        rows.append(
            {
                "rank": r,
                "people_gained": round(gain, 1),
                "homes_gained": int(new.sum()),
                "people_covered_after": round(cum),
                "people_share_after": round(cum / total, 4) if total else 0.0,
            }
        )
    return rows, covered


def _site_frames(
    result: PlanResult, s: Snapped, rows: list[dict], limit: float, minutes: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The proposed sites (WGS84 points, described) and their walk-time circles (WGS84)."""
    net, params = result.network, result.params
    ll = net.unproject(s.xy) if len(s) else np.zeros((0, 2))
    _describe_sites(result, rows, s.xy, ll)
    sites = gpd.GeoDataFrame(rows, columns=SITE_COLUMNS, geometry=shapely.points(ll) if len(ll) else [], crs=4326)
    polys = (
        source_circles(net, s, [limit], width_m=params.width_m, cell_m=params.cell(), construction=params.circles)[:, 0]
        if len(s)
        else np.empty(0, dtype=object)
    )
    circles = gpd.GeoDataFrame(
        {
            "rank": [r["rank"] for r in rows],
            "minutes": [minutes] * len(rows),
            "people_gained": [r["people_gained"] for r in rows],
        },
        geometry=list(polys),
        crs=net.crs,
    ).to_crs(4326)
    return sites, circles


SITE_COLUMNS = [
    "rank",
    "layer",
    "minutes",
    "profile",
    "people_gained",
    "homes_gained",
    "people_covered_after",
    "people_share_after",
    "street",
    "community",
    "lon",
    "lat",
    "lon_gcj02",
    "lat_gcj02",
]


def _describe_sites(result: PlanResult, rows: list[dict], xy: np.ndarray, ll: np.ndarray) -> None:
    """Each proposed site's street and community, and its coordinates in WGS84 and GCJ-02."""
    base = getattr(result, "base", None)
    street, community, _ = name_points(
        xy, admin=getattr(base, "admin", None), places=getattr(base, "places", None), project=result.network.project
    )
    glon, glat = wgs84_to_gcj02(ll[:, 0], ll[:, 1]) if len(ll) else (np.zeros(0), np.zeros(0))
    for r, row in enumerate(rows):
        row.update(
            {
                "street": street[r],
                "community": community[r],
                "lon": round(float(ll[r, 0]), 7),
                "lat": round(float(ll[r, 1]), 7),
                "lon_gcj02": round(float(np.ravel(glon)[r]), 7),
                "lat_gcj02": round(float(np.ravel(glat)[r]), 7),
            }
        )


def plan_with_sites(before: PlanResult, res: SitingResult, *, progress: Progress | None = None) -> PlanResult:
    """The plan ``before`` with the proposed sites added to their layer.

    Only that layer and the new sites' own circles are drawn again.
    """
    lr = before.layers[res.layer]
    fac = gpd.GeoDataFrame(
        pd.concat([lr.facilities, sites_as_facilities(res, before.network)], ignore_index=True), crs=4326
    )
    layers = dict(before.layers)
    layers[res.layer] = layer_step(
        before.network,
        res.layer,
        fac,
        f"{lr.origin} + {len(res.sites)} proposed sites",
        before.home_snap,
        before.params,
    )
    redraw = {n: np.zeros(len(v.facilities), bool) for n, v in layers.items()}
    redraw[res.layer][len(lr.facilities) :] = True
    views = frozenset([res.layer, *(k for k in before.subsets if k.startswith(res.layer + "["))])
    return after_plan(before, layers, Reuse(before, views, redraw), say=progress)


def _left_out(candidates: gpd.GeoDataFrame, snapped: np.ndarray, inside: np.ndarray, snap_m: float) -> list[dict]:
    """The given candidates that cannot be sites: where each came from (file and row), where, and why."""
    out = []
    source = candidates.get("source")
    for i in np.flatnonzero(~(snapped & inside)):
        p = candidates.geometry.iloc[i]
        why = f"farther than {snap_m:g} m from a walkable way" if not snapped[i] else "outside the study area"
        out.append(
            {
                "candidate": str(source.iloc[i]) if source is not None else f"row {i + 1}",
                "lon": round(float(p.x), 7),
                "lat": round(float(p.y), 7),
                "why": why,
            }
        )
    return out


#: default candidates are network nodes within this distance of an uncovered home (m)
NEAR_GAP_M = 150.0


def _gap_nodes(result: PlanResult, lr: LayerResult, limit: float) -> np.ndarray:
    """Network nodes near the homes the layer leaves outside ``limit`` (the gap areas' homes)."""
    net = result.network
    out = np.flatnonzero(~(lr.home_dist <= limit))
    if len(out) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(near_any(net.node_xy, result.homes.xy[out], NEAR_GAP_M))


def sites_as_facilities(res: SitingResult, net: Network) -> gpd.GeoDataFrame:
    """The proposed sites as a facility table (WGS84), to add to the layer and plan again."""
    ll = net.unproject(res.snapped.xy) if len(res.snapped) else np.zeros((0, 2))
    rows = [
        dict.fromkeys(FACILITY_COLUMNS)
        | {
            "id": f"site-{r}",
            "name": f"proposed site {r}",
            "layer": res.layer,
            "kind": "proposed site",
            "services": (),
            "source": "circles site",
        }
        for r in range(1, len(ll) + 1)
    ]
    return gpd.GeoDataFrame(
        rows,
        columns=list(FACILITY_COLUMNS),
        geometry=gpd.points_from_xy(ll[:, 0], ll[:, 1]) if len(ll) else [],
        crs=4326,
    )


def read_candidates(path: str | Path, *, crs: str | None = None) -> gpd.GeoDataFrame:
    """Candidate sites from a file of points, in any form a facility file may take.

    CSV (UTF-8 or GBK), XLSX, GeoJSON, GeoPackage or Parquet, with coordinates in WGS84, any CRS
    the file declares, a ``crs``/``坐标系`` column, or ``crs`` = gcj02/bd09 for AMap/Baidu
    coordinates: :func:`geo.layers.read_facilities`, every problem of the file said at once,
    except that a candidate needs no name. Returns the points (WGS84) with their ``source``
    (file and row).
    """
    return read_facilities(path, layer="candidate", crs=crs, names=False).facilities


def _quiet_solver() -> highspy.Highs:
    """A ``highspy.Highs()`` made without its banner.

    HiGHS 1.16 prints it to the process's standard output when the object is made, before any
    option can turn it off, which would mix it into a command's output. Standard output (the
    descriptor, as the C++ side writes to it) points at the null device only while the object
    is made.
    """
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with Path(os.devnull).open("wb") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
