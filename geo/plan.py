"""One entry point: ``plan(inputs, params) -> PlanResult``.

The CLI, the API, the map, scenarios and the province batch all call :func:`plan` (or its
per-layer step :func:`layer_step`); none re-implements a step.

input files -> :class:`Base` (network, homes, OSM layers; cached as a checked bundle) -> study
area and its halo -> facility layers snapped onto edges -> one Dijkstra per layer -> coverage of
homes per profile and threshold -> circles and gap areas (:mod:`geo.drawing`) -> PlanResult.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely

from geo.areas import StudyArea, resolve_area
from geo.base import Base, load_base
from geo.circles import Reach, multi_source, per_source, point_distances
from geo.coverage import coverage_summary, view_coverage, views
from geo.demand import Homes, read_population
from geo.errors import InputError, UnknownNameError
from geo.frames import circle_and_gap_frames, draw_context, facility_frame
from geo.homeinfo import HomeLand, area_home_info, home_info
from geo.kinds import LAYERS
from geo.layers import read_facilities
from geo.memory import MEMORY_SHARE, available_memory, per_facility_bytes
from geo.netedit import EditLog, snap_again
from geo.network import Network, Snapped, subnetwork
from geo.plan_types import (
    CELLS_PER_WIDTH,
    HALO_MARGIN_M,
    LayerResult,
    PlanInputs,
    PlanParams,
    PlanResult,
    Progress,
    check_params,
    embedded_default,
    quiet,
    source_key,
)
from geo.raster import fitting_cell

if TYPE_CHECKING:  # annotations only: geo.whatif imports this module
    from geo.whatif import Reuse

__all__ = [
    "CELLS_PER_WIDTH",
    "HALO_MARGIN_M",
    "Clip",
    "LayerResult",
    "PlanInputs",
    "PlanParams",
    "PlanResult",
    "Progress",
    "check_params",
    "clip_to_area",
    "embedded_default",
    "finish_plan",
    "fit_cell",
    "layer_step",
    "plan",
    "quiet",
    "read_layer_files",
    "snap_layer",
    "source_key",
]


# ------------------------------------------------------------------------------ the steps


def snap_layer(
    net: Network,
    fac: gpd.GeoDataFrame,
    max_m: float,
    *,
    earlier: LayerResult | None = None,
    log: EditLog | None = None,
) -> tuple[Snapped, list[dict]]:
    """Snap a facility table (WGS84) onto the network; list those too far from any way.

    ``earlier``: the layer as a plan snapped it, on the network ``net`` was made from by
    ``log`` (on ``net`` itself when None): the snaps of facilities with the same id at the same
    place are taken from it where snapping them again would give the same
    (:func:`geo.netedit.snap_again`).
    """
    if len(fac) == 0:
        z = np.zeros(0)
        return Snapped(z.astype(np.int64), z, z, z.astype(bool), np.zeros((0, 2))), []
    lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    xy = net.project(lon, lat)
    s = None
    if earlier is not None:
        same = _same_places(earlier, fac["id"].astype(str).to_numpy(), lon, lat)
        if (same >= 0).any():
            s = snap_again(earlier.snapped, same, net, xy, max_dist=max_m, log=log)
    if s is None:
        s = net.snap(xy, max_dist=max_m)
    unsnapped = []
    if not s.ok.all():
        far = net.snap(xy[~s.ok], max_dist=1e9)  # the distance to the nearest way, however far
        ids = fac["id"].to_numpy()[~s.ok]
        names = fac["name"].to_numpy()[~s.ok]
        sources = fac["source"].to_numpy()[~s.ok] if "source" in fac else [None] * len(ids)
        for i, n, src, d in zip(ids, names, sources, far.dist, strict=True):
            unsnapped.append({"id": i, "name": n, "source": src, "distance_m": round(float(d), 1)})
    return s, unsnapped


def _same_places(earlier: LayerResult, ids: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """For each facility (``ids``, WGS84 ``lon``/``lat``), its row of ``earlier``'s table with the same id and place, or -1."""
    old = earlier.facilities
    at = {
        key: r
        for r, key in enumerate(
            zip(old["id"].astype(str).tolist(), old.geometry.x.tolist(), old.geometry.y.tolist(), strict=True)
        )
    }
    return np.array([at.get(k, -1) for k in zip(ids.tolist(), lon.tolist(), lat.tolist(), strict=True)], np.int64)


