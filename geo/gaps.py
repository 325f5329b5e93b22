"""Gap areas: the land of uncovered homes, outside the circle, grouped and named, ranked by people.

For each layer view, threshold and profile:

1. The *uncovered homes* are those inside the study area farther than the threshold's walk from
   every facility of the view.
2. They are grouped: homes closer than ``gap_link_m`` (default 100 m) to one another form one
   group (single linkage over a KD-tree), and a group that spans several streets (街道) or
   communities (社区) is split along them, so each area carries one street and one community.
3. Each group's area is its homes' *land* minus the circle of the same view, threshold and
   profile: the cells of a coarse grid (the circles' lattice pooled ``GAP_FACTOR`` x
   ``GAP_FACTOR``, 11.25 m by default) that lie on residential land (``landuse=residential``
   parcels and home footprints) and are nearer to a home of the group than to any other home,
   within :data:`LAND_REACH_M` of it, and that no drawn cell of the circle touches. Gap areas
   therefore never claim land inside their circle, and touch only land where people live.

Each area carries the home count, the estimated people, the walk time from its centre (the
home nearest the group's centroid) to the nearest facility and that facility's name, the
longest walk of its homes, its street and community and where those names came from, and its
land area. Why straight-line linkage: uncovered homes are by definition far (in walking terms)
from every facility; the grouping only decides which of them a planner looks at together, and
100 m keeps homes in one block or across one street; a wide barrier (the Qiantang is ~1 km)
splits them anyway, and the walk times reported are measured on the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: a land cell belongs to its nearest home only within this distance (m).
LAND_REACH_M = 120.0
GAP_COLUMNS = [
    "rank", "layer", "minutes", "profile", "homes", "people", "walk_min_centre", "walk_min_max",
    "nearest_facility", "nearest_facility_id", "street", "community", "named_from", "land_km2",
]


def cluster_points(xy: np.ndarray, link_m: float) -> np.ndarray:
    """Label points so that points within ``link_m`` of each other share a label."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xy)
    if n == 0:
        return np.zeros(0, np.int64)
    pairs = cKDTree(xy).query_pairs(link_m, output_type="ndarray")
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return labels


@dataclass(frozen=True, eq=False)
class GapHomes:
    """The homes of a plan as the gap areas see them, and the land each one owns."""

    xy: np.ndarray  # (H, 2) metric
    people: np.ndarray
    counted: np.ndarray  # inside the study area: only these make gaps
    street: np.ndarray  # name or None, per home
    community: np.ndarray
    named_from: np.ndarray  # "admin boundary", "nearest place" or None, per home
    lattice: object  # geo.raster.Lattice of the land cells
    land_cells: np.ndarray  # flat indices of land cells
    land_owner: np.ndarray  # the home owning each of them
    link_m: float = 100.0


