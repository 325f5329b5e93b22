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
   within :data:`geo.homeinfo.LAND_REACH_M` of it, and that no drawn cell of the circle touches. Gap areas
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

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.grid import (
    PASSED_TWICE,
    PINCHED,
    SHIFT,
    Lattice,
    Outline,
    cell_flags,
    first_cells,
    opencv,
    outline_of,
    passed_twice,
    passed_twice_at,
    polygons_by_group,
    trace,
)
from geo.nearby import CellGrid, pairs_within, within_of

if TYPE_CHECKING:
    from geo.drawing import DrawContext, LayerJob

GAP_COLUMNS = [
    "rank",
    "layer",
    "minutes",
    "profile",
    "homes",
    "people",
    "walk_min_centre",
    "walk_min_max",
    "nearest_facility",
    "nearest_facility_id",
    "street",
    "community",
    "named_from",
    "land_km2",
]


def cluster_points(xy: np.ndarray, link_m: float) -> np.ndarray:
    """Label points so that points within ``link_m`` of each other share a label."""
    if len(xy) == 0:
        return np.zeros(0, np.int64)
    return _components(_linked_pairs(xy, link_m), len(xy))


def _linked_pairs(xy: np.ndarray, link_m: float) -> np.ndarray:
    """``(m, 2)`` index pairs of the points within ``link_m`` of each other."""
    return pairs_within(xy, link_m)


def _components(pairs: np.ndarray, n: int) -> np.ndarray:
    """Component label (numbered by their first point) of ``n`` points linked by ``pairs``."""
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return labels


def _pairs_among(before: tuple[np.ndarray, np.ndarray] | None, out: np.ndarray) -> np.ndarray | None:
    """The linked pairs of homes ``out`` taken from those of more homes, or None when they are not more.

    ``before``: ``(homes, pairs)`` of a longer list of homes (a shorter limit's uncovered homes,
    which hold the next limit's). Which two homes are linked does not depend on the others.
    """
    if before is None:
        return None
    homes, pairs = before
    at = np.searchsorted(homes, out)
    if np.any(at >= len(homes)) or np.any(homes[np.minimum(at, len(homes) - 1)] != out):
        return None
    new = np.full(len(homes), -1, np.int64)
    new[at] = np.arange(len(out))
    p = new[pairs]
    return p[(p >= 0).all(axis=1)]


