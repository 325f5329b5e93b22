"""``circles report``: the printed A4 report of a saved plan (:mod:`maps.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from api.cli_common import run_safely
from maps.labels import LANGS

if TYPE_CHECKING:  # annotations only: the engine loads when the command runs
    import geopandas as gpd

    from geo.plan import PlanResult

REPORT_EXAMPLES = """
\b
Examples:
  circles plan --osm ../shared/data/hangzhou/binjiang_clip.osm.pbf --out out/bj
  circles report --plan out/bj --out bj-report.pdf
  circles report --plan out/bj --lang en --out bj-report-en.pdf
  circles scenario run crosswalk.geojson --plan out/bj --name 会林路斑马线
  circles report --plan out/bj --scenario 1 --out bj-scenario-1.pdf   # before/after
"""


@click.command("report", epilog=REPORT_EXAMPLES)
@click.option(
    "--plan",
    "plan_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="The saved plan: a `circles plan --out DIR` folder.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("report.pdf"),
    show_default=True,
    help="The PDF to write (written all at once; an existing file is replaced).",
)
@click.option(
    "--lang",
    type=click.Choice(LANGS),
    help="Language of the report. Default: Chinese for Chinese facility names, else English.",
)
@click.option(
    "--scenario",
    "scenario_id",
    help="A kept scenario's id (`circles scenario list --plan DIR`): "
    "the report shows the plan after it, with before/after figures and the circles before.",
)
@click.option(
    "--db", help="Where the scenario is kept, if not in the plan's scenarios.gpkg (a .gpkg file or postgresql://...)."
)
@click.option("-q", "--quiet", is_flag=True, help="Say nothing when done.")
@run_safely
def report_cmd(
    *, plan_dir: Path, out: Path, lang: str | None, scenario_id: str | None, db: str | None, quiet: bool
) -> None:
    """Write an A4 PDF report of a saved plan.

    The report holds the study area and its key figures, a map per layer (circles, gaps, streets,
    scale bar, north arrow), the tables by street and community, the ten largest gaps and the
    method in plain words.

    Chinese text needs a TrueType font with Chinese characters (Debian fonts-wqy-microhei, which
    `make test` and `make demo` install as root).
    """
    from geo.errors import InputError
    from geo.saved import load_plan
    from maps.report import write_report
    from maps.report_font import find_cjk_font

    if out.suffix.lower() != ".pdf":
        raise InputError("--out", [f"{out}: give a file name ending in .pdf"])
    if out.is_dir():
        raise InputError("--out", [f"{out} is a folder: give a file name such as {out / 'report.pdf'}"])
    font = find_cjk_font()  # a missing font fails before the plan is loaded
    result = load_plan(plan_dir)
    if scenario_id is None:
        written = write_report(result, out, lang=lang, font_path=font)
    else:
        after, record, edits = _scenario_after(result, plan_dir, scenario_id, db)
        written = write_report(after, out, lang=lang, font_path=font, before=result, scenario=record, edits=edits)
    if not quiet:
        click.echo(f"wrote {written}")


def _scenario_after(
    before: PlanResult, plan_dir: Path, scenario_id: str, db: str | None
) -> tuple[PlanResult, dict[str, object], gpd.GeoDataFrame]:
    """The plan after a kept scenario, its record and its edits as drawn.

    The scenario's edits are run again on the saved plan; refused when the scenario was kept for
    another plan.
    """
    from geo.errors import InputError
    from geo.scenario_store import open_store, plan_database, plan_key
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario

    store = open_store(db) if db else open_store(plan_database(plan_dir))
    if not str(scenario_id).strip().isdigit():
        raise InputError(
            "--scenario",
            [(f"{scenario_id!r} is not a scenario id: give the number `circles scenario list --plan DIR` shows")],
        )
    kept = store.get(int(scenario_id), geometry=False)
    key, label = plan_key(before)
    if kept.plan_key != key:
        problem = (
            f"scenario {kept.id} ({kept.name}) was kept for another plan ({kept.plan_label or kept.plan_key}), "
            f"not {label or plan_dir}: give that plan's folder"
        )
        raise InputError("--scenario", [problem])
    outcome = run_scenario(before, scenario_from_doc(kept.edits, source=f"scenario {kept.id}"))
    record = {
        "id": kept.id,
        "name": kept.name,
        "created_by": kept.created_by,
        "created_at": kept.created_at,
        "coverage": outcome.coverage,
    }
    return outcome.after, record, outcome.edits
