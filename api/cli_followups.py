"""The commands that follow a plan: ``scenario``, ``site``, ``serve``, ``map``, ``layers check``.

Each takes ``--plan DIR`` (a plan's output folder) and starts from it without planning again,
or the input options of ``circles plan`` to plan first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from api.cli_common import Finished, input_options, load_or_plan, run_safely, say_for
from geo.kinds import COORD_SYSTEMS, LAYERS
from maps.labels import LANGS

if TYPE_CHECKING:  # annotations only: the engine loads when a command runs
    from geo.plan_types import PlanResult
    from geo.scenario_store import ScenarioStore

PLAN_OPTION = click.option(
    "--plan",
    "plan_dir",
    type=click.Path(path_type=Path),
    help="Start from the saved plan in this folder (a `circles plan --out` folder) "
    "instead of planning from the input options.",
)
LANG_OPTION = click.option("--lang", type=click.Choice(LANGS), help="Language of the map.")
TILES_OPTION = click.option(
    "--tiles", default="osm", show_default=True, help="Base map of map.html (as for `circles plan`)."
)
QUIET_OPTION = click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")

SCENARIO_EXAMPLES = """
\b
Examples:
  circles scenario crosswalk.geojson --plan out/bj --out out/bj-s1 --name "会林路 crossing"
  circles scenario edits.yaml --osm ../shared/data/hangzhou/binjiang_clip.osm.pbf --out out/s2
  circles scenario list --plan out/bj
  circles scenario show 1 --plan out/bj
  circles scenario compare 1 2 --plan out/bj
  circles scenario delete 2 --plan out/bj
  circles scenario list --db postgresql://planner@dbhost/circles
\b
A GeoJSON scenario: one feature per edit, property "edit" = add_link (LineString; penalty_s),
close (LineString across the ways, or Polygon), add_facility / move_facility (Point; layer, id,
name), remove_facility / set_hours (layer, id, opening_hours). YAML/TOML: an "edits" list with
the same keys and line: [[lon, lat], ...], polygon: [[lon, lat], ...] or at: [lon, lat].
Coordinates are WGS84, or GCJ-02/BD-09 with --crs.
"""


class ScenarioGroup(click.Group):
    """``circles scenario EDITS ...`` (a scenario file first) runs it, as ``circles scenario run``.

    ``list``, ``show``, ``compare`` and ``delete`` work on the kept scenarios.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """A scenario file given first runs it (``circles scenario FILE`` means ``scenario run FILE``)."""
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


DB_OPTION = click.option(
    "--db",
    help="Where scenarios are kept: a GeoPackage path or postgresql://user@host/db "
    "(PostGIS). Default: scenarios.gpkg in the --plan folder.",
)


def _store(plan_dir: Path | None, db: str | None) -> ScenarioStore:
    """The scenario store named by ``--db``, else the one in the ``--plan`` folder."""
    from geo.errors import InputError
    from geo.scenario_store import open_store, plan_database

    if db:
        return open_store(db)
    if plan_dir is None:
        raise InputError("options", ["give --plan DIR (its scenarios.gpkg) or --db URL: where the scenarios are kept"])
    from geo.saved import plan_folder

    if not (plan_folder(plan_dir) / "manifest.json").is_file():  # a mistyped folder is not "no scenarios yet"
        raise InputError(
            f"--plan {plan_dir}",
            ["is not a saved plan (no plan/manifest.json in it): give the --out folder of a `circles plan`"],
        )
    return open_store(plan_database(plan_dir))


@click.group("scenario", cls=ScenarioGroup, epilog=SCENARIO_EXAMPLES)
def scenario_group() -> None:
    """Test edits on a copy of the network, keep the results, and compare them.

    `circles scenario EDITS --plan DIR` is `circles scenario run EDITS --plan DIR`.
    """


