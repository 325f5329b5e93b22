"""The near-duplicate check of facility lists (geo.layers._duplicates) on many rows of one name.

Charging lists hold thousands of rows named alike; the check runs on a grid of 1 m cells keyed
by name. Here a hand-made list — clusters of same-name points 0 to 2.5 m apart, straddling the
1 m limit and grid-cell edges, at two latitudes, with other names at the same spots — must give
exactly the warnings of a brute-force reference that compares every pair.
"""

from __future__ import annotations

import math

import numpy as np

from geo.layers import DUPLICATE_M, _duplicates, _metres, read_facilities

#: metres from a cluster's centre: inside, just inside, just outside and well outside 1 m
OFFSETS = (0.0, 0.0, 0.3, 0.7, 0.95, 0.999, 1.001, 1.05, 1.4, 2.5)


def hand_made(n_sites: int = 120, seed: int = 7) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names, lon, lat = [], [], []
    for s in range(n_sites):
        lat0 = 30.2 if s % 2 else 60.17  # Hangzhou and Helsinki: a metre of longitude differs twice over
        lon0 = (120.2 if s % 2 else 24.94) + s * 1e-4
        name = "电动自行车充电桩" if s % 3 else f"换电柜 {s % 5}"
        for k, off in enumerate(OFFSETS):
            ang = rng.uniform(0, 2 * math.pi)
            dy, dx = off * math.sin(ang), off * math.cos(ang)
            lat.append(lat0 + math.degrees(dy / 6_371_000.0))
            lon.append(lon0 + math.degrees(dx / (6_371_000.0 * math.cos(math.radians(lat0)))))
            names.append(name if k % 4 else "社区服务站")  # another name at the same spot
    order = rng.permutation(len(names))
    return [names[i] for i in order], np.array(lon)[order], np.array(lat)[order]


def brute_force(names, lon, lat, labels, src) -> list[str]:
    """Every row against every earlier row of its name: the first one within DUPLICATE_M."""
    out = []
    names_arr = np.array(names, dtype=object)
    for i in range(len(names)):
        earlier = np.flatnonzero(names_arr[:i] == names[i])
        if not len(earlier):
            continue
        d = _metres(lon[i], lat[i], lon[earlier], lat[earlier])
        close = np.flatnonzero(d <= DUPLICATE_M)
        if len(close):
            j = int(earlier[close[0]])
            out.append(f"{src} {labels[i]}: {names[i]!r} is at the same place as {labels[j]} ({d[close[0]]:.1f} m "
                       "apart) — both are kept; delete one if it is a duplicate")
    return out


def test_grid_check_equals_the_brute_force_reference():
    names, lon, lat = hand_made()
    labels = [f"row {i + 2}" for i in range(len(names))]
    got = _duplicates(names, lon, lat, labels, "charging.csv")
    want = brute_force(names, lon, lat, labels, "charging.csv")
    assert got == want
    # the list is one that can tell a wrong check: many duplicates, and many same-name rows that are not
    assert 300 < len(want) < len(names) - 300


def test_thousands_of_rows_of_one_name_read_from_a_csv(tmp_path):
    names, lon, lat = hand_made(n_sites=300, seed=11)
    path = tmp_path / "charging.csv"
    rows = "".join(f"{n},{float(x)!r},{float(y)!r}\n" for n, x, y in zip(names, lon, lat))
    path.write_text("名称,经度,纬度\n" + rows, encoding="utf-8")
    read = read_facilities(path, layer="charging")
    labels = [f"row {i + 2}" for i in range(len(names))]
    assert len(read.facilities) == len(names) == 3000
    assert [w for w in read.warnings if "same place" in w] == brute_force(names, lon, lat, labels, str(path))


def test_points_exactly_the_limit_apart_across_a_cell_edge():
    """Two rows DUPLICATE_M apart east-west, and one a hair beyond, wherever the grid cuts."""
    lat0 = 30.25
    per_m = math.degrees(1 / (6_371_000.0 * math.cos(math.radians(lat0))))
    for start in np.linspace(120.0, 120.00002, 7):
        lon = np.array([start, start + 0.99 * per_m, start + 2.2 * per_m])
        lat = np.full(3, lat0)
        got = _duplicates(["站", "站", "站"], lon, lat, ["row 2", "row 3", "row 4"], "f.csv")
        assert got == brute_force(["站", "站", "站"], lon, lat, ["row 2", "row 3", "row 4"], "f.csv")
        assert len(got) == 1 and got[0].startswith("f.csv row 3: '站' is at the same place as row 2")
