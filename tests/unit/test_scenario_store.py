"""Kept scenarios: the same suite against a GeoPackage file and a real PostgreSQL with PostGIS.

The PostgreSQL cluster is a throwaway one started here (initdb into a temporary folder, a
unix socket only, as the ``postgres`` user when the tests run as root) and stopped at the end.
``make test`` installs the Debian packages; without them (and not root) the PostGIS half skips
and says why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import shapely

from geo.errors import InputError
from geo.scenario_store import (
    GPKG_NAME, ScenarioNotFoundError, compare, edits_document, from_gpkg_blob, gpkg_blob, new_scenario, open_store,
    shown_url,
)
from geo.scenarios import scenario_from_doc
from geo.whatif import run_scenario
from tests.unit.test_scenarios import fc, line, point, two_streets

# ------------------------------------------------------------------ a throwaway PostgreSQL


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    dirs = [Path(found).resolve().parent] if found else []
    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((d for d in dirs if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


def _postgis_missing(bindir: Path) -> str | None:
    try:
        share = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        share = str(Path("/usr/share/postgresql") / bindir.parent.name)
    if not (Path(share) / "extension" / "postgis.control").exists():
        return f"PostGIS is not installed for {bindir} (make test installs postgresql-15-postgis-3 when root)"
    return None


class Cluster:
    """A PostgreSQL cluster in a temporary folder, listening on a unix socket only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="circles-pg-"))
        self.data = self.root / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.count = 0

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "circles", "-E", "UTF8",
                  "--no-locale")
        opts = f"-k {self.root} -c listen_addresses='' -p {self.port} -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-o", opts, "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: str) -> str:
        return f"postgresql://circles@/{db}?host={self.root}&port={self.port}"

    def new_database(self) -> str:
        import psycopg

        self.count += 1
        name = f"circles_test_{self.count}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="module")
def pg_cluster():
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (make test installs the Debian package postgresql when root)")
    missing = _postgis_missing(bindir)
    if missing:
        pytest.skip(missing)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start postgres as another user")
    try:
        import pwd

        if os.geteuid() == 0:
            pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to start the server as")
    cluster = Cluster(bindir)
    try:
        cluster.start()
    except subprocess.CalledProcessError as err:
        log = (cluster.root / "log").read_text(errors="replace") if (cluster.root / "log").exists() else ""
        cluster.stop()
        pytest.fail(f"could not start a PostgreSQL cluster: {err.stderr or err}\n{log}")
    yield cluster
    cluster.stop()


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, tmp_path):
    """An empty store of each backend."""
    if request.param == "gpkg":
        return open_store(tmp_path / GPKG_NAME)
    cluster = request.getfixturevalue("pg_cluster")
    return open_store(cluster.new_database())


# ------------------------------------------------------------------ scenarios with known answers


def crossing_outcome():
    """The two-street plan (tests.unit.test_scenarios) with a link joining the streets at x=100:
    the home (50, 110) with 10 people gains the 5-minute walk of the station, nothing is lost."""
    _, before = two_streets()
    net = before.network
    doc = fc(({"edit": "add_link", "name": "新人行横道", "penalty_s": 0}, line(net, (100, 0), (100, 100))),
             ({"edit": "add_facility", "layer": "centres", "name": "新中心", "id": "c9"}, point(net, 350, 100)))
    return before, run_scenario(before, scenario_from_doc(doc, source="crossing.geojson"))