@scenario_group.command("run", epilog=SCENARIO_EXAMPLES)
@click.argument("edits", type=click.Path(path_type=Path))
@PLAN_OPTION
@input_options
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("out/scenario"), show_default=True, help="Output folder."
)
@click.option("--name", help="Name the scenario is kept under (default: the file name and number of edits).")
@click.option("--by", help="Who ran it (default: the user name of this computer).")
@DB_OPTION
@click.option(
    "--keep/--no-keep",
    default=True,
    show_default=True,
    help="Keep the scenario (with --plan or --db) so `circles scenario list|show|compare` find it.",
)
@LANG_OPTION
@TILES_OPTION
@QUIET_OPTION
@run_safely
def scenario_run(  # noqa: PLR0913 - click passes each option of the command as an argument
    *,
    edits: Path,
    plan_dir: Path | None,
    out: Path,
    name: str | None,
    by: str | None,
    db: str | None,
    keep: bool,
    lang: str | None,
    tiles: str,
    quiet: bool,
    **kw: object,
) -> None:
    """Test EDITS (new links, closures, facility changes) on a copy of the network.

    Writes coverage.json (coverage before and after per layer and threshold, homes and people
    gained and lost), changed_homes.geojson, changed_areas.geojson, edits.geojson and map.html
    (the plan after the edits, the circles before as outlines). With --plan DIR (or --db) the
    scenario is kept in DIR/scenarios.gpkg (or the database) and its id printed.
    """
    from api.outputs import saved_map_parts, write_scenario
    from geo.outputs import check_out
    from geo.saved import plan_folder
    from geo.scenarios import read_scenario
    from geo.whatif import run_scenario
    from maps.tiles import tile_spec

    tile_spec(tiles)
    check_out(out, reads=plan_folder(plan_dir) if plan_dir is not None else None)
    scenario = read_scenario(edits, crs=_crs(kw))  # a bad scenario fails before the slow steps
    store = _store(plan_dir, db) if keep and (plan_dir is not None or db) else None
    say = say_for(quiet=quiet)
    before = load_or_plan(plan_dir, kw, quiet=quiet)
    _settle()
    outcome = run_scenario(before, scenario, progress=say)
    say(f"edits applied and walk times recomputed in {outcome.seconds:.2f} s")
    parts = saved_map_parts(plan_dir)  # the plan's own map's parts: only what changed is drawn again
    written = write_scenario(outcome, out, map_options={"lang": lang, "tiles": tiles, "parts": parts})
    kept = None
    if store is not None:
        from geo.scenario_store import new_scenario

        kept = f"kept as scenario {store.add(new_scenario(outcome, name=name, by=by))} in {store.label}"
    if not quiet:
        for layer_name, layer in outcome.coverage["layers"].items():
            for m, f in layer["minutes"].items():
                click.echo(
                    f"{layer_name:<10} ≤{m:>4} min: homes {f['before']['homes_covered']:>7,} -> "
                    f"{f['after']['homes_covered']:>7,}  people ≈{f['before']['people_covered']:>9,} -> "
                    f"{f['after']['people_covered']:>9,}  (+{f['people_gained']:,} / -{f['people_lost']:,})"
                )
        click.echo("wrote " + ", ".join(str(p) for p in written))
    if kept is not None:
        click.echo(kept)
    elif not quiet:
        click.echo("not kept (give --plan DIR or --db to keep it)", err=True)
    raise Finished


def _settle() -> None:
    """Keep what is loaded so far (the saved plan, the engine's modules) out of the collector's sight.

    A short-lived follow-up allocates a great deal once the plan is loaded, and each full pass
    of the garbage collector walked the whole loaded heap again (~0.1 s of a follow-up on the
    merged extract). The objects are frozen (:func:`gc.freeze`) until the command's context
    closes, then handed back (a command called in a longer process leaves no frozen objects).
    A caller that froze objects of its own keeps them frozen: then nothing is done here, as
    ``gc.unfreeze`` would hand back the caller's objects too. ``circles serve`` never calls
    this: it lives on and collects as usual.
    """
    import gc

    if gc.get_freeze_count():
        return
    gc.freeze()
    click.get_current_context().call_on_close(gc.unfreeze)


def _crs(kw: dict[str, object]) -> str | None:
    """The ``--crs`` option among the input options ``kw`` (a click choice, or None)."""
    crs = kw.get("crs")
    return None if crs is None else str(crs)


def _changes(summary: dict) -> str:
    """People gained and lost at the largest threshold, e.g. "centres ≤15 +120/-0; stations ≤15 +8/-3".

    Only the layers that changed are named.
    """
    parts = []
    for layer, mins in summary["people"].items():
        if not mins:
            continue
        m = max(mins, key=float)
        g, lo = mins[m].get("gained") or 0, mins[m].get("lost") or 0
        if g or lo:
            parts.append(f"{layer} ≤{m} +{g:,}/-{lo:,}")
    return "; ".join(parts) or "no change in coverage"


