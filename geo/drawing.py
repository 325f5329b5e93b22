"""Circles and gap areas of a whole plan, spread over worker processes.

Everything a worker needs is gathered first into one :class:`DrawContext` (the network, the
limits, every layer's walk times, the homes' land); the pool's workers are forked with it, so
nothing large is copied, and each worker builds its own :class:`Artist` (the drawing state)
from it. Tasks name only what to draw: a layer view (its dissolved circles, then its gap areas
from the same drawn cells) or a chunk of one layer's facilities (their own circles). Results
come back as WKB and plain rows.

With one worker (small plans, or where ``fork`` is not available) the same :class:`Artist`
runs in this process. No state outlives a call: the context and the artists are local.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import shapely

from geo.circles import per_source
from geo.gaps import GapHomes, gap_rows
from geo.network import Network, Snapped
from geo.polygons import ExactDrawer, facility_polygons, layer_polygons
from geo.raster import CircleDrawer, RasterGeometry, draw_pad

if TYPE_CHECKING:
    from geo.plan_types import LayerResult

#: below this many polygons, worker processes cost more than they save.
PARALLEL_MIN = 48
#: facilities per pool task.
FACILITY_TASK = 32
CONSTRUCTIONS = ("raster", "exact")


@dataclass(frozen=True, eq=False)
class LayerJob:
    """One layer view to draw: its dissolved circles and (``gaps``) its gap areas."""

    name: str
    node_dist: np.ndarray  # metres from every node to the nearest facility of the view
    own_edge: np.ndarray  # where the view's placed facilities stand
    own_along: np.ndarray
    home_dist: np.ndarray | None = None  # metres from every home to the nearest facility
    home_src: np.ndarray | None = None  # that facility's row
    names: np.ndarray | None = None  # facility names and ids by row (for the gap rows)
    ids: np.ndarray | None = None
    gaps: bool = False

    @classmethod
    def of_layer(cls, key: str, lr: LayerResult) -> LayerJob:
        """The view ``key`` of the layer result ``lr``, with its gap areas.

        Its placed facilities, walk times, and facility names and ids by row.
        """
        sn, fac = lr.snapped, lr.facilities
        return cls(
            key,
            lr.reach.dist,
            sn.edge[sn.ok],
            sn.along[sn.ok],
            lr.home_dist,
            lr.home_src,
            fac["name"].to_numpy(dtype=object) if len(fac) else None,
            fac["id"].to_numpy(dtype=object) if len(fac) else None,
            gaps=True,
        )


@dataclass(frozen=True, eq=False)
class FacilityJob:
    """One layer's facilities, each to draw on its own."""

    name: str
    dist: sp.csr_matrix  # (facilities, nodes): metres from each facility
    own_edge: np.ndarray
    own_along: np.ndarray
    rows: np.ndarray  # which facilities to draw (others stay empty)


@dataclass(frozen=True, eq=False)
class DrawContext:
    """All a worker needs to draw a plan's circles and gap areas."""

    net: Network
    limits: tuple[float, ...]  # ascending metres
    width_m: float
    cell_m: float
    construction: str = "raster"
    layers: tuple[LayerJob, ...] = ()
    facilities: tuple[FacilityJob, ...] = ()
    gap_homes: GapHomes | None = None  # homes, their land and names
    gap_labels: tuple = ()  # (minutes, profile, speed) of each limit, for the gap rows
    geometry: RasterGeometry | None = field(default=None)  # made once before forking