def layer_step(
    net: Network,
    name: str,
    fac: gpd.GeoDataFrame,
    origin: str,
    home_snap: Snapped,
    params: PlanParams,
    *,
    earlier: LayerResult | None = None,
    log: EditLog | None = None,
) -> LayerResult:
    """One layer: snap its facilities, one multi-source search, every home's nearest facility.

    ``earlier``, ``log``: the layer as a plan had it, on the network ``net`` was made from by
    ``log`` (its facilities' snaps are taken over where they hold: :func:`snap_layer`).
    """
    snapped, unsnapped = snap_layer(net, fac, params.snap_max_m, earlier=earlier, log=log)
    reach = multi_source(net, snapped)
    hd, hs = point_distances(net, reach, home_snap)
    return LayerResult(name, fac, origin, snapped, unsnapped, reach, hd, hs)


def _layer_result(
    name: str,
    fac: gpd.GeoDataFrame,
    origin: str,
    snapped: Snapped,
    reach: Reach,
    hd: np.ndarray,
    hs: np.ndarray,
) -> LayerResult:
    """A layer's result for a coverage view (no unplaced facilities listed)."""
    return LayerResult(name, fac, origin, snapped, [], reach, hd, hs)


def fit_cell(params: PlanParams, net: Network) -> tuple[PlanParams, str | None]:
    """``params`` with the cell enlarged where the network's extent would not fit one canvas.

    Enlarged as :func:`geo.raster.fitting_cell` says, with a note saying so; unchanged otherwise.
    """
    cell = fitting_cell(net, params.cell(), params.draw_pad_m())
    if cell <= params.cell():
        return params, None
    w, h = (net.geom_xy.max(axis=0) - net.geom_xy.min(axis=0)) / 1000.0
    return dataclasses.replace(params, cell_m=cell), (
        f"the network spans {w:.0f} x {h:.0f} km: circles are drawn on {cell:g} m cells instead of "
        f"{params.cell():g} m (one drawing canvas holds at most 2^27 cells); plan a part of it with --area "
        "for finer circles"
    )


def read_layer_files(inputs: PlanInputs, skip: Collection[str] = ()) -> tuple[dict, list[str]]:
    """The planner's facility files, read and checked first (a bad file fails before any slow step)."""
    unknown = [k for k in inputs.layer_files if k not in LAYERS]
    if unknown:
        raise UnknownNameError("layer", unknown[0], LAYERS)
    files, warnings = {}, []
    for layer, path in inputs.layer_files.items():
        if layer in skip:
            continue
        read = read_facilities(Path(path), layer=layer, crs=inputs.crs)
        files[layer] = (read.facilities, Path(path).name)
        warnings += list(read.warnings) + list(read.notes)
    return files, warnings


