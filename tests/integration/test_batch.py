"""`circles batch` end to end on the Binjiang extract, on a LocalCluster of two worker processes.

The batch runs as the real command in a child process (its Dask workers are processes too). Its
per-area figures are compared with `plan()` given the same `--area`, and its home counts with
the homes of the extract inside the areas, counted here with shapely.
"""

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from api.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
STREETS = ("浦沿街道", "西兴街道", "长河街道")  # the three streets of 滨江区
EMPTY, OUTSIDE = "空白区", "外滩"


@pytest.fixture(scope="module")
def base(binjiang_path, cache_dir):
    from geo.base import load_base
    from geo.plan import PlanInputs, PlanParams

    return load_base(PlanInputs(osm=binjiang_path), PlanParams(cache_dir=cache_dir))


@pytest.fixture(scope="module")
def areas_file(tmp_path_factory, base):
    """The three streets' boundaries as the extract holds them, an empty row and a square in Shanghai."""
    from geo.areas import resolve_area

    geoms = [resolve_area(n, admin=base.admin).geometry for n in STREETS]
    geoms += [shapely.Polygon(), shapely.box(121.48, 31.23, 121.50, 31.25)]
    path = tmp_path_factory.mktemp("areas") / "areas.gpkg"
    gpd.GeoDataFrame({"name": [*STREETS, EMPTY, OUTSIDE]}, geometry=geoms, crs=4326).to_file(path, engine="pyogrio")
    return path


def run_batch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", "batch", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def batch(tmp_path_factory, binjiang_path, areas_file):
    out = tmp_path_factory.mktemp("batch") / "out"
    args = ("--osm", binjiang_path, "--areas", areas_file, "--workers", 2, "--no-per-facility", "--out", out)
    first = run_batch(*args)
    return out, first, args


def area_cov(out: Path, name: str) -> dict:
    return json.loads((out / "areas" / name / "coverage.json").read_text("utf-8"))


def test_failing_areas_are_named_and_the_others_complete(batch):
    out, run, _ = batch
    assert run.returncode == 1, run.stderr
    assert "dashboard: http" in run.stderr  # the Dask dashboard's address
    assert f"{EMPTY}: areas.gpkg row 4: the boundary is empty" in run.stderr
    assert f"{OUTSIDE}: no walkable street of binjiang_clip.osm.pbf lies in the area '{OUTSIDE}'" in run.stderr
    assert "3 planned, 0 done before (skipped), 2 failed" in run.stderr + run.stdout
    merged = json.loads((out / "merged" / "coverage.json").read_text("utf-8"))
    assert sorted(f["area"] for f in merged["failed"]) == sorted([EMPTY, OUTSIDE])
    for name in STREETS:
        folder = out / "areas" / name
        assert json.loads((folder / "batch.json").read_text("utf-8"))["area"] == name
        for f in ("coverage.json", "circles.geojson", "gaps.geojson", "facilities.geojson", "map.html",
                  "streets.csv", "outputs.json", "plan/manifest.json", "merge.pack"):
            assert (folder / f).is_file(), (name, f)
    assert not (out / "areas" / EMPTY).exists() and not (out / "areas" / OUTSIDE).exists()
    for name in (*STREETS, EMPTY, OUTSIDE):
        assert name in (out / "logs" / f"{name}.log").read_text("utf-8")


def test_each_area_equals_plan_with_that_area(batch, binjiang_path, cache_dir):
    from geo.plan import PlanInputs, PlanParams, plan

    out = batch[0]
    for name in STREETS:
        ref = plan(PlanInputs(osm=binjiang_path, area=name), PlanParams(per_facility=False, cache_dir=cache_dir)).coverage
        got = area_cov(out, name)
        assert got["homes"] == ref["homes"] > 0 and got["people"] == ref["people"], name
        assert set(got["layers"]) == set(ref["layers"])
        for layer, doc in ref["layers"].items():
            assert got["layers"][layer]["facilities"] == doc["facilities"], (name, layer)
            assert got["layers"][layer]["snapped"] == doc["snapped"], (name, layer)
            for m, f in doc["minutes"].items():
                g = got["layers"][layer]["minutes"][m]
                for k in ("homes", "homes_covered", "people", "people_covered"):
                    assert g[k] == f[k], (name, layer, m, k)
    assert any(area_cov(out, n)["layers"]["centres"]["minutes"]["15"]["homes_covered"] > 0 for n in STREETS)