def _echo_json(doc: object) -> None:
    """Print ``doc`` as JSON (the engine's numbers and dates as plain JSON values)."""
    import json

    from geo.io import _json_default

    click.echo(json.dumps(doc, ensure_ascii=False, indent=1, default=_json_default))


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@scenario_group.command("list")
@PLAN_OPTION
@DB_OPTION
@JSON_OPTION
@run_safely
def scenario_list(*, plan_dir: Path | None, db: str | None, as_json: bool) -> None:
    """The kept scenarios: id, name, who, when, and the people they gain and lose."""
    store = _store(plan_dir, db)
    kept = store.list()
    if as_json:
        _echo_json([s.summary() for s in kept])
        return
    if not kept:
        click.echo(f"no scenarios kept in {store.label} yet (`circles scenario EDITS --plan DIR` keeps one)")
        return
    plans = len({s.plan_key for s in kept}) > 1  # a shared database: say which plan each is of
    click.echo(
        f"{'id':>4}  {'name':<28} {'by':<12} {'when (UTC)':<17} {'edits':>5}  people covered +gained/-lost"
        + ("  [plan]" if plans else "")
    )
    for s in kept:
        click.echo(
            f"{s.id:>4}  {s.name[:28]:<28} {s.created_by[:12]:<12} {s.created_at[:16].replace('T', ' '):<17} "
            f"{s.n_edits:>5}  {_changes(s.summary())}" + (f"  [{s.plan_label or s.plan_key}]" if plans else "")
        )


@scenario_group.command("show")
@click.argument("scenario_id")
@PLAN_OPTION
@DB_OPTION
@JSON_OPTION
@run_safely
def scenario_show(*, scenario_id: str, plan_dir: Path | None, db: str | None, as_json: bool) -> None:
    """One kept scenario: who and when, its edits, and coverage before and after."""
    s = _store(plan_dir, db).get(scenario_id, geometry=False)
    if as_json:
        _echo_json({**s.summary(), "edits": s.edits, "coverage": s.coverage})
        return
    click.echo(
        f"scenario {s.id}: {s.name}\n  by {s.created_by} at {s.created_at}\n  plan {s.plan_label} ({s.plan_key})"
    )
    for f in s.edits.get("features", []):
        p = f.get("properties") or {}
        extra = ", ".join(f"{k}={v}" for k, v in p.items() if k != "edit")
        click.echo(f"  edit: {p.get('edit')}" + (f" ({extra})" if extra else ""))
    for layer_name, layer in s.coverage.get("layers", {}).items():
        for m, f in layer.get("minutes", {}).items():
            click.echo(
                f"{layer_name:<10} ≤{m:>4} min: people ≈{f['before']['people_covered']:>9,} -> "
                f"{f['after']['people_covered']:>9,} ({f['before']['people_share']:.1%} -> "
                f"{f['after']['people_share']:.1%})  (+{f['people_gained']:,} / -{f['people_lost']:,})"
            )


@scenario_group.command("compare")
@click.argument("scenario_ids", nargs=-1, required=True)
@PLAN_OPTION
@DB_OPTION
@JSON_OPTION
@run_safely
def scenario_compare(*, scenario_ids: tuple[str, ...], plan_dir: Path | None, db: str | None, as_json: bool) -> None:
    """Kept scenarios side by side (two or more ids): people covered before and after each."""
    from geo.scenario_store import compare

    store = _store(plan_dir, db)
    doc = compare([store.get(i, geometry=False) for i in scenario_ids])
    if as_json:
        _echo_json(doc)
        return
    ids = [str(s["id"]) for s in doc["scenarios"]]
    for s in doc["scenarios"]:
        click.echo(f"scenario {s['id']}: {s['name']} (by {s['created_by']}, {s['created_at'][:16].replace('T', ' ')})")
    if not doc["same_plan"]:
        click.echo("note: these scenarios were run on different plans; each has its own 'before'")
    click.echo(f"{'layer':<10} {'min':>4}  {'before':>10}" + "".join(f"  {'#' + i:>22}" for i in ids))
    for layer_name, rows in doc["layers"].items():
        for m, row in rows.items():
            b = row["before"]
            before = b.get("people_covered") if "people_covered" in b else "-"
            cells = []
            for i in ids:
                a = row["after"].get(i)
                cells.append(f"{a['people_covered']:>9,} (+{a['people_gained']:,}/-{a['people_lost']:,})" if a else "-")
            mark = "".join(f"  {c:>22}" for c in cells)
            click.echo(
                f"{layer_name:<10} {m:>4}  {before:>10,}{mark}"
                if isinstance(before, int)
                else f"{layer_name:<10} {m:>4}  {before:>10}{mark}"
            )