def plan(
    inputs: PlanInputs | None = None,
    params: PlanParams | None = None,
    *,
    progress: Progress | None = None,
    base: Base | None = None,
    facilities: Mapping[str, tuple] | None = None,
    area: StudyArea | None = None,
) -> PlanResult:
    """Plan service circles end to end. See the module docstring for the steps.

    ``base`` (:class:`geo.base.Base`) skips reading the network source; ``facilities``
    (layer -> (WGS84 table, origin)) replaces those layers' files and OSM layers. ``area``
    (:class:`geo.areas.StudyArea`) replaces resolving ``inputs.area`` again. Without ``inputs``
    or ``params``: the defaults (the embedded extract, :class:`PlanParams` ()).
    """
    inputs = PlanInputs() if inputs is None else inputs
    params = PlanParams() if params is None else params
    check_params(params)
    say = progress or quiet
    warnings: list[str] = []
    files, warns = read_layer_files(inputs, skip=set(facilities or {}))
    warnings += warns
    files.update(facilities or {})
    if base is None:
        base = load_base(inputs, params, progress=say)
    clip = clip_to_area(base, inputs, params, area=area)
    warnings += clip.warnings
    net = clip.network
    homes = clip.homes
    params, note = fit_cell(params, net)
    if note:
        warnings.append(note)
    if clip.keep_home is not None and clip.edge_map is not None:  # (set together)
        info = area_home_info(base, params, keep=clip.keep_home, xy=homes.xy, net=net, edge_map=clip.edge_map, say=say)
    else:
        info = home_info(base, params, say=say)
    home_snap = info.snap
    if inputs.population is not None:  # after the names: a table by community is matched on them
        homes = read_population(
            inputs.population,
            homes,
            project=net.project,
            communities=info.names[1],
            area=None if clip.area is None else clip.area.metric,
        )
        warnings += homes.unassigned_warnings()
    layers: dict[str, LayerResult] = {}
    notes = {k: v for k, v in base.layer_notes.items() if k not in files}
    for layer in LAYERS:
        if layer in files:
            fac, origin = files[layer]
        else:
            fac, origin = base.osm_facilities[layer], f"OSM tags ({Path(inputs.layers_map).name})"
        n_all = len(fac)
        inside = clip.in_halo(fac)
        if layer in files and clip.area is not None and not inside.all():  # the user's rows: each one said
            warnings.append(_left_out_of_area(layer, fac, inside, origin, clip.area.name, params.halo()))
        fac = fac if inside.all() else fac[inside].reset_index(drop=True)
        if clip.area is not None and n_all and not len(fac):
            notes[layer] = "; ".join(
                [
                    *([notes[layer]] if layer in notes else []),
                    f"none of the {n_all} {layer} of {origin} lies in the study area "
                    f"{clip.area.name!r} or its {params.halo():.0f} m halo"
                    + ("" if layer in files else f": give your own list (--{layer} FILE)"),
                ]
            )
        say(f"walk times from {len(fac)} {layer}")
        lr = layer_step(net, layer, fac, origin, home_snap, params)
        for u in lr.unsnapped:
            warnings.append(
                f"{layer}: {u['name']} ({u['source']}) is {u['distance_m']:.0f} m from the nearest "
                f"walkable way (limit {params.snap_max_m:.0f} m): not placed on the network"
            )
        layers[layer] = lr
    return finish_plan(
        base=base,
        params=params,
        net=net,
        homes=homes,
        home_snap=home_snap,
        layers=layers,
        warnings=warnings,
        area=clip.area,
        notes=notes,
        say=say,
        names=info.names,
        land=info.land,
    )


