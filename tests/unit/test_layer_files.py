"""Which delimiter a facility CSV uses (geo.layer_files._delimiter), read through read_facilities."""

from __future__ import annotations

import pytest

from geo.errors import InputError
from geo.layer_files import _delimiter
from geo.layers import read_facilities


def test_semicolons_in_opening_hours_do_not_make_a_comma_file_semicolon_separated(tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text("名称,经度,纬度,开放时间\n"
                    "甲站,120.21,30.20,Mo 08:00-12:00;Tu 08:00-12:00;We 08:00-12:00;Th 08:00-12:00;Fr 08:00-12:00\n"
                    "乙站,120.22,30.21,Mo-Fr 08:00-12:00; Sa 09:00-11:00; PH off\n", encoding="utf-8")
    read = read_facilities(path, layer="stations")
    assert list(read.facilities["name"]) == ["甲站", "乙站"]
    assert read.facilities["opening_hours"].notna().all()
    assert read.facilities["opening_hours_raw"].iloc[1] == "Mo-Fr 08:00-12:00; Sa 09:00-11:00; PH off"


def test_semicolon_file_with_decimal_commas_is_read_as_semicolon_separated(tmp_path):
    path = tmp_path / "euro.csv"
    path.write_text("名称;经度;纬度\n甲站;120,21;30,20\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_facilities(path, layer="stations")
    # the columns were found: what is wrong is the decimal comma, said per cell
    assert err.value.problems == [
        "row 2: 经度 '120,21' is not a number — give the longitude in decimal degrees, e.g. 120.2105",
        "row 2: 纬度 '30,20' is not a number — give the latitude in decimal degrees, e.g. 30.2084"]


@pytest.mark.parametrize(("text", "want"), [
    ("a,b,c\n1,2,3\n", ","), ("a\tb\tc\n1\t2\t3\n", "\t"), ("a;b;c\n1;2;3\n", ";"), ("a|b\n1|2\n", "|"),
    ("title,,\na,b,c\n1,2,3\n", ","), ('name,hours\n"x, y",Mo;Tu;We;Th\n', ","), ("just one column\nx\n", ","),
])
def test_delimiter(text, want):
    assert _delimiter(text) == want
