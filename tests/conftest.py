"""Shared fixtures: hand-built graphs with known lengths, and the real OSM extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
HANGZHOU = ROOT.parent / "shared" / "data" / "hangzhou"
BINJIANG = HANGZHOU / "binjiang_clip.osm.pbf"
MERGED = HANGZHOU / "hangzhou_central_merged.osm.pbf"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test session caches networks in its own folder, never in the user's."""
    monkeypatch.setenv("CIRCLES_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the Hangzhou test data lives in ../shared/data/hangzhou beside the repository")
    return path


@pytest.fixture(scope="session")
def binjiang_path() -> Path:
    return need(BINJIANG)


@pytest.fixture(scope="session")
def merged_path() -> Path:
    return need(MERGED)


@pytest.fixture(scope="session")
def helsinki_path() -> Path:
    from geo.plan import embedded_default

    return embedded_default()


@pytest.fixture(scope="session")
def binjiang_net(binjiang_path):
    from geo.network import build_network
    from geo.osm import read_osm

    return build_network(read_osm(binjiang_path).ways)


@pytest.fixture
def line_net():
    """A straight street A(0,0) - B(100,0) - C(300,0), plus a spur B - D(100,50).

    Lengths: AB 100 m, BC 200 m, BD 50 m.
    """
    from geo.network import network_from_lines

    return network_from_lines([[(0, 0), (100, 0)], [(100, 0), (200, 0), (300, 0)], [(100, 0), (100, 50)]])


def grid_net(n: int = 6, step: float = 100.0):
    """A hand-built n x n street grid with blocks ``step`` metres a side."""
    from geo.network import network_from_lines

    lines = []
    for i in range(n):
        for j in range(n - 1):
            lines.append([(j * step, i * step), ((j + 1) * step, i * step)])
            lines.append([(i * step, j * step), (i * step, (j + 1) * step)])
    return network_from_lines(lines)


def node_at(net, x: float, y: float) -> int:
    return int(np.argmin(np.hypot(net.node_xy[:, 0] - x, net.node_xy[:, 1] - y)))


@pytest.fixture(scope="session")
def binjiang_plan(binjiang_path):
    """A real plan of the Binjiang clip with a night time, shared by the map, browser and API tests."""
    from geo.plan import PlanInputs, PlanParams, plan

    return plan(PlanInputs(osm=binjiang_path), PlanParams(at="Mon 22:00"))
