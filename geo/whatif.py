"""What a scenario changes: the plan after the edits, drawn again only where it changed.

:func:`run_scenario` applies the edits to copies (:mod:`geo.scenarios`), recomputes every
layer with the same per-layer step as a plan (:func:`geo.plan.layer_step`), and finishes the
"after" plan with :func:`geo.plan.finish_plan`, redrawing only what the edits can reach: a
layer's dissolved circles and gap areas when its walk times changed, and a facility's own
circles when it was added or moved or an edit lies within the longest threshold's walk of it.
Everything else is taken over from the plan before. The diff of coverage and the homes and
areas that gain or lose come from the two plans' walk times.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.circles import metres_for
from geo.coverage import layer_minutes, minutes_key
from geo.gaps import cluster_points
from geo.kinds import View
from geo.netedit import EditLog
from geo.network import Network, Snapped
from geo.plan import finish_plan, layer_step
from geo.plan_types import PlanResult, Progress, quiet
from geo.scenarios import Applied, Scenario, apply_scenario
from geo.unchanged import (
    figure_homes,
    gap_figures_patch,
    patched_gaps,
    same_drawing,
    same_extent,
    same_uncovered,
)

#: changed homes closer than this are grouped into one changed area (m)
AREA_LINK_M = 100.0
#: how far a changed area reaches around its homes (m)
AREA_BUFFER_M = 25.0


@dataclass(frozen=True, eq=False)
class ScenarioOutcome:
    """A scenario run: the edits, how they were applied, the plan before and after, and the diff."""

    scenario: Scenario
    applied: Applied
    before: PlanResult
    after: PlanResult
    coverage: dict  # the scenario's coverage.json
    homes: gpd.GeoDataFrame  # homes that gain or lose coverage (WGS84 points)
    areas: gpd.GeoDataFrame  # changed areas (WGS84 polygons, with counts)
    edits: gpd.GeoDataFrame  # the edits as drawn (WGS84)
    seconds: float  # time to apply and recompute the walk times


def run_scenario(before: PlanResult, scenario: Scenario, *, progress: Progress | None = None) -> ScenarioOutcome:
    """Apply ``scenario`` to ``before`` (a PlanResult): the plan after, and the diff."""
    say = progress or quiet
    t0 = time.perf_counter()
    applied = apply_scenario(before, scenario)
    params = before.params
    net = applied.network
    layers = {
        # on the plan's own network, a layer the edits leave alone has the same walk times
        name: before.layers[name]
        if net is before.network and name not in applied.touched and name in before.layers
        else layer_step(
            net,
            name,
            fac,
            origin,
            applied.home_snap,
            params,
            earlier=before.layers.get(name),
            log=None if net is before.network else applied.log,
        )
        for name, (fac, origin) in applied.facilities.items()
    }
    seconds = time.perf_counter() - t0
    say("drawing what the edits changed")
    reuse = changed_parts(before, applied, layers)
    after = after_plan(before, layers, reuse, net=applied.network, home_snap=applied.home_snap, say=say)
    cov, homes, areas = coverage_diff(before, after, scenario=scenario, applied=applied)
    cov["seconds"] = round(seconds, 3)
    cov["redrawn"] = {
        "views": sorted(reuse.views),
        "facilities": {k: int(v.sum()) for k, v in reuse.facilities.items()},
    }
    return ScenarioOutcome(scenario, applied, before, after, cov, homes, areas, edits_frame(before, applied), seconds)


@dataclass(frozen=True, eq=False)
class Reuse:
    """What of the plan before a plan after can keep.

    Views not in ``views`` keep their circles and gaps; ``facilities[layer]`` marks (by row of
    the after table) the circles to redraw; ``gap_figures[view]``: new walk times and nearest
    facilities of a kept view's gap rows (:func:`geo.unchanged.gap_figures_patch`).
    """

    before: PlanResult
    views: frozenset
    facilities: dict
    gap_figures: dict = field(default_factory=dict)


def _edit_nodes(before: PlanResult, applied: Applied) -> tuple[np.ndarray, np.ndarray]:
    """Nodes where the edits touch the network, after and before.

    Of the after network: link ends and split points; of the network before: ends of closed
    edges (its node numbers stay the same after).
    """
    net = applied.network
    log = applied.log
    after_nodes = np.unique(
        np.concatenate(
            [net.edge_u[log.links], net.edge_v[log.links], np.arange(before.network.n_nodes, net.n_nodes)]
        ).astype(np.int64)
    )
    bnet = before.network
    before_nodes = np.unique(np.concatenate([bnet.edge_u[log.closed], bnet.edge_v[log.closed]]).astype(np.int64))
    return after_nodes, before_nodes


def changed_parts(before: PlanResult, applied: Applied, layers: dict) -> Reuse:
    """Which layer views and which facilities' circles the edits can change."""
    params = before.params
    reach_m = params.limits()[-1][0]
    net = applied.network
    after_nodes, before_nodes = _edit_nodes(before, applied)
    near = np.full(net.n_nodes, np.inf)
    if len(after_nodes):
        near = np.minimum(near, dijkstra(net.csr, indices=after_nodes, limit=reach_m, min_only=True))
    if len(before_nodes):
        d = dijkstra(before.network.csr, indices=before_nodes, limit=reach_m, min_only=True)
        near[: len(d)] = np.minimum(near[: len(d)], d)
    touched = near <= reach_m
    views, facilities = set(), {}
    for name, lr in layers.items():
        old = before.layers[name]
        n0 = before.network.n_nodes
        same_dist = np.array_equal(
            np.nan_to_num(old.reach.dist, posinf=-1.0), np.nan_to_num(lr.reach.dist[:n0], posinf=-1.0)
        )
        reached = np.isfinite(lr.reach.dist) & (lr.reach.dist <= reach_m)
        if name in applied.touched or not same_dist or (touched & reached).any():
            views.add(name)
            # its views drawn apart (open at night: --at); views by tier or service are not drawn
            views.update(k for k in before.subsets if k.startswith(name + "[") and View.parse(k).is_night)
        sn = lr.snapped
        fac_ids = lr.facilities["id"].astype(str).to_numpy()
        old_ids = old.facilities["id"].astype(str).to_numpy()
        old_place = {
            i: (e, round(float(a), 3))
            for i, e, a, ok in zip(old_ids, old.snapped.edge, old.snapped.along, old.snapped.ok, strict=True)
            if ok
        }
        redraw = np.zeros(len(fac_ids), bool)
        for r, (fid, e, a, ok) in enumerate(zip(fac_ids, sn.edge, sn.along, sn.ok, strict=True)):
            if not ok:
                continue
            was = old_place.get(fid)
            new_edge = applied.log.edge_map[was[0]] if was is not None else -1
            moved = was is None or new_edge != e or was[1] != round(float(a), 3)
            redraw[r] = moved or bool(touched[net.edge_u[e]] or touched[net.edge_v[e]])
        facilities[name] = redraw
    kept, patches = drawn_as_before(before, net, applied.log, layers, views)
    return Reuse(before, frozenset(views - kept), facilities, patches)


