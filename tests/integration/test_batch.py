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
    merged = json.loads((out / "coverage.json").read_text("utf-8"))
    assert sorted(f["area"] for f in merged["failed"]) == sorted([EMPTY, OUTSIDE])
    for name in STREETS:
        folder = out / "areas" / name
        assert json.loads((folder / "batch.json").read_text("utf-8"))["area"] == name
        for f in ("coverage.json", "circles.geojson", "gaps.geojson", "facilities.geojson", "map.html",
                  "streets.csv", "outputs.json", "plan/manifest.json"):
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
    table = pd.read_csv(out / "areas.csv", encoding="utf-8-sig")
    assert len(table) == 5 and list(table["status"][-2:]) == ["failed", "failed"]
    done = table[table["status"] == "done"]
    assert list(done["rank"]) == [1, 2, 3]
    share = done["centres_15min_people_share"].to_numpy()
    assert np.all(share[:-1] >= share[1:])  # ranked by coverage
    for row in done.itertuples():
        assert row.homes == covs[row.area]["homes"]
    assert pd.read_excel(out / "areas.xlsx").shape == table.shape
    assert pd.read_excel(out / "streets.xlsx")["homes"].sum() == sum(c["homes"] for c in covs.values())
    for layer in ("circles", "gaps", "facilities"):
        gdf = gpd.read_file(out / "province.gpkg", layer=layer)
        assert set(gdf["area"]) <= set(STREETS) and len(gdf) > 0, layer
    circles = gpd.read_file(out / "province.gpkg", layer="circles")
    assert set(circles["area"]) == set(STREETS)
    areas = gpd.read_file(out / "province.gpkg", layer="areas")
    assert set(areas["area"]) == {*STREETS, EMPTY, OUTSIDE}
    merged = json.loads((out / "coverage.json").read_text("utf-8"))
    t = merged["totals"]["centres"]["15"]
    assert t["homes_covered"] == sum(c["layers"]["centres"]["minutes"]["15"]["homes_covered"] for c in covs.values())
    assert t["homes"] == sum(c["homes"] for c in covs.values())
    html = (out / "index.html").read_text("utf-8")
    assert "cdn." not in html and "L.geoJSON" in html
    for name in STREETS:
        assert f"areas/{name}/map.html" in html


def test_rerun_skips_the_done_areas(batch):
    out, _, args = batch
    stamps = {n: (out / "areas" / n / "outputs.json").read_text("utf-8") for n in STREETS}
    again = run_batch(*args)
    assert again.returncode == 1
    assert "0 planned, 3 done before (skipped), 2 failed" in again.stderr + again.stdout
    for n in STREETS:  # untouched: the same output set, written at the same time
        assert (out / "areas" / n / "outputs.json").read_text("utf-8") == stamps[n]
    assert len(pd.read_csv(out / "areas.csv", encoding="utf-8-sig")) == 5


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
    """A task's input: the network, homes and facilities (OSM and a planner's file) within the
    area's halo, found here point by point with shapely."""
    from geo.batch import Partition, list_areas
    from geo.plan import PlanInputs, PlanParams, read_layer_files

    stations = ROOT / "tests" / "data" / "binjiang_stations_gcj02_gbk.csv"
    files, _ = read_layer_files(PlanInputs(layer_files={"stations": stations}, crs="gcj02"))
    params = PlanParams()
    area = next(a for a in list_areas("level=8", admin=base.admin) if a.key == "长河街道")
    part = Partition(base, params, files).part(area)
    net = base.network
    halo = shapely.buffer(shapely.transform(area.area.geometry, lambda c: net.project(c[:, 0], c[:, 1])), params.halo())

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
    assert len(part.base.homes) == int(shapely.contains_xy(halo, base.homes.xy[:, 0], base.homes.xy[:, 1]).sum())


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