def test_each_home_is_counted_in_exactly_one_area(batch, base, areas_file):
    out = batch[0]
    net = base.network
    polys = gpd.read_file(areas_file).geometry.values[: len(STREETS)]
    metric = [shapely.transform(g, lambda c: net.project(c[:, 0], c[:, 1])) for g in polys]
    xy = base.homes.xy
    inside = np.array([shapely.contains_xy(m, xy[:, 0], xy[:, 1]) for m in metric])
    assert inside.sum(axis=0).max() == 1  # the streets do not overlap
    union = shapely.union_all(metric)
    in_union = shapely.contains_xy(union, xy[:, 0], xy[:, 1])
    covs = [area_cov(out, n) for n in STREETS]
    assert sum(c["homes"] for c in covs) == int(in_union.sum()) > 0
    assert sum(c["people"] for c in covs) == round(float(base.homes.people[in_union].sum()))
    # the street/community table adds up to each area's totals (counted per home, the other way)
    for name, cov in zip(STREETS, covs):
        s = pd.read_csv(out / "areas" / name / "streets.csv", encoding="utf-8-sig")
        assert s["homes"].sum() == cov["homes"]
        for layer, doc in cov["layers"].items():
            for m, f in doc["minutes"].items():
                assert s[f"{layer}_{m}min_homes_covered"].sum() == f["homes_covered"], (name, layer, m)


def test_merged_outputs(batch):
    out = batch[0]
    covs = {n: area_cov(out, n) for n in STREETS}
    table = pd.read_csv(out / "merged" / "areas.csv", encoding="utf-8-sig")
    assert len(table) == 5 and list(table["status"][-2:]) == ["failed", "failed"]
    done = table[table["status"] == "done"]
    assert list(done["rank"]) == [1, 2, 3]
    share = done["centres_15min_people_share"].to_numpy()
    assert np.all(share[:-1] >= share[1:])  # ranked by coverage
    for row in done.itertuples():
        assert row.homes == covs[row.area]["homes"]
    assert pd.read_excel(out / "merged" / "areas.xlsx").shape == table.shape
    assert pd.read_excel(out / "merged" / "streets.xlsx")["homes"].sum() == sum(c["homes"] for c in covs.values())
    for layer in ("circles", "gaps", "facilities"):
        gdf = gpd.read_file(out / "merged" / "province.gpkg", layer=layer)
        assert set(gdf["area"]) <= set(STREETS) and len(gdf) > 0, layer
    circles = gpd.read_file(out / "merged" / "province.gpkg", layer="circles")
    assert set(circles["area"]) == set(STREETS)
    areas = gpd.read_file(out / "merged" / "province.gpkg", layer="areas")
    assert set(areas["area"]) == {*STREETS, EMPTY, OUTSIDE}
    merged = json.loads((out / "merged" / "coverage.json").read_text("utf-8"))
    t = merged["totals"]["centres"]["15"]
    assert t["homes_covered"] == sum(c["layers"]["centres"]["minutes"]["15"]["homes_covered"] for c in covs.values())
    assert t["homes"] == sum(c["homes"] for c in covs.values())
    html = (out / "merged" / "index.html").read_text("utf-8")
    assert "cdn." not in html and "L.geoJSON" in html
    for name in STREETS:
        assert f'"../areas/{name}/map.html"' in html and (out / "merged" / f"../areas/{name}/map.html").is_file()


