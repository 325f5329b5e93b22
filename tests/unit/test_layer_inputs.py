"""Facility files as the QA pass wrote them: systems named in headers, merged cells, long text,
cover sheets and tier variants (geo.layer_files, geo.layer_points, geo.layers).

Every file is built here in ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geo.crs import bd09_to_wgs84, gcj02_to_wgs84
from geo.errors import InputError
from geo.layer_files import header_key, header_system
from geo.layers import check_file, read_facilities

POINTS = [(120.2197862, 30.2223719), (120.1752135, 30.196711), (120.1439545, 30.1610866)]


def csv_file(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def points_csv(path: Path, lon: str, lat: str, extra: str = "", cells: tuple[str, ...] = ()) -> Path:
    rows = [f"站{i},{x},{y}" + (f",{cells[i]}" if cells else "") for i, (x, y) in enumerate(POINTS)]
    return csv_file(path, f"名称,{lon},{lat}" + (f",{extra}" if extra else ""), rows)


# ------------------------------------------------------------------------------ 1. systems in headers
@pytest.mark.parametrize(
    ("header", "key", "system"),
    [
        ("经度(百度)", "经度", "bd09"),
        ("纬度（GCJ-02）", "纬度", "gcj02"),
        ("经度\n(GCJ-02)", "经度", "gcj02"),
        ("bd_lon", "lon", "bd09"),
        ("gcj02_lng", "lng", "gcj02"),
        ("高德经度", "经度", "gcj02"),
        ("lat_wgs84", "lat", "wgs84"),
        ("经度 [WGS-84]", "经度", "wgs84"),
        ("经度(CGCS2000坐标系)", "经度", "wgs84"),
        ("经纬度(火星坐标)", "经纬度", "gcj02"),
        ("经度(GPS)", "经度", "wgs84"),
        ("经度", "经度", None),
        ("经度(度)", "经度", None),
        ("百度名称", "百度名称", None),
        ("面积(㎡)", "面积", None),
    ],
)
def test_header_names_a_system(header, key, system):
    assert header_key(header) == key
    assert header_system(header) == system


def test_baidu_headers_are_converted_from_bd09(tmp_path):
    f = points_csv(tmp_path / "hdr_bd.csv", "经度(百度)", "纬度(百度)")
    read = read_facilities(f, layer="stations")
    wx, wy = bd09_to_wgs84([p[0] for p in POINTS], [p[1] for p in POINTS])
    assert read.facilities.geometry.x.tolist() == wx.tolist() and read.facilities.geometry.y.tolist() == wy.tolist()
    assert read.facilities["orig_crs"].tolist() == ["bd09"] * 3
    assert read.notes[0] == f"{f}: coordinates read as BD-09, as the headers 经度(百度), 纬度(百度) say"
    # read as WGS84 the points were over a kilometre off
    assert (np.hypot((wx - [p[0] for p in POINTS]) * 96_000, (wy - [p[1] for p in POINTS]) * 111_000) > 1000).all()
    summary = check_file(f, layer="stations", crs=None, out=None).summary[0]
    assert "coordinates converted from BD-09" in summary


def test_prefixed_gcj_headers_and_an_annotated_xlsx(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    f = points_csv(tmp_path / "hdr_gcj.csv", "gcj02_lng", "gcj02_lat")
    wb = openpyxl.Workbook()
    wb.active.append([" 名称 ", "经度\n(GCJ-02)", "纬度（GCJ-02）", "层级"])
    for i, (x, y) in enumerate(POINTS):
        wb.active.append([f"站{i}", x, y, "社区"])
    x = tmp_path / "hdr_annot.xlsx"
    wb.save(x)
    wx, wy = gcj02_to_wgs84([p[0] for p in POINTS], [p[1] for p in POINTS])
    for path in (f, x):
        fac = read_facilities(path, layer="stations").facilities
        assert fac.geometry.x.tolist() == wx.tolist() and fac.geometry.y.tolist() == wy.tolist()
    # the same system given with --crs is no conflict
    assert read_facilities(x, layer="stations", crs="amap").facilities.geometry.x.tolist() == wx.tolist()


def test_wgs84_headers_are_read_unchanged_and_said(tmp_path):
    f = points_csv(tmp_path / "gps.csv", "经度(WGS84)", "纬度(WGS84)")
    read = read_facilities(f, layer="stations")
    assert read.facilities.geometry.x.tolist() == [p[0] for p in POINTS] and "orig_crs" not in read.facilities
    assert read.notes == [f"{f}: coordinates read as WGS84, as the headers 经度(WGS84), 纬度(WGS84) say"]


def test_header_conflicts_are_refused(tmp_path):
    f = points_csv(tmp_path / "bd.csv", "经度(百度)", "纬度(百度)")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations", crs="gcj02")
    assert str(f) in str(err.value)
    assert err.value.problems == [
        "the headers 经度(百度), 纬度(百度) say BD-09 but GCJ-02 was asked for (--crs) — "
        "leave out --crs for this file, or correct the header"
    ]
    f = points_csv(tmp_path / "two.csv", "经度(百度)", "纬度(高德)")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert err.value.problems == [
        "the coordinate headers name different coordinate systems (经度(百度) says BD-09; 纬度(高德) says GCJ-02) — "
        "write the system the coordinates are in into both headers"
    ]
    f = points_csv(tmp_path / "col.csv", "经度(百度)", "纬度", "坐标系", ("bd09", "gcj02", "gcj02"))
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert err.value.problems[0] == (
        "the 坐标系 column says gcj02 (row 3, row 4) but the header 经度(百度) says BD-09 — "
        "make them agree, or drop the 坐标系 column"
    )


def test_a_prefixed_coordinate_beside_a_plain_one_is_a_column_of_its_own(tmp_path):
    # the sites table has lon, lat and lon_gcj02, lat_gcj02: read by lon/lat, the others kept
    f = csv_file(tmp_path / "sites.csv", "名称,lon,lat,lon_gcj02,lat_gcj02", ["A,120.21,30.2,120.215,30.198"])
    fac = read_facilities(f, layer="stations").facilities
    assert fac.geometry.x.tolist() == [120.21]
    assert fac["orig_lon_gcj02"].tolist() == ["120.215"]


# ------------------------------------------------------------------------------ 2. merged cells
def test_merged_cells_fill_every_row_they_span(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["街道", "名称", "经度", "纬度", "服务项目", "层级"])
    for i, (x, y) in enumerate(POINTS):
        ws.append(
            [
                "浦沿街道" if i == 0 else None,
                f"站{i}",
                x,
                y,
                "老年食堂、托育" if i == 0 else None,
                "社区" if i == 0 else "街道",
            ]
        )
    ws.merge_cells("A2:A4")
    ws.merge_cells("E2:E4")
    ws.merge_cells("F2:F3")  # the merged tier: row 3 was 'without tier'
    f = tmp_path / "merged_service.xlsx"
    wb.save(f)
    read = read_facilities(f, layer="stations")
    fac = read.facilities
    assert fac["services"].tolist() == [("老年食堂", "托育")] * 3
    assert fac["tier"].tolist() == ["community", "community", "street"]
    assert fac["orig_街道"].tolist() == ["浦沿街道"] * 3
    assert read.notes == [
        f"{f}: merged cells filled into every row they span: A2:A4 ('浦沿街道'), E2:E4 ('老年食堂、托育'), F2:F3 ('社区')"
    ]


# ------------------------------------------------------------------------------ 4. cover and hidden sheets
def test_a_cover_sheet_and_a_hidden_sheet_are_passed_over(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表由滨江区提供"])
    hidden = wb.create_sheet("旧表")
    hidden.append(["名称", "经度", "纬度"])
    hidden.append(["旧站", 100.0, 20.0])
    hidden.sheet_state = "hidden"
    data = wb.create_sheet("驿站")
    data.append(["名称", "经度", "纬度"])
    for i, (x, y) in enumerate(POINTS):
        data.append([f"站{i}", x, y])
    wb.create_sheet("充电").append(["名称", "经度", "纬度"])
    f = tmp_path / "cover_first.xlsx"
    wb.save(f)
    read = read_facilities(f, layer="stations")
    assert read.facilities["name"].tolist() == ["站0", "站1", "站2"]
    assert read.notes == [
        f"{f}: read the sheet '驿站' (the first visible one with a facility header; passed over: "
        "'说明' (no 名称/经度/纬度 header), '旧表' (hidden)); other sheets ignored: 充电"
    ]


def test_no_sheet_with_a_header_names_the_sheets_looked_at(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["本表由滨江区提供"])
    wb.create_sheet("空白")
    hidden = wb.create_sheet("隐藏")
    hidden.append(["名称", "经度", "纬度"])
    hidden.sheet_state = "hidden"
    f = tmp_path / "none.xlsx"
    wb.save(f)
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    looked = "(in the first visible sheet; sheets looked at: '说明' (no 名称/经度/纬度 header), '空白' (empty), '隐藏' (hidden))"
    assert err.value.problems == [
        "no sheet has a header with 名称, 经度 and 纬度 — sheets looked at: "
        "'说明' (no 名称/经度/纬度 header), '空白' (empty), '隐藏' (hidden)"
    ]
    # a cover sheet with several rows: the missing columns are said, with the sheets looked at
    wb["说明"].append(["2024年"])
    wb.save(f)
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert str(f) in str(err.value)
    assert err.value.problems[0].endswith(f"columns found: 本表由滨江区提供 {looked}")
    assert len(err.value.problems) == 3


# ------------------------------------------------------------------------------ 3. text longer than a cell
def test_text_longer_than_an_excel_cell_is_refused_where_the_file_is_read(tmp_path):
    from geo.layer_files import CELL_TEXT
    from geo.tables import EXCEL_TEXT

    assert CELL_TEXT == EXCEL_TEXT  # the limit the plan's tables.xlsx is written under
    f = csv_file(
        tmp_path / "long.csv",
        "名称,经度,纬度,备注",
        [
            f"{'x' * 100_000},120.2197862,30.2223719,",
            f"ok,120.1752135,30.196711,{'z' * CELL_TEXT}",  # exactly what a cell holds: kept
            f"甲,120.1439545,30.1610866,{'y' * (CELL_TEXT + 1)}",
        ],
    )
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert err.value.problems == [
        f"row 2: 名称 {'x' * 20!r}... holds 100,000 characters, more than the 32,767 an Excel cell holds "
        "(the plan's tables are also written as .xlsx) — shorten it",
        f"row 4: 备注 {'y' * 20!r}... holds 32,768 characters, more than the 32,767 an Excel cell holds "
        "(the plan's tables are also written as .xlsx) — shorten it",
    ]
    g = csv_file(tmp_path / "fits.csv", "名称,经度,纬度,备注", [f"ok,120.1752135,30.196711,{'z' * CELL_TEXT}"])
    assert len(read_facilities(g, layer="stations").facilities["orig_备注"].iloc[0]) == CELL_TEXT


def test_a_cell_beyond_the_csv_modules_limit_is_said_plainly(tmp_path):
    f = csv_file(tmp_path / "huge.csv", "名称,经度,纬度", [f'"{"x" * 200_000}",120.2,30.2'])
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert err.value.problems == [
        "a cell holds more than 131,072 characters, more than the 32,767 an Excel cell holds — "
        "shorten it (a quote left open runs to the end)"
    ]


# ------------------------------------------------------------------------------ 5. tier variants
def test_tier_variants_are_read_and_unknown_tiers_refused(tmp_path):
    written = ["村级", "镇", "镇级", "乡镇级", "村", "乡镇", "Street level", "社区中心", "区县"]
    rows = [f"站{i},120.2{i},30.2,{t}" for i, t in enumerate(written)]
    f = csv_file(tmp_path / "tiers.csv", "名称,经度,纬度,层级", rows)
    fac = read_facilities(f, layer="stations").facilities
    assert fac["tier"].tolist() == [
        "community",
        "street",
        "street",
        "street",
        "community",
        "street",
        "street",
        "community",
        "district",
    ]
    bad = csv_file(tmp_path / "bad.csv", "名称,经度,纬度,层级", ["甲,120.2,30.2,村级", "乙,120.21,30.2,市级"])
    with pytest.raises(InputError) as err:
        read_facilities(bad, layer="stations")
    assert err.value.problems == [
        "row 3: 层级 '市级' is not a known tier — use one of 区级/district, 街道/street, 社区/community, "
        "特色/special, or leave it empty"
    ]


def test_degrees_in_a_file_declaring_a_metric_crs_are_refused(tmp_path):
    """A GeoPackage declaring EPSG:3857 whose points are longitude/latitude was reprojected to
    (0.001, 0.0003) with exit 0; it is refused, saying they look like degrees. Real metres pass."""
    import geopandas as gpd

    from geo.errors import InputError
    from geo.layers import read_facilities

    bad = tmp_path / "bad.gpkg"
    gpd.GeoDataFrame({"name": ["甲", "乙"]}, geometry=gpd.points_from_xy([120.21, 120.22], [30.2, 30.21]),
                     crs=3857).to_file(bad)
    with pytest.raises(InputError, match="look like longitude/latitude"):
        read_facilities(bad, layer="stations")
    good = tmp_path / "good.gpkg"
    pts = gpd.GeoDataFrame({"name": ["甲", "乙"]}, geometry=gpd.points_from_xy([120.21, 120.22], [30.2, 30.21]),
                           crs=4326).to_crs(3857)
    pts.to_file(good)
    got = read_facilities(good, layer="stations").facilities
    assert got.geometry.x.tolist() == pytest.approx([120.21, 120.22], abs=1e-7)


def test_a_web_page_or_a_zip_named_csv_says_what_it_is(tmp_path):
    """An HTML page saved as .csv said "header but no rows"; a zipped CSV named .csv said it was an
    Excel workbook. Each now says what it is and what to do; a workbook named .csv still says so."""
    import io
    import zipfile

    import pandas as pd

    from geo.errors import InputError
    from geo.layers import read_facilities

    page = tmp_path / "page.csv"
    page.write_text("<!DOCTYPE html>\n<html><body><table><tr><td>名称</td></tr></table></body></html>\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"is a web page \(HTML\), not a data file"):
        read_facilities(page, layer="stations")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("stations.csv", "名称,经度,纬度\n甲,120.2,30.2\n")
    zipped = tmp_path / "zipped.csv"
    zipped.write_bytes(buf.getvalue())
    with pytest.raises(InputError, match=r"a zip archive \(stations.csv\), not a text file: unzip it"):
        read_facilities(zipped, layer="stations")
    book = tmp_path / "book.csv"
    pd.DataFrame({"名称": ["甲"], "经度": [120.2], "纬度": [30.2]}).to_excel(book.with_suffix(".xlsx"), index=False)
    book.write_bytes(book.with_suffix(".xlsx").read_bytes())
    with pytest.raises(InputError, match="Excel workbook saved under a text name"):
        read_facilities(book, layer="stations")


def test_a_huge_coordinate_is_shown_short(tmp_path):
    """1e300 in a workbook's longitude cell was printed as its 301 digits."""
    import pandas as pd

    from geo.errors import InputError
    from geo.layers import read_facilities

    book = tmp_path / "huge.xlsx"
    pd.DataFrame({"名称": ["甲", "乙"], "经度": [1e300, 120.2], "纬度": [30.2, 30.2]}).to_excel(book, index=False)
    with pytest.raises(InputError) as err:
        read_facilities(book, layer="stations")
    assert err.value.problems == ["row 2: longitude 1e+300 is outside -180..180"]