def home_land(lattice, homes_xy: np.ndarray, land_polygons: np.ndarray, *, reach_m: float = LAND_REACH_M
              ) -> tuple[np.ndarray, np.ndarray]:
    """Land cells of ``lattice`` and their owner home: residential land (``land_polygons``,
    metric; parcels and footprints) nearest to each home, within ``reach_m``; every home's own
    cell is land too. Returns ``(flat cell indices, owner home)``."""
    from geo.raster import opencv

    cv2 = opencv()
    import shapely

    rows, cols = lattice.rows, lattice.cols
    land = np.zeros((rows, cols), np.uint8)
    polys = np.asarray(land_polygons, dtype=object)
    polys = polys[~shapely.is_missing(polys) & ~shapely.is_empty(polys)] if len(polys) else polys
    if len(polys):
        r, c = _cells_inside(lattice, polys)
        land[r, c] = 1
    cells = np.floor((np.asarray(homes_xy, float) - (lattice.x0, lattice.y0)) / lattice.cell).astype(np.int64)
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < cols) & (cells[:, 1] >= 0) & (cells[:, 1] < rows)
    seeds = np.ones((rows, cols), np.uint8)
    seeds[cells[inside, 1], cells[inside, 0]] = 0
    if not inside.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    land[cells[inside, 1], cells[inside, 0]] = 1
    dist, label = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, cv2.DIST_MASK_5,
                                                  labelType=cv2.DIST_LABEL_PIXEL)
    # labels number the seed cells in row-major order; a cell holding several homes keeps one
    home_ids = np.flatnonzero(inside)
    key = cells[inside, 1] * cols + cells[inside, 0]
    order = np.lexsort((home_ids, key))
    key, home_ids = key[order], home_ids[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    seed_home = home_ids[first]
    flat = np.flatnonzero((land.ravel() > 0) & (dist.ravel() * lattice.cell <= reach_m))
    owner = seed_home[label.ravel()[flat] - 1]
    return flat, owner


def _cells_inside(lattice, polys: np.ndarray, chunk: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Cells of ``lattice`` whose centre lies in one of ``polys`` (metric): every cell of each
    polygon's bounding box is tested, with arrays (an outline-drawing fill would claim about
    half a cell more all round)."""
    import shapely

    from geo.network import _ranges

    b = shapely.bounds(polys)
    c0 = np.clip(np.ceil((b[:, 0] - lattice.x0) / lattice.cell - 0.5), 0, lattice.cols).astype(np.int64)
    c1 = np.clip(np.floor((b[:, 2] - lattice.x0) / lattice.cell - 0.5), -1, lattice.cols - 1).astype(np.int64)
    r0 = np.clip(np.ceil((b[:, 1] - lattice.y0) / lattice.cell - 0.5), 0, lattice.rows).astype(np.int64)
    r1 = np.clip(np.floor((b[:, 3] - lattice.y0) / lattice.cell - 0.5), -1, lattice.rows - 1).astype(np.int64)
    nc, nr = np.maximum(c1 - c0 + 1, 0), np.maximum(r1 - r0 + 1, 0)
    n = nc * nr
    keep = n > 0
    idx, n, c0, r0, nc = np.flatnonzero(keep), n[keep], c0[keep], r0[keep], nc[keep]
    out_r, out_c = [], []
    bounds = np.searchsorted(np.cumsum(n), np.arange(0, int(n.sum()) + chunk, chunk), side="right")
    for a, z in zip(bounds[:-1], bounds[1:]):
        if z <= a:
            continue
        k = _ranges(np.zeros(z - a, np.int64), n[a:z])
        which = np.repeat(np.arange(a, z), n[a:z])
        rr = r0[which] + k // nc[which]
        cc = c0[which] + k % nc[which]
        x = (cc + 0.5) * lattice.cell + lattice.x0
        y = (rr + 0.5) * lattice.cell + lattice.y0
        inside = shapely.contains_xy(polys[idx[which]], x, y)
        out_r.append(rr[inside])
        out_c.append(cc[inside])
    if not out_r:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_r), np.concatenate(out_c)


def gap_rows(ctx, job, circles: list, masks: list) -> tuple[list[dict], list]:
    """Gap rows and polygons (metric) of one layer view, for every limit of the context.

    ``circles`` are the view's circles (one per limit) and ``masks`` their drawn cells pooled
    onto the land lattice (:func:`geo.raster.pool_cells`; None where the circle is empty or was
    not drawn on a grid, then the circle polygon is rasterised instead).
    """
    from geo.raster import Outline, build_polygons

    gh: GapHomes = ctx.gap_homes
    lat = gh.lattice
    rows_out: list[dict] = []
    outlines: list[Outline] = []
    home_dist = job.home_dist
    for j, limit in enumerate(ctx.limits):
        minutes, profile, speed = ctx.gap_labels[j]
        out = np.flatnonzero(gh.counted & ~(home_dist <= limit))
        if len(out) == 0:
            continue
        groups = _groups(gh, out)
        n_groups = int(groups.max()) + 1
        group_of = np.full(len(gh.xy), -1, np.int64)
        group_of[out] = groups
        cell_group = group_of[gh.land_owner]
        circle_cells = _circle_cells(lat, masks[j] if j < len(masks) else None, circles[j])
        keep = cell_group >= 0
        label = np.zeros(lat.rows * lat.cols, np.int32)
        label[gh.land_cells[keep]] = (cell_group[keep] + 1).astype(np.int32)
        label = label.reshape(lat.rows, lat.cols)
        label[circle_cells] = 0
        shapes = _group_outlines(_grow(label, circle_cells))
        cells_per_group = np.bincount(label.ravel(), minlength=n_groups + 1)[1:]
        per_minute = 1000.0 * speed / 60.0
        centre, people, walk_max = _group_figures(gh, out, groups, n_groups, home_dist)
        for g in range(n_groups):
            c = centre[g]
            d = home_dist[c]
            src = job.home_src[c] if job.home_src is not None else -1
            outlines.append(shapes.get(g + 1, Outline.empty()))
            rows_out.append({
                "layer": job.name, "minutes": float(minutes), "profile": profile,
                "homes": int(people[1][g]), "people": round(float(people[0][g]), 1),
                "walk_min_centre": round(float(d) / per_minute, 1) if np.isfinite(d) else None,
                "walk_min_max": round(float(walk_max[g]) / per_minute, 1) if np.isfinite(walk_max[g]) else None,
                "nearest_facility": _at(job.names, src), "nearest_facility_id": _at(job.ids, src),
                "street": gh.street[c], "community": gh.community[c], "named_from": gh.named_from[c],
                "land_km2": round(int(cells_per_group[g]) * lat.cell**2 / 1e6, 4),
            })
    polys = build_polygons(lat, outlines) if outlines else []
    geoms = [p if not p.is_empty else None for p in polys]
    return rows_out, geoms


def _group_figures(gh: GapHomes, out: np.ndarray, groups: np.ndarray, n: int, home_dist: np.ndarray):
    """Per group: the home nearest its centroid, (people, homes), and the longest walk (inf when
    a home reaches no facility)."""
    xy = gh.xy[out]
    count = np.bincount(groups, minlength=n)
    cx = np.bincount(groups, weights=xy[:, 0], minlength=n) / count
    cy = np.bincount(groups, weights=xy[:, 1], minlength=n) / count
    d2 = (xy[:, 0] - cx[groups]) ** 2 + (xy[:, 1] - cy[groups]) ** 2
    order = np.lexsort((d2, groups))
    first = np.searchsorted(groups[order], np.arange(n))
    centre = out[order[first]]
    people = np.bincount(groups, weights=gh.people[out], minlength=n)
    walk = home_dist[out]
    walk_max = np.full(n, -np.inf)
    np.maximum.at(walk_max, groups, np.where(np.isfinite(walk), walk, np.inf))
    return centre, (people, count), walk_max


def _group_outlines(label: np.ndarray) -> dict:
    """Outlines of every group of a label image (0: none), traced at once: cells touching a
    cell of another group are left out first, so groups never merge into one polygon."""
    from geo.raster import first_cells, split_outline, trace

    lab = np.zeros((label.shape[0] + 2, label.shape[1] + 2), np.int32)
    lab[1:-1, 1:-1] = label
    # a cell is cleared when its right or lower neighbour is another group (one side of each border)
    right = (lab[:, :-1] > 0) & (lab[:, 1:] > 0) & (lab[:, :-1] != lab[:, 1:])
    down = (lab[:-1, :] > 0) & (lab[1:, :] > 0) & (lab[:-1, :] != lab[1:, :])
    m = (lab > 0).astype(np.uint8)
    m[:, :-1][right] = 0
    m[:-1, :][down] = 0
    outline = trace(m, -1, -1, min_hole_cells=1.0)
    if len(outline.rings) == 0:
        return {}
    cells = first_cells(outline)
    group = lab[cells[:, 1] + 1, cells[:, 0] + 1]
    return split_outline(outline, group.astype(np.int64))


def _at(values, i: int):
    if values is None or i is None or i < 0 or i >= len(values):
        return None
    v = values[i]
    return v.item() if hasattr(v, "item") else v


def _groups(gh: GapHomes, out: np.ndarray) -> np.ndarray:
    """Group number of each uncovered home: linked within ``link_m``, split by street and community."""
    link = cluster_points(gh.xy[out], gh.link_m)
    street = np.asarray([s or "" for s in gh.street[out]], dtype=object)
    comm = np.asarray([s or "" for s in gh.community[out]], dtype=object)
    key = np.char.add(np.char.add(link.astype(str), "|"), np.char.add(np.char.add(street.astype(str), "|"),
                                                                      comm.astype(str)))
    _, groups = np.unique(key, return_inverse=True)
    return groups.ravel()


def _circle_cells(lat, mask, circle) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the land lattice's cells a circle touches: its drawn cells pooled onto
    the land lattice, or (for an exact circle) the cells its polygon covers, grown by one cell."""
    if mask is None:
        if circle is None or circle.is_empty:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        mask = _rasterise(lat, circle)
    r0, c0, m = mask
    r, c = np.nonzero(m)
    r, c = r + r0, c + c0
    ok = (r < lat.rows) & (c < lat.cols)
    return r[ok], c[ok]


def _grow(label: np.ndarray, blocked: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Every group's cells grown by one cell into free cells the circle does not touch, so that
    outlines traced through cell centres enclose the groups' whole cells (not half a cell less)."""
    rows = np.flatnonzero(label.any(axis=1))
    cols = np.flatnonzero(label.any(axis=0))
    if len(rows) == 0:
        return label
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, label.shape[0])
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, label.shape[1])
    win = label[r0:r1, c0:c1]
    free = win == 0
    block = np.zeros(win.shape, bool)
    br, bc = blocked
    sel = (br >= r0) & (br < r1) & (bc >= c0) & (bc < c1)
    block[br[sel] - r0, bc[sel] - c0] = True
    free &= ~block
    grown = win.copy()
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        src = np.zeros_like(win)
        src[max(dr, 0):win.shape[0] + min(dr, 0), max(dc, 0):win.shape[1] + min(dc, 0)] = \
            win[max(-dr, 0):win.shape[0] + min(-dr, 0), max(-dc, 0):win.shape[1] + min(-dc, 0)]
        take = free & (grown == 0) & (src > 0)
        grown[take] = src[take]
    out = label.copy()
    out[r0:r1, c0:c1] = grown
    return out


def _rasterise(lat, poly) -> tuple[int, int, np.ndarray]:
    from geo.raster import opencv

    cv2 = opencv()
    import shapely

    m = np.zeros((lat.rows, lat.cols), np.uint8)
    for part in shapely.get_parts(poly):
        rings = [lat.fixed(np.asarray(r.coords)) for r in [part.exterior, *part.interiors]]
        cv2.fillPoly(m, rings, 1, cv2.LINE_8, 4)
    m = cv2.dilate(m, np.ones((3, 3), np.uint8))
    return 0, 0, m