class Artist:
    """The drawing state of one process: a canvas and what the context says to draw.

    Its results are WKB (``wkb``, to pass back from a pool worker), or the geometries themselves
    when it draws in the process that uses them.
    """

    def __init__(self, ctx: DrawContext, *, wkb: bool = True, threads: int = 1) -> None:
        self.ctx = ctx
        self.wkb = wkb
        self.threads = threads  # for a view's gap land, one limit per thread
        self._drawer: CircleDrawer | None = None
        self._exact: ExactDrawer | None = None

    @property
    def exact(self) -> ExactDrawer:
        """The exact (buffer union) drawer, made on first use."""
        if self._exact is None:
            self._exact = ExactDrawer(self.ctx.net, self.ctx.width_m)
        return self._exact

    @property
    def drawer(self) -> CircleDrawer:
        """The grid drawer, made on first use."""
        if self._drawer is None:
            if self.ctx.geometry is None:
                raise RuntimeError("a grid drawing needs the context's geometry (draw() makes it)")
            self._drawer = CircleDrawer(self.ctx.geometry, self.ctx.width_m)
        return self._drawer

    def layer(self, k: int) -> tuple[list, list[dict], list]:
        """Layer view ``k``: its circles (WKB, one per limit) and gap rows with their WKB (or geometries)."""
        job = self.ctx.layers[k]
        masks: list = []
        if self.ctx.construction == "exact":
            fac = _snapped(job.own_edge, job.own_along)
            polys = layer_polygons(
                self.ctx.net, job.node_dist, list(self.ctx.limits), facilities=fac, drawer=self.exact
            )
            if job.gaps:
                masks = [None] * len(polys)
        else:
            polys = self.drawer.layer_circles(
                job.node_dist, self.ctx.limits, job.own_edge, job.own_along, masks=masks if job.gaps else None
            )
        rows: list[dict] = []
        geoms: list = []
        if job.gaps and self.ctx.gap_homes is not None:
            rows, geoms = gap_rows(self.ctx, job, polys, masks, threads=self.threads)
        if not self.wkb:
            return list(polys), rows, list(geoms)
        wkbs = [shapely.to_wkb(g) if g is not None else b"" for g in geoms]
        return [shapely.to_wkb(p) for p in polys], rows, wkbs

    def facilities(self, j: int, rows: np.ndarray) -> list[list]:
        """Circles (WKB, or geometries, one per limit) of facilities ``rows`` of facility job ``j``."""
        job = self.ctx.facilities[j]
        if self.ctx.construction == "exact":
            fac = _snapped(job.own_edge[rows], job.own_along[rows])
            polys = facility_polygons(self.ctx.net, fac, list(self.ctx.limits), dist=job.dist[rows], drawer=self.exact)
        else:
            polys = self.drawer.source_circles(job.dist[rows], self.ctx.limits, job.own_edge[rows], job.own_along[rows])
        if not self.wkb:
            return [list(row) for row in polys]
        return [[shapely.to_wkb(p) for p in row] for row in polys]


def _snapped(edge: np.ndarray, along: np.ndarray) -> Snapped:
    """Facilities standing at ``along`` metres on edges ``edge`` (all placed)."""
    n = len(edge)
    return Snapped(
        np.asarray(edge, np.int64), np.asarray(along, float), np.zeros(n), np.ones(n, bool), np.zeros((n, 2))
    )


# ------------------------------------------------------------------------------ the pool

_ARTIST: Artist | None = None  # set in worker processes only, by _init (never in the parent)


def default_signals() -> None:
    """Default SIGTERM/SIGINT handling in a forked pool worker.

    A parent that handles SIGTERM itself (uvicorn) would otherwise pass its handler and its
    wake-up descriptor on, and the worker would wait forever when told to stop.
    """
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
    except ValueError:  # forked from a thread other than the main one (a test client): nothing inherited
        pass


def _init(ctx: DrawContext) -> None:
    """Pool initializer: the worker's own Artist and default signal handling."""
    global _ARTIST  # noqa: PLW0603 - the pool worker's own state, set once in the child by this initializer
    default_signals()
    _ARTIST = Artist(ctx)


def _run(item: tuple[int, tuple]) -> tuple[int, object]:
    k, task = item
    artist = _ARTIST
    if artist is None:  # pragma: no cover - _init always ran first
        raise RuntimeError("drawing worker not initialised")
    return k, _do(artist, task)


def _do(artist: Artist, task: tuple) -> object:
    if task[0] == "layer":
        return artist.layer(task[1])
    return artist.facilities(task[1], task[2])


@dataclass
class Drawn:
    """What :func:`draw` returns (shapely geometries in the metric CRS)."""

    layers: dict[str, list]  # view -> one polygon per limit
    gaps: dict[str, tuple[list[dict], list]]  # view -> (rows, polygons)
    facilities: dict[str, np.ndarray]  # layer -> (facilities, limits) object array


