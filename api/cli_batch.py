"""``circles batch``: every administrative area of an extract planned as one task on Dask.

The engine side (which areas, the partition with halos, the task, the done markers) is
:mod:`geo.batch`; this module is the command: options, the progress bar over areas, each area's
output folder (through :func:`api.outputs.plan_files`, so an area's folder is what ``circles plan
--area NAME`` writes, plus ``batch.json``, ``streets.csv`` and ``merge.pack``), and the merged
outputs written last, all at once, into ``merged/``: ``province.gpkg``, ``areas.csv``/``.xlsx``,
``streets.csv``/``.xlsx``, ``coverage.json`` and ``index.html``.

Output folder::

    OUT/batch.json            what the batch was run with (written first)
    OUT/areas/<area>/         each area's output set (all at once), with batch.json: its digest
    OUT/logs/<area>.log       each area's log
    OUT/merged/               merged outputs (province.gpkg ...: all at once, after every area)
"""

from __future__ import annotations

import ctypes
import gc
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from api.cli_common import format_option, input_options, run_safely
from maps.labels import LANGS

if TYPE_CHECKING:  # annotations only: the engine loads when the command runs
    from geo.base import Base
    from geo.batch import BatchArea, Partition
    from geo.plan import PlanResult
    from geo.plan_types import PlanInputs, PlanParams

BATCH_EXAMPLES = """
\b
Examples:
  circles batch --osm zhejiang.osm.pbf --areas level=6 --out out/zj              # every district
  circles batch --osm hz.osm.pbf --areas level=8 --within 滨江区 --workers 2 --out out/bj-streets
  circles batch --osm big.osm.pbf --areas areas.gpkg --centres centres.xlsx --crs gcj02 \\
                --scheduler tcp://10.0.0.5:8786 --out out/x                       # a running Dask cluster
"""
MARK = "batch.json"
#: the merged outputs an earlier version wrote at the top of --out (now in merged/)
OLD_MERGED = ("province.gpkg", "areas.csv", "areas.xlsx", "streets.csv", "streets.xlsx", "coverage.json", "index.html")


# ------------------------------------------------------------------------------ per area (on the workers)


def write_area(
    result: PlanResult, folder: Path, marker: dict, tables: dict, *, fmt: str, map_options: dict, saved: bool = True
) -> None:
    """Write one area's output set, all at once.

    The plan's files, ``streets.csv``, ``merge.pack`` (what the merge takes of the area:
    :func:`api.batch_merge.pack_merge`) and ``batch.json`` (the done marker with the area's
    digest), so a folder with a marker is complete.
    """
    import pandas as pd

    from api.batch_merge import MERGE_PACK, pack_merge, table_writer
    from api.outputs import plan_files
    from geo.io import atomic_write, write_json
    from geo.outputs import write_folder

    def files(tmp: Path) -> list[Path]:
        t0, c0 = time.perf_counter(), time.thread_time()
        written = plan_files(result, tmp, fmt=fmt, map_options=map_options, saved=saved)
        layers = {"circles": result.circles, "gaps": result.gaps, "facilities": result.facilities}
        try:
            merged = pack_merge(layers, tables.get("streets") or [], area=str(marker.get("area")))
        except TypeError:  # a column packing cannot keep: the merge reads the area's files (and says so)
            merged = None
        if merged is not None:
            written.append(atomic_write(tmp / MERGE_PACK, lambda p: p.write_bytes(merged)))
        streets = pd.DataFrame(
            tables.get("streets") or [],
            columns=None if tables.get("streets") else ["street", "community", "homes", "people"],
        )
        written.append(atomic_write(tmp / "streets.csv", table_writer(streets, "csv")))
        times = {"write_s": round(time.perf_counter() - t0, 2), "write_cpu_s": round(time.thread_time() - c0, 2)}
        written.append(write_json(tmp / MARK, {**marker, **times}))
        return written

    write_folder(folder, "batch-area", files)


class AreaWriter:
    """The ``write`` a task calls (a plain object: Dask sends it to the workers by value)."""

    def __init__(self, fmt: str, map_options: dict, *, saved: bool = True) -> None:
        self.fmt, self.map_options, self.saved = fmt, map_options, saved

    def __call__(self, result: PlanResult, folder: Path, marker: dict, tables: dict) -> None:
        """Write one planned area's outputs into ``folder``."""
        write_area(result, folder, marker, tables, fmt=self.fmt, map_options=self.map_options, saved=self.saved)


# ------------------------------------------------------------------------------ the output folder


