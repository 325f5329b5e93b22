"""Write the bad-input corpus into a folder (the tests write it afresh into a temporary folder
each session; nothing of it is kept in the repository).

    python tests/corpus/make_corpus.py FOLDER

Every file is small and made here: malformed or hostile facility tables, scenarios, OSM
extracts, population and area files. What each one must get is in ``cases.toml``.
"""

from __future__ import annotations

import bz2
import io
import json
import zipfile
from pathlib import Path


POINT = {"type": "Point", "coordinates": [24.94, 60.17]}
LINK = {"type": "LineString", "coordinates": [[24.94, 60.17], [24.941, 60.171]]}


def fc(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def feat(props, geom=POINT) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


def deep(n: int) -> str:
    return "[" * n + "]" * n


def files() -> dict[str, bytes | str]:
    csv_head = "名称,经度,纬度,开放时间\n"
    out: dict[str, bytes | str] = {
        # ---------------------------------------------------------------- facility tables
        "facilities/empty.csv": "",
        "facilities/header_only.csv": csv_head,
        "facilities/no_name_column.csv": "地址,经度,纬度\n江南大道,120.21,30.20\n",
        "facilities/nan_coordinates.csv": csv_head + "甲站,nan,30.20,24/7\n乙站,120.21,NaN,24/7\n",
        "facilities/inf_coordinates.csv": csv_head + "甲站,inf,30.20,24/7\n乙站,120.21,-Infinity,24/7\n",
        "facilities/overflow_coordinates.csv": csv_head + "甲站,1e400,30.20,24/7\n乙站,120.21,1" + "0" * 400 + ",\n",
        "facilities/text_coordinates.csv": csv_head + "甲站,东经,三十度,24/7\n",
        "facilities/out_of_range.csv": csv_head + "甲站,120.21,95.5,\n乙站,-190,30.2,\n",
        "facilities/binary.csv": b"\x00\x01\x02\x03\xff\xfe\x00garbage\x00" * 20,
        "facilities/xlsx_named_csv.csv": b"PK\x03\x04" + b"\x00" * 60,
        "facilities/stars_area_tier.csv": "名称,经度,纬度,星级,面积,层级\n甲中心,120.21,30.20,七星,-5,宇宙级\n",
        "facilities/unknown_crs_column.csv": "名称,经度,纬度,坐标系\n甲站,120.21,30.20,mars\n",
        "facilities/dup_ids.csv": "编号,名称,经度,纬度\nA1,甲站,120.21,30.20\nA1,乙站,120.22,30.21\n",
        "facilities/unsupported.txt": "名称,经度,纬度\n甲站,120.21,30.20\n",
        "facilities/old_excel.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
        "facilities/garbage.xlsx": b"this is not a workbook at all\n" * 5,
        "facilities/empty_zip.xlsx": _empty_zip(),
        "facilities/garbage.gpkg": b"SQLite format 3\x00" + b"\x01" * 200,
        "facilities/garbage.parquet": b"PAR1" + b"\x07" * 100,
        "facilities/not_json.geojson": '{"type": "FeatureCollection", "features": [',
        "facilities/json_number.geojson": "42",
        "facilities/json_string.json": '"FeatureCollection"',
        "facilities/nan_point.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                        '"properties":{"name":"甲站"},"geometry":{"type":"Point","coordinates":[NaN,30.2]}}]}',
        "facilities/infinity_point.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                             '"properties":{"name":"甲站"},"geometry":{"type":"Point",'
                                             '"coordinates":[120.2,Infinity]}}]}',
        "facilities/overflow_point.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                             '"properties":{"name":"甲站"},"geometry":{"type":"Point",'
                                             '"coordinates":[1e999,30.2]}}]}',
        "facilities/properties_list.geojson": json.dumps(fc(feat(["name", "甲站"]))),
        "facilities/properties_number.geojson": json.dumps(fc(feat(7))),
        "facilities/properties_string.geojson": json.dumps(fc(feat("甲站"))),
        "facilities/features_not_list.geojson": json.dumps({"type": "FeatureCollection", "features": {"a": 1}}),
        "facilities/feature_is_string.geojson": json.dumps(fc("甲站", 5)),
        "facilities/geometry_is_string.geojson": json.dumps(fc(feat({"name": "甲站"}, "POINT(120 30)"))),
        "facilities/coordinates_strings.geojson": json.dumps(fc(feat({"name": "甲站"},
                                                                     {"type": "Point", "coordinates": ["a", "b"]}))),
        "facilities/geometry_line.geojson": json.dumps(fc(feat({"name": "甲站"}, LINK))),
        "facilities/crs_unknown.geojson": json.dumps(fc(feat({"name": "甲站"})) | {"crs": {"type": "name",
                                                     "properties": {"name": "EPSG:999999"}}}),
        "facilities/deep_nesting.geojson": '{"type":"FeatureCollection","features":' + deep(10_000) + "}",
        "facilities/deep_properties.geojson": json.dumps(fc(feat({"name": "甲站"}))).replace(
            '"name": "\\u7532\\u7ad9"', '"name": "甲站", "x": ' + deep(10_000)),
        "facilities/records_without_coordinates.json": json.dumps([{"name": "甲站"}, {"name": "乙站"}]),
        # ---------------------------------------------------------------- scenarios
        "scenarios/empty.geojson": "",
        "scenarios/empty.yaml": "",
        "scenarios/not_utf8.geojson": '{"type": "FeatureCollection", "features": []}'.encode() + b"\xff\xfe\xc0",
        "scenarios/utf16.yaml": "edits: []\n".encode("utf-16"),
        "scenarios/properties_list.geojson": json.dumps(fc(feat(["edit", "add_link"], LINK))),
        "scenarios/properties_number.geojson": json.dumps(fc(feat(3.5, LINK))),
        "scenarios/properties_string.geojson": json.dumps(fc(feat("add_link", LINK))),
        "scenarios/features_object.geojson": json.dumps({"type": "FeatureCollection", "features": {"edit": "close"}}),
        "scenarios/feature_is_number.geojson": json.dumps(fc(12, None, "x")),
        "scenarios/geometry_is_list.geojson": json.dumps(fc(feat({"edit": "add_link"}, [[24.94, 60.17]]))),
        "scenarios/unknown_edit.geojson": json.dumps(fc(feat({"edit": "demolish"}, LINK))),
        "scenarios/edit_is_list.geojson": json.dumps(fc(feat({"edit": ["add_link"]}, LINK))),
        "scenarios/nan_coordinates.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                             '"properties":{"edit":"add_link"},"geometry":{"type":"LineString",'
                                             '"coordinates":[[NaN,60.17],[24.941,60.171]]}}]}',
        "scenarios/infinity_coordinates.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                                  '"properties":{"edit":"add_facility","layer":"stations"},'
                                                  '"geometry":{"type":"Point","coordinates":[Infinity,60.17]}}]}',
        "scenarios/overflow_coordinates.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                                  '"properties":{"edit":"add_facility","layer":"stations"},'
                                                  '"geometry":{"type":"Point","coordinates":[24.9,1e999]}}]}',
        "scenarios/swapped.geojson": json.dumps(fc(feat({"edit": "add_link"},
                                                        {"type": "LineString", "coordinates": [[60.17, 124.94], [60.171, 124.941]]}))),
        "scenarios/coordinates_strings.geojson": json.dumps(fc(feat({"edit": "add_link"},
                                                                    {"type": "LineString", "coordinates": [["a", "b"], ["c", "d"]]}))),
        "scenarios/coordinates_nested_wrong.geojson": json.dumps(fc(feat({"edit": "add_link"},
                                                                         {"type": "LineString", "coordinates": [[[1, 2]]]}))),
        "scenarios/link_one_point.geojson": json.dumps(fc(feat({"edit": "add_link"},
                                                               {"type": "LineString", "coordinates": [[24.94, 60.17]]}))),
        "scenarios/penalty_bad.geojson": json.dumps(fc(feat({"edit": "add_link", "penalty_s": "30s"}, LINK),
                                                       feat({"edit": "add_link", "penalty_s": -4}, LINK),
                                                       feat({"edit": "add_link", "penalty_s": 1e308}, LINK))),
        "scenarios/facility_no_layer.geojson": json.dumps(fc(feat({"edit": "add_facility", "layer": "shops"}),
                                                             feat({"edit": "remove_facility", "layer": "stations"}, None))),
        "scenarios/name_is_object.geojson": json.dumps(fc(feat({"edit": "add_facility", "layer": "stations",
                                                                "name": {"zh": "甲"}}))),
        "scenarios/bowtie_polygon.geojson": json.dumps(fc(feat({"edit": "close"}, {"type": "Polygon", "coordinates": [
            [[24.94, 60.17], [24.95, 60.18], [24.95, 60.17], [24.94, 60.18], [24.94, 60.17]]]}))),
        "scenarios/too_many_edits.yaml": "edits:\n" + "  - {edit: close, line: [[24.94, 60.17], [24.95, 60.18]]}\n" * 501,
        "scenarios/deep_nesting.geojson": '{"type":"FeatureCollection","features":' + deep(10_000) + "}",
        "scenarios/deep_nesting.yaml": "edits: " + deep(5_000) + "\n",
        "scenarios/deep_nesting.toml": "edits = " + deep(5_000) + "\n",
        "scenarios/yaml_bomb.yaml": _yaml_bomb(),
        "scenarios/yaml_python_tag.yaml": "edits: !!python/object/apply:os.system ['echo pwned']\n",
        "scenarios/yaml_edits_scalar.yaml": "edits: close the bridge\n",
        "scenarios/yaml_edit_is_string.yaml": "edits:\n  - add_link\n  - 5\n",
        "scenarios/yaml_line_strings.yaml": "edits:\n  - edit: add_link\n    line: [[a, b], [c, d]]\n",
        "scenarios/yaml_at_scalar.yaml": "edits:\n  - edit: add_facility\n    layer: stations\n    at: 24.94\n",
        "scenarios/yaml_nan.yaml": "edits:\n  - edit: add_link\n    line: [[.nan, 60.17], [24.94, .inf]]\n",
        "scenarios/malformed.toml": "edits = [ { edit = \"close\", \n",
        "scenarios/toml_edits_table.toml": "[edits]\nedit = \"close\"\n",
        "scenarios/top_level_list.json": json.dumps([feat({"edit": "add_link"}, LINK)]),
        "scenarios/unsupported.txt": "add a crossing\n",
        # ---------------------------------------------------------------- OSM extracts
        "osm/garbage.osm.pbf": b"\x00\x00\x00\x0dOSMHeader" + bytes(range(256)) * 4,
        "osm/text.osm.pbf": "this is not a protocol buffer\n" * 10,
        "osm/truncated.osm.bz2": _truncated_bz2(),
        "osm/not_bzip2.osm.bz2": b"BZh9" + b"\x00" * 100,
        "osm/truncated.osm": '<?xml version="1.0"?>\n<osm version="0.6">\n <node id="1" lat="60.1" lon="24.9"/>\n <way id="',
        "osm/not_osm.osm": '<?xml version="1.0"?>\n<html><body>a web page saved by mistake</body></html>\n',
        "osm/xml_bomb.osm": _xml_bomb(),
        "osm/xml_external_entity.osm": ('<?xml version="1.0"?>\n<!DOCTYPE osm [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
                                        '<osm version="0.6"><node id="1" lat="60.1" lon="24.9"><tag k="name" v="&xxe;"/>'
                                        "</node></osm>\n"),
        "osm/nan_nodes.osm": ('<?xml version="1.0"?>\n<osm version="0.6">\n'
                              '<node id="1" lat="nan" lon="24.9"/><node id="2" lat="60.1" lon="inf"/>\n'
                              '<way id="3"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>\n</osm>\n'),
        "osm/no_ways.osm": '<?xml version="1.0"?>\n<osm version="0.6">\n <node id="1" lat="60.1" lon="24.9"/>\n</osm>\n',
        "osm/wrong_suffix.osm.gz": b"\x1f\x8b" + b"\x00" * 30,
        # ---------------------------------------------------------------- population, area, layer rules
        "population/overflow.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                       '"properties":{"population":1e400},"geometry":{"type":"Point","coordinates":[24.94,60.17]}},'
                                       '{"type":"Feature","properties":{"population":-5},"geometry":{"type":"Point",'
                                       '"coordinates":[24.95,60.17]}}]}',
        "population/huge.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                   '"properties":{"population":1.7e308},"geometry":{"type":"Point","coordinates":[24.94,60.17]}},'
                                   '{"type":"Feature","properties":{"population":1.7e308},"geometry":{"type":"Point",'
                                   '"coordinates":[24.95,60.17]}}]}',
        "population/nan.geojson": '{"type":"FeatureCollection","features":[{"type":"Feature",'
                                  '"properties":{"population":NaN},"geometry":{"type":"Point","coordinates":[24.94,60.17]}}]}',
        "population/text.geojson": json.dumps(fc(feat({"population": "many"}))),
        "population/no_column.geojson": json.dumps(fc(feat({"name": "x"}))),
        "population/garbage.gpkg": b"SQLite format 3\x00" + b"\x02" * 200,
        "area/line.geojson": json.dumps(fc(feat({"name": "x"}, LINK))),
        "area/garbage.geojson": "{{{{",
        "layers_map/malformed.toml": "[centres\nname = \n",
        "layers_map/wrong_types.toml": "centres = 5\nstations = [1, 2]\n",
    }
    return out


def _empty_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    return buf.getvalue()


def _truncated_bz2() -> bytes:
    xml = '<?xml version="1.0"?>\n<osm version="0.6">\n' + "".join(
        f' <node id="{i}" lat="60.{i:04d}" lon="24.{i:04d}"/>\n' for i in range(1, 2000)) + "</osm>\n"
    data = bz2.compress(xml.encode())
    return data[: len(data) // 2]


def _xml_bomb() -> str:
    ents = ['<!ENTITY a0 "lol">'] + [f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE osm [' + "".join(ents) + ']>\n<osm version="0.6">'
            '<node id="1" lat="60.1" lon="24.9"><tag k="name" v="&a9;"/></node></osm>\n')


def _yaml_bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("edits: *a8")
    return "\n".join(lines) + "\n"


def write(folder: Path) -> Path:
    """Write every corpus file under ``folder`` (as ``cases.toml`` names them); return ``folder``."""
    for name, content in files().items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def main() -> None:
    import sys

    folder = write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("corpus"))
    print(f"{len(files())} files written under {folder}")


if __name__ == "__main__":
    main()