def draw(ctx: DrawContext, *, workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> Drawn:
    """Draw every layer view and facility set of ``ctx``.

    Parameters
    ----------
    workers
        Processes (default: the CPU count when the work is big enough to pay for them).
    progress
        Called as ``progress(polygons_drawn, polygons_in_all)`` as tasks finish.
    """
    if ctx.construction not in CONSTRUCTIONS:
        raise ValueError(f"construction {ctx.construction!r}: expected one of {', '.join(CONSTRUCTIONS)}")
    k = len(ctx.limits)
    tasks: list[tuple] = [("layer", i) for i in np.argsort([-np.isfinite(j.node_dist).sum() for j in ctx.layers])]
    n_fac = sum(len(j.rows) for j in ctx.facilities)
    if ctx.geometry is None and ctx.construction == "raster" and (tasks or n_fac):  # nothing drawn: no grid
        object.__setattr__(ctx, "geometry", RasterGeometry(ctx.net, ctx.cell_m, pad_m=draw_pad(ctx.width_m)))
    # drawn in this process: a view's limits in as many threads as the caller gives workers (a
    # batch task's one), or the cores when it leaves the choice here
    threads = workers if workers is not None else (os.cpu_count() or 1)
    if workers is None:
        big = len(ctx.layers) > 1 or n_fac * k >= PARALLEL_MIN
        workers = min(os.cpu_count() or 1, 8) if big else 1
    parallel = workers > 1 and len(tasks) + n_fac > 1 and _can_fork()
    step = FACILITY_TASK if parallel else 10**9
    tasks += [
        ("facilities", j, job.rows[a : a + step])
        for j, job in enumerate(ctx.facilities)
        for a in range(0, len(job.rows), step)
    ]
    total = (len(ctx.layers) + n_fac) * k
    done = 0
    results: list = [None] * len(tasks)

    def finished(task: tuple) -> None:
        nonlocal done
        done += k * (1 if task[0] == "layer" else len(task[2]))
        if progress is not None:
            progress(done, total)

    if parallel:
        with mp.get_context("fork").Pool(min(workers, len(tasks)), initializer=_init, initargs=(ctx,)) as pool:
            for i, res in pool.imap_unordered(_run, enumerate(tasks), chunksize=1):
                results[i] = res
                finished(tasks[i])
    else:
        artist = Artist(ctx, wkb=False, threads=threads)  # in this process: the geometries themselves, not WKB
        for i, task in enumerate(tasks):
            results[i] = _do(artist, task)
            finished(task)
    return _collect(ctx, tasks, results, wkb=parallel)


def _collect(ctx: DrawContext, tasks: list[tuple], results: list, *, wkb: bool = True) -> Drawn:
    """The polygons the tasks drew (as WKB from workers, else geometries), put back by layer view and facility."""
    k = len(ctx.limits)
    out = Drawn({}, {}, {})
    for job in ctx.facilities:
        arr = np.empty((job.dist.shape[0], k), dtype=object)
        arr[:] = shapely.Polygon()
        out.facilities[job.name] = arr
    for task, res in zip(tasks, results, strict=True):
        if task[0] == "layer":
            job = ctx.layers[task[1]]
            polys, rows, gpolys = res
            out.layers[job.name] = list(shapely.from_wkb(polys)) if wkb else polys
            if job.gaps:
                out.gaps[job.name] = (rows, [shapely.from_wkb(g) if g else None for g in gpolys] if wkb else gpolys)
        else:
            job = ctx.facilities[task[1]]
            for r, row in zip(task[2], res, strict=True):
                out.facilities[job.name][r] = shapely.from_wkb(row) if wkb else row
    return out


def _can_fork() -> bool:
    """Whether a pool may be forked here: only from the main thread.

    A fork from another thread copies the locks other threads hold at that moment (a
    ``functools.cached_property``'s, logging's) into a child that then waits on them forever;
    in a thread the circles are drawn in that thread.
    """
    return "fork" in mp.get_all_start_methods() and threading.current_thread() is threading.main_thread()


def source_circles(
    net: Network,
    sources: Snapped,
    limits: Sequence[float],
    *,
    width_m: float,
    cell_m: float,
    construction: str = "raster",
    geometry: RasterGeometry | None = None,
) -> np.ndarray:
    """The circles of a few sources (snapped points), one per source and limit (metric).

    Drawn in this thread after one bounded search each (for siting and on-demand answers).
    """
    dist = per_source(net, sources, limit=max(limits))
    if construction == "exact":
        return facility_polygons(net, sources, list(limits), dist=dist, width_m=width_m)
    geom = geometry if geometry is not None else RasterGeometry(net, cell_m, pad_m=draw_pad(width_m))
    out = np.empty((len(sources), len(limits)), dtype=object)
    out[:] = shapely.Polygon()
    ok = np.flatnonzero(sources.ok)
    if len(ok):
        out[ok] = CircleDrawer(geom, width_m).source_circles(dist[ok], limits, sources.edge[ok], sources.along[ok])
    return out