def check_batch_out(out: Path) -> None:
    """Refuse an ``--out`` holding files a batch did not write (before any work)."""
    from geo.errors import InputError

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}", ["is a file, not a folder: give a folder for the batch"])
    if out.is_dir() and any(out.iterdir()) and not (out / MARK).is_file():
        shown = ", ".join(sorted(p.name for p in out.iterdir())[:5])
        raise InputError(
            f"--out {out}",
            [
                (
                    f"holds files a batch did not write ({shown}): give an empty or new "
                    "folder, or the folder of an earlier batch to resume it"
                )
            ],
        )


class Bar:
    """A progress bar over areas: done, skipped (done before), failed, remaining."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        from tqdm import tqdm

        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.total = total
        self.bar = tqdm(
            total=total,
            disable=not enabled,
            unit="area",
            file=sys.stderr,
            leave=True,
            bar_format="{l_bar}{bar:20}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}",
        )
        self.show()

    def show(self) -> None:
        """Show the counts on the bar."""
        c = self.counts
        left = self.total - sum(c.values())
        self.bar.set_postfix_str(f"done {c['done']} · skipped {c['skipped']} · failed {c['failed']} · left {left}")

    def add(self, what: str, name: str) -> None:
        """Count one area as ``what`` (done, skipped, failed)."""
        self.counts[what] += 1
        self.bar.set_description_str(name[:24])
        self.bar.update(1)
        self.show()

    def write(self, text: str) -> None:
        """A line of text on stderr, above the bar."""
        self.bar.write(text, file=sys.stderr) if not self.bar.disable else click.echo(text, err=True)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


# ------------------------------------------------------------------------------ the command


@click.command("batch", epilog=BATCH_EXAMPLES)
@input_options
@click.option(
    "--areas",
    "areas_spec",
    required=True,
    help=(
        "The areas: level=6 (districts 区/县), level=8 (streets and towns 街道/镇), any OSM admin_level, or a "
        "polygon file (.gpkg, .geojson, .shp) with a name column, one area per row."
    ),
)
@click.option(
    "--within",
    help="Only the areas lying inside this admin boundary (any level, e.g. 杭州市 or 滨江区) or polygon file.",
)
@click.option(
    "--workers",
    "n_workers",
    type=click.IntRange(1, 256),
    help=(
        "Local Dask worker processes (default: the CPU count); each plans one area at a time. Also the "
        "most processes reading the extract (the driver cuts the areas and merges beside them)."
    ),
)
@click.option(
    "--scheduler",
    help=(
        "Address of a running Dask scheduler (tcp://host:8786) instead of a local cluster; the workers "
        "must see --out and the input files at the same paths."
    ),
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="Times an area's task is run again after it crashed (a killed worker, out of memory).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help=(
        "Batch folder: areas/<name>/ per area, the merged outputs in merged/. Re-running into it skips "
        "the areas already done with the same inputs and options."
    ),
)
@format_option("each area's circle, gap and facility layers")
@click.option("--lang", type=click.Choice(LANGS), help="Language of the maps. Default: Chinese for Chinese names.")
@click.option(
    "--tiles",
    default="osm",
    show_default=True,
    help="Base map of the maps: osm, none, or an XYZ URL (see circles plan --help).",
)
@click.option(
    "--saved-plan/--no-saved-plan",
    "saved",
    default=True,
    show_default=True,
    help=(
        "Keep each area's saved plan (areas/<name>/plan/) for follow-up commands (scenario, site, map "
        "--plan); without it each area writes about half as long."
    ),
)
@click.option(
    "--dashboard/--no-dashboard",
    default=True,
    show_default=True,
    help="Start the Dask dashboard of a local cluster and print its address.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary table.")
@run_safely
def batch_cmd(  # noqa: PLR0913 - click passes each option of the command as an argument
    *,
    areas_spec: str,
    within: str | None,
    n_workers: int | None,
    scheduler: str | None,
    retries: int,
    out: Path,
    fmt: str,
    lang: str | None,
    tiles: str,
    saved: bool,
    dashboard: bool,
    quiet: bool,
    **kw: object,
) -> None:
    """Plan every area (district, street, or polygon of a file) of one extract; merge the results.

    Each area is a task on Dask distributed. The extract is read once and cut into the areas plus
    their halos (as --area does), so each area's figures are those of `circles plan --area NAME`,
    each home is counted in the one area holding it, and a worker holds one area at a time. Writes
    OUT/areas/<name>/ per area (the files of circles plan, and streets.csv), OUT/logs/<name>.log,
    and at the end OUT/merged/ (all at once): province.gpkg (circles, gaps, facilities and areas of
    every area, with an `area` column), areas.csv and areas.xlsx (one row per area, ranked by
    coverage), streets.csv/.xlsx, coverage.json and index.html (a map of each area's coverage
    linking to its map). Exits 1 when
    any area failed.
    """
    import dataclasses
    import os

    from api.cli_common import build_inputs, say_for
    from geo.batch_tasks import Cluster, LocalStart, area_digest, options_digest, run_tasks
    from maps.tiles import tile_spec

    _refuse_area_options(kw)
    tile_spec(tiles)
    out = Path(out)
    check_batch_out(out)
    inputs, params = build_inputs(kw)
    say = say_for(quiet=quiet)
    t0 = time.perf_counter()
    cluster = Cluster(
        workers=n_workers or os.cpu_count() or 1, scheduler=scheduler, retries=retries, dashboard=dashboard
    )
    # the local cluster's workers start while the extract is read (unless areas may be done already)
    early = None if scheduler or _done_before(out) else LocalStart(cluster)
    try:
        # a local cluster's --workers caps the processes reading the extract too (the machine's share it may use)
        read_params = params if scheduler else dataclasses.replace(params, workers=cluster.workers)
        extract, areas, part = _read(inputs, read_params, areas_spec=areas_spec, within=within, say=say)
        source = extract["key"] or f"{extract['source']}:{extract['extract_homes']}:{extract['network_nodes']}"
        options = options_digest(
            source=source,
            inputs=inputs,
            params=params,
            extra={"fmt": fmt, "lang": lang, "tiles": tiles, "saved": saved},
        )
        read_s = time.perf_counter() - t0
        say(
            f"{len(areas)} areas; extract ({extract['network_nodes']:,} walk nodes, {extract['extract_homes']:,} "
            f"homes) read and partitioned in {read_s:.1f} s"
        )
        _start_folder(
            out, {"source": extract["path"], "areas": areas_spec, "within": within, "options_digest": options}
        )
        digests = {a.key: area_digest(options, a.area) for a in areas}
        run = _Run(
            bar=Bar(len(areas), enabled=not quiet and sys.stderr.isatty()),
            names={a.key: a.area.name for a in areas},
            where=scheduler,
            quiet=quiet,
        )
        todo = run.sort(areas, out=out, digests=digests)
        shared = {
            "inputs": inputs,
            "params": dataclasses.replace(params, cache_dir=None),
            "write": AreaWriter(fmt, {"lang": lang, "tiles": tiles}, saved=saved),
        }
        tasks = _tasks(todo, part, out=out, digests=digests, shared=shared) if todo else iter(())
        del part  # held by the tasks alone, so the merge does not find the province's base beside its layers
        t_tasks = time.perf_counter()
        written: list[Path] = []

        def merge(start: Callable | None = None) -> None:
            """Write the merged outputs (``start``: run their tables on a worker of the cluster)."""
            times = {"read_partition_s": read_s, "tasks_s": time.perf_counter() - t_tasks, "t0": t0}
            meta = _meta(extract, areas_spec=areas_spec, within=within, times=times)
            written[:] = _merge(out, areas, run, start=start, fmt=fmt, tiles=tiles, lang=lang, meta=meta)

        try:
            if todo:  # the merge runs before the cluster closes: a worker writes the tables meanwhile
                run_tasks(
                    tasks,
                    cluster=cluster,
                    on_start=lambda link, threads: run.on_start(link, threads, todo=len(todo)),
                    on_done=run.on_done,
                    on_lost=run.on_lost,
                    started=early,
                    after=merge,
                )
        finally:
            run.bar.close()
    finally:
        if early is not None:
            early.close()
    if not written:  # nothing was left to plan: no cluster
        merge()
    _report(len(areas), run.outcomes, written, seconds=time.perf_counter() - t0, quiet=quiet)


def _read(
    inputs: PlanInputs, params: PlanParams, *, areas_spec: str, within: str | None, say: Callable[[str], None]
) -> tuple[dict, list[BatchArea], Partition]:
    """Read the facility files and the extract once, list the areas, and index the extract to cut them.

    Returns what the run says of the extract (:func:`_extract_facts`), the areas and the
    partition: the base only inside it, so that it goes with the partition once every area is cut.
    """
    from geo.base import load_base
    from geo.batch import Partition, list_areas
    from geo.plan import read_layer_files

    files, warnings = read_layer_files(inputs)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    t0 = time.perf_counter()
    base = load_base(inputs, params, progress=say)
    say(f"extract read and its base built in {time.perf_counter() - t0:.1f} s; partitioning it into areas")
    areas = list_areas(areas_spec, admin=base.admin, within=within, crs=inputs.crs)
    part = Partition(base, params, files)
    give_back()  # the read's and the build's garbage, before the tasks and the merge add theirs
    overlap = int((part.home_owners(areas) > 1).sum())
    if overlap:
        click.echo(
            f"warning: {overlap} homes lie in more than one area of {areas_spec}: each of those areas counts "
            "them (the merged totals count them more than once)",
            err=True,
        )
    return _extract_facts(base), areas, part


def _start_folder(out: Path, doc: dict) -> None:
    """Write the batch's own ``batch.json`` (what it was run with) into ``out``, and make its ``logs/``."""
    from geo.io import write_json

    write_json(
        out / MARK,
        {"tool": "service-circles", "kind": "batch", **doc, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    )
    (out / "logs").mkdir(parents=True, exist_ok=True)


def give_back() -> bool:
    """Hand the memory the driver freed back to the system; whether it could (glibc only).

    Reading the extract and building its base leave most of the driver's peak as freed memory
    that the C allocator keeps (~40 % of it on the 4-tile province); the parts cut afterwards,
    Dask's state and the merge would otherwise grow on top of it. Changes nothing but the
    process's resident memory.
    """
    gc.collect()
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return False
    trim(0)
    return True


def _done_before(out: Path) -> bool:
    """Whether ``out`` holds an area an earlier run finished (a re-run may then need no worker at all)."""
    areas = out / "areas"
    return areas.is_dir() and any((d / MARK).is_file() for d in areas.iterdir())


def _refuse_area_options(kw: dict[str, object]) -> None:
    """Refuse the input options that name one area (a batch plans every area of ``--areas``)."""
    from geo.errors import InputError

    given = [f"--{k.replace('_', '-')}" for k in ("area", "area_level") if kw.get(k)]
    if kw.get("workers"):
        given.append("--jobs")
    if kw.get("place"):
        given.append("--place")
    if given:
        raise InputError(
            "options",
            [
                (
                    f"circles batch plans every area of --areas: leave out {', '.join(given)} "
                    "(--jobs: each area is drawn in one process; give --workers for more areas at "
                    "once; --place: give an extract with --osm)"
                )
            ],
        )


@dataclass
class _Run:
    """What the driver shows and keeps while the areas are planned: the bar and each area's outcome."""

    bar: Bar
    names: dict[str, str]  # area key -> area name
    where: str | None  # the scheduler's address, or None for a local cluster
    quiet: bool
    outcomes: dict[str, dict] = field(default_factory=dict)

    def sort(self, areas: list[BatchArea], *, out: Path, digests: dict[str, str]) -> list[BatchArea]:
        """The areas still to plan; those that cannot be planned or were done before are counted now."""
        from geo.batch_tasks import is_done
        from geo.store import recover

        todo = []
        for a in areas:
            recover(out / "areas" / a.key)  # what an interrupted run left: its old folder back, temporary ones gone
            if a.problem:
                self.outcomes[a.key] = {"key": a.key, "area": a.area.name, "status": "failed", "error": a.problem}
                self.bar.add("failed", a.area.name)
            elif is_done(out / "areas" / a.key, digests[a.key]):
                self.outcomes[a.key] = {"key": a.key, "area": a.area.name, "status": "skipped"}
                self.bar.add("skipped", a.area.name)
            else:
                todo.append(a)
        return todo

    def on_start(self, link: str | None, threads: int, *, todo: int) -> None:
        """Say where the ``todo`` areas are planned (and the dashboard's address)."""
        where = self.where or f"a local cluster of {threads} worker process{'es' if threads != 1 else ''}"
        self.bar.write(f"{todo} areas to plan on {where}" + (f"; dashboard: {link}" if link else ""))

    def on_lost(self, worker: str, keys: list[str]) -> None:
        """Say that a worker process stopped, and which areas it held (Dask planned them again)."""
        held = ", ".join(self.names.get(k, k) for k in keys) or "no area"
        self.bar.write(f"warning: worker {worker} stopped while planning {held}; its areas were planned again")

    def on_done(self, key: str, summary: dict) -> None:
        """Count one finished task (done or failed) and keep its summary."""
        summary.setdefault("area", self.names[key])
        self.outcomes[key] = summary
        if summary["status"] == "failed":
            self.bar.write(f"failed: {summary['area']}: {summary.get('error')}")
        elif self.bar.bar.disable and not self.quiet:  # no bar (not a terminal): one line per area for the log
            click.echo(
                f"done: {summary['area']} ({summary.get('homes', 0):,} homes, {summary.get('seconds', 0):.1f} s)",
                err=True,
            )
        self.bar.add(summary["status"], summary["area"])


def _tasks(
    todo: list[BatchArea], part: Partition, *, out: Path, digests: dict[str, str], shared: dict[str, object]
) -> Iterator[tuple[str, Callable[[], tuple]]]:
    """``(key, make)`` per area to plan; ``make()`` cuts the area out of ``part`` (packed) when its task is sent."""
    from geo.batch_tasks import plan_part

    for a in todo:

        def make(a: BatchArea = a) -> tuple:
            return (
                plan_part,
                (part.packed(a),),
                {
                    **shared,
                    "folder": str((out / "areas" / a.key).resolve()),
                    "log": str((out / "logs" / f"{a.key}.log").resolve()),
                    "marker": {"digest": digests[a.key]},
                },
            )

        yield a.key, make


def _extract_facts(base: Base) -> dict:
    """What the run says of the read extract (its path, name, cache key, date, nodes and homes)."""
    return {
        "path": str(base.source),
        "source": Path(str(base.source)).name,
        "key": base.key,
        "data_date": base.data_date,
        "network_nodes": base.network.n_nodes,
        "extract_homes": len(base.homes),
    }


def _meta(extract: dict, *, areas_spec: str, within: str | None, times: dict[str, float]) -> dict:
    """What the merged coverage.json says of the run: the extract (:func:`_extract_facts`), the areas asked for, the times."""
    from geo.batch_tasks import peak_rss_mb

    return {
        "source": extract["source"],
        "data_date": extract["data_date"],
        "network_nodes": extract["network_nodes"],
        "extract_homes": extract["extract_homes"],
        "areas_spec": areas_spec,
        "within": within,
        "read_partition_s": round(times["read_partition_s"], 2),
        "tasks_s": round(times["tasks_s"], 2),
        "wall_s": round(time.perf_counter() - times["t0"], 2),
        "driver_peak_rss_mb": peak_rss_mb(),
    }


def _merge(
    out: Path,
    areas: list[BatchArea],
    run: _Run,
    *,
    start: Callable | None,
    fmt: str,
    tiles: str,
    lang: str | None,
    meta: dict,
) -> list[Path]:
    """Close the bar, log the failures and write the merged outputs (:func:`api.batch_merge.write_merged`)."""
    from api.batch_merge import write_merged

    run.bar.close()
    give_back()  # the partition and the base went with the tasks (every area was cut): their memory too
    _log_failures(out, run.outcomes)
    if not run.quiet:
        click.echo("merging the areas' outputs", err=True)
    old = [name for name in OLD_MERGED if (out / name).is_file()]
    if old:
        click.echo(
            f"warning: {out} holds merged outputs of an earlier version at its top ({', '.join(old)}): they are "
            "out of date; the merged outputs are now in merged/ (remove those files)",
            err=True,
        )
    return write_merged(
        out,
        areas,
        run.outcomes,
        warn=lambda msg: click.echo(f"warning: {msg}", err=True),
        start=start,
        fmt=fmt,
        tiles=tiles,
        lang=lang,
        meta=meta,
    )


def _log_failures(out: Path, outcomes: dict[str, dict]) -> None:
    """Log each failure the task could not log itself (no task, or a lost worker)."""
    for key, o in outcomes.items():
        log = out / "logs" / f"{key}.log"
        if o["status"] == "failed" and not log.is_file():
            log.write_text(f"{o['area']}: failed: {o.get('error')}\n", encoding="utf-8")


def _report(n_areas: int, outcomes: dict[str, dict], written: list[Path], *, seconds: float, quiet: bool) -> None:
    """Say how many areas were planned, skipped and failed, and what was written; exit 1 on a failure."""
    failed = [o for o in outcomes.values() if o["status"] == "failed"]
    n = {s: sum(o["status"] == s for o in outcomes.values()) for s in ("done", "skipped", "failed")}
    click.echo(
        f"{n_areas} areas: {n['done']} planned, {n['skipped']} done before (skipped), {n['failed']} failed "
        f"({seconds:.1f} s)",
        err=quiet,
    )
    if not quiet:
        click.echo("wrote " + ", ".join(str(p) for p in written))
    if failed:
        click.echo("failed areas:", err=True)
        for o in sorted(failed, key=lambda o: o["area"]):
            click.echo(f"  {o['area']}: {o.get('error')}", err=True)
        sys.exit(1)