def drawn_as_before(
    before: PlanResult, net: Network, log: EditLog, layers: dict, views: set
) -> tuple[set, dict[str, pd.DataFrame]]:
    """The plain layers of ``views`` whose circles and gap areas a change leaves as drawn, and their gap figures.

    A layer is kept when :func:`geo.unchanged.same_drawing` and :func:`geo.unchanged.same_uncovered`
    hold; the figures of its gap rows are made again where its uncovered homes' walks changed.
    """
    limits = before.params.limits()
    reach_m = max(m for m, _, _ in limits)
    kept: set = set()
    patches: dict[str, pd.DataFrame] = {}
    homes = None
    extent = same_extent(before.network, net)
    for name, lr in layers.items():
        old = before.layers.get(name)
        if name not in views or old is None:
            continue
        if not (
            same_drawing(before.network, net, log, old, lr, reach_m, extent_same=extent)
            and same_uncovered(old.home_dist, lr.home_dist, [m for m, _, _ in limits])
        ):
            continue
        rows = before.gaps[before.gaps["layer"] == name] if len(before.gaps) else before.gaps
        homes = figure_homes(before) if homes is None else homes
        try:
            patch = gap_figures_patch(rows, old, lr, homes, limits, before.params.speeds())
        except ValueError:  # rows not as expected (a plan saved by another version): drawn again
            continue
        kept.add(name)
        if patch is not None:
            patches[name] = patch
    return kept, patches


