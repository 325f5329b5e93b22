"""Vectorised index helpers shared by the network, its edits and the drawing code."""

from __future__ import annotations

import numpy as np


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + c)`` for every pair, vectorised.

    Parameters
    ----------
    starts
        The first index of every range.
    counts
        The length of every range (non-negative).

    Returns
    -------
    numpy.ndarray
        The int64 indices of all ranges, one range after another.
    """
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    out = np.ones(total, dtype=np.int64)
    out[0] = starts[0]
    prev_last = starts[:-1] + counts[:-1] - 1
    out[ends[:-1]] = starts[1:] - prev_last
    return np.cumsum(out)