def test_keeps_reads_back_and_deletes(store):
    before, out = crossing_outcome()
    assert store.list() == []
    sid = store.add(new_scenario(out, name="会林路 crossing", by="planner-1"))
    sid2 = store.add(new_scenario(out, name="again"))
    assert sid2 > sid >= 1
    kept = store.get(sid)
    assert (kept.name, kept.created_by, kept.n_edits) == ("会林路 crossing", "planner-1", 2)
    assert store.get(sid2).created_by  # the OS user when no --by
    f = kept.coverage["layers"]["stations"]["minutes"]["5"]
    assert (f["people_gained"], f["people_lost"], f["before"]["people_covered"], f["after"]["people_covered"]) == \
        (10, 0, 5, 15)
    assert kept.summary()["people"]["stations"]["5"] == {"gained": 10, "lost": 0}
    # geometry comes back as it went in (WKB is exact), in WGS84
    areas = kept.features["scenario_areas"]
    assert len(areas) == len(out.areas) and len(areas) >= 1
    for a, b in zip(areas.geometry, out.areas.geometry):
        assert a.geom_type == "MultiPolygon" and shapely.equals(a, b)
    home = kept.features["scenario_homes"]
    assert home["people"].tolist() == out.homes["people"].tolist()
    assert shapely.equals_exact(home.geometry.values, out.homes.geometry.values, 0).all()
    # the changed area holds the home that gained
    assert areas[areas["layer"] == "stations"].geometry.iloc[0].contains(home[home["layer"] == "stations"].geometry.iloc[0])
    edits = kept.features["scenario_edits"]
    given = edits[edits["source"] == "given"]
    assert given["edit"].tolist() == ["add_link", "add_facility"]
    assert given["name"].tolist() == ["新人行横道", "新中心"]
    assert edits[edits["source"] == "network"]["length_m"].tolist() == [pytest.approx(100.0, abs=0.1)]
    assert [s.id for s in store.list()] == [sid, sid2]
    assert store.list()[0].features == {}  # listing reads no geometry
    store.delete(sid)
    assert [s.id for s in store.list()] == [sid2]
    with pytest.raises(ScenarioNotFoundError, match=f"scenario {sid}: no kept scenario has this id"):
        store.get(sid)
    with pytest.raises(ScenarioNotFoundError):
        store.delete(sid)
    assert store.add(new_scenario(out)) > sid2  # ids are never reused


def test_kept_edits_run_again_to_the_same_result(store):
    before, out = crossing_outcome()
    kept = store.get(store.add(new_scenario(out)))
    again = scenario_from_doc(kept.edits, source="kept")
    assert again.edits == out.scenario.edits
    assert run_scenario(before, again).coverage["layers"] == out.coverage["layers"]


def test_compare_side_by_side(store):
    before, out = crossing_outcome()
    net = before.network
    # a link far from the homes: changes nothing
    idle = run_scenario(before, scenario_from_doc(fc(({"edit": "add_link"}, line(net, (390, 0), (390, 100))))))
    a = store.add(new_scenario(out, name="crossing"))
    b = store.add(new_scenario(idle, name="idle link"))
    doc = compare([store.get(a, geometry=False), store.get(b, geometry=False)])
    row = doc["layers"]["stations"]["5"]
    assert doc["same_plan"] is True
    assert row["before"]["people_covered"] == 5
    # (350,110) is 450 m from the station through the x=390 link as through x=100: no gain
    assert (row["after"][str(a)]["people_covered"], row["after"][str(b)]["people_covered"]) == (15, 5)
    assert (row["after"][str(a)]["people_gained"], row["after"][str(b)]["people_gained"]) == (10, 0)
    assert row["most_people"] == a
    assert [s["name"] for s in doc["scenarios"]] == ["crossing", "idle link"]
    with pytest.raises(InputError, match="give two or more ids"):
        compare([store.get(a)])
    with pytest.raises(InputError, match="an id is repeated"):
        compare([store.get(a), store.get(a)])


def test_bad_ids_are_clear(store):
    with pytest.raises(ScenarioNotFoundError, match="scenario 7: no kept scenario has this id in"):
        store.get(7)
    with pytest.raises(InputError, match="'x' is not a scenario id"):
        store.get("x")
    with pytest.raises(InputError, match="ids are whole numbers from 1"):
        store.delete(0)


@pytest.mark.slow
def test_real_helsinki_scenario_kept(store, helsinki_plan):
    """A centre added in the middle of the people the Helsinki plan leaves out."""
    from tests.api.test_whatif import _far_node

    lonlat = _far_node(helsinki_plan, "centres")
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"edit": "add_facility", "layer": "centres", "name": "new"},
         "geometry": {"type": "Point", "coordinates": lonlat}}]}
    out = run_scenario(helsinki_plan, scenario_from_doc(doc))
    kept = store.get(store.add(new_scenario(out, name="helsinki")))
    big = f"{max(helsinki_plan.params.minutes):g}"
    f = kept.coverage["layers"]["centres"]["minutes"][big]
    assert f["homes_gained"] >= 1
    areas = kept.features["scenario_areas"]
    sel = areas[(areas["layer"] == "centres") & (areas["minutes"] == float(big)) & (areas["change"] == "gain")]
    assert int(sel["homes"].sum()) == f["homes_gained"]
    assert len(kept.features["scenario_homes"]) == len(out.homes)
    assert shapely.equals(shapely.union_all(areas.geometry.values), shapely.union_all(out.areas.geometry.values))


@pytest.fixture(scope="module")
def helsinki_plan(cache_dir):
    from geo.plan import PlanInputs, PlanParams, plan

    return plan(PlanInputs(), PlanParams(minutes=(10.0, 15.0), cache_dir=cache_dir))


