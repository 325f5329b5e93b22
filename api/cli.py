"""The ``circles`` command line: ``plan``, and the follow-ups that start from a saved plan.

See :mod:`api.cli_common` for the options and error handling every command shares.
"""

from __future__ import annotations

from pathlib import Path

import click

from api.cli_batch import batch_cmd
from api.cli_common import (
    EXAMPLES,
    Finished,
    format_option,
    input_options,
    run_plan,
    run_program,
    run_safely,
    summary_table,
)
from api.cli_followups import layers_group, map_cmd, scenario_group, serve_cmd, site_cmd
from api.cli_report import report_cmd
from maps.labels import LANGS


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="service-circles", prog_name="circles")
def main() -> None:
    """Walk-time service circles for Party-mass service centres, stations and charging points.

    Walk times follow real OSM streets, crossings and bridges (not straight-line radii). Plan
    once (`circles plan --out DIR`); follow-ups (scenario, site, serve, map) start from DIR.
    """


@main.command("plan", epilog=EXAMPLES)
@input_options
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Output folder (written all at once; a folder of other files is refused).",
)
@format_option("the circle, gap and facility layers")
@click.option(
    "--lang",
    type=click.Choice(LANGS),
    help="Language of the map. Default: Chinese for Chinese facility names, else English.",
)
@click.option(
    "--tiles",
    default="osm",
    show_default=True,
    help=(
        "Tiles under map.html: osm, none (no network request; the extract's own streets, water and parks "
        "are drawn either way), or an XYZ URL such as https://tile.example.org/{z}/{x}/{y}.png. "
        "AMap/Gaode, Tencent and Baidu tiles (GCJ-02/BD-09) are refused."
    ),
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@run_safely
def plan_cmd(*, out: Path, fmt: str, quiet: bool, lang: str | None, tiles: str, **kw: object) -> None:
    """Plan 10- and 15-minute walk circles, coverage and gaps; write them to OUT.

    Writes coverage.json (homes and people covered per layer and threshold), circles.geojson
    (service circles, per facility and dissolved per layer), gaps.geojson (the land of uncovered
    homes outside the circles, grouped by street and community, ranked by people),
    facilities.geojson (every facility, where it was placed and the people it serves), map.html,
    and plan/ (the saved plan that follow-up commands start from).
    """
    from api.outputs import write_plan
    from geo.outputs import check_out
    from maps.tiles import tile_spec

    tile_spec(tiles)  # a refused tile server fails before the slow steps
    check_out(out)
    result = run_plan(kw, quiet=quiet)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    written = write_plan(result, out, fmt=fmt, map_options={"lang": lang, "tiles": tiles})
    if not quiet:
        click.echo(summary_table(result))
        click.echo("wrote " + ", ".join(str(p) for p in written))
    raise Finished  # every file written and closed, the drawing pool joined: skip the interpreter's teardown


for command in (scenario_group, site_cmd, serve_cmd, map_cmd, layers_group, batch_cmd, report_cmd):
    main.add_command(command)


def program() -> None:
    """The ``circles`` program (its console script): :data:`main`, ended at once when a command has finished."""
    run_program(main)


if __name__ == "__main__":
    program()
