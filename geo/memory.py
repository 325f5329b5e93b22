"""How much memory the machine has free, and what a plan's per-facility circles take of it.

A plan draws each facility's own circles (``--per-facility``, the default) and keeps them through
its tables, the saved plan, the GeoJSON and the map: measured on the Binjiang extract with 3,000
charging points and two thresholds at 5 m cells, 2.83 GB of peak memory against 0.37 GB without
them (2026-12-08; the QA run of 20,000 points: 20.4 GB, of 5,000: 5.1 GB) — about 0.4 MB per
facility and threshold. :func:`geo.plan.finish_plan` leaves them out, with a warning, when they
would take more than :data:`MEMORY_SHARE` of the memory available.
"""

from __future__ import annotations

import os
from pathlib import Path

#: bytes a facility's circle of one threshold takes through a plan at 5 m cells (see the module docstring)
PER_FACILITY_BYTES = 0.45e6
#: the share of the available memory per-facility circles may take
MEMORY_SHARE = 0.5
#: the cell size (m) :data:`PER_FACILITY_BYTES` was measured at; outlines grow as cells shrink
MEASURED_CELL_M = 5.0


def per_facility_bytes(n: int, *, thresholds: int, cell_m: float) -> float:
    """About how many bytes ``n`` facilities' own circles of ``thresholds`` thresholds take at ``cell_m``."""
    return n * thresholds * PER_FACILITY_BYTES * max(1.0, MEASURED_CELL_M / max(cell_m, 0.1))


def available_memory() -> int | None:
    """Bytes of memory a new allocation may take; None if unknown.

    The machine's (Linux ``MemAvailable``, else its free pages), and no more than what is left
    under the process's control-group limit (a container's, cgroup v2) when it has one.
    """
    free = _meminfo() or _free_pages()
    left = _cgroup_left()
    if free is None or left is None:
        return free if left is None else left
    return min(free, left)


def _meminfo() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _free_pages() -> int | None:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_left(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The control group's memory limit less its use (cgroup v2); None without a limit."""
    try:
        limit = (root / "memory.max").read_text(encoding="ascii").strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text(encoding="ascii").strip()))
    except (OSError, ValueError):
        return None
