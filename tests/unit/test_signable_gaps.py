"""Gap outlines on hand-made label images: groups never merge, and no cell is drawn that is not
a group's own (issue 13: gap areas that are land, outside their circle)."""

from __future__ import annotations

import numpy as np
import shapely

from geo.gaps import _group_outlines, area_cells
from geo.grid import Lattice, polygons_by_group


def _polygons(label: np.ndarray, n: int):
    lat = Lattice(0.0, 0.0, 1.0, label.shape[0], label.shape[1])
    outline, group = _group_outlines(label, 0, 0)  # labels 1..n, 0: none
    return lat, polygons_by_group(lat, outline, group - 1, n)


def _cells(label: np.ndarray, g: int, lat) -> object:
    r, c = np.nonzero(label == g)
    return shapely.union_all(shapely.box(lat.x0 + c, lat.y0 + r, lat.x0 + c + 1, lat.y0 + r + 1))


def test_groups_touching_at_a_corner_stay_two_polygons():
    label = np.zeros((10, 10), np.int32)
    label[1:4, 1:4] = 1
    label[4:7, 4:7] = 2  # touches group 1 only at the corner between cells (3, 3) and (4, 4)
    lat, polys = _polygons(label, 2)
    assert not polys[0].is_empty and not polys[1].is_empty
    assert shapely.is_valid(polys).all()
    assert shapely.intersection(polys[0], polys[1]).area == 0
    for g in (1, 2):  # each polygon lies in its own group's cells
        assert polys[g - 1].difference(_cells(label, g, lat)).area < 1e-9
        assert polys[g - 1].area > 1.0


def test_a_one_cell_spur_is_left_out_not_widened():
    label = np.zeros((12, 12), np.int32)
    label[2:7, 2:7] = 1
    label[4, 7:11] = 1  # a one-cell-wide spur
    label[8, 8] = 1  # a lone cell touching nothing
    label[7, 7] = 0
    lat, polys = _polygons(label, 1)
    assert shapely.is_valid(polys[0])
    assert polys[0].difference(_cells(label, 1, lat)).area < 1e-9  # nothing drawn beyond the group's cells
    assert polys[0].area >= 16.0 - 1e-9  # the 5 x 5 block, outlined through its cells' centres


def test_area_cells_are_the_cells_whose_centres_are_inside_and_its_edge():
    lat = Lattice(0.0, 0.0, 10.0, 20, 30)
    poly = shapely.Polygon([(0, 0), (300, 0), (300, 200), (0, 200)], [[(100, 50), (200, 50), (200, 150), (100, 150)]])
    m = area_cells(lat, poly)
    rows, cols = np.mgrid[0:20, 0:30]
    cx, cy = (cols + 0.5) * 10.0, (rows + 0.5) * 10.0
    want = shapely.contains_xy(poly, cx, cy)
    assert m.shape == (20, 30) and m[want].all()
    # cells the rasteriser adds lie on the boundary (within one cell of it)
    extra = m & ~want
    assert extra.any() and (shapely.distance(poly.boundary, shapely.points(cx[extra], cy[extra])) <= 10.0).all()
