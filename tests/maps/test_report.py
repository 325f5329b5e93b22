"""The printed report (maps.report, `circles report`) of real saved plans: Helsinki (English)
and Binjiang (Chinese names). Read back with pypdf (pages, text, images) and rendered with
pdftoppm (poppler-utils, installed by `make test`)."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pypdf = pytest.importorskip("pypdf")


@pytest.fixture(scope="module")
def font():
    from maps.report_font import ReportError, find_cjk_font

    try:
        return find_cjk_font()
    except ReportError as err:
        pytest.skip(f"{err} (make test installs it as root)")


@pytest.fixture(scope="module")
def binjiang_dir(binjiang_plan, tmp_path_factory):
    """The Binjiang plan's output folder, as `circles plan --out` writes it."""
    from api.outputs import write_plan

    out = tmp_path_factory.mktemp("bj") / "plan"
    write_plan(binjiang_plan, out, map_options={"tiles": "none"})
    return out


@pytest.fixture(scope="module")
def binjiang_saved(binjiang_dir):
    """The Binjiang plan loaded back from its folder, as `circles report` does."""
    from geo.saved import load_plan

    return load_plan(binjiang_dir)


@pytest.fixture(scope="module")
def binjiang_pdf(binjiang_saved, font, tmp_path_factory):
    from maps.report import write_report

    return write_report(binjiang_saved, tmp_path_factory.mktemp("rep") / "report.pdf", font_path=font)


def _text(reader) -> str:
    return "\n".join(p.extract_text() for p in reader.pages)


def test_binjiang_report_pages_text_and_images(binjiang_saved, binjiang_pdf):
    from geo.tables import area_table

    reader = pypdf.PdfReader(binjiang_pdf)
    pages = reader.pages
    text = _text(reader)
    # the footer numbers the pages: its last number is the page count pypdf reads
    assert f"第 {len(pages)} 页" in pages[-1].extract_text() and len(pages) >= 4
    assert "步行服务圈规划报告" in text and "© OpenStreetMap contributors" in text
    for layer in ("党群服务中心", "驿站", "充换电点"):
        assert layer in text
    streets = area_table(binjiang_saved, level="street")
    worst = streets["name"].dropna().iloc[0]
    assert worst.endswith("街道") and worst in text
    communities = area_table(binjiang_saved, level="community")
    assert communities["name"].dropna().iloc[0] in text
    # one map per layer with facilities placed, each an image
    shown = [n for n, lr in binjiang_saved.layers.items() if lr.snapped.ok.any()]
    images = [img for p in pages for img in p.images]
    assert len(images) == len(shown) == 3
    assert all(img.image.size[0] >= 1000 and img.image.size[0] == img.image.size[1] for img in images)
    # the ten largest gaps: the largest one's community is named
    gaps = binjiang_saved.gaps
    g = gaps[(gaps["layer"] == "centres") & (gaps["minutes"] == 15.0)].sort_values("people", ascending=False)
    assert f"{round(float(g['people'].iloc[0])):,}" in text
    assert "4.8 km/h" in text and "数据日期：" + str(binjiang_saved.data_date) in text
    width, height = (float(v) for v in pages[0].mediabox[2:])
    assert (round(width), round(height)) == (595, 842)  # A4 in points


def test_page_one_renders_and_reads(binjiang_pdf, tmp_path):
    """pdftoppm draws page 1: an A4 page, mostly white, with dark text and the map's colours."""
    from PIL import Image

    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is absent: `make test` installs poppler-utils as root")
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(binjiang_pdf), str(tmp_path / "p")],
                   check=True, timeout=120)
    png = next(tmp_path.glob("p*.png"))
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    h, w, _ = img.shape
    assert abs(h / w - 842 / 595) < 0.01
    dark = (img.sum(axis=2) < 200).mean()
    white = (img.min(axis=2) > 240).mean()
    assert 0.002 < dark < 0.2 and white > 0.4


def test_helsinki_report_from_the_command_line(tmp_path, font):
    """`circles plan --out DIR` then `circles report --plan DIR`: an English report."""
    from click.testing import CliRunner

    from api.cli import main
    from geo.saved import load_plan

    runner = CliRunner()
    r = runner.invoke(main, ["plan", "--out", str(tmp_path / "hel"), "--tiles", "none", "-q", "--no-per-facility"])
    assert r.exit_code == 0, r.output
    pdf = tmp_path / "hel.pdf"
    r = runner.invoke(main, ["report", "--plan", str(tmp_path / "hel"), "--out", str(pdf)])
    assert r.exit_code == 0, r.output
    assert f"wrote {pdf}" in r.output
    reader = pypdf.PdfReader(pdf)
    text = _text(reader)
    assert "Walk-time service circles: planning report" in text and "© OpenStreetMap contributors" in text
    assert "Centres" in text and "Stations" in text and "Charging points" in text
    assert "Method" in text and "Crossings:" in text
    result = load_plan(tmp_path / "hel")
    shown = [n for n, lr in result.layers.items() if lr.snapped.ok.any()]
    assert sum(len(p.images) for p in reader.pages) == len(shown) >= 1
    assert f"Page {len(reader.pages)}" in reader.pages[-1].extract_text()