def finish_plan(  # noqa: PLR0913 - the parts of a plan so far, keyword-only: plan() and after_plan() make them apart
    *,
    base: Base,
    params: PlanParams,
    net: Network,
    homes: Homes,
    home_snap: Snapped,
    layers: dict,
    warnings: list[str],
    area: StudyArea | None,
    notes: dict,
    say: Progress,
    reuse: Reuse | None = None,
    names: tuple | None = None,
    land: HomeLand | None = None,
) -> PlanResult:
    """From the layers' walk times to the result: coverage, views, names, circles and gaps.

    ``reuse`` (:class:`geo.whatif.Reuse`) keeps what a scenario leaves unchanged from the
    plan before it, so only the changed views and facilities are drawn again. ``names`` and
    ``land`` (:class:`geo.homeinfo.HomeLand`) of the homes default to the plan before's.
    """
    coverage = coverage_summary(
        source=Path(str(base.source)).name,
        data_date=base.data_date,
        homes=homes,
        home_snap=home_snap,
        network=net,
        layers=layers,
        params=params,
        area=area.describe() if area is not None else None,
        notes=notes,
    )
    before = reuse.before if reuse is not None else None
    subsets, info = views(net, layers, home_snap, params, layer_result=_layer_result, before=before)
    if subsets:
        coverage["subsets"] = view_coverage(subsets, info, homes, params)
    if names is None or land is None:
        if reuse is None:
            raise ValueError("finish_plan needs the homes' names and land, or a plan to reuse them from")
        names = reuse.before.home_names if names is None else names
        land = reuse.before.home_land if land is None else land
    if land is None:  # a plan saved without its homes' land
        raise ValueError("finish_plan needs the homes' land: the plan before holds none")
    say("drawing service circles and gap areas")
    if params.per_facility:
        params = _per_facility_within_memory(params, layers, reuse, warnings)
    reach = params.limits()[-1][0]
    dists = {}
    for n, lr in layers.items():
        sn = lr.snapped
        if reuse is not None:
            sn = Snapped(sn.edge, sn.along, sn.dist, sn.ok & reuse.facilities[n], sn.xy)
        if sn.ok.any():
            dists[n] = per_source(net, sn, limit=reach)
    ctx = draw_context(
        params=params,
        net=net,
        homes=homes,
        layers=layers,
        subsets=subsets,
        names=names,
        land=land,
        dists=dists,
        reuse=reuse,
        area=area,
    )
    circles, gaps = circle_and_gap_frames(ctx, params=params, layers=layers, subsets=subsets, reuse=reuse, say=say)
    facilities = facility_frame(net, homes, home_snap, layers, dists, params, reuse=reuse)
    return PlanResult(
        source=str(base.source),
        data_date=base.data_date,
        params=params,
        network=net,
        homes=homes,
        home_snap=home_snap,
        layers=layers,
        coverage=coverage,
        circles=circles,
        gaps=gaps,
        facilities=facilities,
        warnings=warnings,
        subsets=subsets,
        home_names=names,
        home_land=land,
        area=area,
        admin=base.admin,
        places=base.places,
        base=dataclasses.replace(base, network=net, homes=homes),
    )


def _left_out_of_area(
    layer: str, fac: gpd.GeoDataFrame, inside: np.ndarray, origin: str, area: str, halo: float
) -> str:
    """The warning naming the rows of a facility file that lie outside the study area's halo (not ``inside``)."""
    out = fac[~inside]
    shown = [f"{r.get('name') or r.get('id')} ({r.get('source') or 'row'})" for r in out.head(10).to_dict("records")]
    more = f" and {len(out) - len(shown)} more" if len(out) > len(shown) else ""
    return (
        f"{layer}: {len(out)} of the {len(fac)} facilities of {origin} lie outside the study area {area!r} and its "
        f"{halo:.0f} m halo, so they serve none of its homes and are not used: {'; '.join(shown)}{more}"
    )


def _per_facility_within_memory(
    params: PlanParams, layers: dict, reuse: Reuse | None, warnings: list[str]
) -> PlanParams:
    """``params``, without per-facility circles when drawing them would not fit in the memory available.

    Each facility's own circles cost about :data:`geo.memory.PER_FACILITY_BYTES` per threshold at
    5 m cells through the plan and its outputs (more at finer cells); a layer of tens of
    thousands of points would exhaust the machine (the system then kills the process with no
    message). Beyond half the memory available they are left out, with a warning that says so;
    the dissolved layer circles, the coverage, the gap areas and every figure are complete.
    """
    n = sum(
        int((lr.snapped.ok & reuse.facilities[k]).sum() if reuse is not None else lr.snapped.ok.sum())
        for k, lr in layers.items()
    )
    need = per_facility_bytes(n, thresholds=len(params.limits()), cell_m=params.cell())
    free = available_memory()
    if free is None or need <= MEMORY_SHARE * free:
        return params
    warnings.append(
        f"per-facility circles left out: {n:,} facilities would need about {need / 2**30:.1f} GB for their own circles, "
        f"more than half the {free / 2**30:.1f} GB of memory available; the layers' dissolved circles, coverage and gap "
        "areas are complete (use --no-per-facility to say so, or --area, or a machine with more memory)"
    )
    return dataclasses.replace(params, per_facility=False)


