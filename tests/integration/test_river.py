"""The Qiantang test: circles cross the river only over a walkable bridge, and only as far as
the time allows (real Binjiang data). Convex hulls of the same reached nodes jump the river.

Frame: the 钱塘江大桥 (Qianjiang Bridge) edges give the bridge's south end S and north end N;
``along`` is the position on the S->N axis from the bridge's midpoint, ``lateral`` the offset
across it. The data itself shows the river: no network node lies at -500 < along < 300 within
1.5 km either side of the bridge (asserted below), so "north bank" is along > 300 there.
"""

import numpy as np
import pytest
import shapely

from geo.circles import per_source
from geo.polygons import facility_polygons

pytestmark = [pytest.mark.slow, pytest.mark.hangzhou]
W = 30.0
BAND = 1500.0


@pytest.fixture(scope="module")
def frame(binjiang_net):
    net = binjiang_net
    es = np.flatnonzero(net.edge_name == "钱塘江大桥")
    assert len(es) >= 1, "the Qianjiang Bridge is in the Binjiang clip"
    ends = np.concatenate([net.edge_u[es], net.edge_v[es]])
    s_node = int(ends[np.argmin(net.node_xy[ends, 1])])
    n_node = int(ends[np.argmax(net.node_xy[ends, 1])])
    S, N = net.node_xy[s_node], net.node_xy[n_node]
    d = (N - S) / np.linalg.norm(N - S)
    perp = np.array([-d[1], d[0]])
    M = (S + N) / 2

    def coords(xy):
        rel = np.asarray(xy).reshape(-1, 2) - M
        return rel @ d, rel @ perp

    along, lateral = coords(net.node_xy)
    band = np.abs(lateral) < BAND
    # the river: an empty strip across the bridge (only the bridge edge spans it)
    assert not (band & (along > -500) & (along < 300)).any()
    assert (band & (along > 300)).sum() > 100 and (band & (along < -500)).sum() > 100
    long_edge = int(es[np.argmax(net.edge_len[es])])
    assert s_node in (net.edge_u[long_edge], net.edge_v[long_edge])
    bridge = shapely.union_all(shapely.buffer(net.edge_lines[es], W + 1.0))
    return dict(net=net, S=S, N=N, s_node=s_node, bridge_edge=long_edge, bridge_nodes=set(ends.tolist()), n_node=n_node, coords=coords, bridge=bridge,
                north_nodes=np.flatnonzero(band & (along > 300)))


def north_part(frame, poly):
    """The part of ``poly`` on the north bank near the bridge (along > 300, |lateral| < BAND)."""
    S, N = frame["S"], frame["N"]
    d = (N - S) / np.linalg.norm(N - S)
    perp = np.array([-d[1], d[0]])
    M = (S + N) / 2
    corners = [M + d * a + perp * b for a, b in ((300, -BAND), (5000, -BAND), (5000, BAND), (300, BAND))]
    return shapely.intersection(poly, shapely.Polygon(corners))


def circle(net, xy, limits, construction="exact"):
    fac = net.snap(np.atleast_2d(xy), max_dist=100)
    assert fac.ok.all()
    dist = per_source(net, fac, limit=max(limits))
    if construction == "exact":
        polys = facility_polygons(net, fac, limits, dist=dist, width_m=W)[0]
    else:
        from geo.raster import CircleDrawer, RasterGeometry

        polys = CircleDrawer(RasterGeometry(net, W / 8), W).source_circles(dist, limits, fac.edge, fac.along)[0]
    row = dist.getrow(0)
    return polys, row.indices, row.data


