"""A follow-up's map drawn from the parts a saved plan keeps is the map drawn from scratch.

The plan's map keeps its encoded geometry, gap drawings and base layer (maps.parts) in the saved
plan; a follow-up reuses what has the same content and encodes what changed. The page is compared
with the one drawn from scratch, byte for byte (the page's names are numbered, not random).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import shapely

from maps.display import encode_polygons
from maps.parts import PARTS_FILE, MapParts, fingerprint

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]


@pytest.fixture(scope="module")
def saved(binjiang_plan, tmp_path_factory):
    """The Binjiang plan written by ``circles plan`` (api.outputs), and read back as a follow-up does."""
    from api.outputs import saved_map_parts, write_plan
    from geo.saved import load_plan

    out = tmp_path_factory.mktemp("parts") / "plan"
    write_plan(binjiang_plan, out, map_options={"tiles": "none"})
    return out, load_plan(out), saved_map_parts(out)


def test_the_saved_plan_keeps_its_maps_parts_under_a_checksum(saved):
    out, _, parts = saved
    manifest = json.loads((out / "plan" / "manifest.json").read_text(encoding="utf-8"))
    data = (out / "plan" / PARTS_FILE).read_bytes()
    assert manifest["files"][PARTS_FILE]["sha256"] == hashlib.sha256(data).hexdigest()
    assert parts is not None
    assert parts.polygons
    assert parts.collections
    assert len(parts.basemaps) == 1


def test_the_plans_map_again_from_its_parts_is_the_same_page_with_nothing_encoded(saved):
    from maps.render import map_html

    out, result, parts = saved
    reused = MapParts.from_json(parts.to_json())
    html = map_html(result, tiles="none", parts=reused)
    assert reused.encoded == 0
    assert reused.reused > 100
    assert html == map_html(result, tiles="none")
    # and the same as the plan's own map.html, written before the plan was saved and read back
    assert html == (out / "map.html").read_text(encoding="utf-8")


def test_a_scenario_map_from_the_parts_is_the_map_from_scratch_and_what_changed_is_encoded(saved):
    from geo.scenarios import scenario_from_doc
    from geo.whatif import run_scenario
    from maps.render import map_html
    from tests.api.test_whatif import _far_node

    _, before, saved_parts = saved
    lon, lat = _far_node(before, "stations")
    doc = {"edits": [{"edit": "add_facility", "layer": "stations", "at": [lon, lat], "name": "新驿站"}]}
    outcome = run_scenario(before, scenario_from_doc(doc))
    parts = MapParts.from_json(saved_parts.to_json())
    kept = set(parts.polygons) | set(parts.collections)
    options = {"before": outcome.before, "scenario": outcome, "lang": "en", "tiles": "none"}
    html = map_html(outcome.after, parts=parts, **options)
    assert html == map_html(outcome.after, **options)
    assert parts.encoded > 0
    assert parts.reused > parts.encoded
    new = (set(parts.polygons) | set(parts.collections)) - kept
    assert new, "the stations' circles and gaps changed: drawn again, not taken from the plan"
    # the stations' new circles are in the page as encoded from the geometry after the edit
    circles = outcome.after.circles
    rows = circles[(circles["layer"] == "stations") & (circles["scope"] == "layer")]
    lat_mid = sum(outcome.after.network.bbox_lonlat()[1::2]) / 2
    for text in encode_polygons(rows.geometry.values, lat=lat_mid):
        assert text is not None
        assert text in html


def test_a_changed_geometry_is_encoded_again_never_taken_from_the_old_part(binjiang_plan):
    rows = binjiang_plan.circles
    geom = rows.geometry.values[0]
    parts = MapParts()
    (old,) = parts.encode_polygons([geom], lat=30.2)
    moved = shapely.transform(geom, lambda c: c + np.array([0.0005, 0.0]))  # ~50 m east
    (new,) = parts.encode_polygons([moved], lat=30.2)
    assert new != old
    assert [new] == encode_polygons([moved], lat=30.2)
    assert parts.encoded == 2
    assert parts.reused == 0
    # the same geometry drawn at another latitude or tolerance is another part too
    parts.encode_polygons([geom], lat=30.3)
    parts.encode_polygons([geom], lat=30.2, tolerance_m=2.0)
    assert parts.encoded == 4
    assert parts.encode_polygons([geom], lat=30.2) == [old]
    assert parts.reused == 1


def test_batches_of_geometries_encode_as_each_alone(binjiang_plan):
    geoms = np.asarray(binjiang_plan.gaps.geometry.values[:300], dtype=object)
    together = encode_polygons(geoms, lat=30.2)
    assert together == [encode_polygons([g], lat=30.2)[0] for g in geoms]


def test_a_damaged_parts_file_is_not_used_and_the_map_is_the_same(saved, tmp_path):
    import shutil

    from api.outputs import saved_map_parts
    from maps.render import map_html

    out, result, _ = saved
    copy = tmp_path / "copy"
    shutil.copytree(out / "plan", copy / "plan")
    path = copy / "plan" / PARTS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    parts = saved_map_parts(copy)
    assert parts is not None
    assert not parts.polygons
    assert not parts.basemaps
    assert map_html(result, tiles="none", parts=parts) == map_html(result, tiles="none")


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("polygon", "[[[1,2]]]);alert(1);([[[0"),
        ("collection", '{"s":1};alert(1)'),
        ("collection", '{"s":1,"f":[[{"n":"</script><script>alert(1)</script>"},[[[1,2]]]]]}'),
        ("labels", '{"s":1,"n":["</SCRIPT>"],"p":[]}'),
        # the angle goes into a style and the class into a class name: numbers only
        ("labels", '{"s":1,"n":["a"],"p":[[1,2,"0deg)\\"><img src=x onerror=alert(1)><b x=\\"",0,0]]}'),
        ("labels", '{"s":1,"n":["a"],"p":[[1,2,0,0,"0 x"]]}'),
        ("labels", '{"s":1,"n":["a"],"p":[[1,2,0,5,0]]}'),
        ("labels", '{"s":1,"n":["a"],"p":[[1,2,0,0]]}'),
        ("labels", '{"s":1,"n":[1],"p":[]}'),
        ("labels", '{"s":1,"n":[],"p":[],"x":1}'),
        ("nested", "[" * 100_000),
        ("layer", '{"s":100000,"f":[[{"k":"green"},[[[1,2]]]]]});alert(1);({"s":1}'),
    ],
)
def test_parts_that_are_not_plain_data_are_refused_whole(where, text):
    doc = {
        "kind": "service-circles/map-parts",
        "fingerprint": fingerprint(),
        "polygons": {"a": "[[[1,2,3,4]]]"},
        "collections": {"b": '{"s":100000,"f":[]}'},
        "basemaps": {"c": {"layers": [["green", '{"s":100000,"f":[[{"k":"green"},[[[1,2]]]]]}']],
                           "labels": '{"s":100000,"n":[],"p":[]}', "outline": None}},
    }
    assert MapParts.from_json(json.dumps(doc).encode()).polygons  # the clean document is read
    if where == "polygon":
        doc["polygons"]["a"] = text
    elif where == "collection":
        doc["collections"]["b"] = text
    elif where == "labels":
        doc["basemaps"]["c"]["labels"] = text
    elif where == "nested":
        doc["collections"]["b"] = text
    else:
        doc["basemaps"]["c"]["layers"][0][1] = text
    data = json.dumps(doc).encode()
    if where == "nested":  # the whole file nested too deep for Python's JSON reader
        data = b'{"kind":' + text.encode() + b"}"
    parts = MapParts.from_json(data)
    assert not parts.polygons
    assert not parts.collections
    assert not parts.basemaps


def test_parts_made_by_other_code_are_not_used():
    doc = {"kind": "service-circles/map-parts", "fingerprint": "0" * 32, "polygons": {"a": "[[[1,2,3,4]]]"},
           "collections": {}, "basemaps": {}}
    assert not MapParts.from_json(json.dumps(doc).encode()).polygons
    assert not MapParts.from_json(b"not json").polygons
    assert not MapParts.from_json(None).polygons


def test_names_that_look_like_template_code_are_drawn_as_written(binjiang_plan):
    """The page's script is placed as text: ``{{ 1 + 1 }}`` in a name is not read as a template."""
    import dataclasses

    from maps.render import map_html

    layers = dict(binjiang_plan.layers)
    lr = layers["stations"]
    fac = lr.facilities.copy()
    fac.loc[fac.index[0], "name"] = "{{ 1 + 1 }} {% if x %}驿站{% endif %}"
    layers["stations"] = dataclasses.replace(lr, facilities=fac)
    html = map_html(dataclasses.replace(binjiang_plan, layers=layers), tiles="none")
    assert "{{ 1 + 1 }} {% if x %}驿站{% endif %}" in html