# ------------------------------------------------------------------ backend specifics


def test_geopackage_opens_in_gdal(tmp_path):
    """The file is a GeoPackage GDAL (QGIS) reads: layers, geometry types, EPSG:4326, the rows."""
    import pyogrio

    _, out = crossing_outcome()
    store = open_store(tmp_path)  # a folder: its scenarios.gpkg
    sid = store.add(new_scenario(out, name="crossing"))
    path = tmp_path / GPKG_NAME
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"scenarios": None, "scenario_edits": "Unknown", "scenario_areas": "MultiPolygon",
                      "scenario_homes": "Point"}
    info = pyogrio.read_info(path, layer="scenario_areas")
    assert info["crs"] == "EPSG:4326" and info["features"] == len(out.areas)
    homes = pyogrio.read_dataframe(path, layer="scenario_homes")
    assert homes["scenario_id"].tolist() == [sid] * len(out.homes)
    assert np.allclose(shapely.get_coordinates(homes.geometry.values), shapely.get_coordinates(out.homes.geometry.values))
    rows = pyogrio.read_dataframe(path, layer="scenarios")
    assert rows["name"].tolist() == ["crossing"]
    import sqlite3

    with sqlite3.connect(path) as conn:  # the extent QGIS zooms to covers the edits
        ext = conn.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents "
                           "WHERE table_name = 'scenario_edits'").fetchone()
    given = shapely.union_all([e.geometry for e in out.scenario.edits])
    assert np.allclose(ext, given.bounds)


def test_gpkg_blob_round_trip():
    for g in (shapely.Point(120.2, 30.2), shapely.LineString([(120, 30), (120.1, 30.1)]),
              shapely.box(120, 30, 120.1, 30.1), shapely.Point()):
        back = from_gpkg_blob(gpkg_blob(g))
        assert back.geom_type == g.geom_type and (back.is_empty if g.is_empty else shapely.equals(back, g))
    with pytest.raises(ValueError, match="no 'GP' header"):
        from_gpkg_blob(b"XX\x00\x01")


def test_bad_targets_are_clear(tmp_path):
    with pytest.raises(InputError, match="unknown database kind 'mysql'"):
        open_store("mysql://x/y")
    other = tmp_path / "other.gpkg"
    other.write_text("not a database at all, just text " * 100)
    with pytest.raises(InputError, match="is not a scenario GeoPackage"):
        open_store(other).list()
    assert open_store(tmp_path / "none.gpkg").list() == []  # reading creates nothing
    assert not (tmp_path / "none.gpkg").exists()
    with pytest.raises(InputError, match="does not exist"):
        open_store(tmp_path / "no" / "such" / "x.gpkg").add(new_scenario(crossing_outcome()[1]))


def test_postgres_connection_errors_hide_the_password(tmp_path):
    url = f"postgresql://planner:s3cret@/nodb?host={tmp_path}&port=1"
    assert "s3cret" not in shown_url(url)
    with pytest.raises(InputError) as err:
        open_store(url).list()
    assert "cannot connect" in str(err.value) and "s3cret" not in str(err.value)


def test_edits_document_is_geojson():
    _, out = crossing_outcome()
    doc = edits_document(out.scenario)
    assert [f["properties"]["edit"] for f in doc["features"]] == ["add_link", "add_facility"]
    assert doc["features"][1]["properties"] == {"edit": "add_facility", "layer": "centres", "id": "c9", "name": "新中心"}
    assert doc["features"][0]["geometry"]["type"] == "LineString"


# ------------------------------------------------------------------ the command line


def _target(store) -> str:
    return getattr(store, "url", None) or str(store.path)


