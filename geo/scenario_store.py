"""Scenarios that are kept: one storage interface, a GeoPackage file or a PostGIS database.

A kept scenario has an id, a name, who ran it and when, its edits (a WGS84 GeoJSON
FeatureCollection that runs it again), its coverage before and after (the scenario's
``coverage.json``) and, as geometry, its edits, the areas and the homes that gain or lose.

:func:`open_store` picks the backend from its target:

* a path (default ``DIR/scenarios.gpkg`` beside a saved plan): a GeoPackage written with
  :mod:`sqlite3` following the OGC GeoPackage 1.3 encoding, so QGIS opens it and shows the
  ``scenario_edits``, ``scenario_areas`` and ``scenario_homes`` layers (``scenarios`` is an
  attributes table);
* ``postgresql://...`` (or ``postgres://``): the same tables in PostgreSQL with PostGIS
  geometry columns (EPSG:4326), through psycopg 3, for a team sharing one database.

Each scenario is written in one transaction (all of its rows or none). Nothing read back is
code: JSON text and WKB geometry only.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geo.errors import CirclesError, InputError

if TYPE_CHECKING:  # annotations only
    import shapely

    from geo.plan import PlanResult
    from geo.scenarios import Scenario
    from geo.whatif import ScenarioOutcome

#: version of the tables' layout written in every scenario row
FORMAT_VERSION = 1
#: the GeoPackage a saved plan's folder keeps its scenarios in
GPKG_NAME = "scenarios.gpkg"
SRID = 4326
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_USER_VERSION = 10300  # GeoPackage 1.3
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
    'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],'
    'UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]'
)

#: the feature tables: name -> (geometry type, [(column, SQL type)])
FEATURE_TABLES = {
    "scenario_edits": (
        "GEOMETRY",
        [
            ("scenario_id", "INTEGER"),
            ("number", "INTEGER"),
            ("source", "TEXT"),
            ("edit", "TEXT"),
            ("name", "TEXT"),
            ("layer", "TEXT"),
            ("facility", "TEXT"),
            ("length_m", "REAL"),
        ],
    ),
    "scenario_areas": (
        "MULTIPOLYGON",
        [
            ("scenario_id", "INTEGER"),
            ("layer", "TEXT"),
            ("profile", "TEXT"),
            ("minutes", "REAL"),
            ("change", "TEXT"),
            ("homes", "INTEGER"),
            ("people", "REAL"),
            ("street", "TEXT"),
            ("community", "TEXT"),
        ],
    ),
    "scenario_homes": (
        "POINT",
        [
            ("scenario_id", "INTEGER"),
            ("layer", "TEXT"),
            ("profile", "TEXT"),
            ("minutes", "REAL"),
            ("change", "TEXT"),
            ("people", "REAL"),
            ("walk_min_before", "REAL"),
            ("walk_min_after", "REAL"),
        ],
    ),
}
SCENARIO_COLUMNS = [
    ("name", "TEXT"),
    ("created_by", "TEXT"),
    ("created_at", "TEXT"),
    ("plan_key", "TEXT"),
    ("plan_label", "TEXT"),
    ("n_edits", "INTEGER"),
    ("edits", "TEXT"),
    ("coverage", "TEXT"),
    ("format_version", "INTEGER"),
]


class ScenarioNotFoundError(CirclesError):
    """No kept scenario has this id."""


@dataclass(frozen=True, eq=False)
class NewScenario:
    """A scenario and its results, ready to be kept (no id yet)."""

    name: str
    created_by: str
    created_at: str
    plan_key: str
    plan_label: str
    edits: dict  # GeoJSON FeatureCollection (WGS84) that runs the scenario again
    coverage: dict
    features: dict  # table name -> GeoDataFrame (WGS84) with that table's columns


@dataclass(frozen=True, eq=False)
class SavedScenario:
    """A kept scenario as read back."""

    id: int
    name: str
    created_by: str
    created_at: str
    plan_key: str
    plan_label: str
    n_edits: int
    edits: dict
    coverage: dict
    features: dict  # table name -> GeoDataFrame (WGS84); empty dict when read without geometry

    def summary(self) -> dict:
        """Id, name, who, when, plan and the people gained/lost per layer at each threshold."""
        return {
            "id": self.id,
            "name": self.name,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "plan": self.plan_label,
            "plan_key": self.plan_key,
            "edits": self.n_edits,
            "people": {
                layer: {
                    m: {"gained": f.get("people_gained"), "lost": f.get("people_lost")}
                    for m, f in doc.get("minutes", {}).items()
                }
                for layer, doc in self.coverage.get("layers", {}).items()
            },
        }


# ------------------------------------------------------------------ building a record


def plan_key(result: PlanResult) -> tuple[str, str]:
    """``(key, label)`` of a plan: the key is the same for the same plan however it was loaded
    (a checksum of its coverage figures without the time they were made).
    """
    doc = {k: v for k, v in result.coverage.items() if k != "generated"}
    key = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]
    given = doc.get("area")
    area: dict = given if isinstance(given, dict) else {}
    label = " · ".join(str(x) for x in (Path(str(doc.get("source") or "")).name, area.get("name")) if x)
    return key, label


def edits_document(scenario: Scenario) -> dict:
    """The scenario's edits as a WGS84 GeoJSON FeatureCollection that
    :func:`geo.scenarios.scenario_from_doc` reads back into the same edits.
    """
    import shapely.geometry

    feats = []
    for e in scenario.edits:
        props = {"edit": e.kind}
        if e.layer:
            props["layer"] = e.layer
        if e.ref is not None:
            props["id"] = e.ref
        props.update({k: v for k, v in e.props.items() if v is not None})
        geom = shapely.geometry.mapping(e.geometry) if e.geometry is not None else None
        feats.append({"type": "Feature", "properties": props, "geometry": _plain(geom)})
    return {"type": "FeatureCollection", "features": feats}


def _plain(obj):
    """Tuples from shapely's mapping as lists (JSON arrays)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def default_user() -> str:
    """The user name of the operating system (who ran a scenario, without ``--by``)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's numeric uid)
        return "unknown"


def new_scenario(outcome: ScenarioOutcome, *, name: str | None = None, by: str | None = None) -> NewScenario:
    """A record of a run (:class:`geo.whatif.ScenarioOutcome`) to keep."""
    import geopandas as gpd
    import pandas as pd

    key, label = plan_key(outcome.before)
    edits = edits_document(outcome.scenario)
    given = gpd.GeoDataFrame(
        {
            "number": [e.number for e in outcome.scenario.edits],
            "source": "given",
            "edit": [e.kind for e in outcome.scenario.edits],
            "name": [e.props.get("name") for e in outcome.scenario.edits],
            "layer": [e.layer for e in outcome.scenario.edits],
            "facility": [e.ref for e in outcome.scenario.edits],
            "length_m": [None] * len(outcome.scenario.edits),
        },
        geometry=[e.geometry for e in outcome.scenario.edits],
        crs=SRID,
    )
    net = outcome.edits.copy()
    net = gpd.GeoDataFrame(
        {
            "number": None,
            "source": "network",
            "edit": net["edit"],
            "name": net["name"],
            "layer": None,
            "facility": None,
            "length_m": net["length_m"],
        },
        geometry=net.geometry.values,
        crs=SRID,
    )
    edit_rows = gpd.GeoDataFrame(pd.concat([given, net], ignore_index=True), crs=SRID)
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    n = len(outcome.scenario.edits)
    src = Path(str(outcome.scenario.source)).name
    return NewScenario(
        name=(name or "").strip() or f"{src} ({n} edit{'s' if n != 1 else ''})",
        created_by=(by or "").strip() or default_user(),
        created_at=stamp,
        plan_key=key,
        plan_label=label,
        edits=edits,
        coverage=outcome.coverage,
        features={"scenario_edits": edit_rows, "scenario_areas": outcome.areas, "scenario_homes": outcome.homes},
    )


# ------------------------------------------------------------------ geometry encodings


def gpkg_blob(geom: shapely.Geometry | None) -> bytes | None:
    """A GeoPackage geometry blob (header with the envelope, then ISO WKB), EPSG:4326."""
    import shapely

    if geom is None:
        return None
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
    if geom.is_empty:
        return b"GP" + bytes([0, 0b00010001]) + struct.pack("<i", SRID) + wkb
    x0, y0, x1, y1 = geom.bounds
    return b"GP" + bytes([0, 0b00000011]) + struct.pack("<i4d", SRID, x0, x1, y0, y1) + wkb


def from_gpkg_blob(blob: bytes | None) -> shapely.Geometry | None:
    """The shapely geometry of a GeoPackage geometry blob."""
    import shapely

    if blob is None:
        return None
    blob = bytes(blob)
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry (no 'GP' header)")
    flags = blob[3]
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 7)
    if envelope is None:
        raise ValueError(f"unknown GeoPackage envelope code {(flags >> 1) & 7}")
    return shapely.from_wkb(blob[8 + envelope :])


def _as_multi(geom):
    """Areas as MultiPolygon (the column's type), as QGIS expects of one layer."""
    import shapely.geometry

    if geom is not None and geom.geom_type == "Polygon":
        return shapely.geometry.MultiPolygon([geom])
    return geom


# ------------------------------------------------------------------ the stores


def open_store(target: str | Path) -> ScenarioStore:
    """The store at ``target``: ``postgresql://`` URL (PostGIS) or a GeoPackage path."""
    text = str(target).strip()
    if text.startswith(("postgresql://", "postgres://")):
        return PostgisStore(text)
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise InputError(
            f"--db {scheme}://...",
            [
                (
                    f"unknown database kind {scheme!r}: give a GeoPackage path "
                    "(such as out/bj/scenarios.gpkg) or postgresql://user@host/db"
                )
            ],
        )
    path = Path(text)
    if path.is_dir():
        path = path / GPKG_NAME
    return GpkgStore(path)


class ScenarioStore:
    """What both backends offer; the SQL differs only in placeholders and geometry encoding."""

    label: str
    param = "?"

    # --- per backend
    def _connect(self, *, create: bool):  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_in(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_value(self, geom):  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_out(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_read(self, value):  # pragma: no cover - overridden
        raise NotImplementedError

    def _insert_scenario(self, cur, values: list) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _after_insert(self, cur, new: NewScenario) -> None:
        """Backend bookkeeping after a scenario's rows are written (GeoPackage extents)."""

    # --- shared
    def add(self, new: NewScenario) -> int:
        """Keep ``new``; returns its id."""
        values = [
            new.name,
            new.created_by,
            new.created_at,
            new.plan_key,
            new.plan_label,
            len(new.edits.get("features", [])),
            json.dumps(new.edits, ensure_ascii=False),
            json.dumps(new.coverage, ensure_ascii=False, default=_json_default),
            FORMAT_VERSION,
        ]
        with self._connect(create=True) as (conn, cur):
            sid = self._insert_scenario(cur, values)
            for table, (_, cols) in FEATURE_TABLES.items():
                gdf = new.features.get(table)
                if gdf is None or len(gdf) == 0:
                    continue
                names = [c for c, _ in cols]
                rows = []
                records = gdf.drop(columns=gdf.geometry.name).to_dict("records")
                geoms = gdf.geometry.to_numpy()
                for rec, geom in zip(records, geoms, strict=True):
                    rec["scenario_id"] = sid
                    g = _as_multi(geom) if table == "scenario_areas" else geom
                    rows.append([_py(rec.get(c)) for c in names] + [self._geom_value(g)])
                p = self.param
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}, geom) VALUES "
                    f"({', '.join([p] * len(names))}, {self._geom_in()})",
                    rows,
                )
            self._after_insert(cur, new)
            conn.commit()
        return sid

    def list(self) -> list[SavedScenario]:
        """Every kept scenario (without geometry), oldest first."""
        with self._connect(create=False) as (conn, cur):
            if conn is None:
                return []
            cur.execute(f"SELECT fid, {', '.join(c for c, _ in SCENARIO_COLUMNS)} FROM scenarios ORDER BY fid")
            return [self._scenario(r, {}) for r in cur.fetchall()]

    def get(self, sid: int | str, *, geometry: bool = True) -> SavedScenario:
        """The kept scenario ``sid``; :class:`ScenarioNotFoundError` when there is none."""
        import geopandas as gpd

        sid = _check_id(sid)
        p = self.param
        with self._connect(create=False) as (conn, cur):
            row = None
            if conn is not None:
                cur.execute(
                    f"SELECT fid, {', '.join(c for c, _ in SCENARIO_COLUMNS)} FROM scenarios WHERE fid = {p}", [sid]
                )
                row = cur.fetchone()
            if row is None:
                raise ScenarioNotFoundError(self._missing(sid))
            features = {}
            if geometry:
                for table, (_, cols) in FEATURE_TABLES.items():
                    names = [c for c, _ in cols if c != "scenario_id"]
                    cur.execute(
                        f"SELECT {', '.join(names)}, {self._geom_out()} FROM {table} "
                        f"WHERE scenario_id = {p} ORDER BY fid",
                        [sid],
                    )
                    rows = cur.fetchall()
                    features[table] = gpd.GeoDataFrame(
                        [list(r[:-1]) for r in rows],
                        columns=names,
                        geometry=[self._geom_read(r[-1]) for r in rows],
                        crs=SRID,
                    )
            return self._scenario(row, features)

    def delete(self, sid: int | str) -> None:
        """Remove scenario ``sid`` and its rows; :class:`ScenarioNotFoundError` when there is none."""
        sid = _check_id(sid)
        p = self.param
        with self._connect(create=False) as (conn, cur):
            if conn is None:
                raise ScenarioNotFoundError(self._missing(sid))
            cur.execute(f"DELETE FROM scenarios WHERE fid = {p}", [sid])
            if cur.rowcount == 0:
                conn.rollback()
                raise ScenarioNotFoundError(self._missing(sid))
            for table in FEATURE_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE scenario_id = {p}", [sid])
            conn.commit()

    def _missing(self, sid: int) -> str:
        return f"scenario {sid}: no kept scenario has this id in {self.label} (`circles scenario list` shows them)"

    def _scenario(self, row, features: dict) -> SavedScenario:
        sid, name, by, at, key, label, n, edits, coverage, version = row
        if version is not None and int(version) > FORMAT_VERSION:
            raise InputError(
                self.label,
                [
                    (
                        f"scenario {sid} was kept by a newer version (format {version}, this "
                        f"one reads {FORMAT_VERSION}): upgrade service-circles"
                    )
                ],
            )
        try:
            edits_doc, cov = json.loads(edits), json.loads(coverage)
        except (TypeError, ValueError) as err:
            raise InputError(
                self.label,
                [(f"scenario {sid}: its stored edits or coverage are not JSON ({err}): delete it and run it again")],
            ) from None
        return SavedScenario(int(sid), name, by, str(at), key, label, int(n or 0), edits_doc, cov, features)


