"""``circles report``: the printed A4 report of a saved plan (:mod:`maps.report`)."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli_common import run_safely

REPORT_EXAMPLES = """
\b
Examples:
  circles plan --osm ../shared/data/hangzhou/binjiang_clip.osm.pbf --out out/bj
  circles report --plan out/bj --out bj-report.pdf
  circles report --plan out/bj --lang en --out bj-report-en.pdf
"""


@click.command("report", epilog=REPORT_EXAMPLES)
@click.option("--plan", "plan_dir", type=click.Path(path_type=Path), required=True,
              help="The saved plan: a `circles plan --out DIR` folder.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("report.pdf"), show_default=True,
              help="The PDF to write (written all at once; an existing file is replaced).")
@click.option("--lang", type=click.Choice(["zh", "en"]),
              help="Language of the report. Default: Chinese for Chinese facility names, else English.")
@click.option("-q", "--quiet", is_flag=True, help="Say nothing when done.")
@run_safely
def report_cmd(plan_dir: Path, out: Path, lang: str | None, quiet: bool) -> None:
    """Write an A4 PDF report of a saved plan: the study area and its key figures, a map per
    layer (circles, gaps, streets, scale bar, north arrow), the tables by street and community,
    the ten largest gaps and the method in plain words.

    Chinese text needs a TrueType font with Chinese characters (Debian fonts-wqy-microhei, which
    `make test` and `make demo` install as root).
    """
    from geo.errors import InputError
    from geo.saved import load_plan
    from maps.report import find_cjk_font, write_report

    if out.suffix.lower() != ".pdf":
        raise InputError("--out", [f"{out}: give a file name ending in .pdf"])
    if out.is_dir():
        raise InputError("--out", [f"{out} is a folder: give a file name such as {out / 'report.pdf'}"])
    font = find_cjk_font()  # a missing font fails before the plan is loaded
    result = load_plan(plan_dir)
    written = write_report(result, out, lang=lang, font_path=font)
    if not quiet:
        click.echo(f"wrote {written}")