def test_the_merge_from_each_areas_merge_pack_equals_the_merge_from_its_files(
    batch, base, areas_file, tmp_path, monkeypatch
):
    """Each task packs the layers the merge takes of its area (merge.pack); read from the area's files, the same.

    The files are the area's GeoJSON layers, as the merge read them before; a missing or damaged
    merge.pack is read that way, with a warning naming the area. The tables written elsewhere
    (``start``, as the command has a worker write them) are the same too.
    """
    import concurrent.futures
    import shutil

    from api.batch_merge import MERGE_PACK, write_merged
    from geo.batch import list_areas

    out = batch[0]
    doc = json.loads((out / "merged" / "coverage.json").read_text("utf-8"))
    outcomes = {e["key"]: {k: e.get(k) for k in ("key", "area", "status", "error")} for e in doc["areas"]}
    areas = list_areas(str(areas_file), admin=base.admin, within=None, crs=None)
    packed, files = tmp_path / "packed", tmp_path / "files"
    for d in (packed, files):
        shutil.copytree(out, d)
        shutil.rmtree(d / "merged")
    (files / "areas" / STREETS[0] / MERGE_PACK).unlink()  # missing
    (files / "areas" / STREETS[1] / MERGE_PACK).write_bytes(b"SCARRAY1 not what was packed")  # damaged
    (files / "areas" / STREETS[2] / MERGE_PACK).write_bytes((out / "areas" / STREETS[0] / MERGE_PACK).read_bytes())
    kw = {"fmt": "geojson", "tiles": "none", "lang": None, "meta": {}}
    said: list[str] = []
    pool = concurrent.futures.ThreadPoolExecutor(1)  # as a worker of the cluster writes the tables

    def start(fn, *args, **kwargs):
        return pool.submit(fn, *args, **kwargs).result

    write_merged(packed, areas, outcomes, warn=said.append, start=start, **kw)
    assert said == []
    write_merged(files, areas, outcomes, warn=said.append, **kw)
    assert len(said) == 3 and all(n in w for n, w in zip(STREETS, said, strict=True)), said
    assert STREETS[0] in said[2]  # another area's file: named as made for that area
    for f in ("areas.csv", "streets.csv", "coverage.json", "index.html"):
        assert (packed / "merged" / f).read_bytes() == (files / "merged" / f).read_bytes(), f
    listed = json.loads((packed / "merged" / "outputs.json").read_text("utf-8"))["files"]
    assert set(listed) == {"province.gpkg", "areas.csv", "areas.xlsx", "streets.csv", "streets.xlsx", "coverage.json",
                           "index.html"}
    for layer in ("circles", "gaps", "facilities", "areas"):
        a, b = (gpd.read_file(d / "merged" / "province.gpkg", layer=layer) for d in (packed, files))
        assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0, layer
        # the files hold lon/lat to 7 decimals (geo.io.DECIMALS), their numbers to 6, and int32
        ga, gb = a.geometry.values, b.geometry.values
        blank = (shapely.is_missing(ga) | shapely.is_empty(ga)) & (shapely.is_missing(gb) | shapely.is_empty(gb))
        assert np.all(shapely.equals_exact(ga, gb, tolerance=1e-7) | blank), layer
        for c in a.columns.drop("geometry"):
            if a[c].dtype.kind in "iuf":
                assert np.allclose(a[c], b[c], rtol=0, atol=1e-6, equal_nan=True), (layer, c)
            else:
                assert a[c].dtype == b[c].dtype and a[c].equals(b[c]), (layer, c)
    before = {f.name: f.read_bytes() for f in (packed / "merged").iterdir()}

    def interrupted(fn, *args, **kwargs):  # the tables' writer stopped (Ctrl-C) while the GeoPackage is written
        def wait():
            raise KeyboardInterrupt

        return wait

    with pytest.raises(KeyboardInterrupt):
        write_merged(packed, areas, outcomes, start=interrupted, **kw)
    assert {f.name: f.read_bytes() for f in (packed / "merged").iterdir()} == before  # the previous set, whole
    assert [p.name for p in packed.iterdir() if p.name.startswith(".")] == []  # no temporary folder left

    import time

    import api.batch_merge as bm

    given = []

    def slow(fn, *args, **kwargs):  # a worker still writing the tables when the GeoPackage fails
        given.append(args[0])
        return pool.submit(lambda: (time.sleep(0.5), fn(*args, **kwargs))[1]).result

    def no_gpkg(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bm, "province_gpkg", no_gpkg)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        write_merged(Path("packed"), areas, outcomes, start=slow, **kw)  # a relative --out
    assert given[0].is_absolute()  # what a worker elsewhere is given: where the driver writes
    time.sleep(0.7)
    assert {f.name: f.read_bytes() for f in (packed / "merged").iterdir()} == before
    assert [p.name for p in packed.iterdir() if p.name.startswith(".")] == []  # the worker did not bring it back
    monkeypatch.undo()
    circles = gpd.read_file(packed / "merged" / "province.gpkg", layer="circles")
    for n in STREETS:  # each area's rows are its own circles, in its file's order
        own = gpd.read_file(out / "areas" / n / "circles.geojson")
        assert list(circles[circles["area"] == n].drop(columns=["area", "geometry"]).columns) == [
            c for c in own.columns if c != "geometry"
        ]
        assert len(circles[circles["area"] == n]) == len(own)