def _check_id(sid) -> int:
    try:
        out = int(sid)
    except (TypeError, ValueError):
        raise InputError(
            "scenario id", [(f"{sid!r} is not a scenario id: give the whole number `circles scenario list` shows")]
        ) from None
    if out < 1 or out > 2**62:
        raise InputError("scenario id", [f"{sid!r} is not a scenario id: ids are whole numbers from 1"])
    return out


def _py(v):
    """Database-ready plain values (numpy scalars, NaN -> None)."""
    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (str, int)):
        return v
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o) if np.isfinite(o) else None
    return str(o)


class _Conn:
    """``with`` block yielding ``(connection, cursor)``; rolls back on error, always closes, and
    turns the database's own errors (``errors``) into an :class:`InputError` naming the store.
    """

    def __init__(self, conn, *, label: str = "", errors: tuple = ()) -> None:
        self.conn, self.label, self.errors = conn, label, errors

    def __enter__(self) -> tuple:
        return self.conn, (self.conn.cursor() if self.conn is not None else None)

    def __exit__(self, kind, err, tb) -> None:
        if self.conn is not None:
            if kind is not None:
                self.conn.rollback()
            self.conn.close()
        if kind is not None and self.errors and issubclass(kind, self.errors):
            raise InputError(
                self.label,
                [
                    (
                        f"the scenario database failed: {str(err).strip()} — nothing was changed; "
                        "try again, or check the database"
                    )
                ],
            ) from None