# ------------------------------------------------------------------------------ the study area


@dataclass(frozen=True, eq=False)
class Clip:
    """A base cut to a study area and its halo."""

    network: Network
    homes: Homes
    area: StudyArea | None
    halo: shapely.Geometry | None  # metric polygon
    warnings: list[str]
    keep_home: np.ndarray | None = None  # the base's homes inside the area (None: all)
    edge_map: np.ndarray | None = None  # base edge -> edge of ``network`` (-1: not kept)

    def in_halo(self, fac: gpd.GeoDataFrame) -> np.ndarray:
        """Which facilities lie inside the area's halo (all without an area)."""
        if self.halo is None or len(fac) == 0:
            return np.ones(len(fac), bool)
        xy = self.network.project(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
        return shapely.contains_xy(self.halo, xy[:, 0], xy[:, 1])


def clip_to_area(base: Base, inputs: PlanInputs, params: PlanParams, *, area: StudyArea | None = None) -> Clip:
    """The network and facilities within the study area's halo, the homes inside the area."""
    if area is None:
        if inputs.area is None:
            return Clip(base.network, base.homes, None, None, [])
        area = resolve_area(inputs.area, level=inputs.area_level, admin=base.admin, crs=inputs.crs)
    net = base.network
    metric = net.metric_of(area.geometry)
    halo = shapely.buffer(metric, params.halo())
    shapely.prepare(halo)
    warnings = list(area.notes)
    # what the extract covers: its streets' hull and a margin (a degenerate hull has no area)
    hull = shapely.buffer(shapely.convex_hull(shapely.multipoints(net.node_xy)), 200.0)
    src = Path(str(base.source)).name
    if shapely.area(shapely.intersection(metric, hull)) <= 0:
        raise InputError("--area", [f"{area.name!r} lies outside the extract {src}: give an extract that covers it"])
    whole = max(float(shapely.area(metric)), 1.0)
    out_area = float(shapely.area(shapely.difference(metric, hull)))
    if out_area / whole > 0.01:
        warnings.append(
            f"the extract {src} covers only {1 - out_area / whole:.0%} of the study area {area.name!r}: "
            f"{out_area / 1e6:.1f} km² of its {whole / 1e6:.1f} km² lie outside it, so homes there are "
            "not counted — use a larger extract"
        )
    ring = shapely.difference(halo, metric)
    out_ring = float(shapely.area(shapely.difference(ring, hull)))
    share = out_ring / max(float(shapely.area(ring)), 1.0)
    if share > 0.01:
        warnings.append(
            f"the extract {src} covers the {params.halo():.0f} m halo around the study area {area.name!r} "
            f"only in part: {out_ring / 1e6:.1f} km² ({share:.0%}) of it lie outside, so facilities and "
            "streets there are missing (people near that edge may be served by facilities the extract "
            "does not hold) — use a larger extract"
        )
    keep = shapely.contains_xy(halo, net.node_xy[:, 0], net.node_xy[:, 1])
    sub = subnetwork(net, keep)
    kept = keep[net.edge_u] & keep[net.edge_v]
    edge_map = np.where(kept, np.cumsum(kept) - 1, -1) if sub is not net else np.arange(net.n_edges)
    inside = shapely.contains_xy(metric, base.homes.xy[:, 0], base.homes.xy[:, 1])
    h = base.homes
    homes = Homes(h.xy[inside], h.people[inside], h.kind[inside], h.osm_id[inside], h.method)
    if not inside.any():
        warnings.append(
            f"the study area {area.name!r} holds none of the extract's homes, so every share is 0: check that it is "
            "the area meant and that the extract maps buildings or residential land there"
        )
    area = dataclasses.replace(area, metric=metric)
    return Clip(sub, homes, area, halo, warnings, inside, edge_map)