@dataclass(frozen=True, eq=False)
class GapHomes:
    """The homes of a plan as the gap areas see them, and the land each one owns."""

    xy: np.ndarray  # (H, 2) metric
    people: np.ndarray
    counted: np.ndarray  # inside the study area: only these make gaps
    street: np.ndarray  # name or None, per home
    community: np.ndarray
    named_from: np.ndarray  # "admin boundary", "nearest place" or None, per home
    lattice: Lattice  # of the land cells
    land_cells: np.ndarray  # flat indices of land cells
    land_owner: np.ndarray  # the home owning each of them
    link_m: float = 100.0
    #: ``(rows, cols)`` mask of the lattice cells inside the study area (None: no area); gap land
    #: stops at its boundary, as the homes counted do (:func:`area_cells`)
    inside: np.ndarray | None = None

    @cached_property
    def name_codes(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Street and community of every home as codes into their texts (no name: ``""``).

        ``((street_code, street_text), (community_code, community_text))``.
        """
        out = []
        for names in (self.street, self.community):
            text = np.asarray([s or "" for s in names], dtype=object).astype(str)
            uniq, code = np.unique(text, return_inverse=True)
            out.append((code.ravel().astype(np.int64), uniq))
        return out[0], out[1]


def gap_rows(
    ctx: DrawContext, job: LayerJob, circles: list, masks: list, *, threads: int = 1
) -> tuple[list[dict], list]:
    """Gap rows and polygons (metric) of one layer view, for every limit of the context.

    ``circles`` are the view's circles (one per limit) and ``masks`` their drawn cells pooled
    onto the land lattice (:func:`geo.grid.pool_cells`; None where the circle is empty or was
    not drawn on a grid, then the circle polygon is rasterised instead).
    """
    gh = ctx.gap_homes
    assert isinstance(gh, GapHomes), "gap areas need the context's homes"
    assert job.home_dist is not None, "gap areas need the homes' walk distances"
    lat = gh.lattice
    rows_out: list[dict] = []
    outlines: list[Outline] = []
    group_of_polygon: list[np.ndarray] = []
    home_dist = job.home_dist
    linked: tuple[np.ndarray, np.ndarray] | None = None  # the last limit's uncovered homes and their links
    found = []  # per limit with uncovered homes: (limit's index, homes, their groups)
    for j, limit in enumerate(ctx.limits):
        grouped = _uncovered_groups(gh, home_dist, limit, linked)
        if grouped is not None:
            out, groups, linked = grouped
            found.append((j, out, groups))

    def land(item: tuple[int, np.ndarray, np.ndarray]) -> tuple:
        j, out, groups = item
        group_of = np.full(len(gh.xy), -1, np.int64)
        group_of[out] = groups
        cell_group = group_of[gh.land_owner]
        keep = cell_group >= 0
        circle = _circle_cells(lat, masks[j] if j < len(masks) else None, circles[j])
        n_groups = int(groups.max()) + 1
        label, r0, c0 = _gap_image(lat, gh.land_cells[keep], cell_group[keep] + 1, circle, n_groups, inside=gh.inside)
        return _group_outlines(label, r0, c0)

    if threads > 1 and len(found) > 1:  # numpy and OpenCV work on big images, mostly without the GIL
        with ThreadPoolExecutor(min(threads, len(found))) as pool:
            lands = list(pool.map(land, found))
    else:
        lands = [land(item) for item in found]
    for (j, out, groups), (outline, group) in zip(found, lands, strict=True):
        outlines.append(outline)
        group_of_polygon.append(np.where(group > 0, group - 1 + len(rows_out), -1))
        rows_out.extend(_figure_rows(gh, job, out, groups, ctx.gap_labels[j]))
    if not rows_out:
        return [], []
    joined, group = _join(outlines, group_of_polygon)
    polys = polygons_by_group(lat, joined, group, len(rows_out))
    for row, a in zip(rows_out, shapely.area(polys).tolist(), strict=True):  # a few cells at pinches are left out
        row["land_km2"] = round(a / 1e6, 4)
    return rows_out, [p if not p.is_empty else None for p in polys]


def gap_figures(gh: GapHomes, job: LayerJob, limits: Sequence[float], labels: Sequence[tuple]) -> list[list[dict]]:
    """The gap rows of one layer view without their land: per limit, its rows (``land_km2`` 0).

    The rows :func:`gap_rows` makes (the same groups in the same order, the same figures), for
    a view whose gap areas are known to be drawn as before (:mod:`geo.unchanged`).
    ``labels``: ``(minutes, profile, speed)`` of each limit.
    """
    assert job.home_dist is not None, "gap rows need the homes' walk distances"
    out_rows: list[list[dict]] = []
    linked: tuple[np.ndarray, np.ndarray] | None = None
    for limit, label in zip(limits, labels, strict=True):
        grouped = _uncovered_groups(gh, job.home_dist, limit, linked)
        if grouped is None:
            out_rows.append([])
            continue
        out, groups, linked = grouped
        out_rows.append(_figure_rows(gh, job, out, groups, label))
    return out_rows


def changed_group_rows(
    gh: GapHomes, before: LayerJob, after: LayerJob, limit: float, label: tuple, homes: np.ndarray
) -> list[tuple[dict, dict]] | None:
    """The gap rows, before and after, of the groups holding ``homes`` (uncovered at ``limit`` both times).

    For a view whose uncovered homes are the same before and after a change (so are its groups)
    but some of whose walks changed (``homes``): the groups holding them are found from those
    homes alone (their links followed outwards, then linked and split as :func:`gap_rows` does on
    just those homes), and each gives the row :func:`gap_rows` makes, from the walks before and
    after. None when the links reach more than half the uncovered homes (then all the groups cost
    about as much). ``label``: the limit's ``(minutes, profile, speed)``.
    """
    assert after.home_dist is not None, "gap rows need the homes' walk distances"
    out = np.flatnonzero(gh.counted & ~(after.home_dist <= limit))
    homes = np.unique(homes)
    seeds = np.searchsorted(out, homes)
    if len(seeds) == 0 or seeds[-1] >= len(out) or not np.array_equal(out[seeds], homes):
        raise ValueError("changed_group_rows takes homes the limit leaves uncovered")
    xy = gh.xy[out]
    grid = CellGrid(xy, gh.link_m * (1 + 1e-9))  # a hair further than a link: never fewer homes
    reached = np.zeros(len(out), bool)
    reached[seeds] = True
    frontier = seeds
    while len(frontier):  # every home within a link of one reached
        near = within_of(grid, xy[frontier])
        frontier = near[~reached[near]]
        reached[frontier] = True
        if reached.sum() * 2 > len(out):
            return None
    region = np.flatnonzero(reached)
    link = _components(_linked_pairs(xy[region], gh.link_m), len(region))
    keep = np.isin(link, link[np.searchsorted(region, seeds)])
    sub, link = out[region[keep]], link[keep]
    (s_code, _), (c_code, _) = gh.name_codes
    _, groups = np.unique(np.column_stack([link, s_code[sub], c_code[sub]]), axis=0, return_inverse=True)
    groups = groups.ravel()
    return list(
        zip(_figure_rows(gh, before, sub, groups, label), _figure_rows(gh, after, sub, groups, label), strict=True)
    )


def _uncovered_groups(
    gh: GapHomes, home_dist: np.ndarray, limit: float, linked: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]] | None:
    """The homes ``limit`` leaves uncovered, their group numbers, and their links (None: no home).

    ``linked``: a shorter limit's uncovered homes and their links (:func:`_pairs_among`), or None.
    """
    out = np.flatnonzero(gh.counted & ~(home_dist <= limit))
    if len(out) == 0:
        return None
    pairs = _pairs_among(linked, out)
    if pairs is None:
        pairs = _linked_pairs(gh.xy[out], gh.link_m)
    return out, _groups(gh, out, _components(pairs, len(out))), (out, pairs)


def _figure_rows(gh: GapHomes, job: LayerJob, out: np.ndarray, groups: np.ndarray, label: tuple) -> list[dict]:
    """One gap row per group of uncovered homes ``out`` (``land_km2`` 0: the land is drawn apart)."""
    minutes, profile, speed = label
    home_dist = job.home_dist
    assert home_dist is not None, "gap rows need the homes' walk distances"
    n_groups = int(groups.max()) + 1
    per_minute = 1000.0 * speed / 60.0
    centre, people, walk_max = _group_figures(gh, out, groups, n_groups, home_dist)
    src = job.home_src[centre] if job.home_src is not None else np.full(n_groups, -1)
    return [
        {
            "layer": job.name,
            "minutes": float(minutes),
            "profile": profile,
            "homes": homes,
            "people": round(pe, 1),
            "walk_min_centre": round(d / per_minute, 1) if math.isfinite(d) else None,
            "walk_min_max": round(w / per_minute, 1) if math.isfinite(w) else None,
            "nearest_facility": _at(job.names, s),
            "nearest_facility_id": _at(job.ids, s),
            "street": street,
            "community": community,
            "named_from": named_from,
            "land_km2": 0.0,  # the land drawn, by gap_rows
        }
        for homes, pe, d, w, s, street, community, named_from in zip(
            people[1].tolist(),
            people[0].tolist(),
            home_dist[centre].tolist(),
            walk_max.tolist(),
            src.tolist(),
            gh.street[centre],
            gh.community[centre],
            gh.named_from[centre],
            strict=True,
        )
    ]


def _join(outlines: list, group_of_polygon: list) -> tuple:
    """Outlines (and their polygons' groups) as one outline with polygons numbered on."""
    n_poly = [int(o.polygon.max()) + 1 if len(o.polygon) else 0 for o in outlines]
    first = np.concatenate([[0], np.cumsum(n_poly)[:-1]]).astype(np.int64)
    joined = Outline(
        np.concatenate([o.xy for o in outlines]),
        np.concatenate([o.rings for o in outlines]),
        np.concatenate([o.polygon + f for o, f in zip(outlines, first, strict=True)]),
    )
    return joined, np.concatenate(group_of_polygon)


def _gap_image(
    lat: Lattice,
    cells: np.ndarray,
    label_of_cell: np.ndarray,
    circle: tuple[int, int, np.ndarray] | None,
    n: int,
    *,
    inside: np.ndarray | None = None,
) -> tuple[np.ndarray, int, int]:
    """The label image (0: none) of the groups' land cells, with its window.

    The window of the lattice holds the cells and one cell more (labels ``1..n``): cells the
    circle touches (``circle``, a window of them: :func:`_circle_cells`) and cells outside the
    study area (``inside``) are cleared, then every group grows by one cell into free cells the
    circle does not touch, so that outlines traced through cell centres enclose the groups'
    whole cells (not half a cell less). Returns the image and
    its first cell ``(row0, col0)``.
    """
    cv2 = opencv()
    r, c = np.divmod(cells, lat.cols)
    if len(r) == 0:
        return np.zeros((1, 1), np.int32), 0, 0
    r0, c0 = max(int(r.min()) - 1, 0), max(int(c.min()) - 1, 0)
    r1, c1 = min(int(r.max()) + 2, lat.rows), min(int(c.max()) + 2, lat.cols)
    dtype = np.uint16 if n < 65535 else np.float32  # what OpenCV dilates exactly
    label = np.zeros((r1 - r0, c1 - c0), dtype)
    label[r - r0, c - c0] = label_of_cell
    closed = np.zeros(label.shape, bool)
    _close_window(closed, r0, c0, circle)
    if inside is not None:  # cells outside the study area are closed as the circle's are
        closed |= ~inside[r0:r1, c0:c1]
    np.copyto(label, 0, where=closed)  # (masked copies, not boolean indexing: ~5x faster on a city's window)
    free = label == 0
    free &= ~closed
    grown = cv2.dilate(label, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)))
    np.copyto(label, grown, where=free)
    return label, r0, c0


