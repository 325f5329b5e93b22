"""The tracer's shortcuts (geo.grid) against the plain computations they replace.

Cells passed twice are known before tracing (from their four neighbours, once no corners
touch), so a window is traced once: the outline and the cells drawn must be those of tracing,
settling what the tracing found and tracing again. Nonzero cells found row by row, and the
outline of traced contours, are checked against the plain computations.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.grid import _settle, nonzero_cells, opencv, outline_of, passed_twice, trace


def test_cells_passed_twice_are_the_repeated_points():
    xy = np.array([[1, 1], [2, 1], [3, 1], [2, 1], [1, 1], [5, 0], [2, 1]], np.int32)
    np.testing.assert_array_equal(passed_twice(xy, 10), [11, 12, 12])


def _trace_found_by_tracing(m, row0, col0, min_hole_cells):
    """Tracing as first written: pinches settled, then traced, settled where passed twice, traced again."""
    cv2 = opencv()
    block = np.array([[1, 2], [4, 8]], np.float32)
    pinch = np.zeros(256, np.uint8)
    pinch[[6, 9]] = 1
    code = cv2.filter2D(m, cv2.CV_8U, block, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    at = cv2.findNonZero(cv2.LUT(code, pinch))
    if at is not None:
        at = at.reshape(-1, 2)
        _settle(m, at[:, 1].astype(np.int64), at[:, 0].astype(np.int64))
    traces = 0
    while True:
        contours, hier = cv2.findContours(m, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        traces += 1
        if not contours:
            return None, traces
        xy = np.concatenate(contours).reshape(-1, 2)
        twice = passed_twice(xy, m.shape[1])
        if len(twice) == 0:
            return outline_of(contours, hier, xy, row0, col0, min_hole_cells=min_hole_cells), traces
        _settle(m, *np.divmod(twice, m.shape[1]))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.floats(0.05, 0.95), st.integers(3, 40), st.integers(3, 40), st.booleans())
def test_cells_passed_twice_known_ahead_trace_as_tracing_finds_them(seed, density, h, w, edge):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    m[1:-1, 1:-1] = rng.random((h - 2, w - 2)) < density
    if edge:  # drawn cells on the window's edge: known ahead is not trusted there
        m[0] = rng.random(w) < density
    want_m = m.copy()
    want, _ = _trace_found_by_tracing(want_m, 2, 3, 4.0)
    got = trace(m, 2, 3)
    np.testing.assert_array_equal(m, want_m)
    if want is None:
        assert len(got.rings) == 0
        return
    np.testing.assert_array_equal(got.xy, want.xy)
    np.testing.assert_array_equal(got.rings, want.rings)
    np.testing.assert_array_equal(got.polygon, want.polygon)


def test_a_one_cell_neck_is_settled_before_the_first_tracing(tracings):
    m = np.zeros((9, 12), np.uint8)
    m[2:7, 1:4] = 1
    m[2:7, 8:11] = 1
    m[4, 4:8] = 1  # a neck one cell wide: its cells are passed twice
    want_m = m.copy()
    want, traces = _trace_found_by_tracing(want_m, 0, 0, 4.0)
    assert traces == 2
    tracings.clear()  # count the tracings from here on
    calls = tracings
    got = trace(m, 0, 0)
    assert len(calls) == 1
    np.testing.assert_array_equal(m, want_m)
    np.testing.assert_array_equal(got.xy, want.xy)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.integers(1, 60), st.integers(1, 60), st.floats(0.0, 0.2))
def test_nonzero_cells_are_numpys_in_the_same_order(seed, h, w, density):
    rng = np.random.default_rng(seed)
    img = ((rng.random((h, w)) < density) * rng.integers(1, 256, (h, w))).astype(np.uint8)
    r, c = nonzero_cells(img)
    want_r, want_c = np.nonzero(img)
    np.testing.assert_array_equal(r, want_r)
    np.testing.assert_array_equal(c, want_c)


def _outline_by_masks(contours, hier, xy, row0, col0, min_hole_cells):
    """The outline of traced contours as first written: boolean masks over every point, ``np.unique``."""
    n = np.array([len(c) for c in contours])
    parent = hier.reshape(-1, 4)[:, 3]
    depth = np.zeros(len(n), np.int64)
    for i in range(len(n)):
        j = parent[i]
        while j >= 0:
            depth[i] += 1
            j = parent[j]
    outer = depth % 2 == 0
    start = np.cumsum(n) - n
    step = np.roll(xy, -1, axis=0) - xy
    step[start + n - 1] = xy[start] - xy[start + n - 1]
    code = step[:, 0] * 3 + step[:, 1]
    before = np.roll(code, 1)
    before[start] = code[start + n - 1]
    corner = code != before
    cx = xy[corner]
    ring = np.repeat(np.arange(len(n)), n)[corner]
    cn = np.bincount(ring, minlength=len(n))
    area = np.zeros(len(n))
    for i in range(len(n)):
        p = cx[ring == i].astype(float)
        if len(p):
            area[i] = abs(np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1])) / 2
    poly_of = np.where(outer, np.arange(len(n)), parent)
    keep = np.where(outer, area > 0, area >= min_hole_cells) & (cn >= 3)
    keep &= keep[poly_of]
    kept = np.flatnonzero(keep)
    kept = kept[np.lexsort((~outer[kept], poly_of[kept]))]
    pts = np.concatenate([np.flatnonzero(ring == i) for i in kept]) if len(kept) else np.zeros(0, np.int64)
    _, polygon = np.unique(poly_of[kept], return_inverse=True)
    return cx[pts] + [col0, row0], cn[kept], polygon.ravel()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.floats(0.2, 0.8), st.sampled_from([1.0, 4.0]))
def test_outline_of_traced_contours_is_the_plain_computation(seed, density, min_hole):
    rng = np.random.default_rng(seed)
    m = np.zeros((30, 41), np.uint8)
    m[1:-1, 1:-1] = rng.random((28, 39)) < density
    got = trace(m, 3, 5, min_hole_cells=min_hole)  # settles m: its contours are simple
    cv2 = opencv()
    contours, hier = cv2.findContours(m, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    want = _outline_by_masks(contours, hier, np.concatenate(contours).reshape(-1, 2), 3, 5, min_hole)
    np.testing.assert_array_equal(got.xy, want[0])
    np.testing.assert_array_equal(got.rings, want[1])
    np.testing.assert_array_equal(got.polygon, want[2])