@scenario_group.command("delete")
@click.argument("scenario_id")
@PLAN_OPTION
@DB_OPTION
@run_safely
def scenario_delete(*, scenario_id: str, plan_dir: Path | None, db: str | None) -> None:
    """Delete a kept scenario (its edits, results and geometry)."""
    store = _store(plan_dir, db)
    store.delete(scenario_id)
    click.echo(f"deleted scenario {int(scenario_id)} from {store.label}")


@click.command("site")
@PLAN_OPTION
@input_options
@click.option(
    "--layer",
    type=click.Choice(list(LAYERS)),
    default="stations",
    show_default=True,
    help="Layer to add sites to (its facilities are kept).",
)
@click.option("--add", type=click.IntRange(1, 200), default=5, show_default=True, help="How many new sites (1..200).")
@click.option(
    "--candidates",
    type=click.Path(path_type=Path),
    help=(
        "Candidate points: a CSV/XLSX with longitude and latitude columns as a facility file has (no name needed), "
        "GeoJSON, GPKG or Parquet; WGS84, or --crs. Those that cannot be sites (too far from a walkable way, "
        "outside the study area) are listed. Default: network nodes in the gap areas, one per --grid cell."
    ),
)
@click.option(
    "--grid",
    type=click.FloatRange(10, 5000),
    default=100.0,
    show_default=True,
    help="Thinning of the default candidates (m, 10..5000).",
)
@click.option(
    "--exact/--no-exact",
    "exact",
    default=None,
    help="Also solve exactly (HiGHS MIP). Default: when the problem is small.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("out/site"), show_default=True, help="Output folder."
)
@LANG_OPTION
@TILES_OPTION
@QUIET_OPTION
@run_safely
def site_cmd(  # noqa: PLR0913 - click passes each option of the command as an argument
    *,
    plan_dir: Path | None,
    layer: str,
    add: int,
    candidates: Path | None,
    grid: float,
    exact: bool | None,
    out: Path,
    lang: str | None,
    tiles: str,
    quiet: bool,
    **kw: object,
) -> None:
    """Propose where the next ADD sites of a layer go to cover the most uncovered people.

    The walk limit is the largest --minutes threshold. Sites lie inside the study area; each is
    numbered and given its street, community and coordinates (WGS84 and GCJ-02). Writes
    sites.geojson (ranked, people gained by each), site_circles.geojson, coverage.json (greedy
    and exact figures, coverage before and after) and map.html (the plan with the sites added).
    """
    from api.outputs import saved_map_parts, write_sites
    from geo.outputs import check_out
    from geo.saved import plan_folder
    from geo.siting import plan_with_sites, read_candidates, site
    from maps.tiles import tile_spec

    tile_spec(tiles)
    check_out(out, reads=plan_folder(plan_dir) if plan_dir is not None else None)
    cand = read_candidates(candidates, crs=_crs(kw)) if candidates else None
    say = say_for(quiet=quiet)
    before = load_or_plan(plan_dir, kw, quiet=quiet)
    _settle()
    say("choosing sites")
    res = site(before, layer=layer, add=add, candidates=cand, grid_m=grid, exact_solve=exact)
    if left := res.summary.get("candidates_left_out_count"):
        shown = res.summary["candidates_left_out"][:10]
        click.echo(f"warning: {left} of the candidates cannot be sites (all listed in coverage.json):", err=True)
        for o in shown:
            click.echo(f"  {o['candidate']} ({o['lon']}, {o['lat']}): {o['why']}", err=True)
        if left > len(shown):
            click.echo(f"  ... and {left - len(shown)} more", err=True)
    options = {"lang": lang, "tiles": tiles, "parts": saved_map_parts(plan_dir)}
    after = plan_with_sites(before, res, progress=say)
    written = write_sites(before, res, after, out, map_options=options)
    if not quiet:
        for r in res.sites.itertuples():
            click.echo(
                f"site {r.rank}: {r.lon:.6f},{r.lat:.6f} (WGS84; AMap/GCJ-02 {r.lon_gcj02:.6f},{r.lat_gcj02:.6f})  "
                f"{r.street or ''} {r.community or ''}  "
                f"+{r.people_gained:,.0f} people ({r.homes_gained} homes) -> {r.people_share_after:.1%} covered"
            )
        if "exact" in res.summary:
            ex = res.summary["exact"]
            click.echo(
                f"exact ({ex['status']}): {ex['people']:,.0f} people; greedy {res.summary['greedy_people']:,.0f} "
                f"({ex['greedy_gap_share']:.2%} below the bound)"
            )
        click.echo("wrote " + ", ".join(str(p) for p in written))
    raise Finished