def test_report_command_errors_are_clear(tmp_path):
    from click.testing import CliRunner

    from api.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["report", "--plan", str(tmp_path / "nothing"), "--out", str(tmp_path / "r.pdf")])
    assert r.exit_code == 2 and "not a usable saved plan" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["report", "--plan", str(tmp_path), "--out", str(tmp_path / "r.txt")])
    assert r.exit_code == 2 and "give a file name ending in .pdf" in r.output


def test_the_font_found_has_chinese_and_a_latin_only_font_is_refused(font):
    import matplotlib

    from maps.report_font import _embeddable

    assert _embeddable(font)
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    assert dejavu.is_file() and not _embeddable(dejavu)


@pytest.mark.parametrize(("span", "bar"), [(10_000, 2000), (3_000, 500), (120, 20), (7_400, 1000), (1, 1)])
def test_scale_bar_lengths(span, bar):
    from maps.static_map import nice_length

    assert nice_length(span) == bar


def test_scenario_report_shows_before_and_after(binjiang_dir, binjiang_saved, font, tmp_path):
    """A kept scenario (a new centre in the largest gap): `circles report --scenario ID` gives its
    edits, the people covered before and after, and maps of the plan after it."""
    from click.testing import CliRunner

    from api.cli import main
    from geo.scenario_store import new_scenario, open_store, plan_database
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario

    gaps = binjiang_saved.gaps
    g = gaps[(gaps["layer"] == "centres") & (gaps["minutes"] == 15.0)].sort_values("people", ascending=False)
    at = g.geometry.iloc[0].representative_point()
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "id": "new1", "name": "新中心"},
         "geometry": {"type": "Point", "coordinates": [at.x, at.y]}}]}
    outcome = run_scenario(binjiang_saved, scenario_from_doc(doc))
    sid = open_store(plan_database(binjiang_dir)).add(new_scenario(outcome, name="江边新中心", by="tester"))
    gained = outcome.coverage["layers"]["centres"]["minutes"]["15"]["people_gained"]
    assert gained > 0
    pdf = tmp_path / "s.pdf"
    r = CliRunner().invoke(main, ["report", "--plan", str(binjiang_dir), "--scenario", str(sid), "--out", str(pdf)])
    assert r.exit_code == 0, r.output
    reader = pypdf.PdfReader(pdf)
    text = _text(reader)
    assert "方案调整前后对比" in text and "江边新中心" in text and "tester" in text and "add_facility" in text
    assert f"+{gained:,}" in text
    before = binjiang_saved.coverage["layers"]["centres"]["minutes"]["15"]["people_covered"]
    assert f"{before:,}" in text and f"{before + gained:,}" in text
    assert sum(len(p.images) for p in reader.pages) == 3
    r = CliRunner().invoke(main, ["report", "--plan", str(binjiang_dir), "--scenario", "999", "--out", str(pdf)])
    assert r.exit_code == 2 and "no kept scenario has this id" in r.output


def test_tables_never_run_off_the_page(font):
    """Column widths follow the widest cell as set in the font, and shrink to the page width."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from maps.report_font import FONT_NAME
    from maps.report_layout import TABLE_PT, TABLE_WIDTH_PT, column_widths

    pdfmetrics.registerFont(TTFont(FONT_NAME, str(font), subfontIndex=0))
    narrow = [["名称", "人口"], ["西河路社区", "42,190"], ["黄山村", "5"]]
    w = column_widths(narrow, FONT_NAME, TABLE_WIDTH_PT)
    assert w[0] == pytest.approx(pdfmetrics.stringWidth("西河路社区", FONT_NAME, TABLE_PT) + 7.0)
    assert w[1] == pytest.approx(pdfmetrics.stringWidth("42,190", FONT_NAME, TABLE_PT) + 7.0)
    wide = [[f"column {i}" for i in range(30)], ["一二三四五六七八九十" for _ in range(30)]]
    assert sum(column_widths(wide, FONT_NAME, TABLE_WIDTH_PT)) == pytest.approx(TABLE_WIDTH_PT)
    assert TABLE_WIDTH_PT == pytest.approx(180 / 25.4 * 72)  # A4 less two 15 mm margins