def _group_figures(
    gh: GapHomes, out: np.ndarray, groups: np.ndarray, n: int, home_dist: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Per group: the home nearest its centroid, (people, homes), and the longest walk.

    The longest walk is inf when a home of the group reaches no facility.
    """
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


def _group_outlines(label: np.ndarray, row0: int, col0: int) -> tuple:
    """Outlines of every group of a label image, traced at once, and the label of each polygon.

    The image's first cell is ``(row0, col0)`` of the lattice (0: no group). Cells touching a cell of another
    group are left out first, so groups never merge into one polygon.
    """
    h, w = label.shape
    m = np.zeros((h + 2, w + 2), np.uint8)
    inner = m[1:-1, 1:-1]
    drawn = label > 0
    np.copyto(inner, drawn)
    # a cell is cleared when its right or lower neighbour is another group (one side of each border)
    right = label[:, :-1] != label[:, 1:]
    right &= drawn[:, 1:]
    right &= drawn[:, :-1]
    np.copyto(inner[:, :-1], 0, where=right)
    down = label[:-1, :] != label[1:, :]
    down &= drawn[1:, :]
    down &= drawn[:-1, :]
    np.copyto(inner[:-1, :], 0, where=down)
    outline = _erase_to_simple(m, row0 - 1, col0 - 1)
    if len(outline.rings) == 0:
        return outline, np.zeros(0, np.int64)
    cells = first_cells(outline)
    return outline, label[cells[:, 1] - row0, cells[:, 0] - col0].astype(np.int64)


def _erase_to_simple(m: np.ndarray, row0: int, col0: int, *, rounds: int = 64) -> Outline:
    """Clear cells of ``m`` (0/1, undrawn border) until its outline is simple; that outline.

    ``m`` is a window whose first cell is ``(row0, col0)`` of the lattice.

    Simple: no two cells touch only at a corner, and no cell is passed twice by the tracer (a
    one-cell neck or spur).

    :func:`geo.grid.trace` makes outlines simple by *drawing* cells around such places, which
    is right for circles but would let a gap area take cells of its circle or of the next group
    (two groups that touch at a corner became one polygon, and the other group lost its land).
    Here cells are only ever cleared, so every traced polygon holds cells of one group only and
    none the circle touches; what is cleared is a few cells at pinches.

    The last tracing (the simple one) makes the outline (holes of one cell and more kept).
    """
    cv2 = opencv()
    if m.shape[0] < 2 or m.shape[1] < 2:
        return trace(m, row0, col0, min_hole_cells=1.0)
    cols = m.shape[1]
    # every pinch of the window, found with one filter and a lookup; after that only the blocks
    # holding a cleared cell can change, and only those are looked at again. The same pass
    # marks the cells passed twice (once no block is pinched: geo.grid.passed_twice_at): those
    # are cleared as the tracing would find them, and only cells by a cleared one looked at again
    r, c, flag, code = cell_flags(m)
    pinched = (flag & PINCHED) > 0
    near_r, near_c = [r[(flag & PASSED_TWICE) > 0]], [c[(flag & PASSED_TWICE) > 0]]
    changed = _clear_pinches(m, r[pinched], c[pinched], code[pinched])
    for _ in range(rounds):
        for _ in range(rounds):
            if len(changed[0]) == 0:
                break
            near_r.append((changed[0][:, None] + _CROSS_R).ravel())
            near_c.append((changed[1][:, None] + _CROSS_C).ravel())
            r, c, code_rc = _pinches_near(m, *changed)
            changed = _clear_pinches(m, r, c, code_rc)
        else:  # pragma: no cover - pinches still left: not known ahead, traced
            near_r, near_c = [], []
        if near_r:
            nr, nc = np.concatenate(near_r), np.concatenate(near_c)
            near_r, near_c = [], []
            twice_at = passed_twice_at(m, nr, nc)
            if twice_at.any():  # what this tracing would find: cleared without tracing
                changed = (nr[twice_at], nc[twice_at])
                m[changed] = 0
                continue
        contours, hier = cv2.findContours(m, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        if hier is None or not contours:
            return Outline.empty()
        xy = np.concatenate(contours).reshape(-1, 2)
        twice = passed_twice(xy, cols)
        if len(twice) == 0:
            return outline_of(contours, hier, xy, row0, col0, min_hole_cells=1.0)
        changed = np.divmod(twice, cols)  # pragma: no cover - known ahead
        m[changed] = 0  # pragma: no cover
    return trace(m, row0, col0, min_hole_cells=1.0)  # pragma: no cover - never seen: settled by drawing


#: a cell and its four neighbours: the cells whose codes change when it is cleared
_CROSS_R = np.array([0, -1, 1, 0, 0])
_CROSS_C = np.array([0, 0, 0, 1, -1])


def _clear_pinches(m: np.ndarray, r: np.ndarray, c: np.ndarray, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clear one cell of each pinched 2 x 2 block ``(r, c)`` (its first cell) of ``m``; the cells cleared.

    Only ``a`` and ``d`` drawn (code 9): ``d`` is cleared; else (only ``b`` and ``c``): ``c``.
    """
    cleared = (r + 1, np.where(code == 9, c + 1, c))
    m[cleared] = 0
    return cleared


def _pinches_near(m: np.ndarray, r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pinched 2 x 2 blocks of ``m`` among those holding cells ``(r, c)``: first cells and codes."""
    h, w = m.shape
    br = (r[:, None] - np.array([0, 0, 1, 1])).ravel()  # the four blocks holding each cell
    bc = (c[:, None] - np.array([0, 1, 0, 1])).ravel()
    ok = (br >= 0) & (br < h - 1) & (bc >= 0) & (bc < w - 1)
    key = np.unique(br[ok] * w + bc[ok])
    br, bc = np.divmod(key, w)
    code = m[br, bc] + 2 * m[br, bc + 1] + 4 * m[br + 1, bc] + 8 * m[br + 1, bc + 1]
    hit = (code == 6) | (code == 9)
    return br[hit], bc[hit], code[hit]


def _at(values: np.ndarray | None, i: int) -> Any:  # noqa: ANN401 - a name or an id, as the table holds it
    if values is None or i < 0 or i >= len(values):
        return None
    v = values[i]
    return v.item() if hasattr(v, "item") else v


def _groups(gh: GapHomes, out: np.ndarray, link: np.ndarray | None = None) -> np.ndarray:
    """Group number of each uncovered home: linked within ``link_m``, split by street and community.

    Groups are numbered in the order of their keys ``"link|street|community"`` (as text); the
    keys are written out only for the distinct (link, street, community) codes. ``link``: the
    homes' link labels (:func:`cluster_points`), when known.
    """
    if link is None:
        link = cluster_points(gh.xy[out], gh.link_m)
    (s_code, s_text), (c_code, c_text) = gh.name_codes
    ns, nc = len(s_text), len(c_text)
    triple, which = np.unique((link.astype(np.int64) * ns + s_code[out]) * nc + c_code[out], return_inverse=True)
    t_link, rest = np.divmod(triple, ns * nc)
    t_street, t_comm = np.divmod(rest, nc)
    key = np.char.add(
        np.char.add(t_link.astype(str), "|"), np.char.add(np.char.add(s_text[t_street], "|"), c_text[t_comm])
    )
    _, groups = np.unique(key, return_inverse=True)
    return groups.ravel()[which.ravel()]


def _circle_cells(
    lat: Lattice, mask: tuple[int, int, np.ndarray] | None, circle: shapely.Geometry | None
) -> tuple[int, int, np.ndarray] | None:
    """The land lattice's cells a circle touches, as a window ``(row0, col0, mask)`` (None: none).

    Its drawn cells pooled onto the land lattice, or (for an exact circle) the cells its polygon
    covers, grown by one cell.
    """
    if mask is None:
        if circle is None or circle.is_empty:
            return None
        mask = _rasterise(lat, circle)
    return mask


def _close_window(closed: np.ndarray, r0: int, c0: int, window: tuple[int, int, np.ndarray] | None) -> None:
    """Mark in ``closed`` (a window of the lattice from cell ``(r0, c0)``) the drawn cells of ``window``."""
    if window is None:
        return
    wr, wc, m = window
    h, w = closed.shape
    a, b = max(wr, r0), min(wr + m.shape[0], r0 + h)  # the rows and columns both windows hold
    c, d = max(wc, c0), min(wc + m.shape[1], c0 + w)
    if a < b and c < d:
        np.logical_or(
            closed[a - r0 : b - r0, c - c0 : d - c0],
            m[a - wr : b - wr, c - wc : d - wc],
            out=closed[a - r0 : b - r0, c - c0 : d - c0],
        )


def area_cells(lat: Lattice, poly: shapely.Geometry) -> np.ndarray:
    """``(rows, cols)`` mask of the cells of ``lat`` whose centres lie in the (metric) ``poly``.

    The study area as the gap areas see it.
    """
    cv2 = opencv()
    m = np.zeros((lat.rows, lat.cols), np.uint8)
    for part in shapely.get_parts(shapely.get_parts(poly)):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        rings = [lat.fixed(shapely.get_coordinates(r)) for r in [part.exterior, *part.interiors]]
        cv2.fillPoly(m, rings, 1, cv2.LINE_8, SHIFT)
    return m.astype(bool)


def _rasterise(lat: Lattice, poly: shapely.Geometry) -> tuple[int, int, np.ndarray]:
    cv2 = opencv()
    m = np.zeros((lat.rows, lat.cols), np.uint8)
    for part in shapely.get_parts(poly):
        rings = [lat.fixed(np.asarray(r.coords)) for r in [part.exterior, *part.interiors]]
        cv2.fillPoly(m, rings, 1, cv2.LINE_8, 4)
    m = cv2.dilate(m, np.ones((3, 3), np.uint8))
    return 0, 0, m