class GpkgStore(ScenarioStore):
    """Scenarios in a GeoPackage file (SQLite), one a planner can open in QGIS."""

    param = "?"

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.label = str(self.path)
        self.timeout_s = timeout_s  # how long a write waits for another program's lock

    def _connect(self, *, create: bool):
        if not self.path.exists():
            if not create:
                return _Conn(None)
            if not self.path.parent.is_dir():
                raise InputError(
                    self.label,
                    [
                        (
                            f"folder {self.path.parent} does not exist: give a plan folder "
                            "(`circles plan --out DIR`) or an existing folder"
                        )
                    ],
                )
        elif not self.path.is_file():
            raise InputError(self.label, ["is not a file: give a GeoPackage path such as DIR/scenarios.gpkg"])
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s)
            self._check_or_create(conn)
        except sqlite3.OperationalError as err:
            if conn is not None:
                conn.close()
            raise InputError(
                self.label,
                [
                    (
                        f"cannot be opened or written ({err}): check that the folder and the "
                        "file can be written, and that no other program holds it"
                    )
                ],
            ) from None
        except sqlite3.DatabaseError as err:
            if conn is not None:
                conn.close()
            raise InputError(
                self.label, [(f"is not a scenario GeoPackage ({err}): give another file, or move this one away")]
            ) from None
        return _Conn(conn, label=self.label, errors=(sqlite3.Error,))

    def _check_or_create(self, conn) -> None:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "scenarios" in tables:
            if app != _GPKG_APPLICATION_ID:
                raise sqlite3.DatabaseError("not a GeoPackage (application_id)")
            return
        if tables - {"gpkg_spatial_ref_sys", "gpkg_contents", "gpkg_geometry_columns", "sqlite_sequence"}:
            raise sqlite3.DatabaseError(f"it holds other tables ({', '.join(sorted(tables)[:5])})")
        conn.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {_GPKG_USER_VERSION}")
        conn.executescript("""
            CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
              srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
              organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
            CREATE TABLE IF NOT EXISTS gpkg_contents (
              table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
              description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT
              (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
              srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
            CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
              table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
              srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
              CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
              CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
              CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
        """)
        conn.executemany(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    "Undefined cartesian SRS",
                    -1,
                    "NONE",
                    -1,
                    "undefined",
                    "undefined cartesian coordinate reference system",
                ),
                (
                    "Undefined geographic SRS",
                    0,
                    "NONE",
                    0,
                    "undefined",
                    "undefined geographic coordinate reference system",
                ),
                (
                    "WGS 84 geodetic",
                    SRID,
                    "EPSG",
                    SRID,
                    _WGS84_WKT,
                    "longitude/latitude coordinates in decimal degrees",
                ),
            ],
        )
        cols = ", ".join(f"{c} {t}" for c, t in SCENARIO_COLUMNS)
        conn.execute(f"CREATE TABLE scenarios (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, {cols})")
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "VALUES ('scenarios', 'attributes', 'scenarios', 'kept what-if scenarios (service-circles)')"
        )
        for table, (gtype, fcols) in FEATURE_TABLES.items():
            cols = ", ".join(f"{c} {t}" for c, t in fcols)
            conn.execute(f"CREATE TABLE {table} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom {gtype}, {cols})")
            conn.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES (?, 'features', ?, ?)",
                (table, table, SRID),
            )
            conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)", (table, gtype, SRID))
        conn.commit()

    def _geom_in(self) -> str:
        return "?"

    def _geom_value(self, geom):
        return gpkg_blob(geom)

    def _geom_out(self) -> str:
        return "geom"

    def _geom_read(self, value):
        return from_gpkg_blob(value)

    def _insert_scenario(self, cur, values: list) -> int:
        names = ", ".join(c for c, _ in SCENARIO_COLUMNS)
        cur.execute(f"INSERT INTO scenarios ({names}) VALUES ({', '.join('?' * len(values))})", values)
        return int(cur.lastrowid)

    def _after_insert(self, cur, new: NewScenario) -> None:
        """Widen each feature table's extent in gpkg_contents (QGIS zooms to it)."""
        for table in FEATURE_TABLES:
            gdf = new.features.get(table)
            if gdf is None or len(gdf) == 0 or gdf.geometry.isna().all():
                continue
            x0, y0, x1, y1 = (float(v) for v in gdf.geometry.dropna().total_bounds)
            cur.execute(
                "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?), ?), "
                "min_y = min(coalesce(min_y, ?), ?), "
                "max_x = max(coalesce(max_x, ?), ?), max_y = max(coalesce(max_y, ?), ?), "
                "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
                (x0, x0, y0, y0, x1, x1, y1, y1, table),
            )