def after_plan(
    before: PlanResult,
    layers: dict,
    reuse: Reuse,
    *,
    net: Network | None = None,
    home_snap: Snapped | None = None,
    say: Progress | None = None,
) -> PlanResult:
    """The plan after a change (a scenario's edits, proposed sites).

    ``before`` finished again with the changed ``layers`` (and the edited network and the homes'
    places on it, when the change made them), drawing only what ``reuse`` does not keep.
    """
    if before.base is None:  # every plan() and saved plan has one
        raise ValueError("the plan before a change holds no base")
    notes = {k: v.get("note") for k, v in before.coverage.get("layers", {}).items() if v.get("note")}
    after = finish_plan(
        base=before.base,
        params=before.params,
        net=before.network if net is None else net,
        homes=before.homes,
        home_snap=before.home_snap if home_snap is None else home_snap,
        layers=layers,
        warnings=list(before.warnings),
        area=before.area,
        notes=notes,
        say=say or quiet,
        reuse=reuse,
    )
    if not reuse.gap_figures:
        return after
    return dataclasses.replace(after, gaps=patched_gaps(after.gaps, reuse.gap_figures))


# ------------------------------------------------------------------------------ the diff


def layer_views(result: PlanResult) -> dict[str, np.ndarray]:
    """Home distances of the plain layers and, with ``--at``, of the open-at views."""
    out = {name: lr.home_dist for name, lr in result.layers.items()}
    out.update({n: lr.home_dist for n, lr in (result.subsets or {}).items() if "[open=" in n})
    return out


def _mins(d: float, speed: float) -> float | None:
    return round(float(d) / (speed * 1000 / 60), 2) if np.isfinite(d) else None


