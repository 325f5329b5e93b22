"""Circles kept between runs (geo.circle_cache): a re-run draws only what changed, and what it
reuses is exactly what a fresh run draws."""

import numpy as np
import pytest
import shapely

import geo.polygons
from geo.circle_cache import network_key
from geo.plan import PlanParams
from geo.report import circles_frame
from tests.conftest import grid_net
from tests.unit.test_polygons_on_demand import layer_result


@pytest.fixture
def drawn(monkeypatch):
    """Records what each run hands to the polygon builder: (layer jobs, facilities to draw)."""
    calls = []
    real = geo.polygons.circle_sets

    def spy(net, layers, facilities, limits, **kw):
        calls.append((len(layers), sum(int(f.ok.sum()) for f, _ in facilities)))
        return real(net, layers, facilities, limits, **kw)

    monkeypatch.setattr(geo.polygons, "circle_sets", spy)
    return calls


def layers_at(net, centres):
    return {"centres": layer_result(net, centres), "stations": layer_result(net, [(400.0, 350.0)], "stations")}


def same(a, b):
    assert list(a.scope) == list(b.scope) and list(a.layer) == list(b.layer)
    assert all(shapely.equals_exact(x, y, 0.0) for x, y in zip(a.geometry, b.geometry))


def test_a_rerun_draws_nothing_and_a_moved_facility_only_its_own(tmp_path, drawn):
    net = grid_net(5, 100.0)
    params = PlanParams(minutes=(2.0, 4.0), width_m=20.0, cache_dir=tmp_path)
    first = circles_frame(net, layers_at(net, [(50.0, 0.0), (200.0, 250.0)]), params)
    assert drawn[-1] == (2, 3)
    assert len(list(tmp_path.glob("circles-*.pickle"))) == 1
    again = circles_frame(net, layers_at(net, [(50.0, 0.0), (200.0, 250.0)]), params)
    assert drawn[-1] == (0, 0)
    same(first, again)
    # one centre moved: its circles and the centres' layer circles are drawn, nothing else
    moved = circles_frame(net, layers_at(net, [(50.0, 0.0), (300.0, 150.0)]), params)
    assert drawn[-1] == (1, 1)
    fresh = circles_frame(net, layers_at(net, [(50.0, 0.0), (300.0, 150.0)]),
                          PlanParams(minutes=(2.0, 4.0), width_m=20.0, use_cache=False))
    same(moved, fresh)
    assert not shapely.equals(moved.geometry[moved.scope == "layer"].iloc[0],
                              first.geometry[first.scope == "layer"].iloc[0])


def test_other_limits_or_width_are_not_served_from_the_cache(tmp_path, drawn):
    net = grid_net(5, 100.0)
    centres = [(50.0, 0.0), (200.0, 250.0)]
    circles_frame(net, layers_at(net, centres), PlanParams(minutes=(2.0, 4.0), width_m=20.0, cache_dir=tmp_path))
    circles_frame(net, layers_at(net, centres), PlanParams(minutes=(2.0, 5.0), width_m=20.0, cache_dir=tmp_path))
    assert drawn[-1] == (2, 3)
    circles_frame(net, layers_at(net, centres), PlanParams(minutes=(2.0, 4.0), width_m=25.0, cache_dir=tmp_path))
    assert drawn[-1] == (2, 3)
    assert len(list(tmp_path.glob("circles-*.pickle"))) == 3


def test_a_broken_cache_file_is_drawn_again_and_rewritten(tmp_path, drawn):
    net = grid_net(5, 100.0)
    params = PlanParams(minutes=(2.0, 4.0), width_m=20.0, cache_dir=tmp_path)
    first = circles_frame(net, layers_at(net, [(50.0, 0.0)]), params)
    (path,) = tmp_path.glob("circles-*.pickle")
    path.write_bytes(b"not a pickle")
    again = circles_frame(net, layers_at(net, [(50.0, 0.0)]), params)
    assert drawn[-1] == (2, 2)
    same(first, again)
    circles_frame(net, layers_at(net, [(50.0, 0.0)]), params)
    assert drawn[-1] == (0, 0)


def test_without_the_cache_nothing_is_written(tmp_path, drawn):
    net = grid_net(5, 100.0)
    circles_frame(net, layers_at(net, [(50.0, 0.0)]), PlanParams(minutes=(2.0,), cache_dir=tmp_path, use_cache=False))
    circles_frame(net, layers_at(net, [(50.0, 0.0)]), PlanParams(minutes=(2.0,), cache_dir=tmp_path, use_cache=False))
    assert drawn == [(2, 2), (2, 2)]
    assert not list(tmp_path.iterdir())


def test_the_network_key_follows_the_streets():
    a, b = grid_net(4, 100.0), grid_net(4, 100.0)
    assert network_key(a) == network_key(b)
    assert network_key(a) != network_key(grid_net(4, 101.0))
    assert network_key(a) != network_key(grid_net(5, 100.0))
    assert np.array_equal(a.edge_u, b.edge_u)


def test_cell_unions_are_kept_on_disk_and_remade_when_broken(tmp_path, monkeypatch):
    import geo.polygons as P

    width = 27.0  # a width no other test uses, so the in-memory copy is this test's own
    made = []
    real_init = P.CellUnions.__init__

    def counting_init(self, *a, **kw):
        made.append(1)
        real_init(self, *a, **kw)

    monkeypatch.setattr(P.CellUnions, "__init__", counting_init)
    first = P.cell_unions(grid_net(5, 100.0), width, tmp_path)
    (path,) = tmp_path.glob("cells-*.pickle")
    # the same streets as a new object: loaded from disk, not made again
    again = P.cell_unions(grid_net(5, 100.0), width, tmp_path)
    assert len(made) == 1 and np.array_equal(first.cell, again.cell)
    assert all(shapely.equals_exact(a, b, 0.0) for a, b in zip(first.union, again.union))
    path.write_bytes(b"broken")
    P.cell_unions(grid_net(5, 100.0), width, tmp_path)
    assert len(made) == 2
    # other streets: other cells
    P.cell_unions(grid_net(4, 100.0), width, tmp_path)
    assert len(made) == 3 and len(list(tmp_path.glob("cells-*.pickle"))) == 2


def test_only_the_most_recently_used_circle_files_are_kept(tmp_path):
    import os

    from geo.circle_cache import MAX_FILES, prune

    for k in range(MAX_FILES + 3):
        f = tmp_path / f"circles-{k}.pickle"
        f.write_bytes(b"x")
        os.utime(f, (1000 + k, 1000 + k))
    (tmp_path / "network-a.pickle").write_bytes(b"n")
    prune(tmp_path, "circles-*.pickle", keep=tmp_path / "circles-0.pickle")
    left = sorted(f.name for f in tmp_path.glob("circles-*.pickle"))
    # the file in use and the newest others, MAX_FILES in all; other caches untouched
    assert len(left) == MAX_FILES and "circles-0.pickle" in left and f"circles-{MAX_FILES + 2}.pickle" in left
    assert "circles-1.pickle" not in left and (tmp_path / "network-a.pickle").exists()