def test_fifteen_minutes_from_the_bridge_end_reach_north_only_along_the_bridge(frame):
    net = frame["net"]
    polys, nodes, dist = circle(net, frame["S"], [1200.0])
    poly = polys[0]
    north = north_part(frame, poly)
    # the bridge is ~1.45 km: a 1,200 m walk gets onto its north half but not down to the bank
    assert not north.is_empty
    assert shapely.difference(north, frame["bridge"]).area < 1.0
    assert frame["n_node"] not in set(nodes[dist <= 1200.0])
    # the bridge is claimed up to where the time runs out, cut along its real geometry
    e = frame["bridge_edge"]
    line = net.edge_lines[e]
    from_s = net.edge_u[e] != frame["s_node"]  # measure along the line from S
    left = 1200.0 - float(dist[nodes == frame["s_node"]][0])
    for metres, inside in ((left - 5.0, True), (left + W + 5.0, False)):
        pos = net.edge_len[e] - metres if from_s else metres
        p = shapely.line_interpolate_point(line, pos)
        assert bool(shapely.contains(poly, p)) is inside, metres


def test_longer_walks_reach_the_north_bank_only_as_far_as_time_is_left_at_the_bridge_end(frame):
    net = frame["net"]
    limit = 2200.0
    polys, nodes, dist = circle(net, frame["S"], [limit])
    poly = polys[0]
    d_n = dist[nodes == frame["n_node"]]
    assert len(d_n) == 1 and d_n[0] < limit  # now the walk gets off the bridge
    spare = limit - float(d_n[0])
    north = north_part(frame, poly)
    # every claimed point north of the river is within the spare time (straight line <= walk)
    # of the bridge's north end, or on the bridge itself
    # (the bridge's own nodes are where one can step off it: its north end, and any junction
    # of the approach on the north bank)
    exits = [n for n in frame["bridge_nodes"] if n != frame["s_node"] and n in set(nodes)]
    reach_disk = shapely.union_all([
        shapely.buffer(shapely.Point(net.node_xy[n]), limit - float(dist[nodes == n][0]) + W + 1.0)
        for n in exits if dist[nodes == n][0] < limit
    ])
    assert shapely.difference(north, shapely.union(reach_disk, frame["bridge"])).area < 1.0
    assert shapely.intersection(north, shapely.difference(reach_disk, frame["bridge"])).area > 1000
    # the convex hull of the same reached nodes claims north-bank nodes out of reach
    reached = nodes[dist <= limit]
    hull = shapely.convex_hull(shapely.multipoints(net.node_xy[reached]))
    nn = frame["north_nodes"]
    far = nn[np.hypot(*(net.node_xy[nn] - frame["N"]).T) > spare + W + 50]
    hull_claims = shapely.contains_xy(hull, *net.node_xy[far].T)
    circle_claims = shapely.contains_xy(poly, *net.node_xy[far].T)
    assert hull_claims.sum() > 10 and not circle_claims.any()


@pytest.mark.parametrize("construction", ["exact", "raster"])
def test_a_facility_far_from_any_bridge_claims_nothing_across_the_river(frame, construction):
    net = frame["net"]
    S, N = frame["S"], frame["N"]
    d = (N - S) / np.linalg.norm(N - S)
    perp = np.array([-d[1], d[0]])
    M = (S + N) / 2
    # a south-bank node by the river, 1.2 km sideways from the bridge axis
    along, lateral = frame["coords"](net.node_xy)
    cand = np.flatnonzero((along < -500) & (along > -800) & (np.abs(np.abs(lateral) - 1200) < 200))
    assert len(cand) > 0
    node = int(cand[np.argmax(along[cand])])
    xy = net.node_xy[node]
    # straight across, the north bank is well inside a 15-minute (1,200 m) radius
    assert np.min(np.hypot(*(net.node_xy[frame["north_nodes"]] - xy).T)) < 1200
    polys, nodes, dist = circle(net, xy, [800.0, 1200.0], construction)
    for poly in polys:
        assert north_part(frame, poly).area == 0.0
    del M


