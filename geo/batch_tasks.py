"""A province in one run: each area's task, its done mark, and the tasks on Dask distributed.

The last two steps of ``circles batch`` (the areas and their parts are :mod:`geo.batch`):

3. :func:`plan_part` — the task: :func:`geo.plan.plan` on the part with the area, so its
   figures are those of ``circles plan --area NAME``; the outputs go through the ``write``
   callable the command passes (it adds the map, which ``geo`` does not draw); a log per area.
4. :func:`run_tasks` — the tasks on a ``LocalCluster`` of worker processes or any scheduler,
   with retries, a bounded number in flight (so the driver never holds every part at once), and
   each area's outcome reported as it finishes.

Each area's folder carries a ``batch.json`` with the :func:`area_digest` of its inputs and
options; a re-run skips the areas whose digest matches (:func:`is_done`). The street table of
an area (:func:`street_rows`) is written with its outputs, so the merged tables are made from
what the area folders hold and skipped areas count as well.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import shapely

from geo.areas import StudyArea
from geo.batch import PackedPart, Part
from geo.coverage import minutes_key
from geo.errors import CirclesError, InputError
from geo.io import write_text
from geo.plan import plan
from geo.plan_types import PlanInputs, PlanParams, PlanResult

T = TypeVar("T")

#: bump when what a done area holds, or how it is made, changes (re-runs then redo every area).
BATCH_VERSION = 2
DONE_MARK = "batch.json"


# ------------------------------------------------------------------------------ done areas


def file_digest(path: Path | None) -> str | None:
    """SHA-256 of a file's content (None for no file)."""
    if path is None:
        return None
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def options_digest(*, source: str, inputs: PlanInputs, params: PlanParams, extra: dict) -> str:
    """What every area of a batch shares: the extract's content, the files, the options."""
    opts = {
        f.name: getattr(params, f.name) for f in dataclasses.fields(params) if f.name not in ("cache_dir", "workers")
    }
    doc = {
        "version": BATCH_VERSION,
        "source": source,
        "layers_map": file_digest(Path(inputs.layers_map)),
        "files": {k: file_digest(Path(v)) for k, v in sorted(inputs.layer_files.items())},
        "population": file_digest(Path(inputs.population)) if inputs.population else None,
        "crs": inputs.crs,
        "params": repr(sorted(opts.items())),
        **extra,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def area_digest(options: str, area: StudyArea) -> str:
    """The key of one area's results: the batch's options and the area's name and boundary."""
    wkb = shapely.to_wkb(area.geometry, hex=True) if area.geometry is not None else ""
    return hashlib.sha256("|".join([options, area.name, str(area.level), wkb]).encode()).hexdigest()[:32]


def is_done(folder: Path, digest: str) -> bool:
    """Whether ``folder`` holds a complete output set made with ``digest``."""
    try:
        doc = json.loads((folder / DONE_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("digest") == digest and (folder / "outputs.json").is_file()


# ------------------------------------------------------------------------------ the task


def peak_rss_mb() -> float | None:
    """The peak resident set size of this process so far (MB; ``VmHWM``), None where unknown."""
    try:
        with Path("/proc/self/status").open() as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


#: write(result, folder, marker, extra_tables) writes an area's output set all at once
Writer = Callable[..., None]


def street_rows(result: PlanResult) -> list[dict]:
    """Homes, people and those covered per layer and threshold (first profile), by street and community.

    The rows of the merged street table, one per street and community of the area.
    """
    street, community = (
        (np.asarray(a, dtype=object) for a in result.home_names[:2])
        if result.home_names
        else (np.full(len(result.homes), None, object),) * 2
    )
    people = np.asarray(result.homes.people, float)
    keys = [
        (s if isinstance(s, str) else "", c if isinstance(c, str) else "")
        for s, c in zip(street, community, strict=True)
    ]
    groups: dict = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    limits = [(mt, mi) for mt, mi, p in result.params.limits() if p == result.params.profiles[0]]
    rows = []
    for (s, c), members in sorted(groups.items()):
        idx = np.asarray(members)
        row = {
            "street": s or None,
            "community": c or None,
            "homes": len(idx),
            "people": round(float(people[idx].sum())),
        }
        for name, lr in result.layers.items():
            for metres, minutes in limits:
                cov = np.asarray(lr.home_dist)[idx] <= metres
                row[f"{name}_{minutes_key(minutes)}min_people_covered"] = round(float(people[idx][cov].sum()))
                row[f"{name}_{minutes_key(minutes)}min_homes_covered"] = int(cov.sum())
        rows.append(row)
    return rows


def plan_part(
    part: Part | PackedPart,
    *,
    inputs: PlanInputs,
    params: PlanParams,
    folder: str,
    log: str,
    marker: dict,
    write: Writer,
) -> dict:
    """Plan one area and write its outputs; the task each Dask worker runs.

    ``part``: the area's part, or the part packed (:meth:`geo.batch.Partition.packed`; unpacked
    here, inside the task's time). A worker's first task freezes the objects the process holds
    (:func:`gc.freeze`: the modules, Dask's own state), so the collector, which runs often
    during a task, no longer walks them: 0.48 → 0.09 s of collection for the 29 streets of the
    merged extract in one process (~2 % of their time; more in a worker, which holds more).

    Returns a small summary: ``status`` "done" or "failed" (an error of the input, with its
    message: retrying would not help), the area's homes and coverage, seconds taken. Any other
    exception is logged and raised again, so that Dask retries the task.
    """
    t0, c0 = time.perf_counter(), time.thread_time()
    if not gc.get_freeze_count():  # the worker's first task: its long-lived objects out of the collector's way
        gc.collect()
        gc.freeze()
    if isinstance(part, PackedPart):
        part = part.unpack()
    lines: list[str] = []

    def say(msg: str) -> None:
        lines.append(f"{time.strftime('%H:%M:%S')} {part.area.name}: {msg}")

    summary: dict[str, object] = {"key": part.key, "area": part.area.name, "level": part.area.level}
    task_inputs = PlanInputs(osm=inputs.osm, crs=inputs.crs, population=inputs.population, layers_map=inputs.layers_map)
    task_params = dataclasses.replace(params, workers=1, cache_dir=None)
    try:
        say(
            f"{part.base.network.n_nodes} nodes in the area and its halo, {len(part.base.homes)} homes in the "
            "area and near it"
        )
        result = plan(task_inputs, task_params, progress=say, base=part.base, facilities=part.files, area=part.area)
        for w in result.warnings:
            say(f"warning: {w}")
        write(
            result,
            Path(folder),
            {
                **marker,
                "area": part.area.name,
                "level": part.area.level,
                "source": part.area.source,
                "homes": len(result.homes),
                "nodes": part.base.network.n_nodes,
                "seconds": round(time.perf_counter() - t0, 2),
                "cpu_s": round(time.thread_time() - c0, 2),  # the task's own CPU (a busy machine: < seconds)
                "worker_peak_rss_mb": peak_rss_mb(),
            },
            {"streets": street_rows(result)},
        )
        say(f"done in {time.perf_counter() - t0:.1f} s: {len(result.homes)} homes")
        summary.update(status="done", homes=len(result.homes), coverage=result.coverage)
    except CirclesError as err:
        say(f"failed: {err}")
        summary.update(status="failed", error=str(err))
    except BaseException as err:
        say(f"crashed ({type(err).__name__}: {err}); the task is retried\n{traceback.format_exc()}")
        write_text(log, "\n".join(lines) + "\n")
        raise
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    write_text(log, "\n".join(lines) + "\n")
    return summary


# ------------------------------------------------------------------------------ running on Dask


def _quiet_on_interrupt(start: Callable[[], T]) -> T:
    """``start()`` with SIGINT ignored, so that the worker processes it starts inherit that.

    A Ctrl-C in the terminal reaches the whole process group, and only the command should answer
    it (it closes the cluster; every area folder is complete or absent).
    """
    if threading.current_thread() is not threading.main_thread():
        return start()
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, before)


class LocalStart:
    """A ``LocalCluster`` started in a thread of its own, e.g. while the driver reads the extract.

    Its worker processes must ignore SIGINT (a Ctrl-C in the terminal reaches the whole process
    group; only the command answers it, and closes the cluster), and a process inherits an
    ignored signal only: so SIGINT is ignored, as :func:`_quiet_on_interrupt` does, from the
    cluster's start until its worker processes exist (``spawned``: a fraction of a second;
    their ~1.5 s of start-up then runs beside the caller's work, which answers Ctrl-C again).
    :meth:`get` waits for the cluster (raising what its start raised); :meth:`close` waits for
    it and closes it, whatever happened.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._local: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="circles-local-cluster", daemon=True)
        _quiet_on_interrupt(self._spawn)

    def _spawn(self) -> None:
        """Start the thread; return once the worker processes were started (or the start ended)."""
        import psutil  # noqa: PLC0415 - a dependency of distributed, loaded with it

        me = psutil.Process()
        before = {p.pid for p in worker_processes(me)}  # spawned by something else earlier
        self._thread.start()
        deadline = time.monotonic() + 60
        while self._thread.is_alive() and time.monotonic() < deadline:
            if len({p.pid for p in worker_processes(me)} - before) >= self.cluster.workers:
                return
            time.sleep(0.02)

    def _start(self) -> None:
        try:
            self._local = local_cluster(self.cluster)
        except BaseException as err:  # noqa: BLE001 - raised again by get(), in the thread that asks
            self._error = err

    def get(self):  # noqa: ANN201 - a distributed.LocalCluster (distributed loads lazily)
        """The started cluster (waits for its workers); raises what starting it raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._local

    def close(self) -> None:
        """Wait for the cluster's start and close the cluster (nothing when it did not start)."""
        self._thread.join()
        local, self._local = self._local, None
        if local is not None:
            local.close()  # type: ignore[attr-defined]


def local_cluster(cluster: Cluster):  # noqa: ANN201 - a distributed.LocalCluster (distributed loads lazily)
    """A ``LocalCluster`` of ``cluster.workers`` processes of one thread each, without Dask's profiler.

    Each worker's statistical profiler (a thread reading the task's stack every 10 ms, for the
    dashboard's Profile page) cost ~7 % of the tasks' time at 16 tiles on two workers (tasks
    80.6 s with it, 75.2 s without, one run each); the dashboard's other pages stay.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.profile.enabled": False}):
        return LocalCluster(
            n_workers=cluster.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0" if cluster.dashboard else None,
            silence_logs=40,
        )


def worker_processes(parent: object) -> list:
    """The child processes of ``parent`` (a ``psutil.Process``) that multiprocessing spawned."""
    found = []
    for child in parent.children():  # type: ignore[attr-defined]
        try:
            if any("spawn_main" in a for a in child.cmdline()):
                found.append(child)
        except Exception:  # noqa: BLE001, S112 - a child that ended meanwhile
            continue
    return found


@dataclass(frozen=True)
class Cluster:
    """Where the tasks run: ``workers`` local worker processes, or a running scheduler."""

    workers: int = 2
    scheduler: str | None = None
    retries: int = 2
    dashboard: bool = True


def run_tasks(
    tasks: Iterable[tuple[str, Callable[[], tuple]]],
    *,
    cluster: Cluster,
    on_start: Callable[[str | None, int], None],
    on_done: Callable[[str, dict], None],
    on_lost: Callable[[str, list[str]], None] | None = None,
    started: LocalStart | None = None,
    after: Callable[[Callable[..., Callable[[], object]]], None] | None = None,
) -> None:
    """Run tasks on Dask distributed, at most twice as many in flight as there are worker threads.

    ``tasks`` yields ``(key, make)``; ``make()`` gives ``(function, args, kwargs)`` (or raises
    :class:`geo.errors.CirclesError`: the area fails without a task). ``on_start(dashboard
    link or None, worker threads)`` is called once the cluster is up; ``on_done(key, summary)``
    for each task as it finishes, with a ``failed`` summary when the task raised even after its
    retries (or its worker died more often than the scheduler allows). ``on_lost(worker, keys)``
    is called at the end for every worker process that stopped unexpectedly, with the keys of
    the tasks it held (the scheduler ran them again elsewhere), as the scheduler's event log
    has them. ``started``: a local cluster already starting (:class:`LocalStart`), used
    instead of starting one; its owner closes it. ``after(start)`` is called once every task
    is done, before the cluster closes: ``start(fn, *args, **kwargs)`` runs ``fn`` on a worker
    (retried as the tasks are) and returns a function waiting for its result.
    """
    from distributed import as_completed

    client, local = _connect(cluster, started)
    try:
        info: dict = client.scheduler_info() or {}
        services = info.get("services") or {}
        link = client.dashboard_link if cluster.dashboard and "dashboard" in services else None
        threads = max(1, sum(client.nthreads().values()))
        on_start(link, threads)
        todo: Iterator = iter(tasks)
        running = as_completed()
        names: dict = {}
        every: dict = {}  # each submitted future's key -> the task's key, kept for on_lost

        def submit_next() -> bool:
            for key, make in todo:
                try:
                    fn, args, kwargs = make()
                except CirclesError as err:
                    on_done(key, {"key": key, "status": "failed", "error": str(err)})
                    continue
                fut = client.submit(
                    fn, *args, retries=cluster.retries, pure=False, key=f"area-{key}-{time.time_ns()}", **kwargs
                )
                names[fut.key] = every[fut.key] = key
                running.add(fut)
                return True
            return False

        for _ in range(2 * threads):
            if not submit_next():
                break
        for fut in running:
            key = names.pop(fut.key)
            try:
                summary = fut.result()
            except Exception as err:  # noqa: BLE001 - the task raised after its retries, or its worker kept dying
                summary = {"key": key, "status": "failed", "error": f"{type(err).__name__}: {err}"}
            fut.release()
            on_done(key, summary)
            submit_next()
        if on_lost is not None:
            _report_lost(client.get_events("all"), every, on_lost)
        if after is not None:

            def start(fn: Callable[..., object], *args: object, **kwargs: object) -> Callable[[], object]:
                return client.submit(fn, *args, retries=cluster.retries, pure=False, **kwargs).result

            after(start)
    finally:
        client.close()
        if local is not None:
            local.close()


def _connect(cluster: Cluster, started: LocalStart | None) -> tuple:
    """A client of the scheduler, of the starting local cluster, or of a new local cluster (also returned: close it)."""
    from distributed import Client

    if cluster.scheduler:
        try:
            return Client(cluster.scheduler, timeout="30s"), None
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(
                "--scheduler",
                [
                    (
                        f"{cluster.scheduler!r}: no Dask scheduler answers there ({err}); start "
                        "one with `dask scheduler` and workers with `dask worker ADDRESS`, or "
                        "leave out --scheduler for a local cluster"
                    )
                ],
            ) from None
    if started is not None:
        return Client(started.get()), None
    local = _quiet_on_interrupt(lambda: local_cluster(cluster))
    return Client(local), local


def _report_lost(events: Iterable, keys: dict, on_lost: Callable[[str, list[str]], None]) -> None:
    """``on_lost(worker, task keys)`` for each unexpected ``remove-worker`` event of the scheduler."""
    for _, msg in events:
        if isinstance(msg, dict) and msg.get("action") == "remove-worker" and not msg.get("expected"):
            held = [keys[k] for k in msg.get("processing-tasks") or () if k in keys]
            on_lost(str(msg.get("worker", "?")), held)
