"""The homes of a study area (geo.homeinfo.area_home_info) and their land (home_land): made for
the area's homes only, they equal the whole extract's home information cut to the area, and the
land cells equal a plain test of every cell centre against the union of the land."""

import dataclasses

import geopandas as gpd
import numpy as np
import shapely

from geo.areas import StudyArea
from geo.homeinfo import area_home_info, home_info, home_land, land_lattice
from geo.plan import PlanInputs, PlanParams, clip_to_area
from tests.conftest import grid_net, toy_base

NET = grid_net(8, 100.0)  # streets every 100 m, 0..700 m


def _land(rng, n_small: int, n_big: int) -> np.ndarray:
    """Footprints (small boxes) and parcels (large boxes, some overlapping), metric."""
    small = rng.uniform(0, 700, (n_small, 2))
    big = rng.uniform(0, 650, (n_big, 2))
    return np.concatenate(
        [
            shapely.box(small[:, 0], small[:, 1], small[:, 0] + rng.uniform(5, 25, n_small), small[:, 1] + 12),
            shapely.box(big[:, 0], big[:, 1], big[:, 0] + rng.uniform(40, 160, n_big), big[:, 1] + 90),
            [shapely.Polygon([(300, 300), (420, 310), (360, 420)]), None, shapely.Polygon()],
        ]
    )


def _world(seed: int):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-30, 730, (400, 2))
    land = _land(rng, 150, 12)
    ll = NET.unproject(np.array([[0.0, 0.0], [350.0, 700.0], [700.0, 350.0], [200.0, 200.0]]))
    street = shapely.box(*ll[0], *ll[1])
    community = shapely.box(*ll[3], *ll[2])
    admin = gpd.GeoDataFrame(
        {"name": ["Some 街道", "Some 社区"], "admin_level": ["8", "10"], "osm_id": ["r1", "r2"]},
        geometry=[street, community],
        crs=4326,
    )
    base = toy_base(NET, xy, np.ones(len(xy)), land=land, admin=admin)
    area = StudyArea(
        "area",
        "hand-drawn",
        None,
        shapely.box(*NET.unproject(np.array([[120.0, 80.0]]))[0], *NET.unproject(np.array([[480.0, 560.0]]))[0]),
    )
    return base, area


def _same(a, b) -> None:
    for k in ("edge", "along", "dist", "ok", "xy"):
        np.testing.assert_array_equal(getattr(a.snap, k), getattr(b.snap, k), err_msg=k)
    for x, y in zip(a.names, b.names, strict=True):
        assert x.dtype == y.dtype == object
        assert x.tolist() == y.tolist()
    assert a.land.lattice == b.land.lattice
    np.testing.assert_array_equal(a.land.cells, b.land.cells)
    np.testing.assert_array_equal(a.land.owner, b.land.owner)


def test_the_area_homes_made_alone_equal_the_whole_cut_to_the_area(tmp_path):
    for seed in range(3):
        base, area = _world(seed)
        params = PlanParams(halo_m=150.0)  # a halo that cuts streets: some homes are placed again
        clip = clip_to_area(base, PlanInputs(), params, area=area)
        assert clip.keep_home is not None
        assert clip.edge_map is not None
        assert 0 < clip.keep_home.sum() < len(clip.keep_home)
        assert (clip.edge_map < 0).any()
        args = {"keep": clip.keep_home, "xy": clip.homes.xy, "net": clip.network, "edge_map": clip.edge_map}
        whole = home_info(base, params).subset(
            clip.keep_home, clip.homes.xy, clip.network, clip.edge_map, max_dist=params.home_snap_max_m
        )
        alone = area_home_info(base, params, **args)
        _same(alone, whole)
        assert len(alone.land.cells)
        assert any(v is not None for v in alone.names[1])
        # with a cache folder and a keyed base: the whole extract's information (kept), cut
        keyed = dataclasses.replace(base, key=f"toy-{seed}")
        cached = dataclasses.replace(params, cache_dir=tmp_path)
        _same(area_home_info(keyed, cached, **args), whole)
        assert list(tmp_path.glob("homes-*/manifest.json"))


def _plain_land(lat, polys) -> np.ndarray:
    """Cells of ``lat`` whose centre lies on the union of the land (a mask over flat cells)."""
    cy, cx = np.divmod(np.arange(lat.rows * lat.cols), lat.cols)
    union = shapely.union_all([p for p in polys if p is not None and not p.is_empty])
    return shapely.contains_xy(union, (cx + 0.5) * lat.cell + lat.x0, (cy + 0.5) * lat.cell + lat.y0)


def _scene(seed: int, homes: int, n_small: int, n_big: int):
    """The generator, random homes over 700 m, land (:func:`_land`) and the homes' lattice."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 700, (homes, 2))
    polys = _land(rng, n_small, n_big)
    return rng, xy, polys, land_lattice(xy, 11.25)


def test_land_cells_are_the_cells_whose_centre_is_on_land_near_a_home():
    _, xy, polys, lat = _scene(5, 120, 300, 20)
    cells, owner = home_land(lat, xy, polys)
    own = np.floor((xy - (lat.x0, lat.y0)) / lat.cell).astype(np.int64)
    is_land = _plain_land(lat, polys)
    is_land[own[:, 1] * lat.cols + own[:, 0]] = True  # a home's own cell is land
    # every cell returned is land, and with a reach over the whole grid every land cell is
    assert is_land[cells].all()
    far = home_land(lat, xy, polys, reach_m=1e9)[0]
    assert set(far.tolist()) == set(np.flatnonzero(is_land).tolist())
    assert set(cells.tolist()) < set(far.tolist())
    assert (np.diff(cells) > 0).all()
    assert len(owner) == len(cells)


def test_land_of_some_owners_is_their_part_of_everyone_s_land():
    rng, xy, polys, lat = _scene(7, 200, 200, 15)
    cells, owner = home_land(lat, xy, polys)
    for _ in range(4):
        mask = rng.random(len(xy)) < 0.3
        c, o = home_land(lat, xy, polys, owners=mask)
        np.testing.assert_array_equal(c, cells[mask[owner]])
        np.testing.assert_array_equal(o, owner[mask[owner]])
    none = home_land(lat, xy, polys, owners=np.zeros(len(xy), bool))
    assert len(none[0]) == len(none[1]) == 0


def test_land_polygons_are_left_as_they_were():
    """home_land prepares copies of the polygons it tests, never the caller's (shared, maybe by threads)."""
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 700, (50, 2))
    polys = _land(rng, 40, 5)
    real = np.array([p for p in polys if p is not None and not p.is_empty], dtype=object)
    shapely.prepare(real[:3])
    before = home_land(land_lattice(xy, 11.25), xy, polys)
    assert shapely.is_prepared(real[:3]).all()
    assert not shapely.is_prepared(real[3:]).any()
    shapely.destroy_prepared(real)
    after = home_land(land_lattice(xy, 11.25), xy, polys)
    assert not shapely.is_prepared(real).any()
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
