"""Facility files as planners have them, large: read and check 1,000 / 10,000 / 100,000 rows.

A charging list is generated (fixed seed): a few names used thousands of times (as e-bike
charging and battery-swap lists are: "电动自行车充电桩" again and again), points in Hangzhou,
opening hours, addresses, and 1 % of rows repeated at the same place (the near-duplicate
check must find them). Timed: :func:`geo.layers.read_facilities` as a whole (decode, header,
coordinates, tiers, hours, ids, duplicates) and the near-duplicate check alone; for 1,000 rows
also the pairwise check the grid replaced (every row against every earlier row of its name).

Usage: ``python -m bench.bigfile [--quick]`` or ``python -m bench.run --only bigfile``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import SEED, fmt_s, table

NAMES = ("电动自行车充电桩", "换电柜", "智能充电站", "小区充电桩", "骑手充换电站")
HOURS = ("24/7", "Mo-Su 06:00-22:00", "周一至周日 8:00-20:00", "", "Mo-Fr 09:00-18:00")


def write_list(path: Path, n: int, *, seed: int = SEED) -> Path:
    """A CSV charging list of ``n`` rows (1 % of them exact repeats of an earlier row's place)."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(120.05, 120.35, n)
    lat = rng.uniform(30.10, 30.35, n)
    names = rng.integers(0, len(NAMES), n)
    dup = rng.choice(np.arange(1, n), size=max(1, n // 100), replace=False)
    src = rng.integers(0, dup, size=len(dup))
    lon[dup], lat[dup], names[dup] = lon[src], lat[src], names[src]
    hours = rng.integers(0, len(HOURS), n)
    lines = ["编号,名称,经度,纬度,开放时间,地址"]
    lines += [f"C{i},{NAMES[names[i]]},{lon[i]:.7f},{lat[i]:.7f},{HOURS[hours[i]]},滨江区江南大道{i % 900}号"
              for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pairwise(names, lon, lat) -> int:
    """The check before the grid: each row against every earlier row of its name."""
    from geo.layers import DUPLICATE_M, _metres

    found = 0
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        for j in seen.get(name, []):
            if _metres(lon[i], lat[i], lon[j], lat[j]) <= DUPLICATE_M:
                found += 1
                break
        seen.setdefault(name, []).append(i)
    return found


def run(quick: bool = False, sizes: tuple[int, ...] | None = None) -> dict:
    """Time reading and checking generated lists; returns figures per size and the table."""
    from geo.layers import _duplicates, read_facilities

    sizes = sizes or ((1_000, 10_000) if quick else (1_000, 10_000, 100_000))
    rows, doc = [], {"sizes": {}}
    with tempfile.TemporaryDirectory(prefix="circles-bigfile-") as tmp:
        for n in sizes:
            path = write_list(Path(tmp) / f"charging_{n}.csv", n)
            t = time.perf_counter()
            read = read_facilities(path, layer="charging")
            total = time.perf_counter() - t
            fac = read.facilities
            lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
            names, labels = fac["name"].tolist(), [f"row {i + 2}" for i in range(n)]
            t = time.perf_counter()
            warnings = _duplicates(names, lon, lat, labels, path.name)
            dup_s = time.perf_counter() - t
            old_s = None
            if n <= 1_000:
                t = time.perf_counter()
                assert pairwise(names, lon, lat) == len(warnings), "pairwise and grid checks disagree"
                old_s = time.perf_counter() - t
            doc["sizes"][n] = {"read_and_check_s": total, "duplicate_check_s": dup_s, "duplicates": len(warnings),
                               "pairwise_check_s": old_s, "mb": path.stat().st_size / 1e6}
            rows.append([f"{n:,}", f"{path.stat().st_size / 1e6:.1f} MB", fmt_s(total), f"{n / total:,.0f}",
                         fmt_s(dup_s), f"{len(warnings):,}", fmt_s(old_s)])
    doc["table"] = table("Facility files: read and check (geo.layers.read_facilities), 5 names repeated",
                         ["rows", "CSV", "read + check", "rows/s", "duplicate check", "duplicates found",
                          "pairwise check (before)"], rows)
    return doc


if __name__ == "__main__":
    run(quick="--quick" in sys.argv[1:])
