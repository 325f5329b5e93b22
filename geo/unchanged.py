"""What a change leaves exactly as drawn: a layer view's circles and gap areas, kept.

A layer view's dissolved circles are drawn (:mod:`geo.raster`) from the street stretches its
facilities reach within the largest limit (every edge at a node reached within it, cut where
the walk ends, and the stretch of each facility's own edge), on the lattice the network's extent
fixes; its gap areas at a limit (:mod:`geo.gaps`) from that limit's circle and the homes the
limit leaves uncovered. When a change (a scenario's edits, sites added) leaves all of that as
it was, the view's circles and gap polygons are those of the plan before, to the byte, and it
is not drawn again: :func:`same_drawing` and :func:`same_uncovered` say whether that holds.

The gap rows also carry the uncovered homes' walk times and nearest facility, which a change
may alter beyond the limits (a bridge closed); :func:`gap_figures_patch` makes those columns
again, the groups and their order being the same, without drawing.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.drawing import LayerJob
from geo.gaps import GapHomes, changed_group_rows, gap_figures
from geo.grid import Lattice, extent
from geo.netedit import EditLog
from geo.network import Network, Snapped
from geo.plan_types import LayerResult, PlanResult

#: the gap columns a change may alter while the groups of homes (and their land) stay
FIGURE_COLUMNS = ("walk_min_centre", "walk_min_max", "nearest_facility", "nearest_facility_id")


def same_drawing(
    before_net: Network,
    after_net: Network,
    log: EditLog,
    before: LayerResult,
    after: LayerResult,
    reach_m: float,
    *,
    extent_same: bool | None = None,
) -> bool:
    """Whether a view's circles are drawn from the same stretches before and after a change.

    True when the network's extent is the same (so is the lattice), the nodes within
    ``reach_m`` (the largest limit) are the same with the same distances, no edge the change
    closed, split or added touches one of them, and the view's placed facilities stand at the
    same places. Then every circle, and every limit's drawn cells, are the same.

    ``log`` says which edge of ``before_net`` became which of ``after_net`` (nodes keep their
    numbers; new ones come after them). ``extent_same``: :func:`same_extent` of the two networks,
    when known.
    """
    n0 = before_net.n_nodes
    bd, ad = before.reach.dist, after.reach.dist
    if len(bd) != n0 or len(ad) != after_net.n_nodes or len(ad) < n0:
        return False
    if not (extent_same if extent_same is not None else same_extent(before_net, after_net)):
        return False
    rb, ra = bd <= reach_m, ad <= reach_m
    if ra[n0:].any() or not np.array_equal(rb, ra[:n0]) or not np.array_equal(bd[rb], ad[:n0][rb]):
        return False
    gone = np.concatenate([np.asarray(log.closed, np.int64), np.fromiter(log.split_pieces, np.int64)])
    if (rb[before_net.edge_u[gone]] | rb[before_net.edge_v[gone]]).any():
        return False
    new = np.concatenate(
        [np.asarray(log.links, np.int64), *[np.asarray(p, np.int64) for p in log.split_pieces.values()]]
    )
    if (ra[after_net.edge_u[new]] | ra[after_net.edge_v[new]]).any():
        return False
    return _same_places(before.snapped, after.snapped, log.edge_map)


def same_extent(a: Network, b: Network) -> bool:
    """Whether two networks' street geometry spans the same box (the drawing lattice is made from it)."""
    if a is b:
        return True
    if len(a.geom_xy) == 0 or len(b.geom_xy) == 0:
        return len(a.geom_xy) == len(b.geom_xy)
    (alo, ahi), (blo, bhi) = extent(a.geom_xy), extent(b.geom_xy)
    return bool(np.array_equal(alo, blo) and np.array_equal(ahi, bhi))


def _same_places(before: Snapped, after: Snapped, edge_map: np.ndarray) -> bool:
    """Whether the placed facilities stand at the same places (as many at each), edges mapped by ``edge_map``."""
    be = np.asarray(edge_map)[before.edge[before.ok]]
    if (be < 0).any():
        return False
    b = np.column_stack([be, before.along[before.ok]])
    a = np.column_stack([after.edge[after.ok], after.along[after.ok]])
    if len(a) != len(b):
        return False
    b = b[np.lexsort((b[:, 1], b[:, 0]))]
    a = a[np.lexsort((a[:, 1], a[:, 0]))]
    return bool(np.array_equal(a, b))


def same_uncovered(before: np.ndarray, after: np.ndarray, limits: Sequence[float]) -> bool:
    """Whether every limit leaves the same homes uncovered (home distances ``before`` and ``after``)."""
    return all(np.array_equal(before <= lim, after <= lim) for lim in limits)


