"""The same network from .osm.pbf, .osm and .osm.bz2, and from an osmnx download (mocked)."""

import bz2

import numpy as np
import pytest

from geo.network import build_network
from geo.osm import read_osm

# a hand-written extract: a footway crossing a residential street, a private service road,
# a motorway, one apartment block and a community centre
OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="30.2000" lon="120.2000" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="2" lat="30.2000" lon="120.2020" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="3" lat="30.2000" lon="120.2040" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="4" lat="30.2010" lon="120.2020" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="5" lat="30.1990" lon="120.2020" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="6" lat="30.1980" lon="120.2000" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="7" lat="30.2050" lon="120.2000" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="8" lat="30.2050" lon="120.2040" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="11" lat="30.2003" lon="120.2003" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="12" lat="30.2003" lon="120.2006" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="13" lat="30.2006" lon="120.2006" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="14" lat="30.2006" lon="120.2003" version="1" timestamp="2026-01-02T00:00:00Z"/>
  <node id="20" lat="30.2002" lon="120.2030" version="1" timestamp="2026-01-02T00:00:00Z">
    <tag k="amenity" v="community_centre"/><tag k="name" v="测试社区党群服务中心"/>
  </node>
  <way id="100" version="1" timestamp="2026-03-04T00:00:00Z">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/><tag k="name" v="测试路"/>
  </way>
  <way id="101" version="1" timestamp="2026-01-02T00:00:00Z">
    <nd ref="4"/><nd ref="2"/><nd ref="5"/><tag k="highway" v="footway"/>
  </way>
  <way id="102" version="1" timestamp="2026-01-02T00:00:00Z">
    <nd ref="1"/><nd ref="6"/><tag k="highway" v="service"/><tag k="access" v="private"/>
  </way>
  <way id="103" version="1" timestamp="2026-01-02T00:00:00Z">
    <nd ref="7"/><nd ref="8"/><tag k="highway" v="motorway"/>
  </way>
  <way id="104" version="1" timestamp="2026-01-02T00:00:00Z">
    <nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="14"/><nd ref="11"/>
    <tag k="building" v="apartments"/><tag k="building:levels" v="10"/>
  </way>