def coverage_diff(
    before: PlanResult,
    after: PlanResult,
    *,
    scenario: Scenario | None = None,
    applied: Applied | None = None,
    link_m: float = AREA_LINK_M,
) -> tuple[dict, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Coverage before and after, and the homes and areas that gain or lose it.

    Returns
    -------
    (coverage, homes, areas)
        ``coverage``: per layer (and profile) and threshold, the figures before and after and
        the homes and people gained and lost; ``homes``: one point per home and change
        (layer, profile, minutes, change = "gain"/"loss", people, walk minutes before and
        after); ``areas``: changed homes closer than ``link_m`` grouped into areas with counts.
    """
    params, homes, net = before.params, before.homes, before.network
    bviews, aviews = layer_views(before), layer_views(after)
    speeds = params.speeds()
    people = homes.people
    doc: dict = {
        "scenario": getattr(scenario, "source", None),
        "edits": [e.describe() for e in scenario.edits] if scenario is not None else [],
        "area": before.coverage.get("area"),
        "profile": params.profiles[0],
        "speed_kmh": speeds[params.profiles[0]],
        "minutes": [float(m) for m in params.minutes],
        "homes": len(homes),
        "people": round(float(people.sum())),
    }
    if applied is not None:
        lg = applied.log
        doc["network"] = {
            "edges_closed": len(lg.closed),
            "edges_split": len(lg.split_pieces),
            "links_added": len(lg.links),
            "links_m": [round(float(x), 1) for x in applied.network.edge_len[lg.links]],
        }
    rows: list[dict] = []
    pts: list[np.ndarray] = []
    area_rows: list[dict] = []
    area_geoms: list[shapely.Geometry] = []
    per_profile = {}
    names = after.home_names[0:2] if after.home_names else (None, None)
    for p in params.profiles:
        speed = speeds[p]
        layers = {}
        for name in aviews:
            b, a = bviews.get(name, np.full(len(homes), np.inf)), aviews[name]
            figs = {}
            lb, la = layer_minutes(b, people, params.minutes, speed), layer_minutes(a, people, params.minutes, speed)
            for m in params.minutes:
                lim = metres_for(m, speed)
                gain = (b > lim) & (a <= lim)
                loss = (b <= lim) & (a > lim)
                k = minutes_key(m)
                figs[k] = {
                    "before": lb[k],
                    "after": la[k],
                    "homes_gained": int(gain.sum()),
                    "homes_lost": int(loss.sum()),
                    "people_gained": round(float(people[gain].sum())),
                    "people_lost": round(float(people[loss].sum())),
                }
                for change, mask in (("gain", gain), ("loss", loss)):
                    idx = np.flatnonzero(mask)
                    if len(idx) == 0:
                        continue
                    rows.extend(
                        {
                            "layer": name,
                            "profile": p,
                            "minutes": float(m),
                            "change": change,
                            "people": round(float(people[j]), 1),
                            "walk_min_before": _mins(b[j], speed),
                            "walk_min_after": _mins(a[j], speed),
                        }
                        for j in idx
                    )
                    pts.append(homes.xy[idx])
                    labels = cluster_points(homes.xy[idx], link_m)
                    discs = shapely.buffer(shapely.points(homes.xy[idx]), AREA_BUFFER_M, quad_segs=4)
                    for lab in np.unique(labels):
                        grp = idx[labels == lab]
                        area_geoms.append(shapely.union_all(discs[labels == lab]))
                        c = grp[0]
                        area_rows.append(
                            {
                                "layer": name,
                                "profile": p,
                                "minutes": float(m),
                                "change": change,
                                "homes": len(grp),
                                "people": round(float(people[grp].sum()), 1),
                                "street": names[0][c] if names[0] is not None else None,
                                "community": names[1][c] if names[1] is not None else None,
                            }
                        )
            layers[name] = {"minutes": figs}
        per_profile[p] = layers
    doc["layers"] = per_profile[params.profiles[0]]
    if len(params.profiles) > 1:
        doc["profiles"] = {p: {"speed_kmh": speeds[p], "layers": v} for p, v in per_profile.items()}
    xy = np.vstack(pts) if pts else np.zeros((0, 2))
    cols = ["layer", "profile", "minutes", "change", "people", "walk_min_before", "walk_min_after"]
    hg = gpd.GeoDataFrame(rows, columns=cols, geometry=shapely.points(xy) if len(xy) else [], crs=net.crs)
    acols = ["layer", "profile", "minutes", "change", "homes", "people", "street", "community"]
    ag = gpd.GeoDataFrame(area_rows, columns=acols, geometry=area_geoms, crs=net.crs)
    if len(ag):
        ag = ag.sort_values(
            ["layer", "profile", "minutes", "change", "people"],
            ascending=[True, True, True, True, False],
            kind="stable",
        ).reset_index(drop=True)
    return doc, hg.to_crs(4326), ag.to_crs(4326)


def _edge_edits(net: Network, edges: np.ndarray, edit: str) -> gpd.GeoDataFrame:
    """Edges of ``net`` as rows of one edit: its kind, the street's name and length, the line."""
    return gpd.GeoDataFrame(
        {"edit": [edit] * len(edges), "name": list(net.edge_name[edges]), "length_m": np.round(net.edge_len[edges], 1)},
        geometry=list(net.lines_of(edges)),
        crs=net.crs,
    )


def edits_frame(before: PlanResult, applied: Applied) -> gpd.GeoDataFrame:
    """The edits as drawn on the map: new links, closed ways, added or moved facilities (WGS84)."""
    net, lg = applied.network, applied.log
    parts = [_edge_edits(net, lg.links, "add_link")]
    if len(lg.closed):
        parts.append(_edge_edits(before.network, lg.closed, "close"))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=net.crs).to_crs(4326)