def shown_url(url: str) -> str:
    """A database URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class PostgisStore(ScenarioStore):
    """Scenarios in PostgreSQL with PostGIS (geometry columns in EPSG:4326), via psycopg 3."""

    param = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self.label = shown_url(url)

    def _connect(self, *, create: bool):  # noqa: ARG002 - the tables are made on first use either way
        try:
            import psycopg
        except ImportError:  # pragma: no cover - a dependency of the package
            raise InputError(
                f"--db {self.label}", ["psycopg is not installed: pip install 'psycopg[binary]'"]
            ) from None
        try:
            conn = psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as err:
            raise InputError(f"--db {self.label}", [f"cannot connect: {str(err).strip()}"]) from None
        try:
            self._ensure(conn)
        except psycopg.Error as err:
            conn.close()
            raise InputError(
                f"--db {self.label}",
                [
                    (
                        f"cannot set up the scenario tables: {str(err).strip()} "
                        "(PostGIS must be installed: CREATE EXTENSION postgis)"
                    )
                ],
            ) from None
        return _Conn(conn, label=f"--db {self.label}", errors=(psycopg.Error,))

    def _ensure(self, conn) -> None:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT to_regclass('scenarios') IS NOT NULL, "
                "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')"
            )
            have, postgis = cur.fetchone()
            if have and postgis:
                conn.commit()
                return
            if not postgis:
                cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            types = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"}
            cols = ", ".join(f"{c} {types[t]}" for c, t in SCENARIO_COLUMNS)
            cur.execute(f"CREATE TABLE IF NOT EXISTS scenarios (fid bigserial PRIMARY KEY, {cols})")
            for table, (gtype, fcols) in FEATURE_TABLES.items():
                cols = ", ".join(f"{c} {types[t]}" for c, t in fcols)
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (fid bigserial PRIMARY KEY, "
                    f"geom geometry({gtype}, {SRID}), {cols})"
                )
                cur.execute(f"CREATE INDEX IF NOT EXISTS {table}_sid ON {table} (scenario_id)")
                cur.execute(f"CREATE INDEX IF NOT EXISTS {table}_geom ON {table} USING gist (geom)")
        conn.commit()

    def _geom_in(self) -> str:
        return f"ST_GeomFromWKB(%s, {SRID})"

    def _geom_value(self, geom):
        import shapely

        return None if geom is None else shapely.to_wkb(geom, byte_order=1, flavor="iso")

    def _geom_out(self) -> str:
        return "ST_AsBinary(geom)"

    def _geom_read(self, value):
        import shapely

        return None if value is None else shapely.from_wkb(bytes(value))

    def _insert_scenario(self, cur, values: list) -> int:
        names = ", ".join(c for c, _ in SCENARIO_COLUMNS)
        cur.execute(f"INSERT INTO scenarios ({names}) VALUES ({', '.join(['%s'] * len(values))}) RETURNING fid", values)
        return int(cur.fetchone()[0])


# ------------------------------------------------------------------ comparing


def compare(scenarios: list[SavedScenario]) -> dict:
    """Coverage of several kept scenarios side by side: per layer and threshold the figures
    before, and for each scenario the figures after and the homes and people gained and lost.

    Scenarios of different plans are compared too, with ``same_plan`` false and each one's own
    "before" given.
    """
    if len(scenarios) < 2:
        raise InputError("compare", [f"{len(scenarios)} scenario id given: give two or more ids to compare"])
    ids = [s.id for s in scenarios]
    if len(set(ids)) != len(ids):
        raise InputError("compare", [f"ids {ids}: an id is repeated: give different scenarios"])
    same_plan = len({s.plan_key for s in scenarios}) == 1
    layers: dict = {}
    for s in scenarios:
        for layer, doc in s.coverage.get("layers", {}).items():
            for m, f in doc.get("minutes", {}).items():
                row = layers.setdefault(layer, {}).setdefault(m, {"before": {}, "after": {}})
                row["before"][str(s.id)] = f.get("before")
                row["after"][str(s.id)] = {
                    **(f.get("after") or {}),
                    **{k: f.get(k) for k in ("homes_gained", "homes_lost", "people_gained", "people_lost")},
                }
    for rows in layers.values():
        for row in rows.values():
            befores = list(row["before"].values())
            if same_plan and all(b == befores[0] for b in befores):
                row["before"] = befores[0]
            best = max(row["after"], key=lambda k: row["after"][k].get("people_covered") or 0)
            row["most_people"] = int(best)
    return {"scenarios": [s.summary() for s in scenarios], "same_plan": same_plan, "layers": layers}


def plan_database(plan_dir: str | Path) -> Path:
    """The GeoPackage a saved plan keeps its scenarios in: ``scenarios.gpkg`` in the plan's
    output folder (given as that folder or as its ``plan/``).
    """
    from geo.saved import PLAN_FOLDER

    folder = Path(plan_dir)
    if folder.name == PLAN_FOLDER and (folder / "manifest.json").exists():
        folder = folder.parent
    return folder / GPKG_NAME