SERVE_EXAMPLES = """
\b
Examples:
  circles serve --plan out/bj                   # from a saved plan: up in a few seconds
  circles serve                                 # embedded Helsinki extract on 127.0.0.1:8000
  curl 'http://127.0.0.1:8000/nearest?lon=120.21&lat=30.21&layer=centres&k=3'
\b
Limits come from the environment (CIRCLES_MAX_SNAP_M, CIRCLES_MAX_WALK_MINUTES,
CIRCLES_MAX_BODY_BYTES, CIRCLES_HEAVY_WORKERS...; see the README's API section).
"""


@click.command("serve", epilog=SERVE_EXAMPLES)
@PLAN_OPTION
@input_options
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (127.0.0.1: this machine only)."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--workers",
    "http_workers",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Worker processes (each loads the data once); --jobs is the processes drawing circles at start-up.",
)
@DB_OPTION
@run_safely
def serve_cmd(*, plan_dir: Path | None, host: str, port: int, http_workers: int, **kw: object) -> None:
    """Serve nearest-facility queries, circles, gaps, coverage and what-ifs over HTTP (docs at /docs).

    From a saved plan (--plan) or planned once at start-up from the same input options as
    `circles plan`; options not given are read from CIRCLES_* environment variables.
    """
    import os

    from click.core import ParameterSource

    from api.settings import settings_from

    ctx = click.get_current_context()
    given = {k: v for k, v in kw.items() if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    if plan_dir is not None:
        given["plan"] = plan_dir
    settings = settings_from(**given)
    from api.app import prepare, serve

    result: PlanResult | None = prepare(settings, progress=lambda s: click.echo(s, err=True))  # bad inputs fail here
    if http_workers > 1:
        result = None  # each worker loads its own: this process keeps no plan while it supervises them
    os.environ.update(settings.to_env())
    click.echo(f"serving on http://{host}:{port} (API docs at /docs)", err=True)
    serve(
        host=host,
        port=port,
        workers=http_workers,
        keep_alive_s=settings.keep_alive_s,
        header_timeout_s=settings.body_timeout_s,
        result=result,  # one worker serves the plan loaded here, not loaded again
    )


@click.command("map")
@click.option(
    "--plan",
    "plan_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="The saved plan (a `circles plan --out` folder).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("out/map"), show_default=True, help="Output folder."
)
@LANG_OPTION
@TILES_OPTION
@QUIET_OPTION
@run_safely
def map_cmd(*, plan_dir: Path, out: Path, lang: str | None, tiles: str, quiet: bool) -> None:
    """Draw the map of a saved plan again (another language or base map) into OUT/map.html."""
    from api.outputs import saved_map_parts, write_map
    from geo.outputs import check_out
    from geo.saved import load_plan, plan_folder
    from maps.tiles import tile_spec

    tile_spec(tiles)
    check_out(out, reads=plan_folder(plan_dir))
    result = load_plan(plan_dir, lazy=True)
    _settle()
    written = write_map(result, out, map_options={"lang": lang, "tiles": tiles, "parts": saved_map_parts(plan_dir)})
    if not quiet:
        click.echo("wrote " + ", ".join(str(p) for p in written))
    raise Finished


@click.group("layers")
def layers_group() -> None:
    """Check facility files before planning with them."""


@layers_group.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--layer", type=click.Choice(list(LAYERS)), default="centres", show_default=True)
@click.option(
    "--crs",
    type=click.Choice(COORD_SYSTEMS, case_sensitive=False),
    help="Coordinate system of the file (default: a crs column, else wgs84).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write what the tool understood as GeoJSON (WGS84, normalised names).",
)
@run_safely
def layers_check(*, path: Path, layer: str, crs: str | None, out: Path | None) -> None:
    """Validate a facility file and show what the tool understood (warnings on stderr)."""
    from geo.layers import check_file

    check = check_file(path, layer=layer, crs=crs, out=out)
    for line in check.messages:
        click.echo(line, err=True)
    for line in check.summary:
        click.echo(line)
