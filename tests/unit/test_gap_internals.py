"""The gap areas' array shortcuts against the plain computations they replace.

Grouping numbers groups in the order of their text keys ``"link|street|community"`` (so "10"
sorts before "2"), the circle's window is marked wherever it overlaps the image's, pinches
cleared near the cleared cells end as full scans do, and links are taken from more homes.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.gaps import GapHomes, _close_window, _erase_to_simple, _groups, _linked_pairs, _pairs_among, cluster_points
from geo.grid import Lattice, opencv, trace

NAMES = [None, "", "浦沿街道", "长河街道", "a|b", "a", "b|c", "社区"]


def _homes(xy, street, community):
    n = len(xy)
    lat = Lattice(0.0, 0.0, 10.0, 1, 1)
    none = np.array([None] * n, dtype=object)
    return GapHomes(
        xy,
        np.ones(n),
        np.ones(n, bool),
        street,
        community,
        none,
        lat,
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        100.0,
    )


def _groups_by_text(gh, out):
    """The grouping as first written: one text key per home, numbered in sorted order."""
    link = cluster_points(gh.xy[out], gh.link_m)
    street = np.asarray([s or "" for s in gh.street[out]], dtype=object).astype(str)
    comm = np.asarray([s or "" for s in gh.community[out]], dtype=object).astype(str)
    key = np.char.add(np.char.add(link.astype(str), "|"), np.char.add(np.char.add(street, "|"), comm))
    return np.unique(key, return_inverse=True)[1].ravel()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.integers(1, 300))
def test_groups_are_numbered_as_their_text_keys_sort(seed, n):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 3000, (n, 2))  # dozens of links: labels past 9 sort as text
    street = np.array([NAMES[i] for i in rng.integers(0, len(NAMES), n)], dtype=object)
    community = np.array([NAMES[i] for i in rng.integers(0, len(NAMES), n)], dtype=object)
    gh = _homes(xy, street, community)
    out = np.flatnonzero(rng.random(n) < 0.8)
    if len(out) == 0:
        return
    np.testing.assert_array_equal(_groups(gh, out), _groups_by_text(gh, out))


def test_groups_of_many_links_sort_ten_before_two():
    xy = np.column_stack([np.arange(12) * 1000.0, np.zeros(12)])  # 12 homes, each a link of its own
    gh = _homes(xy, np.array(["s"] * 12, dtype=object), np.array([None] * 12, dtype=object))
    g = _groups(gh, np.arange(12))
    # keys "0|s|", "10|s|", "11|s|", "1|s|", "2|s|"...: "|" sorts after the digits
    assert list(g[[0, 10, 11, 1, 2]]) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(g, _groups_by_text(gh, np.arange(12)))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.integers(-6, 14), st.integers(-6, 14), st.integers(1, 8), st.integers(1, 8), st.integers(0, 1000))
def test_the_circle_window_is_marked_where_it_overlaps(wr, wc, h, w, seed):
    rng = np.random.default_rng(seed)
    m = (rng.random((h, w)) < 0.5).astype(np.uint8)
    r0, c0 = 3, 2
    closed = np.zeros((7, 9), bool)
    _close_window(closed, r0, c0, (wr, wc, m))
    want = np.zeros((7, 9), bool)
    for r, c in zip(*np.nonzero(m), strict=True):  # cell by cell
        rr, cc = r + wr - r0, c + wc - c0
        if 0 <= rr < 7 and 0 <= cc < 9:
            want[rr, cc] = True
    np.testing.assert_array_equal(closed, want)
    _close_window(closed, r0, c0, None)
    np.testing.assert_array_equal(closed, want)


def _erase_by_full_scans(m):
    """Clearing pinches and twice-passed cells as first written: every round filters the whole window."""
    cv2 = opencv()
    block = np.array([[1, 2], [4, 8]], np.float32)
    pinch = np.zeros(256, np.uint8)
    pinch[[6, 9]] = 1
    for _ in range(64):
        for _ in range(64):
            code = cv2.filter2D(m, cv2.CV_8U, block, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
            at = cv2.findNonZero(cv2.LUT(code, pinch))
            if at is None:
                break
            c, r = at.reshape(-1, 2).T.astype(np.int64)
            m[r + 1, np.where(code[r, c] == 9, c + 1, c)] = 0
        contours, _ = cv2.findContours(m, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
        if not contours:
            break
        xy = np.concatenate(contours).reshape(-1, 2)
        key = np.sort(xy[:, 1].astype(np.int64) * m.shape[1] + xy[:, 0])
        twice = np.unique(key[1:][key[1:] == key[:-1]])
        if len(twice) == 0:
            break
        m[np.divmod(twice, m.shape[1])] = 0
    return trace(m, 5, 7, min_hole_cells=1.0)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.floats(0.3, 0.8))
def test_clearing_near_the_cleared_cells_ends_as_full_scans_do(seed, density):
    rng = np.random.default_rng(seed)
    m = np.zeros((42, 37), np.uint8)
    m[1:-1, 1:-1] = rng.random((40, 35)) < density  # many pinches, necks and spurs
    want_m = m.copy()
    want = _erase_by_full_scans(want_m)
    got = _erase_to_simple(m, 5, 7)
    np.testing.assert_array_equal(m, want_m)
    np.testing.assert_array_equal(got.xy, want.xy)
    np.testing.assert_array_equal(got.rings, want.rings)
    np.testing.assert_array_equal(got.polygon, want.polygon)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.integers(2, 400))
def test_links_of_fewer_homes_are_taken_from_those_of_more(seed, n):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1500, (n, 2))
    more = np.flatnonzero(rng.random(n) < 0.9)
    fewer = more[rng.random(len(more)) < 0.7]
    got = _pairs_among((more, _linked_pairs(xy[more], 100.0)), fewer)
    want = _linked_pairs(xy[fewer], 100.0)
    assert {tuple(p) for p in got.tolist()} == {tuple(p) for p in want.tolist()}
    assert _pairs_among(None, fewer) is None
    if len(fewer) < n:  # a home not among the homes before: computed again, not taken
        extra = np.union1d(fewer, np.setdiff1d(np.arange(n), more)[:1])
        if len(extra) > len(fewer):
            assert _pairs_among((more, _linked_pairs(xy[more], 100.0)), extra) is None


def test_a_one_cell_neck_is_cleared_before_tracing(tracings):
    m = np.zeros((9, 12), np.uint8)
    m[2:7, 1:4] = 1
    m[2:7, 8:11] = 1
    m[4, 4:8] = 1  # a neck one cell wide: cleared, as tracing would find it passed twice
    want_m = m.copy()
    want = _erase_by_full_scans(want_m)
    tracings.clear()  # count the tracings from here on
    calls = tracings
    got = _erase_to_simple(m, 5, 7)
    assert len(calls) == 1
    assert not m[4, 4:8].any()
    np.testing.assert_array_equal(m, want_m)
    np.testing.assert_array_equal(got.xy, want.xy)
    np.testing.assert_array_equal(got.polygon, want.polygon)