</osm>
"""


@pytest.fixture
def osm_files(tmp_path):
    xml = tmp_path / "tiny.osm"
    xml.write_text(OSM_XML, encoding="utf-8")
    bz = tmp_path / "tiny.osm.bz2"
    bz.write_bytes(bz2.compress(OSM_XML.encode("utf-8")))
    return xml, bz


def test_xml_extract_keeps_only_walkable_ways(osm_files):
    ext = read_osm(osm_files[0])
    assert sorted(ext.ways.way_ids.tolist()) == [100, 101]  # private service road and motorway dropped
    assert ext.latest_edit == "2026-03-04"
    net = build_network(ext.ways)
    # junction at node 2: 5 nodes (1, 2, 3, 4, 5), 4 edges
    assert net.n_nodes == 5 and net.n_edges == 4
    # 0.002° of longitude at 30.2°N is 192.5 m (haversine); UTM agrees to < 0.1%
    assert sorted(net.edge_len)[-1] == pytest.approx(192.5, rel=2e-3)
    assert "测试路" in set(net.edge_name)
    kinds = dict(zip(ext.features.osm_id, ext.features.kind))
    assert kinds["w104"] == "building" and kinds["n20"] == "poi"


def test_bz2_gives_the_same_network(osm_files):
    a = build_network(read_osm(osm_files[0]).ways)
    b = build_network(read_osm(osm_files[1]).ways)
    assert np.allclose(np.sort(a.edge_len), np.sort(b.edge_len))


def test_pbf_and_xml_agree_on_real_data(binjiang_path, tmp_path):
    import osmium

    xml = tmp_path / "binjiang.osm"
    with osmium.SimpleWriter(str(xml)) as w:
        for obj in osmium.FileProcessor(str(binjiang_path)):
            if obj.is_node():
                w.add_node(obj)
            elif obj.is_way():
                w.add_way(obj)
            else:
                w.add_relation(obj)
    a = build_network(read_osm(binjiang_path).ways)
    b = build_network(read_osm(xml).ways)
    assert a.n_edges == b.n_edges
    assert np.isclose(a.edge_len.sum(), b.edge_len.sum())


def test_homes_and_people_from_a_tagged_building(osm_files):
    from geo.demand import homes_from_osm, PeopleRule
    import shapely

    ext = read_osm(osm_files[0])
    net = build_network(ext.ways)
    homes = homes_from_osm(ext.features, project=lambda g: shapely.transform(g, lambda c: net.project(c[:, 0], c[:, 1])))
    assert len(homes) == 1
    # 0.0003° x 0.0003° footprint at 30.2°N ≈ 28.84 m x 33.26 m; 10 levels / 36.5 m² per person
    foot = 0.0003 * 111320 * np.cos(np.radians(30.2003)) * 0.0003 * 110860
    assert homes.people[0] == pytest.approx(foot * 10 / PeopleRule().floor_m2_per_person, rel=0.01)


def test_place_download_is_converted_like_a_file(osm_files, monkeypatch):
    """--place goes through osmnx; here osmnx's download is replaced by the tiny extract."""
    import osmnx as ox

    import geo.online as online
    from geo.plan import PlanInputs, PlanParams, plan

    # Overpass answers a walk query with the walkable ways only: drop the others, as it would
    import re

    walk_xml = re.sub(r'<way id="10[23]".*?</way>', "", OSM_XML, flags=re.S)
    src = osm_files[0].with_name("walk.osm")
    src.write_text(walk_xml, encoding="utf-8")
    graph = ox.graph_from_xml(src, simplify=True, retain_all=True)
    monkeypatch.setattr(online, "_download", lambda place: (graph, None))
    res = plan(PlanInputs(place="测试区, 杭州市"), PlanParams())
    assert res.source == "osmnx: 测试区, 杭州市"
    assert res.network.n_edges >= 2
    assert res.network.edge_len.sum() == pytest.approx(build_network(read_osm(osm_files[0]).ways).edge_len.sum(), rel=0.01)


def test_the_base_built_beside_its_network_equals_the_base_built_after_it(binjiang_path):
    """base_from_extract builds the network in a thread while it projects the homes, land and layers.

    It projects them into the network's CRS before the network exists (geo.network.network_crs):
    the same homes, land, facilities and network as building the network first and projecting
    with it, as the code did before.
    """
    import shapely

    from geo.base import base_from_extract
    from geo.crossings import walk_ways
    from geo.demand import homes_and_land
    from geo.network import network_crs
    from geo.osm_layers import facilities_from_osm, load_rules
    from geo.plan_types import PlanInputs, PlanParams

    ext = read_osm(binjiang_path)
    params, rules = PlanParams(), load_rules(PlanInputs().layers_map)
    base = base_from_extract(ext, rules, params, lambda _: None)
    alone = base_from_extract(ext, rules, PlanParams(workers=1), lambda _: None)  # one after the other
    assert np.array_equal(alone.homes.xy, base.homes.xy) and np.array_equal(alone.network.node_xy, base.network.node_xy)
    assert set(alone.osm_facilities) == set(base.osm_facilities) and alone.admin.equals(base.admin)
    ways = walk_ways(ext, crossings=params.crossings)
    net = build_network(ways, signal_wait_m=params.signal_wait_m())
    assert base.network.crs == net.crs == network_crs(ways)
    assert np.array_equal(base.network.node_xy, net.node_xy) and np.array_equal(base.network.edge_u, net.edge_u)

    def project(g):
        return shapely.transform(g, lambda c: net.project(c[:, 0], c[:, 1]))

    homes, land = homes_and_land(ext.features, project=project, rule=params.people)
    assert len(homes) > 1000 and np.array_equal(base.homes.xy, homes.xy)
    assert np.array_equal(base.homes.people, homes.people)
    assert shapely.equals_exact(np.asarray(base.land, dtype=object), np.asarray(land, dtype=object), tolerance=0).all()
    fac, _ = facilities_from_osm(ext.features, rules, project=project)
    for name, t in fac.items():
        assert t.geometry.geom_equals_exact(base.osm_facilities[name].geometry, tolerance=0).all(), name
