"""A follow-up reads of a saved plan only the tables it uses, each checked against its checksum then.

The two-street plan (tests.unit.test_scenarios) saved by geo.saved; a table is damaged by
flipping one byte (its size unchanged, so only its checksum tells).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import InputError
from geo.saved import PLAN_FOLDER, load_plan, save_plan
from tests.unit.test_scenarios import fc, line, two_streets

TABLES = ("circles", "gaps", "facilities", "admin", "places")


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _damage(folder: Path, name: str) -> None:
    """Flip one byte in the middle of ``folder/plan/name``."""
    p = folder / PLAN_FOLDER / name
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _counting(monkeypatch) -> list[str]:
    """The names of the tables geo.saved reads, in order."""
    import geo.saved

    reads: list[str] = []
    real = geo.saved.read_table

    def read_table(path, entry):
        reads.append(Path(path).name)
        return real(path, entry)

    monkeypatch.setattr(geo.saved, "read_table", read_table)
    return reads


def _same_frame(a, b) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    geom = getattr(a, "geometry", None)
    if geom is not None:
        assert shapely.equals_exact(np.asarray(a.geometry.values), np.asarray(b.geometry.values), 0).all()
        assert a.crs == b.crs
        a, b = pd.DataFrame(a.drop(columns=a.geometry.name)), pd.DataFrame(b.drop(columns=b.geometry.name))
    pd.testing.assert_frame_equal(a, b)


def test_a_lazy_plan_reads_each_table_on_first_use_once_and_the_same_as_all_at_once(saved, monkeypatch):
    reads = _counting(monkeypatch)
    lazy = load_plan(saved, lazy=True)
    assert reads == []  # the network, homes and walk times only
    circles = lazy.circles
    assert reads == ["circles.parquet"]
    assert lazy.circles is circles  # kept
    eager = load_plan(saved)
    assert len(reads) == 1 + len(TABLES) + len(eager.layers)
    del reads[:]
    for name in TABLES:
        _same_frame(getattr(lazy, name), getattr(eager, name))
    for key, lr in lazy.layers.items():
        _same_frame(lr.facilities, eager.layers[key].facilities)
    assert lazy.base.admin is lazy.admin  # the plan and its base share one read
    assert sorted(reads) == sorted(
        f"{n}.parquet" for n in ("gaps", "facilities", "admin", "places", "fac0", "fac1", "fac2")
    )
    assert lazy.area is None
    assert dict(lazy.base.extras) == {}


def test_a_lazy_plan_copies_and_replaces_with_everything_read(saved, monkeypatch):
    import copy
    import dataclasses

    reads = _counting(monkeypatch)
    lazy = load_plan(saved, lazy=True)
    again = dataclasses.replace(lazy, warnings=["x"])
    assert len(again.circles) == len(lazy.circles)
    assert again.warnings == ["x"]
    whole = copy.copy(lazy.base)
    assert whole.places is lazy.base.places
    assert len(reads) == len(set(reads))  # each table read once


def test_a_damaged_table_a_lazy_plan_uses_is_refused_when_used_and_one_it_does_not_use_is_never_read(saved, tmp_path):
    folder = _copy(saved, tmp_path / "p")
    _damage(folder, "circles.parquet")
    lazy = load_plan(folder, lazy=True)  # the tables are not read yet
    assert len(lazy.gaps) == len(load_plan(saved).gaps)
    with pytest.raises(InputError) as err:
        _ = lazy.circles
    text = str(err.value)
    assert "not a usable saved plan" in text
    assert "circles.parquet does not match its checksum" in text
    assert "circles plan --out DIR" in text
    # read all at once (a server), every file is checked first
    with pytest.raises(InputError, match="does not match its checksum"):
        load_plan(folder)


def test_a_table_shorter_than_its_places_is_refused_when_read(saved, tmp_path):
    from geo.store import read_bundle, write_bundle

    folder = _copy(saved, tmp_path / "p")
    b = read_bundle(folder / PLAN_FOLDER, kind="service-circles/plan", version=2)
    tables = {
        n[: -len(".parquet")]: b.table(n[: -len(".parquet")]) for n in b.manifest["files"] if n.endswith(".parquet")
    }
    tables["fac1"] = tables["fac1"].iloc[:0]
    arrays = {n: b.arrays(n) for n in ("network", "homes", "layers")}
    write_bundle(
        folder / PLAN_FOLDER, kind="service-circles/plan", version=2, meta=b.meta, arrays=arrays, tables=tables
    )
    lazy = load_plan(folder, lazy=True)
    with pytest.raises(InputError, match="facilities disagree with their places"):
        _ = lazy.layers["stations"].facilities


def test_the_map_follow_up_reads_only_the_tables_it_draws_and_refuses_a_damaged_one(saved, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from api.cli import main

    runner = CliRunner()
    reads = _counting(monkeypatch)
    r = runner.invoke(main, ["map", "--plan", str(saved), "--out", str(tmp_path / "m0"), "--tiles", "none", "-q"])
    assert r.exit_code == 0, r.output
    assert len(reads) == len(set(reads))  # each table once
    assert "places.parquet" not in reads
    assert "facilities.parquet" not in reads
    assert "circles.parquet" in reads
    page = (tmp_path / "m0" / "map.html").read_bytes()
    # a damaged table it does not read changes nothing
    folder = _copy(saved, tmp_path / "p1")
    _damage(folder, "places.parquet")
    r = runner.invoke(main, ["map", "--plan", str(folder), "--out", str(tmp_path / "m1"), "--tiles", "none", "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m1" / "map.html").read_bytes() == page
    # a damaged one it reads is refused, clearly, and nothing is written
    folder = _copy(saved, tmp_path / "p2")
    _damage(folder, "circles.parquet")
    r = runner.invoke(main, ["map", "--plan", str(folder), "--out", str(tmp_path / "m2"), "--tiles", "none", "-q"])
    assert r.exit_code == 2, r.output
    assert "not a usable saved plan" in r.output
    assert "circles.parquet does not match its checksum" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "m2").exists()


def test_a_scenario_on_a_plan_with_a_damaged_table_it_needs_is_refused_and_not_kept(saved, tmp_path):
    from click.testing import CliRunner

    from api.cli import main
    from geo.scenario_store import open_store

    folder = _copy(saved, tmp_path / "p")
    _damage(folder, "gaps.parquet")
    before = load_plan(saved)
    edits = tmp_path / "e.geojson"
    doc = fc(({"edit": "add_link", "name": "crossing"}, line(before.network, (100, 0), (100, 100))))
    edits.write_text(json.dumps(doc), encoding="utf-8")
    r = CliRunner().invoke(
        main, ["scenario", str(edits), "--plan", str(folder), "--out", str(tmp_path / "o"), "--tiles", "none", "-q"]
    )
    assert r.exit_code == 2, r.output
    assert "not a usable saved plan" in r.output
    assert "gaps.parquet does not match its checksum" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
    assert open_store(folder).list() == []


def test_a_follow_ups_base_layer_key_comes_from_the_digests_kept_not_from_reading_the_tables(tmp_path, monkeypatch):
    import dataclasses

    import geopandas as gpd

    from geo.basemap import table_digest
    from maps.basemap import basemap_key

    _, before = two_streets()
    net = before.network
    streets = gpd.GeoDataFrame(
        {"name": ["南街", "北街"], "class": ["primary", "residential"]},
        geometry=[shapely.linestrings(net.edge_coords(e, lonlat=True)) for e in range(2)],
        crs=4326,
    )
    water = gpd.GeoDataFrame({"name": [None]}, geometry=[shapely.buffer(streets.geometry[0], 0.0005)], crs=4326)
    with_extras = dataclasses.replace(
        before, base=dataclasses.replace(before.base, extras={"streets": streets, "water": water})
    )
    save_plan(with_extras, tmp_path / "p" / PLAN_FOLDER)
    reads = _counting(monkeypatch)
    lazy = load_plan(tmp_path / "p", lazy=True)
    assert lazy.base.extras.digests == {"streets": table_digest(streets), "water": table_digest(water)}
    key = basemap_key(lazy)
    assert not [r for r in reads if r.startswith("extra_")]  # the key without the tables
    assert key == basemap_key(with_extras)  # the plan's own key, from the tables themselves
    eager = load_plan(tmp_path / "p")
    assert key == basemap_key(
        dataclasses.replace(eager, base=dataclasses.replace(eager.base, extras=dict(eager.base.extras)))
    )
    # a table changed is another key
    other = dataclasses.replace(before.base, extras={"streets": streets.iloc[:1], "water": water})
    assert basemap_key(dataclasses.replace(before, base=other)) != key