def _nearest(lr: LayerResult, homes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Name and id of the nearest facility of ``homes`` (None where none is reached), as the gap rows give them."""
    fac = lr.facilities
    src = lr.home_src[homes]
    names = np.full(len(homes), None, object)
    ids = np.full(len(homes), None, object)
    ok = (src >= 0) & (src < len(fac))
    if ok.any():
        names[ok] = fac["name"].to_numpy(dtype=object)[src[ok]]
        ids[ok] = fac["id"].to_numpy(dtype=object)[src[ok]]
    return names, ids


def gap_figures_patch(
    old_rows: pd.DataFrame,
    before: LayerResult,
    after: LayerResult,
    gh: GapHomes,
    limits: Sequence[tuple[float, float, str]],
    speeds: dict,
) -> pd.DataFrame | None:
    """The figure columns of a kept view's gap rows after a change, or None when they are the same.

    ``old_rows``: the view's gap rows of the plan before, in their order (ranked per limit);
    ``limits``: ``(metres, minutes, profile)`` of each limit. The uncovered homes must be the same
    (:func:`same_uncovered`), so are the groups. The rows of the groups holding a home whose walk
    or nearest facility changed are made again from those homes
    (:func:`geo.gaps.changed_group_rows`) and found among ``old_rows`` by their values before;
    where that is not one row each, every row is made again (:func:`geo.gaps.gap_figures`).
    Returns :data:`FIGURE_COLUMNS` aligned with ``old_rows``.

    Raises
    ------
    ValueError
        When the rows made again do not match ``old_rows`` group for group (homes and people).
    """
    bjob, ajob = LayerJob.of_layer(before.name, before), LayerJob.of_layer(after.name, after)
    cols = {c: old_rows[c].to_numpy(dtype=object).copy() for c in FIGURE_COLUMNS}
    values = {c: old_rows[c].to_numpy(dtype=object) for c in _ROW_KEY}
    homes_at = old_rows["homes"].to_numpy(np.int64)
    people_at = old_rows["people"].to_numpy(float)
    changed_any = False
    for m, mi, p in limits:
        out = np.flatnonzero(gh.counted & ~(after.home_dist <= m))
        bn, bi = _nearest(before, out)
        an, ai = _nearest(after, out)
        changed = out[(before.home_dist[out] != after.home_dist[out]) | (bn != an) | (bi != ai)]
        if len(changed) == 0:
            continue
        changed_any = True
        pairs = changed_group_rows(gh, bjob, ajob, m, (mi, p, speeds[p]), changed)
        here = ((old_rows["minutes"] == float(mi)) & (old_rows["profile"] == p)).to_numpy()
        for b, a in pairs or []:
            # the row holding the group's values before: the same homes and people, then all its values
            maybe = np.flatnonzero(here & (homes_at == b["homes"]) & (people_at == b["people"]))
            key = _key(tuple(b[c] for c in _ROW_KEY))
            hit = [i for i in maybe if _key(tuple(values[c][i] for c in _ROW_KEY)) == key]
            if len(hit) != 1:
                pairs = None
                break
            for c in FIGURE_COLUMNS:
                cols[c][hit[0]] = a[c]
        if pairs is None:  # the groups too many, or a row not found once: all made again
            return _all_rows(old_rows, ajob, gh, limits, speeds)
    return pd.DataFrame(cols, index=old_rows.index) if changed_any else None


#: the columns that tell a view's gap rows at one limit apart (with the figures before)
_ROW_KEY = ("homes", "people", "street", "community", "named_from", *FIGURE_COLUMNS)


def _key(values: tuple) -> tuple:
    """Row values comparable between a table and the rows made (missing: None; numbers: float)."""
    out: list[object] = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            out.append(v)
    return tuple(out)


def _all_rows(
    old_rows: pd.DataFrame, job: LayerJob, gh: GapHomes, limits: Sequence[tuple[float, float, str]], speeds: dict
) -> pd.DataFrame:
    """Every gap row of the view made again, its figure columns put in the order of ``old_rows``."""
    metres = [m for m, _, _ in limits]
    labels = [(mi, p, speeds[p]) for _, mi, p in limits]
    parts = []
    for rows, (_, mi, p) in zip(gap_figures(gh, job, metres, labels), limits, strict=True):
        old = old_rows[(old_rows["minutes"] == float(mi)) & (old_rows["profile"] == p)]
        new = pd.DataFrame(rows, columns=["homes", "people", *FIGURE_COLUMNS])
        new = new.iloc[np.argsort(-new["people"].to_numpy(float), kind="stable")] if len(new) else new
        if len(new) != len(old) or not (
            np.array_equal(new["homes"].to_numpy(np.int64), old["homes"].to_numpy(np.int64))
            and np.array_equal(new["people"].to_numpy(float), old["people"].to_numpy(float))
        ):
            raise ValueError(f"{job.name}: the gap rows at {mi:g} min do not match the plan before's")
        parts.append(new[list(FIGURE_COLUMNS)].set_axis(old.index))
    patch = pd.concat(parts) if parts else pd.DataFrame(columns=list(FIGURE_COLUMNS))
    if len(patch) != len(old_rows):
        raise ValueError(f"{job.name}: the plan before holds gap rows at other limits")
    return patch.loc[old_rows.index]


def figure_homes(before: PlanResult) -> GapHomes:
    """The plan's homes as :func:`gap_figures_patch` needs them (their names; no land: nothing is drawn)."""
    street, community, named_from = before.home_names
    homes = before.homes
    return GapHomes(
        homes.xy,
        homes.people,
        np.ones(len(homes), bool),
        street,
        community,
        named_from,
        Lattice(0.0, 0.0, 1.0, 1, 1),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        before.params.gap_link_m,
    )


def patched_gaps(gaps: gpd.GeoDataFrame, patches: dict[str, pd.DataFrame]) -> gpd.GeoDataFrame:
    """``gaps`` (a plan's gap rows) with the figure columns of kept views replaced.

    ``patches``: view -> :func:`gap_figures_patch`'s columns, aligned with that view's rows in order.
    """
    if not patches:
        return gaps
    gaps = gaps.copy()
    layer = gaps["layer"].to_numpy()
    for name, patch in patches.items():
        at = np.flatnonzero(layer == name)
        if len(at) != len(patch):
            raise ValueError(f"{name}: {len(patch)} gap rows patched, {len(at)} held")
        for c in FIGURE_COLUMNS:
            col = gaps.columns.get_loc(c)
            vals = patch[c].to_numpy(dtype=object)
            if gaps[c].dtype.kind == "f":
                vals = np.array([np.nan if v is None else v for v in vals], float)
            gaps.iloc[at, col] = vals
    return gaps