def test_an_area_whose_coverage_was_damaged_after_its_plan_is_merged_as_failed(batch, base, areas_file, tmp_path):
    """A done area's coverage.json changed on disk (here: JSON nested too deeply to read) is merged
    as a failed area, named with how to mend it, and the outcomes say so; the others merge."""
    import shutil

    from api.batch_merge import write_merged
    from geo.batch import list_areas

    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    shutil.rmtree(out / "merged")
    doc = json.loads((batch[0] / "merged" / "coverage.json").read_text("utf-8"))
    outcomes = {e["key"]: {k: e.get(k) for k in ("key", "area", "status", "error")} for e in doc["areas"]}
    assert outcomes[STREETS[0]]["status"] == "done"
    (out / "areas" / STREETS[0] / "coverage.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    areas = list_areas(str(areas_file), admin=base.admin, within=None, crs=None)
    write_merged(out, areas, outcomes, fmt="geojson", tiles="none", lang=None, meta={})
    assert outcomes[STREETS[0]]["status"] == "failed"
    assert f"areas/{STREETS[0]}/coverage.json" in outcomes[STREETS[0]]["error"]
    merged = {e["key"]: e for e in json.loads((out / "merged" / "coverage.json").read_text("utf-8"))["areas"]}
    assert merged[STREETS[0]]["status"] == "failed"
    assert all(merged[k]["status"] == "done" for k in STREETS[1:])


def test_rerun_skips_the_done_areas(batch):
    out, _, args = batch
    stamps = {n: (out / "areas" / n / "outputs.json").read_text("utf-8") for n in STREETS}
    stale = out / "province.gpkg"  # where an earlier version wrote the merged outputs
    stale.write_bytes((out / "merged" / "province.gpkg").read_bytes())
    try:
        again = run_batch(*args)
    finally:
        stale.unlink()
    assert again.returncode == 1
    assert "0 planned, 3 done before (skipped), 2 failed" in again.stderr + again.stdout
    assert "merged outputs of an earlier version at its top (province.gpkg)" in again.stderr
    for n in STREETS:  # untouched: the same output set, written at the same time
        assert (out / "areas" / n / "outputs.json").read_text("utf-8") == stamps[n]
    assert len(pd.read_csv(out / "merged" / "areas.csv", encoding="utf-8-sig")) == 5


def test_areas_by_level_within_a_district(base):
    from geo.batch import list_areas
    from geo.errors import InputError

    assert [a.key for a in list_areas("level=8", admin=base.admin, within="滨江区")] == sorted(STREETS)
    assert len(list_areas("level=street", admin=base.admin)) == 12
    with pytest.raises(InputError, match=r"no named admin boundary at admin_level 4; it holds levels 6, 8, 10"):
        list_areas("level=4", admin=base.admin)
    with pytest.raises(InputError, match="expected level=N"):
        list_areas("districts", admin=base.admin)


def test_an_out_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    res = CliRunner().invoke(main, ["batch", "--areas", "level=8", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "holds files a batch did not write (notes.txt)" in res.output


def test_a_part_holds_its_halo_only(base):
    """A task's input: the network and facilities (OSM and a planner's file) within the area's
    halo, the homes and residential land near the area (the margins of geo.batch.near_margins),
    found here point by point with shapely."""
    from geo.batch import SIMPLIFY_M, Partition, list_areas, near_margins
    from geo.plan import PlanInputs, PlanParams, read_layer_files

    stations = ROOT / "tests" / "data" / "binjiang_stations_gcj02_gbk.csv"
    files, _ = read_layer_files(PlanInputs(layer_files={"stations": stations}, crs="gcj02"))
    params = PlanParams()
    area = next(a for a in list_areas("level=8", admin=base.admin) if a.key == "长河街道")
    part = Partition(base, params, files).part(area)
    net = base.network
    metric = shapely.transform(area.area.geometry, lambda c: net.project(c[:, 0], c[:, 1]))
    halo = shapely.buffer(metric, params.halo())

    def inside(lonlat):
        xy = net.project(lonlat[:, 0], lonlat[:, 1])
        return shapely.contains_xy(halo, xy[:, 0], xy[:, 1])

    table = files["stations"][0]
    got = part.files["stations"][0]
    want = table[inside(np.column_stack([table.geometry.x, table.geometry.y]))]
    assert 0 < len(got) < len(table) and list(got["id"]) == list(want["id"])
    for layer, fac in base.osm_facilities.items():
        want = fac[inside(np.column_stack([fac.geometry.x, fac.geometry.y]))] if len(fac) else fac
        assert list(part.base.osm_facilities[layer]["id"]) == list(want["id"]), layer
    assert shapely.contains_xy(halo, part.base.network.node_xy[:, 0], part.base.network.node_xy[:, 1]).all()
    assert 0 < part.base.network.n_nodes < net.n_nodes
    # homes and land: all those within the margins, none much beyond, fewer than the halo holds
    homes_m, land_m = near_margins(params, part.base.network)
    slack = 4 * SIMPLIFY_M
    pts = shapely.points(base.homes.xy)
    held = {tuple(xy) for xy in part.base.homes.xy.tolist()}
    near = {tuple(xy) for xy in base.homes.xy[shapely.dwithin(metric, pts, homes_m)].tolist()}
    assert near <= held and shapely.dwithin(metric, shapely.points(part.base.homes.xy), homes_m + slack).all()
    assert len(held) < int(shapely.contains_xy(halo, base.homes.xy[:, 0], base.homes.xy[:, 1]).sum())
    land = np.asarray(base.land, dtype=object)
    want = set(shapely.to_wkb(land[shapely.dwithin(metric, land, land_m)]))
    got = set(shapely.to_wkb(np.asarray(part.base.land, dtype=object)))
    assert want and want <= got and shapely.dwithin(metric, np.asarray(part.base.land, dtype=object), land_m + slack).all()
    assert len(got) < int(shapely.intersects(halo, land).sum())


def _area_home_info(part, params):
    """The names, places on the streets and land of the area's homes, as a plan on ``part`` makes them."""
    from geo.homeinfo import make_home_info
    from geo.plan import fit_cell

    b = part.base
    net = b.network
    info = make_home_info(
        net, b.homes.xy, land_polygons=b.land, admin=b.admin, places=b.places, params=fit_cell(params, net)[0]
    )
    metric = shapely.transform(part.area.geometry, lambda c: net.project(c[:, 0], c[:, 1]))
    keep = shapely.contains_xy(metric, b.homes.xy[:, 0], b.homes.xy[:, 1])
    land = info.land.subset(keep)
    lat = land.lattice
    rows, cols = np.divmod(land.cells, lat.cols)
    cells = sorted(
        zip(
            (round(lat.x0 / lat.cell) + cols).tolist(),
            (round(lat.y0 / lat.cell) + rows).tolist(),
            land.owner.tolist(),
            strict=True,
        )
    )
    snap = info.snap.subset(keep)
    return b.homes.xy[keep], [list(n[keep]) for n in info.names], snap, cells


def test_the_homes_and_land_near_an_area_give_what_the_halo_gives(base):
    """The homes and land a part leaves out (beyond geo.batch.near_margins) change nothing of the
    area's homes: their names, places on the streets, and land cells and owners are those made
    with every home and land polygon of the halo, as the parts held them before."""
    import dataclasses

    from geo.batch import Partition, list_areas
    from geo.demand import Homes
    from geo.plan import PlanParams

    params = PlanParams()
    partition = Partition(base, params, {})
    h = base.homes
    for area in list_areas("level=8", admin=base.admin, within="滨江区"):
        part = partition.part(area)
        _, halo = partition.halo(area.area)
        hi = partition.homes.inside(halo)
        land = partition.land[np.sort(partition.land_tree.query(halo, predicate="intersects"))]
        whole = dataclasses.replace(
            part,
            base=dataclasses.replace(
                part.base, homes=Homes(h.xy[hi], h.people[hi], h.kind[hi], h.osm_id[hi], h.method), land_source=land
            ),
        )
        assert len(whole.base.homes) > len(part.base.homes) and len(land) > len(part.base.land)
        (xy_a, names_a, snap_a, cells_a), (xy_b, names_b, snap_b, cells_b) = (
            _area_home_info(part, params),
            _area_home_info(whole, params),
        )
        assert len(xy_a) > 0 and np.array_equal(xy_a, xy_b), area.key
        assert names_a == names_b, area.key
        for f in ("edge", "along", "dist", "ok", "xy"):
            assert np.array_equal(getattr(snap_a, f), getattr(snap_b, f)), (area.key, f)
        assert len(cells_a) > len(xy_a) and cells_a == cells_b, area.key


def test_a_part_is_cut_as_subnetwork_cuts_it(base):
    """The partition's cut (edges found from the kept nodes) gives subnetwork's network, array for
    array, for halos and for random sets of nodes, the whole network and none."""
    from geo.batch import Partition, list_areas
    from geo.network import subnetwork
    from geo.plan import PlanParams

    partition = Partition(base, PlanParams(), {})
    net = base.network
    rng = np.random.default_rng(7)
    sets = [partition.nodes.inside(partition.halo(a.area)[1]) for a in list_areas("level=8", admin=base.admin)[:4]]
    sets += [np.flatnonzero(rng.random(net.n_nodes) < p) for p in (0.02, 0.5, 0.97)]
    sets += [np.arange(net.n_nodes)]
    for nodes in sets:
        keep = np.zeros(net.n_nodes, bool)
        keep[nodes] = True
        want, got = subnetwork(net, keep), partition.edges.cut(nodes)
        assert got is not None
        for f in ("node_xy", "node_lonlat", "node_osm", "edge_u", "edge_v", "edge_len", "geom_start", "geom_end",
                  "geom_xy", "geom_lonlat", "edge_highway", "edge_name"):
            a, b = getattr(want, f), getattr(got, f)
            assert a.dtype == b.dtype and np.array_equal(a, b), (len(nodes), f)
        assert got.crs == want.crs
    assert partition.edges.cut(np.zeros(0, np.int64)) is None
    one_end = np.unique(net.edge_u[:1])  # a single node holds no edge with both ends kept
    assert partition.edges.cut(one_end) is None


def test_a_packed_part_unpacks_to_the_same_part(base):
    """What a task gets (PackedPart, through pickle as Dask sends it) is the part the driver cut."""
    import dataclasses
    import pickle

    from geopandas.testing import assert_geodataframe_equal

    from geo.batch import PackedPart, Partition, list_areas
    from geo.plan import PlanInputs, PlanParams, read_layer_files

    stations = ROOT / "tests" / "data" / "binjiang_stations_gcj02_gbk.csv"
    files, _ = read_layer_files(PlanInputs(layer_files={"stations": stations}, crs="gcj02"))
    area = next(a for a in list_areas("level=8", admin=base.admin) if a.key == "长河街道")
    part = Partition(base, PlanParams(), files).part(area)
    packed = pickle.loads(pickle.dumps(PackedPart.pack(part), protocol=5))
    assert packed.key == part.key and packed.data.dtype == np.uint8
    got = packed.unpack()
    assert got.key == part.key and got.area.name == part.area.name
    assert shapely.equals_exact(got.area.geometry, part.area.geometry, tolerance=0)
    for f in dataclasses.fields(part.base.network):
        a, b = getattr(part.base.network, f.name), getattr(got.base.network, f.name)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, f.name
    for f in ("xy", "people", "kind", "osm_id", "method"):
        a, b = getattr(part.base.homes, f), getattr(got.base.homes, f)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, f
    assert len(part.base.land) > 0
    assert list(shapely.to_wkb(got.base.land)) == list(shapely.to_wkb(part.base.land))
    tables = [("admin", part.base.admin, got.base.admin), ("places", part.base.places, got.base.places)]
    tables += [(k, v, got.base.osm_facilities[k]) for k, v in part.base.osm_facilities.items()]
    tables += [(k, v, got.base.extras[k]) for k, v in part.base.extras.items()]
    tables += [(k, v[0], got.files[k][0]) for k, v in part.files.items()]
    for name, a, b in tables:
        assert_geodataframe_equal(a, b, check_less_precise=False)
        assert list(a.dtypes) == list(b.dtypes), name
    assert {k: v[1] for k, v in got.files.items()} == {k: v[1] for k, v in part.files.items()}
    for f in ("source", "data_date", "layer_notes", "key"):
        assert getattr(got.base, f) == getattr(part.base, f), f


def test_a_part_holds_the_base_map_its_map_draws(base):
    """A part carries every base-map row the area's map can draw: the rows meeting the part's
    streets' box plus the map's own margin (maps.basemap.MARGIN_M, measured here in metres with
    pyproj's geodesic), and fewer rows than the whole extract."""
    from pyproj import Geod

    from geo.batch import BASEMAP_MARGIN_M, Partition, list_areas
    from geo.plan import PlanParams
    from maps.basemap import MARGIN_M

    assert BASEMAP_MARGIN_M >= MARGIN_M
    area = next(a for a in list_areas("level=8", admin=base.admin) if a.key == "长河街道")
    part = Partition(base, PlanParams(), {}).part(area)
    lon0, lat0, lon1, lat1 = part.base.network.bbox_lonlat()
    geod = Geod(ellps="WGS84")
    # the degrees that MARGIN_M spans here, east-west and north-south, from the geodesic
    dx = geod.fwd(lon1, lat1, 90, MARGIN_M)[0] - lon1
    dy = geod.fwd(lon1, lat1, 0, MARGIN_M)[1] - lat1
    box = shapely.box(lon0 - dx, lat0 - dy, lon1 + dx, lat1 + dy)
    for kind, table in base.extras.items():
        geoms = np.asarray(table.geometry.values, dtype=object)
        want = set(shapely.to_wkb(geoms[shapely.intersects(geoms, box)]))
        got = part.base.extras[kind]
        assert want and want <= set(shapely.to_wkb(np.asarray(got.geometry.values, dtype=object))), kind
        assert len(got) < len(table), kind
