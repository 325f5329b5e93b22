"""Facility files as planners have them: encodings, spreadsheets, GeoJSON, coordinate systems, bad rows.

Every file is built here in ``tmp_path``; the expected messages are spelt out in full.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.crs import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import InputError
from geo.layers import (
    COLUMNS,
    OpeningHoursError,
    check_file,
    check_within,
    normalise_opening_hours,
    opening_hours_state,
    read_facilities,
    write_facilities,
)

HEADER_CN = "名称,经度,纬度,层级,开放时间,星级,服务项目,面积(㎡),地址,备注"
ROWS_CN = [
    "滨江区党群服务中心,120.2105,30.2084,区级,周一至周五 8:30-17:30,5,老年食堂、托育，法律咨询,5000,江南大道,一号",
    "长河街道党群服务中心,120.1891,30.1902,街道,24小时,四星,,1200,,",
    "白马湖社区党群服务中心,120.1960,30.1800,社区,看情况,,夜校,,,",
]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def problems(err: pytest.ExceptionInfo) -> list[str]:
    return err.value.problems


# ------------------------------------------------------------------------------ encodings and schema
def test_gbk_csv_with_chinese_headers_and_a_title_row(tmp_path):
    f = write(tmp_path / "centres.csv", "\n".join(["滨江区党群服务中心一览表,,,", HEADER_CN, *ROWS_CN]) + "\n", "gbk")
    read = read_facilities(f, layer="centres")
    fac = read.facilities
    assert list(fac.columns) == [*COLUMNS, "orig_备注", "geometry"]
    assert fac.crs.to_epsg() == 4326
    assert fac["id"].tolist() == ["centres-3", "centres-4", "centres-5"]
    assert fac["name"].tolist() == ["滨江区党群服务中心", "长河街道党群服务中心", "白马湖社区党群服务中心"]
    assert fac["tier"].tolist() == ["district", "street", "community"]
    assert fac["opening_hours"].tolist() == ["Mo-Fr 08:30-17:30", "24/7", None]
    assert fac["opening_hours_raw"].tolist() == ["周一至周五 8:30-17:30", "24小时", "看情况"]
    assert fac["stars"].tolist()[:2] == [5.0, 4.0] and math.isnan(fac["stars"][2])
    assert fac["services"].tolist() == [("老年食堂", "托育", "法律咨询"), (), ("夜校",)]
    assert fac["area_m2"].tolist()[:2] == [5000.0, 1200.0]
    assert fac["address"].tolist() == ["江南大道", None, None]
    assert fac["kind"].tolist() == [None, None, None]
    assert fac["source"].tolist() == ["centres.csv row 3", "centres.csv row 4", "centres.csv row 5"]
    assert fac["orig_备注"].tolist() == ["一号", None, None]
    assert fac.geometry.x.tolist() == [120.2105, 120.1891, 120.1960]
    assert read.notes == [
        f"{f}: read as GBK/GB18030 text",
        f"{f}: the header is row 2; rows above it were skipped (滨江区党群服务中心一览表)",
    ]
    assert read.warnings == [
        f"{f} row 5: 开放时间 '看情况' cannot be read as opening hours; treated as unknown — "
        "write it like 'Mo-Fr 08:30-17:30', '24/7' or '周一至周五 8:30-17:30'"
    ]


def test_utf8_bom_csv_reads_the_same(tmp_path):
    gbk = write(tmp_path / "gbk.csv", "\n".join([HEADER_CN, *ROWS_CN]), "gbk")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([HEADER_CN, *ROWS_CN]).encode("utf-8"))
    a, b = read_facilities(gbk, layer="centres"), read_facilities(bom, layer="centres")
    cols = [c for c in a.facilities.columns if c != "source"]
    assert a.facilities[cols].equals(b.facilities[cols])
    assert b.notes == []  # UTF-8 is the default: nothing to say
    assert list(b.facilities.columns)[0] == "id"  # the BOM is not part of the first header


def test_semicolon_and_tab_separated(tmp_path):
    f = write(tmp_path / "s.csv", "name;lon;lat\nA;120.2;30.2\n")
    assert read_facilities(f, layer="centres").facilities["name"].tolist() == ["A"]
    f = write(tmp_path / "t.csv", "name\tlon\tlat\nA\t120.2\t30.2\n")
    assert read_facilities(f, layer="centres").facilities.geometry.x.tolist() == [120.2]


def test_english_headers_any_case_with_ids_kind_and_address(tmp_path):
    f = write(tmp_path / "stations.csv",
              " ID ,Name,Longitude,LATITUDE,Level,Type,Hours,Stars,Services,Area_m2,Address\n"
              "s1,River station,120.20,30.21,special,river,24/7,3,water; rest,40,Riverside Rd\n")
    fac = read_facilities(f, layer="stations").facilities
    row = fac.iloc[0]
    assert (row["id"], row["tier"], row["kind"], row["opening_hours"], row["stars"]) == ("s1", "special", "river", "24/7", 3.0)
    assert row["services"] == ("water", "rest") and row["area_m2"] == 40.0 and row["address"] == "Riverside Rd"


def test_undecodable_text(tmp_path):
    f = tmp_path / "centres.csv"
    f.write_bytes(b"name,lon,lat\n\x00\x81\xff\x00,1,2\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert str(err.value) == (f"{f}: cannot read the text encoding (not UTF-8, GBK/GB18030 or UTF-16): "
                              "save it as UTF-8 (Excel: 'CSV UTF-8') or GBK")


def test_workbook_saved_as_csv(tmp_path):
    f = tmp_path / "centres.csv"
    f.write_bytes(b"PK\x03\x04rest of a zip")
    with pytest.raises(InputError, match="this is an Excel workbook saved under a text name: rename it to .xlsx"):
        read_facilities(f, layer="centres")


# ------------------------------------------------------------------------------ other formats
def test_xlsx_title_row_blank_row_and_second_sheet(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "中心"
    ws.append(["滨江区党群服务中心名单"])
    ws.append([])
    ws.append(["编号", "名称", "经度", "纬度", "级别", "营业时间", "星级", "面积"])
    ws.append([1001, "滨江区党群服务中心", 120.2105, 30.2084, "区级", "全天", 5, 5000])
    ws.append([])
    ws.append([1002, "西兴街道党群服务中心", 120.2, 30.21, "街道级", "周一至周五 8:30-17:30", "★★★★", None])
    wb.create_sheet("说明")
    f = tmp_path / "centres.xlsx"
    wb.save(f)
    read = read_facilities(f, layer="centres")
    fac = read.facilities
    assert fac["id"].tolist() == ["1001", "1002"]  # whole numbers lose the .0 Excel gives them
    assert fac["source"].tolist() == ["centres.xlsx row 4", "centres.xlsx row 6"]
    assert fac["tier"].tolist() == ["district", "street"]
    assert fac["opening_hours"].tolist() == ["24/7", "Mo-Fr 08:30-17:30"]
    assert fac["stars"].tolist() == [5.0, 4.0]
    assert read.notes == [
        f"{f}: read the first sheet '中心'; other sheets ignored: 说明",
        f"{f}: the header is row 3; rows above it were skipped (滨江区党群服务中心名单)",
        f"{f}: empty rows skipped: 5",
    ]


def geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")
    return path


def feature(props: dict, geom: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


SQUARE = {"type": "Polygon", "coordinates": [[[120.20, 30.20], [120.21, 30.20], [120.21, 30.21], [120.20, 30.21], [120.20, 30.20]]]}


def test_geojson_polygon_becomes_a_point_inside_it(tmp_path):
    f = geojson(tmp_path / "stations.geojson", [
        feature({"名称": "滨江驿站", "开放时间": "24h"}, SQUARE),
        feature({"名称": "江边驿站"}, {"type": "Point", "coordinates": [120.215, 30.215]}),
    ])
    read = read_facilities(f, layer="stations")
    fac = read.facilities
    assert shapely.Polygon(SQUARE["coordinates"][0]).contains(fac.geometry.iloc[0])
    assert fac["source"].tolist() == ["stations.geojson feature 1", "stations.geojson feature 2"]
    assert fac["opening_hours"].tolist() == ["24/7", None]
    assert read.notes == [f"{f} feature 1: a Polygon; placed at a point inside it"]


def test_geojson_lines_and_missing_geometry_are_errors(tmp_path):
    f = geojson(tmp_path / "stations.geojson", [
        feature({"name": "线"}, {"type": "LineString", "coordinates": [[120.2, 30.2], [120.21, 30.2]]}),
        feature({"name": "无"}, None),
        feature({"name": "有坐标", "lon": 120.2, "lat": 30.2}, None),
    ])
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert problems(err) == [
        "feature 1: geometry is a LineString — only points are accepted (a polygon is placed at a point inside it)",
        "feature 2: has no geometry and no longitude/latitude — give each facility a Point",
    ]


def test_gpkg_geoparquet_and_plain_parquet(tmp_path):
    import geopandas as gpd
    import pandas as pd

    g = gpd.GeoDataFrame({"名称": ["A", "B"], "开放时间": ["24小时", "8:30-17:30"]},
                         geometry=[shapely.Point(120.2, 30.2), shapely.Point(120.21, 30.2)], crs=4326)
    g.to_file(tmp_path / "a.gpkg", layer="centres")
    g.to_crs(32651).to_file(tmp_path / "utm.gpkg")
    g.to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"name": ["A"], "lng": [120.2], "lat": [30.2]}).to_parquet(tmp_path / "plain.parquet")
    for name in ("a.gpkg", "utm.gpkg", "a.parquet"):
        read = read_facilities(tmp_path / name, layer="centres")
        fac = read.facilities
        assert fac["opening_hours"].tolist() == ["24/7", "08:30-17:30"], name
        assert np.allclose(fac.geometry.x, [120.2, 120.21], atol=1e-9) and np.allclose(fac.geometry.y, 30.2, atol=1e-9)
    assert read_facilities(tmp_path / "utm.gpkg", layer="centres").notes == [
        f"{tmp_path / 'utm.gpkg'}: reprojected from WGS 84 / UTM zone 51N to WGS84"]
    plain = read_facilities(tmp_path / "plain.parquet", layer="centres").facilities
    assert plain["source"].tolist() == ["plain.parquet row 2"]


def test_json_list_of_records_with_a_location_column(tmp_path):
    f = tmp_path / "pois.json"
    f.write_text(json.dumps({"status": "1", "pois": [{"name": "驿站A", "location": "120.21,30.21"}]}), encoding="utf-8")
    fac = read_facilities(f, layer="stations").facilities
    assert fac["source"].tolist() == ["pois.json item 1"] and fac.geometry.x.tolist() == [120.21]


# ------------------------------------------------------------------------------ coordinate systems
GCJ_POINTS = [(120.2105, 30.2084), (120.1891, 30.1902), (120.1647, 30.2770)]


def test_gcj02_points_are_converted_exactly(tmp_path):
    f = write(tmp_path / "centres.csv", "name,lng,lat\n" + "\n".join(f"c{i},{x},{y}" for i, (x, y) in enumerate(GCJ_POINTS)))
    read = read_facilities(f, layer="centres", crs="GCJ-02")
    fac = read.facilities
    gx, gy = wgs84_to_gcj02(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    assert np.abs(gx - [p[0] for p in GCJ_POINTS]).max() < 1e-7
    assert np.abs(gy - [p[1] for p in GCJ_POINTS]).max() < 1e-7
    # the WGS84 positions are a few hundred metres west and north of the AMap ones
    assert (fac.geometry.x < [p[0] for p in GCJ_POINTS]).all() and (fac.geometry.y > [p[1] for p in GCJ_POINTS]).all()
    assert fac["orig_lon"].tolist() == [p[0] for p in GCJ_POINTS] and fac["orig_crs"].tolist() == ["gcj02"] * 3
    assert read.notes == [f"{f}: 3 of 3 points converted from GCJ-02 to WGS84 "
                          "(the coordinates as given are kept in orig_lon, orig_lat)"]


def test_crs_column_and_baidu(tmp_path):
    f = write(tmp_path / "centres.csv", "名称,经度,纬度,坐标系\nA,120.2105,30.2084,百度\nB,120.19,30.19,BD-09\n")
    fac = read_facilities(f, layer="centres").facilities
    wx, wy = bd09_to_wgs84([120.2105, 120.19], [30.2084, 30.19])
    assert np.allclose(fac.geometry.x, wx, atol=0, rtol=0) and np.allclose(fac.geometry.y, wy, atol=0, rtol=0)
    bx, by = wgs84_to_bd09(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    assert np.abs(bx - [120.2105, 120.19]).max() < 1e-7 and np.abs(by - [30.2084, 30.19]).max() < 1e-7
    # the argument wins over the column, with a warning
    read = read_facilities(f, layer="centres", crs="wgs84")
    assert read.facilities.geometry.x.tolist() == [120.2105, 120.19]
    assert read.warnings == [f"{f}: the 坐标系 column says bd09 but wgs84 was asked for; using wgs84"]


def test_crs_column_must_agree(tmp_path):
    f = write(tmp_path / "centres.csv", "名称,经度,纬度,坐标系\nA,120.2,30.2,gcj02\nB,120.19,30.19,wgs84\nC,120.1,30.1,utm\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert problems(err) == [
        "row 4: 坐标系 'utm' is not a known coordinate system — use wgs84, gcj02 (AMap/Gaode, Tencent) or bd09 (Baidu)",
        "坐标系 mixes coordinate systems: gcj02 (row 2); wgs84 (row 3) — split the file, or convert the rows to one system",
    ]


def test_points_outside_china_are_kept_with_a_warning(tmp_path):
    f = write(tmp_path / "centres.csv", "name,lon,lat\nParis,2.3522,48.8566\nBinjiang,120.2105,30.2084\n")
    read = read_facilities(f, layer="centres", crs="amap")
    assert read.facilities.geometry.x.tolist()[0] == 2.3522
    assert read.facilities.geometry.x.tolist()[1] == float(gcj02_to_wgs84(120.2105, 30.2084)[0])
    assert read.warnings == [f"{f} row 2: (2.3522, 48.8566) lies outside China, where GCJ-02 has no offset — kept unchanged"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(119.9, 120.4), st.floats(30.0, 30.5)), min_size=1, max_size=8))
def test_property_gcj_file_round_trip(tmp_path, points):
    f = write(tmp_path / "p.csv", "name,lon,lat\n" + "\n".join(f"p{i},{x!r},{y!r}" for i, (x, y) in enumerate(points)))
    fac = read_facilities(f, layer="centres", crs="gcj02").facilities
    gx, gy = wgs84_to_gcj02(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    assert np.abs(gx - [p[0] for p in points]).max() < 1e-7 and np.abs(gy - [p[1] for p in points]).max() < 1e-7


# ------------------------------------------------------------------------------ bad input
def test_swapped_columns_whole_file(tmp_path):
    f = write(tmp_path / "centres.csv", "名称,经度,纬度\nA,30.2084,120.2105\nB,30.19,120.19\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert str(err.value) == (
        f"{f}: the longitude and latitude columns look swapped: 纬度 holds 120.2105 and 经度 holds 30.2084 in row 2 "
        "(in China longitude is 73..135, latitude 18..54) — swap the column headers 经度 and 纬度")


def test_swapped_in_china_even_when_in_range(tmp_path):
    f = write(tmp_path / "centres.csv", "name,lon,lat\nA,30.2,80.1\n")
    with pytest.raises(InputError, match="the longitude and latitude columns look swapped: lat holds 80.1 and lon holds 30.2"):
        read_facilities(f, layer="centres")


def test_swapped_geojson_coordinates(tmp_path):
    f = geojson(tmp_path / "s.geojson", [feature({"name": "A"}, {"type": "Point", "coordinates": [30.2, 120.2]})])
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert problems(err) == ["the coordinates look like (latitude, longitude): feature 1 has x 30.2, y 120.2; "
                             "GeoJSON and GeoPackage want x = longitude, y = latitude — swap them"]


def test_one_swapped_row_among_good_ones(tmp_path):
    f = write(tmp_path / "centres.csv", "name,lon,lat\nA,120.2,30.2\nB,30.21,120.21\nC,190,30\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert problems(err) == [
        "row 3: latitude 120.21 is outside -90..90 — are the longitude and latitude columns swapped?",
        "row 4: longitude 190 is outside -180..180",
    ]


def test_a_file_with_several_problems(tmp_path):
    f = write(tmp_path / "centres.csv",
              "id,名称,经度,纬度,层级,星级,面积,开放时间\n"
              "a1,滨江区党群服务中心,120.2105,30.2084,区级,5,5000,24小时\n"
              "a2,,abc,,市级,7,大,\n"
              "a1,西兴街道党群服务中心,120.2,nan,街道,五星,,whenever\n"
              ",,,,,,,\n"
              "a4,浦沿社区,120.15,30.17,社区,☆,-3,\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert str(err.value) == f"""{f}: 10 problems:
  - row 3: 名称 is empty — every facility needs a name
  - row 3: 经度 'abc' is not a number — give the longitude in decimal degrees, e.g. 120.2105
  - row 3: 纬度 is empty — give the latitude in decimal degrees, e.g. 30.2084
  - row 3: 层级 '市级' is not a known tier — use one of 区级/district, 街道/street, 社区/community, 特色/special, or leave it empty
  - row 3: 星级 '7' is not a star rating from 1 to 5 — give a number 1..5, or leave it empty
  - row 3: 面积 '大' is not an area in square metres — give a number such as 5000
  - row 4: 纬度 'nan' is not a number — give the latitude in decimal degrees, e.g. 30.2084
  - row 4: id 'a1' is already used by row 2 — ids must be unique
  - row 6: 星级 '☆' is not a star rating from 1 to 5 — give a number 1..5, or leave it empty
  - row 6: 面积 '-3' is not an area in square metres — give a number such as 5000"""


def test_missing_columns_list_what_was_found(tmp_path):
    f = write(tmp_path / "centres.csv", "title,x1,y1\nA,1,2\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert problems(err) == [
        "no name column — expected one of 名称, name, 名字, 中心名称, 站点名称, 设施名称, 驿站名称, 阵地名称; columns found: title, x1, y1",
        "no longitude column — expected one of 经度, lon, lng, long, longitude, x (or one 经纬度 column holding 'lon,lat'); "
        "columns found: title, x1, y1",
        "no latitude column — expected one of 纬度, lat, latitude, y (or one 经纬度 column holding 'lon,lat'); "
        "columns found: title, x1, y1",
    ]


def test_two_columns_for_one_field(tmp_path):
    f = write(tmp_path / "centres.csv", "名称,经度,lng,纬度\nA,120.2,120.2,30.2\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert problems(err) == ["columns '经度' and 'lng' both look like the lon column — keep one, or rename the other"]


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", "", "the file is empty: expected a header row (名称, 经度, 纬度...) and one row per facility"),
    ("blank.csv", "\n , ,\n", "the file is empty: expected a header row (名称, 经度, 纬度...) and one row per facility"),
    ("header.csv", "名称,经度,纬度\n,,\n", "holds no facilities: there is a header but no rows below it"),
    ("none.geojson", '{"type": "FeatureCollection", "features": []}', "holds no features"),
    ("broken.geojson", '{"type": "FeatureCollection", ', "is not valid JSON (line 1 column 31: Expecting property name enclosed in double quotes)"),
    ("centres.txt", "x", "unsupported file type '.txt' — use one of .csv, .xlsx, .geojson, .json, .gpkg, .parquet"),
    ("centres.xls", "x", "unsupported file type '.xls' (an old .xls workbook: save it as .xlsx) — use one of "
                         ".csv, .xlsx, .geojson, .json, .gpkg, .parquet"),
    ("broken.xlsx", "not a zip", "cannot be read as XLSX (BadZipFile: File is not a zip file)"),
])
def test_file_level_problems(tmp_path, name, content, message):
    f = write(tmp_path / name, content)
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="centres")
    assert str(err.value) == f"{f}: {message}"


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as err:
        read_facilities(tmp_path / "nowhere.csv", layer="centres")
    assert str(err.value) == f"{tmp_path / 'nowhere.csv'}: file not found — check the path and the file name"


def test_duplicate_name_at_the_same_place_is_a_warning(tmp_path):
    f = write(tmp_path / "centres.csv", "name,lon,lat\nA,120.2,30.2\nA,120.2000001,30.2\nA,120.21,30.2\n")
    read = read_facilities(f, layer="centres")
    assert len(read.facilities) == 3
    assert read.warnings == [f"{f} row 3: 'A' is at the same place as row 2 (0.0 m apart) — both are kept; "
                             "delete one if it is a duplicate"]


# ------------------------------------------------------------------------------ opening hours
@pytest.mark.parametrize("given,expected", [
    ("24小时", "24/7"), ("全天", "24/7"), ("24h", "24/7"), ("24H", "24/7"), ("7×24小时", "24/7"), ("24小时开放", "24/7"),
    ("周一至周五 8:30-17:30", "Mo-Fr 08:30-17:30"),
    ("周一至周五8:30—17:30", "Mo-Fr 08:30-17:30"),
    ("星期一到星期五 08:00~18:00", "Mo-Fr 08:00-18:00"),
    ("周一至五 9:00-17:00", "Mo-Fr 09:00-17:00"),
    ("周一至周五 8:30-12:00，14:00-17:30；周六 9:00-12:00", "Mo-Fr 08:30-12:00,14:00-17:30; Sa 09:00-12:00"),
    ("工作日 9:00-17:00，周末 9:00-12:00", "Mo-Fr 09:00-17:00; Sa-Su 09:00-12:00"),
    ("每天 8:00-20:00", "08:00-20:00"),
    ("上午8:30-11:30 下午2:00-5:00", "08:30-11:30,14:00-17:00"),
    ("9点-21点", "09:00-21:00"),
    ("周二至周日 9:00-17:00，周一闭馆", "Tu-Su 09:00-17:00"),
    ("周一至周五 9:00-17:00（节假日休息）", "Mo-Fr 09:00-17:00; PH closed"),
    ("Mo-Fr 8:30-17:30", "Mo-Fr 08:30-17:30"),
    ("sunrise-sunset", "sunrise-sunset"),
    ("", None), ("未知", None), (None, None), (float("nan"), None),
])
def test_normalise_opening_hours(given, expected):
    assert normalise_opening_hours(given) == expected


@pytest.mark.parametrize("given", ["看情况", "周一闭馆", "closed on rainy days"])
def test_unreadable_opening_hours(given):
    with pytest.raises(OpeningHoursError) as err:
        normalise_opening_hours(given)
    assert err.value.value == given and str(err.value).startswith(f"{given!r} cannot be read as opening hours")


WED = dt.datetime(2025, 6, 4)


@pytest.mark.parametrize("hours,at,expected", [
    ("Mo-Fr 08:30-17:30", WED.replace(hour=10), True),
    ("Mo-Fr 08:30-17:30", WED.replace(hour=22), False),
    ("周一至周五 8:30-17:30", WED.replace(hour=10), True),
    ("24/7", WED.replace(hour=3), True),
    ("24小时", WED.replace(hour=3), True),
    ("Mo-Fr 08:30-17:30; PH off", dt.datetime(2025, 10, 1, 10), False),  # National Day
    ("Mo-Fr 08:30-17:30", dt.datetime(2025, 6, 4, 2, tzinfo=dt.timezone.utc), True),  # 10:00 in Hangzhou
    ("看情况", WED, None), (None, WED, None), ("", WED, None),
])
def test_opening_hours_state(hours, at, expected):
    assert opening_hours_state(hours, at) is expected


# ------------------------------------------------------------------------------ output and checks
def test_write_and_read_back(tmp_path):
    src = write(tmp_path / "centres.csv", "\n".join([HEADER_CN + ",坐标系", *(r + ",gcj02" for r in ROWS_CN)]), "gbk")
    fac = read_facilities(src, layer="centres").facilities
    out = write_facilities(fac, tmp_path / "out" / "centres.geojson")
    assert [p.name for p in out.parent.iterdir()] == ["centres.geojson"]  # no temporary file left
    text = out.read_text(encoding="utf-8")
    assert "滨江区党群服务中心" in text and "老年食堂、托育、法律咨询" in text  # Chinese as written
    doc = json.loads(text)
    props = doc["features"][0]["properties"]
    assert props["services"] == "老年食堂、托育、法律咨询" and props["orig_备注"] == "一号"
    assert props["orig_lon"] == 120.2105 and props["orig_crs"] == "gcj02"
    assert doc["name"] == "centres"
    back = read_facilities(out, layer="centres")
    assert back.warnings == [] and back.notes == []
    b = back.facilities
    for col in ("id", "name", "tier", "opening_hours", "services", "address", "orig_备注"):
        assert b[col].tolist() == fac[col].tolist(), col
    assert np.abs(b.geometry.x.to_numpy() - fac.geometry.x.to_numpy()).max() < 1e-7


def test_write_needs_geojson_name(tmp_path):
    fac = read_facilities(write(tmp_path / "c.csv", "name,lon,lat\nA,120.2,30.2\n"), layer="centres").facilities
    with pytest.raises(InputError, match="facilities are written as GeoJSON — name the file"):
        write_facilities(fac, tmp_path / "c.gpkg")


def test_check_within(tmp_path):
    f = write(tmp_path / "c.csv", "name,lon,lat\nIn,120.2,30.2\nNear,120.32,30.2\nFar,121.2,30.2\n")
    fac = read_facilities(f, layer="centres").facilities
    lines = check_within(fac, (120.1, 30.1, 120.3, 30.3), max_km=5.0)
    # 0.9 degrees of longitude at 30.2 N: 0.9 * 111.195 km * cos(30.2°) = 86.5 km
    assert lines == ["c.csv row 4: 'Far' lies 86.5 km outside the network area (120.1000..120.3000 E, "
                     "30.1000..30.3000 N) — check its coordinates and coordinate system"]
    assert len(check_within(fac, (120.1, 30.1, 120.3, 30.3), max_km=1.0)) == 2


def test_check_file(tmp_path, capsys):
    f = write(tmp_path / "centres.csv", "\n".join([HEADER_CN, *ROWS_CN]), "gbk")
    out = tmp_path / "centres.geojson"
    check = check_file(f, layer="centres", crs="gcj02", out=out)
    assert capsys.readouterr() == ("", "")  # the engine prints nothing; the command line does
    assert check.summary == (f"{f}: 3 centres (1 district, 1 street, 1 community); opening hours known for 2; "
                             "coordinates converted from GCJ-02; 1 warning(s)", f"written to {out}")
    assert list(check.messages) == [
        f"note: {f}: read as GBK/GB18030 text",
        f"note: {f}: 3 of 3 points converted from GCJ-02 to WGS84 (the coordinates as given are kept in orig_lon, orig_lat)",
        f"warning: {f} row 4: 开放时间 '看情况' cannot be read as opening hours; treated as unknown — "
        "write it like 'Mo-Fr 08:30-17:30', '24/7' or '周一至周五 8:30-17:30'",
    ]
    assert json.loads(out.read_text(encoding="utf-8"))["features"][0]["properties"]["id"] == "centres-2"
    with pytest.raises(InputError):
        check_file(tmp_path / "missing.csv", layer="centres", crs=None, out=None)
    assert not os.path.exists(tmp_path / "missing.geojson")


def test_geojson_with_a_declared_projected_crs_is_reprojected(tmp_path):
    from pyproj import Transformer

    # a QGIS export in CGCS2000 / 3-degree Gauss-Kruger CM 120E (EPSG:4549), with the old "crs" member
    x, y = Transformer.from_crs(4326, 4549, always_xy=True).transform(120.2105, 30.2084)
    f = tmp_path / "centres.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection",
                             "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}},
                             "features": [feature({"名称": "A"}, {"type": "Point", "coordinates": [x, y]})]}), encoding="utf-8")
    read = read_facilities(f, layer="centres")
    p = read.facilities.geometry.iloc[0]
    assert abs(p.x - 120.2105) < 1e-8 and abs(p.y - 30.2084) < 1e-8
    assert read.notes == [f"{f}: reprojected from CGCS2000 / 3-degree Gauss-Kruger CM 120E to WGS84"]


def test_a_location_column_written_latitude_first(tmp_path):
    f = write(tmp_path / "stations.csv", "名称,经纬度\nA,\"30.2084,120.2105\"\nB,\"30.19,120.19\"\n")
    with pytest.raises(InputError) as err:
        read_facilities(f, layer="stations")
    assert problems(err) == ["the coordinates in 经纬度 look like 'latitude,longitude': row 2 has '30.2084,120.2105' — "
                             "write them as 'longitude,latitude' (AMap and Baidu give the longitude first)"]


def test_latin_text_is_guessed(tmp_path):
    f = tmp_path / "stations.csv"
    f.write_bytes("name,lon,lat\nCafé Zürich,120.2,30.2\n".encode("cp1252"))
    read = read_facilities(f, layer="stations")
    assert read.facilities["name"].tolist() == ["Café Zürich"]
    assert len(read.notes) == 1 and read.notes[0].endswith("text (a guess: UTF-8 is safer)")
