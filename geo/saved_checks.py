"""What a saved plan's arrays must hold, checked when it is read (:func:`geo.saved.load_plan`).

A saved plan's files are checked against the checksums of its manifest, but a file rewritten
with its checksum recomputed (by hand, or by another program) passes that check. These checks
keep such a plan from reaching the engine, where a NaN number of people or an index out of range
would fail deep inside a command or request (an internal error, HTTP 500) or give wrong answers
silently. Each problem names the file, the array and the first value at fault; every problem of
a file is said at once.

Checked: the homes' coordinates (finite) and people (a number 0..``MAX_PEOPLE``), the places of
the homes and facilities on the streets (finite distances and positions), and each view's
walk-time labels: lengths (one per node, one per home), distances (not NaN, not negative; ``inf``
is "out of reach"), facility indices (-1 or a facility of the view) and route predecessors (-1
or a node). The network's own arrays are checked by :func:`geo.network.network_from_arrays`,
the index ranges of the places by :func:`geo.network.snapped_from_arrays`.
"""

from __future__ import annotations

import numpy as np

from geo.circles import Reach
from geo.demand import MAX_PEOPLE
from geo.network import Snapped


class Problems:
    """The problems found in one file of a saved plan, said together by :meth:`raise_any`."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.found: list[str] = []

    def check(self, field: str, values: np.ndarray, good: np.ndarray, expected: str) -> None:
        """Note the entries of ``values`` where ``good`` is false (``good`` per entry, or per row of 2-D values)."""
        bad = np.flatnonzero(~np.asarray(good, bool))
        if len(bad):
            first = values[bad[0]]
            shown = first.tolist() if isinstance(first, np.ndarray) else first.item()
            self.found.append(
                f"{field}: {len(bad):,} value{'s are' if len(bad) > 1 else ' is'} not {expected} "
                f"(the first at index {bad[0]}: {shown!r})"
            )

    def length(self, field: str, values: np.ndarray, n: int, of: str) -> bool:
        """Note ``values`` when they are not ``n``, one per ``of``; whether they are."""
        if len(values) != n:
            self.found.append(f"{field}: {len(values):,} values for {n:,} {of}")
            return False
        return True

    def raise_any(self) -> None:
        """Raise ValueError naming the file and every problem noted, if any."""
        if self.found:
            raise ValueError(f"{self.file}: {'; '.join(self.found)}")


def _distances(p: Problems, field: str, d: np.ndarray) -> None:
    """Walk or snap distances: not NaN and not negative (``inf`` is out of reach)."""
    p.check(field, d, ~np.isnan(d) & (d >= 0), "a distance in metres ≥ 0")


def _indices(p: Problems, field: str, i: np.ndarray, n: int, of: str) -> None:
    """Indices of ``n`` things: -1 (none) or 0..n-1."""
    p.check(field, i, (i >= -1) & (i < n), f"-1 or the index of one of the {n:,} {of}")


def check_snapped(p: Problems, prefix: str, s: Snapped) -> None:
    """The points placed on the streets: finite distances and positions where they are placed."""
    on = np.asarray(s.ok, bool)
    dist = np.asarray(s.dist, float)
    xy = np.asarray(s.xy, float)
    p.check(f"{prefix}dist", dist, ~on | (np.isfinite(dist) & (dist >= 0)), "a finite distance in metres ≥ 0")
    p.check(f"{prefix}xy", xy, ~on | np.isfinite(xy).all(axis=1), "finite coordinates")


def check_homes(xy: np.ndarray, people: np.ndarray, snap: Snapped) -> None:
    """The homes of ``homes.npz``: finite coordinates, 0..``MAX_PEOPLE`` people, their places on the streets.

    Raises
    ------
    ValueError
        Naming the file, the arrays and their first wrong value.
    """
    p = Problems("homes.npz")
    p.check("xy", xy, np.isfinite(xy).all(axis=1), "finite coordinates")
    p.check(
        "people",
        people,
        np.isfinite(people) & (people >= 0) & (people <= MAX_PEOPLE),
        f"a number of people 0..{MAX_PEOPLE:,}",
    )
    check_snapped(p, "snap_", snap)
    p.raise_any()


def check_view(
    prefix: str, reach: Reach, home_dist: np.ndarray, home_src: np.ndarray, *, n_nodes: int, n_homes: int, view: str
) -> None:
    """A view's walk-time labels in ``layers.npz`` (arrays ``{prefix}...``) against the network and the homes.

    Raises
    ------
    ValueError
        Naming the file, the arrays and their first wrong value (or their wrong length).
    """
    p = Problems(f"layers.npz (view {view!r})")
    n_fac = len(reach.facilities)
    check_snapped(p, prefix, reach.facilities)
    if p.length(f"{prefix}reach_dist", reach.dist, n_nodes, "nodes of the network"):
        _distances(p, f"{prefix}reach_dist", reach.dist)
    if p.length(f"{prefix}source", reach.source, n_nodes, "nodes of the network"):
        _indices(p, f"{prefix}source", reach.source, n_fac, "facilities of the view")
    if p.length(f"{prefix}pred", reach.pred, n_nodes, "nodes of the network"):
        _indices(p, f"{prefix}pred", reach.pred, n_nodes, "nodes of the network")
    if p.length(f"{prefix}home_dist", home_dist, n_homes, "homes"):
        _distances(p, f"{prefix}home_dist", home_dist)
    if p.length(f"{prefix}home_src", home_src, n_homes, "homes"):
        _indices(p, f"{prefix}home_src", home_src, n_fac, "facilities of the view")
    p.raise_any()