def test_cli_keeps_lists_shows_compares_and_deletes(store, tmp_path):
    """`circles scenario EDITS --plan DIR` keeps the run; list/show/compare/delete read it back
    (the two-street plan: the crossing gains 10 people, known by construction)."""
    import json

    from click.testing import CliRunner

    from api.cli import main
    from geo.saved import PLAN_FOLDER, save_plan

    before, out = crossing_outcome()
    save_plan(before, tmp_path / "p" / PLAN_FOLDER)
    (tmp_path / "crossing.geojson").write_text(json.dumps(edits_document(out.scenario), ensure_ascii=False),
                                               encoding="utf-8")
    db = ["--db", _target(store)]
    runner = CliRunner()
    r = runner.invoke(main, ["scenario", str(tmp_path / "crossing.geojson"), "--plan", str(tmp_path / "p"), *db,
                             "--out", str(tmp_path / "o1"), "--name", "会林路", "--by", "planner-1", "--tiles", "none",
                             "-q"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"kept as scenario 1 in {store.label}"
    # the explicit form runs it too, as does the old one with options before the file
    r = runner.invoke(main, ["scenario", "run", str(tmp_path / "crossing.geojson"), "--plan", str(tmp_path / "p"), *db,
                             "--out", str(tmp_path / "o2"), "--tiles", "none", "-q"])
    assert r.exit_code == 0 and r.output.strip().startswith("kept as scenario 2"), r.output
    r = runner.invoke(main, ["scenario", "--plan", str(tmp_path / "p"), *db, str(tmp_path / "crossing.geojson"),
                             "--out", str(tmp_path / "o3"), "--tiles", "none", "-q", "--no-keep"])
    assert r.exit_code == 0 and r.output == "", r.output
    r = runner.invoke(main, ["scenario", "list", *db])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == 3 and "会林路" in lines[1] and "planner-1" in lines[1]
    assert lines[1].endswith("stations ≤5 +10/-0")
    r = runner.invoke(main, ["scenario", "show", "1", *db, "--json"])
    shown = json.loads(r.output)
    assert shown["coverage"]["layers"]["stations"]["minutes"]["5"]["people_gained"] == 10
    assert shown["edits"] == edits_document(out.scenario)
    r = runner.invoke(main, ["scenario", "compare", "1", "2", *db, "--json"])
    doc = json.loads(r.output)
    assert doc["layers"]["stations"]["5"]["after"]["2"]["people_covered"] == 15
    r = runner.invoke(main, ["scenario", "delete", "2", *db])
    assert r.exit_code == 0 and r.output.strip() == f"deleted scenario 2 from {store.label}"
    r = runner.invoke(main, ["scenario", "show", "2", *db])
    assert r.exit_code == 2
    assert f"error: scenario 2: no kept scenario has this id in {store.label}" in r.output
    assert "Traceback" not in r.output


def test_cli_keeps_beside_the_plan_by_default(tmp_path):
    from click.testing import CliRunner

    from api.cli import main
    from geo.saved import PLAN_FOLDER, save_plan

    before, out = crossing_outcome()
    save_plan(before, tmp_path / "p" / PLAN_FOLDER)
    import json

    (tmp_path / "c.geojson").write_text(json.dumps(edits_document(out.scenario)), encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(main, ["scenario", str(tmp_path / "c.geojson"), "--plan", str(tmp_path / "p" / PLAN_FOLDER),
                             "--out", str(tmp_path / "o"), "--tiles", "none", "-q"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"kept as scenario 1 in {tmp_path / 'p' / GPKG_NAME}"
    r = runner.invoke(main, ["scenario", "list", "--plan", str(tmp_path / "p")])
    assert "c.geojson (2 edits)" in r.output
    r = runner.invoke(main, ["scenario", "list"])
    assert r.exit_code == 2 and "give --plan DIR (its scenarios.gpkg) or --db URL" in r.output
    r = runner.invoke(main, ["scenario", "list", "--plan", str(tmp_path / "no-such-plan")])  # mistyped: not "none yet"
    assert r.exit_code == 2 and "is not a saved plan" in r.output
    r = runner.invoke(main, ["scenario", str(tmp_path / "c.geojson"), "--plan", str(tmp_path / "p"), "--no-keep",
                             "--out", str(tmp_path / "o2"), "--tiles", "none", "-q"])
    assert r.exit_code == 0 and r.output == ""
    assert [s.id for s in open_store(tmp_path / "p").list()] == [1]


def test_a_file_that_cannot_be_written_is_clear(tmp_path):
    import stat

    if os.geteuid() == 0:
        pytest.skip("root writes read-only files: the permission check cannot fail")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(InputError, match="cannot be opened or written"):
            open_store(folder).add(new_scenario(crossing_outcome()[1]))
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_locked_database_fails_cleanly(tmp_path):
    """A write blocked by another program's lock is an error naming the file; nothing is kept."""
    import sqlite3

    from geo.scenario_store import GpkgStore

    _, out = crossing_outcome()
    store = open_store(tmp_path)
    store.add(new_scenario(out))
    other = sqlite3.connect(tmp_path / GPKG_NAME)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(InputError, match="database is locked") as err:
            GpkgStore(tmp_path / GPKG_NAME, timeout_s=0.1).add(new_scenario(out))
        assert str(err.value).startswith(str(tmp_path / GPKG_NAME))
    finally:
        other.rollback()
        other.close()
    assert [s.id for s in store.list()] == [1]
