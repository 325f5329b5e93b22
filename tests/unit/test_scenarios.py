"""Scenarios on hand-built graphs: answers known by construction."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.errors import InputError
from geo.netedit import Closure, Link, carry_snapped, with_edits
from geo.network import network_from_lines
from geo.plan import PlanInputs, PlanParams, plan
from geo.scenarios import read_scenario, scenario_from_doc
from geo.whatif import run_scenario
from tests.conftest import toy_base

#: 4.8 km/h for 5 minutes: 400 m
PARAMS = PlanParams(minutes=(5.0,), speed_kmh=4.8)


def two_streets():
    """South street y=0 and north street y=100, x 0..400, not joined. A station at (0, 0).

    Homes: (50, 110) 10 people and (350, 110) 20 people on the north street, (300, -10) 5 people
    on the south street. Before: only the south home is within 400 m (300 m).
    """
    net = network_from_lines([[(0, 0), (200, 0), (400, 0)], [(0, 100), (200, 100), (400, 100)]])
    base = toy_base(net, [[50, 110.0], [350, 110.0], [300, -10.0]], [10.0, 20.0, 5.0],
                    facilities={"stations": [{"id": "s0", "name": "stations 0", "x": 0.0, "y": 0.0}]})
    return base, plan(PlanInputs(), PARAMS, base=base)


def fc(*features):
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features]}


def line(net, *xy):
    return {"type": "LineString", "coordinates": net.unproject(np.array(xy, float)).tolist()}


def point(net, x, y):
    return {"type": "Point", "coordinates": net.unproject(np.array([[x, y]], float))[0].tolist()}


def test_link_joining_two_parts_gains_exactly():
    base, before = two_streets()
    net = before.network
    sc = scenario_from_doc(fc(({"edit": "add_link", "name": "crossing"}, line(net, (100, 0), (100, 100)))))
    out = run_scenario(before, sc)
    # (50,110): 100 along + 100 link + 50 back = 250 m; (350,110): 100 + 100 + 250 = 450 m
    assert out.after.layers["stations"].home_dist[:2] == pytest.approx([250.0, 450.0])
    f = out.coverage["layers"]["stations"]["minutes"]["5"]
    assert (f["homes_gained"], f["people_gained"], f["homes_lost"]) == (1, 10, 0)
    assert (f["before"]["people_covered"], f["after"]["people_covered"]) == (5, 15)
    assert list(out.homes["people"]) == [10.0]
    assert out.areas["homes"].tolist() == [1]
    # each street is one 400 m edge; both link ends split one: 2 new nodes, 2 edges -> 4 + 1 link
    assert out.applied.network.n_edges == 5 and (out.applied.network.node_osm == -1).sum() == 2


def test_penalty_counts_as_walking_metres():
    base, before = two_streets()
    net = before.network
    # 60 s at 4.8 km/h = 80 m: the west home is at 330 m (still in), the link counts 180 m
    sc = scenario_from_doc(fc(({"edit": "add_link", "penalty_s": 60}, line(net, (100, 0), (100, 100)))))
    out = run_scenario(before, sc)
    assert out.after.layers["stations"].home_dist[0] == pytest.approx(330.0)
    assert out.applied.network.edge_len[out.applied.log.links] == pytest.approx([180.0])


def test_base_network_never_changes():
    base, before = two_streets()
    net = before.network
    arrays = {k: getattr(net, k).copy() for k in ("node_xy", "edge_u", "edge_v", "edge_len", "geom_xy", "geom_start")}
    run_scenario(before, scenario_from_doc(fc(({"edit": "add_link"}, line(net, (150, 0), (150, 100))))))
    out = run_scenario(before, scenario_from_doc(fc(({"edit": "close"}, line(net, (300, -20), (300, 20))))))
    assert out.applied.network.n_edges == 1
    # the south street is closed: the south home and the station are snapped again onto the north
    # street (home 110 m away, at x=300; station at x=0): 300 m apart along it
    assert out.applied.home_snap.dist[2] == pytest.approx(110.0)
    assert out.after.layers["stations"].home_dist == pytest.approx([50.0, 350.0, 300.0])
    for k, v in arrays.items():
        assert np.array_equal(getattr(net, k), v), k


def test_split_keeps_lengths_and_carries_homes(line_net):
    xy = np.array([[150.0, 10.0], [250.0, -5.0], [50.0, 3.0]])
    snap = line_net.snap(xy, max_dist=50)
    # from the middle of BC (split there) to the end of the spur D (an existing node)
    new, log = with_edits(line_net, links=[Link(np.array([[200.0, 0.0], [100.0, 50.0]]))])
    (e, pieces), = log.split_pieces.items()
    assert line_net.edge_len[e] == pytest.approx(200.0)
    assert new.edge_len[pieces] == pytest.approx([100.0, 100.0])
    assert new.edge_len[log.links] == pytest.approx([np.hypot(100, 50)])
    assert new.n_nodes == line_net.n_nodes + 1 and new.node_osm[-1] == -1
    carried = carry_snapped(snap, log, new, xy, max_dist=50)
    pos = [shapely.line_interpolate_point(new.edge_lines[e], a) for e, a in zip(carried.edge, carried.along)]
    assert np.allclose(shapely.get_coordinates(pos), snap.xy)


def test_closures_polygon_and_barrier(line_net):
    # a polygon over the middle of BC closes BC; a barrier across BD closes BD
    poly = shapely.box(180, -10, 220, 10)
    barrier = shapely.linestrings([[90, 25], [110, 25]])
    new, log = with_edits(line_net, closures=[Closure(poly), Closure(barrier)])
    assert sorted(line_net.edge_len[log.closed]) == pytest.approx([50.0, 200.0])
    assert new.n_edges == 1 and new.edge_len[0] == pytest.approx(100.0)
    with pytest.raises(InputError, match="crosses no walkable way"):
        with_edits(line_net, closures=[Closure(shapely.linestrings([[500, 500], [510, 510]]), "feature 1 (close)")])


def test_facility_edits():
    base, before = two_streets()
    net = before.network
    sc = scenario_from_doc(fc(
        ({"edit": "add_facility", "layer": "stations", "id": "n1", "name": "north"}, point(net, 400, 100)),
        ({"edit": "move_facility", "layer": "stations", "id": "s0"}, point(net, 400, 0)),
    ))
    out = run_scenario(before, sc)
    f = out.coverage["layers"]["stations"]["minutes"]["5"]
    # north station at (400,100): (350,110) at 50 m, (50,110) at 350 m; moved station: (300,-10) at 100 m
    assert out.after.layers["stations"].home_dist == pytest.approx([350.0, 50.0, 100.0])
    assert (f["homes_gained"], f["people_gained"]) == (2, 30)
    out = run_scenario(before, scenario_from_doc(fc(({"edit": "remove_facility", "layer": "stations", "name": "stations 0"}, None))))
    f = out.coverage["layers"]["stations"]["minutes"]["5"]
    assert (f["homes_lost"], f["people_lost"], f["after"]["people_covered"]) == (1, 5, 0)


def test_apply_problems_all_at_once():
    base, before = two_streets()
    net = before.network
    sc = scenario_from_doc(fc(
        ({"edit": "remove_facility", "layer": "stations", "id": "nope"}, None),
        ({"edit": "add_link"}, line(net, (100, 0), (100, 900))),
    ), source="s.geojson")
    with pytest.raises(InputError) as err:
        run_scenario(before, sc)
    msg = str(err.value)
    assert msg.startswith("s.geojson: 2 problems:")
    assert "feature 2 (add_link): its end point is 800 m from the nearest open walkable way (limit 100 m)" in msg
    assert "feature 1 (remove_facility): layer stations: no facility with id or name 'nope'" in msg


def test_validation_names_every_feature_and_field():
    doc = fc(
        ({"edit": "bridge"}, None),
        ({"edit": "add_link", "penalty_s": "long"}, {"type": "LineString", "coordinates": [[30.2, 120.2], [30.3, 120.2]]}),
        ({"edit": "add_facility", "layer": "parks"}, {"type": "LineString", "coordinates": [[1, 1], [2, 2]]}),
        ({"edit": "set_hours", "layer": "centres"}, None),
    )
    with pytest.raises(InputError) as err:
        scenario_from_doc(doc, source="edits.geojson")
    assert err.value.problems == [
        "feature 1: field 'edit' is 'bridge': expected one of add_link, close, add_facility, move_facility, "
        "remove_facility, set_hours",
        "feature 2 (add_link): field 'geometry' has longitude 30.2, latitude 120.2: expected WGS84 longitude "
        "-180..180, latitude -90..90 (order: lon, lat) — are longitude and latitude swapped?",
        "feature 2 (add_link): field 'penalty_s' is 'long': give the seconds of waiting, 0..3600",
        "feature 3 (add_facility): field 'geometry' is a LineString: expected Point",
        "feature 3 (add_facility): field 'layer' is 'parks': expected one of centres, stations, charging",
        "feature 4 (set_hours): give the facility's 'id' (or its 'name')",
        "feature 4 (set_hours): field 'opening_hours' is None: give OSM-style hours such as '24/7' or "
        "'Mo-Fr 08:30-17:30'",
    ]


def test_yaml_toml_and_geojson_agree(tmp_path):
    pts = [[120.2, 30.2], [120.2003, 30.2]]
    (tmp_path / "s.geojson").write_text(json.dumps(fc(
        ({"edit": "add_link", "penalty_s": 20, "name": "x"}, {"type": "LineString", "coordinates": pts}),
        ({"edit": "remove_facility", "layer": "centres", "id": "c1"}, None))))
    (tmp_path / "s.yaml").write_text(
        "edits:\n  - edit: add_link\n    penalty_s: 20\n    name: x\n    line: [[120.2, 30.2], [120.2003, 30.2]]\n"
        "  - edit: remove_facility\n    layer: centres\n    id: c1\n")
    (tmp_path / "s.toml").write_text(
        '[[edits]]\nedit = "add_link"\npenalty_s = 20\nname = "x"\nline = [[120.2, 30.2], [120.2003, 30.2]]\n'
        '[[edits]]\nedit = "remove_facility"\nlayer = "centres"\nid = "c1"\n')
    read = [read_scenario(tmp_path / f"s.{ext}") for ext in ("geojson", "yaml", "toml")]
    for sc in read[1:]:
        assert [e.describe() for e in sc.edits] == [e.describe() for e in read[0].edits]
        assert sc.edits[0].geometry.equals(read[0].edits[0].geometry)
    (tmp_path / "bad.yaml").write_text("edits: [edit: add_link\n")
    with pytest.raises(InputError, match="bad.yaml: cannot be read as YAML"):
        read_scenario(tmp_path / "bad.yaml")