def test_grid_circles_cross_the_river_as_the_exact_ones_do(frame):
    """From the bridge's south end: the grid circle claims the north bank only where the exact
    circle does (within 1.5 cells), at 15 minutes and at 2,200 m."""
    net = frame["net"]
    for limit in (1200.0, 2200.0):
        exact, _, _ = circle(net, frame["S"], [limit], "exact")
        raster, _, _ = circle(net, frame["S"], [limit], "raster")
        a, b = north_part(frame, raster[0]), north_part(frame, exact[0])
        assert shapely.difference(a, shapely.buffer(b, 1.5 * W / 8)).area < 4 * (W / 8) ** 2
        assert shapely.difference(b, shapely.buffer(a, 1.5 * W / 8)).area < 4 * (W / 8) ** 2


# ---- what a planner gets from `circles plan` on Binjiang: files a GIS opens ------------------

@pytest.fixture(scope="module")
def binjiang_run(binjiang_path, tmp_path_factory):
    from click.testing import CliRunner

    from api.cli import main

    out = tmp_path_factory.mktemp("bj")
    args = ["plan", "--osm", str(binjiang_path), "--minutes", "5,10", "--at", "Mon 22:00", "-q"]
    res = CliRunner().invoke(main, [*args, "--out", str(out / "geojson")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, [*args, "--out", str(out / "gpkg"), "--format", "gpkg"])
    assert res.exit_code == 0, res.output
    return out


def test_circles_geojson_is_rfc7946_with_facility_and_layer_circles(binjiang_run):
    import json

    import geopandas as gpd

    path = binjiang_run / "geojson" / "circles.geojson"
    doc = json.loads(path.read_text("utf-8"))
    feats = doc["features"]
    scopes = {f["properties"]["scope"] for f in feats}
    assert scopes == {"facility", "layer"}
    names = [f["properties"]["name"] for f in feats if f["properties"]["scope"] == "facility"]
    assert any("社区" in (n or "") for n in names)  # Chinese as written
    text = path.read_text("utf-8")
    assert "社区" in text and "\\u" not in text  # written as text, not \\u escapes
    for f in feats[:200]:
        if f["geometry"] is None:  # an empty circle (no centre open at 22:00): written as null
            assert f["properties"]["area_km2"] == 0
            continue
        g = shapely.geometry.shape(f["geometry"])
        for poly in getattr(g, "geoms", [g]):
            assert poly.exterior.is_ccw and all(not r.is_ccw for r in poly.interiors)  # right-hand rule
        xy = shapely.get_coordinates(g)
        assert (120.0 < xy[:, 0]).all() and (xy[:, 0] < 120.5).all() and (30.0 < xy[:, 1]).all()  # lon, lat
        assert np.allclose(xy, np.round(xy, 7), atol=0, rtol=0)
    gdf = gpd.read_file(path, engine="pyogrio")
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == len(feats)
    fac = gdf[gdf.scope == "facility"]
    # one circle per facility and threshold
    assert (fac.groupby(["layer", "facility_id"]).size() == 2).all()
    assert set(fac.minutes) == {5.0, 10.0}


def test_gpkg_holds_the_same_layers(binjiang_run):
    import geopandas as gpd
    import pyogrio

    gpkg = binjiang_run / "gpkg" / "plan.gpkg"
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert layers == {"circles", "gaps", "facilities"}
    for name in layers:
        a = gpd.read_file(gpkg, layer=name)
        b = gpd.read_file(binjiang_run / "geojson" / f"{name}.geojson")
        assert len(a) == len(b) and a.crs.to_epsg() == 4326
        assert sorted(a.columns) == sorted(b.columns)


def test_night_view_and_tier_views_are_in_coverage_json(binjiang_run):
    import json

    cov = json.loads((binjiang_run / "geojson" / "coverage.json").read_text("utf-8"))
    assert set(cov["layers"]) == {"centres", "stations", "charging"}  # plain layers keep their shape
    night = cov["subsets"]["centres[open=Mon 22:00]"]
    n = cov["layers"]["centres"]["facilities"]
    assert night["open"] + len(night["closed"]) + len(night["unknown_hours"]) == n
    for m in ("5", "10"):
        assert night["minutes"][m]["homes_covered"] <= cov["layers"]["centres"]["minutes"][m]["homes_covered"]
    assert "centres[tier=community]" in cov["subsets"]
