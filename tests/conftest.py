"""Shared fixtures: hand-built graphs with known lengths, and the real OSM extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
HANGZHOU = ROOT.parent / "shared" / "data" / "hangzhou"
BINJIANG = HANGZHOU / "binjiang_clip.osm.pbf"
MERGED = HANGZHOU / "hangzhou_central_merged.osm.pbf"


DATA = Path(__file__).resolve().parent / "data"
_SESSION_CACHE: list[str] = []

# Property tests draw the same examples on every run (CI must not pass or fail by chance); to
# look for new counter-examples, run `pytest --hypothesis-profile explore` and keep what it finds
# as an @example.
from hypothesis import settings as _hsettings  # noqa: E402

_hsettings.register_profile("ci", derandomize=True, database=None)
_hsettings.register_profile("explore", max_examples=200, derandomize=False)
_hsettings.load_profile("ci")


def pytest_configure(config):
    """The whole session (session fixtures included) caches networks in a folder of its own,
    never in the user's: the CLI and the API read CIRCLES_CACHE_DIR, the engine takes a folder."""
    import os
    import tempfile

    folder = tempfile.mkdtemp(prefix="circles-test-cache-")
    _SESSION_CACHE.append(folder)
    os.environ["CIRCLES_CACHE_DIR"] = folder
    os.environ.pop("XDG_CACHE_HOME", None)


#: fixtures that read a real OSM extract, and the markers every test using them (directly or
#: through another fixture) carries: `-m "not slow"` or `-m "not hangzhou"` leaves them all out.
REAL_DATA = {
    "binjiang_path": ("slow", "hangzhou"),
    "merged_path": ("slow", "hangzhou"),
    "helsinki_path": ("slow",),
    "_session_cache": ("slow",),  # tests/api: apps that plan the embedded Helsinki extract at start-up
}


def pytest_collection_modifyitems(config, items):
    """Mark the tests that use real data (see :data:`REAL_DATA`), whatever folder they sit in."""
    for item in items:
        names = set(item.fixturenames)
        for marker in sorted({m for fixture, marks in REAL_DATA.items() if fixture in names for m in marks}):
            item.add_marker(marker)


def pytest_unconfigure(config):
    import shutil

    for folder in _SESSION_CACHE:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The session's cache folder (for PlanParams(cache_dir=...))."""
    return Path(_SESSION_CACHE[0])


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
def binjiang_plan(binjiang_path, cache_dir):
    """A real plan of the Binjiang clip with a night time, shared by the map, browser and API tests."""
    from geo.plan import PlanInputs, PlanParams, plan

    files = {"stations": DATA / "binjiang_stations_gcj02_gbk.csv", "charging": DATA / "binjiang_charging_gcj02_gbk.csv"}
    return plan(PlanInputs(osm=binjiang_path, layer_files=files, crs="gcj02"),
                PlanParams(at="Mon 22:00", cache_dir=cache_dir))


def toy_facilities(net, rows: list[dict], layer: str):
    """A facility table (WGS84) from rows with metric ``x``, ``y`` (default 0) and any columns."""
    import geopandas as gpd
    import shapely

    from geo.osm_layers import FACILITY_COLUMNS

    xy = np.array([[r["x"], r.get("y", 0.0)] for r in rows]).reshape(-1, 2)
    ll = net.unproject(xy) if len(xy) else np.zeros((0, 2))
    recs = [{c: None for c in FACILITY_COLUMNS} | {"layer": layer, "services": ()}
            | {k: v for k, v in r.items() if k not in ("x", "y")} for r in rows]
    return gpd.GeoDataFrame(recs, columns=list(FACILITY_COLUMNS), geometry=list(shapely.points(ll)) if len(ll) else [],
                            crs=4326)


def toy_base(net, homes_xy, people, *, land=None, admin=None, places=None, facilities=None):
    """A hand-built :class:`geo.base.Base`: a network, homes (metric) and their residential land
    (metric polygons; default: a 40 m square around each home), OSM layers (``facilities``:
    layer -> rows as :func:`toy_facilities` takes), admin areas and places (WGS84)."""
    import geopandas as gpd
    import shapely

    from geo.base import Base
    from geo.demand import Homes
    from geo.kinds import LAYERS

    xy = np.asarray(homes_xy, float).reshape(-1, 2)
    n = len(xy)
    homes = Homes(xy, np.asarray(people, float), np.array(["building"] * n, object),
                  np.array([f"w{i}" for i in range(n)], object), "hand-built")
    if land is None:
        land = shapely.box(xy[:, 0] - 20, xy[:, 1] - 20, xy[:, 0] + 20, xy[:, 1] + 20)
    fac = {k: toy_facilities(net, (facilities or {}).get(k, []), k) for k in LAYERS}
    empty_admin = gpd.GeoDataFrame({"name": [], "admin_level": [], "osm_id": []}, geometry=[], crs=4326)
    empty_places = gpd.GeoDataFrame({"name": [], "place": []}, geometry=[], crs=4326)
    return Base("hand-built", None, net, homes, np.asarray(land, dtype=object), fac,
                admin if admin is not None else empty_admin, places if places is not None else empty_places)
