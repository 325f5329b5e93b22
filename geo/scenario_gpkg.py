"""Kept scenarios in a GeoPackage file (SQLite), one a planner can open in QGIS.

Written with :mod:`sqlite3` following the OGC GeoPackage 1.3 encoding, so QGIS opens it and
shows the ``scenario_edits``, ``scenario_areas`` and ``scenario_homes`` layers (``scenarios`` is
an attributes table). By default ``DIR/scenarios.gpkg`` beside a saved plan.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path
from typing import cast

import shapely

from geo.errors import InputError
from geo.scenario_records import FEATURE_TABLES, SCENARIO_COLUMNS, SRID, NewScenario
from geo.scenario_sql import Cursor, DbSession, ScenarioStore

_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_USER_VERSION = 10300  # GeoPackage 1.3
_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
    'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],'
    'UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]'
)


def gpkg_blob(geom: shapely.Geometry | None) -> bytes | None:
    """A GeoPackage geometry blob (header with the envelope, then ISO WKB), EPSG:4326."""
    if geom is None:
        return None
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
    if geom.is_empty:
        return b"GP" + bytes([0, 0b00010001]) + struct.pack("<i", SRID) + wkb
    x0, y0, x1, y1 = geom.bounds
    return b"GP" + bytes([0, 0b00000011]) + struct.pack("<i4d", SRID, x0, x1, y0, y1) + wkb


def from_gpkg_blob(blob: bytes | None) -> shapely.Geometry | None:
    """The shapely geometry of a GeoPackage geometry blob."""
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


class GpkgStore(ScenarioStore):
    """Scenarios in a GeoPackage file (SQLite), one a planner can open in QGIS."""

    param = "?"

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.label = str(self.path)
        self.timeout_s = timeout_s  # how long a write waits for another program's lock

    def _connect(self, *, create: bool) -> DbSession:
        if not self.path.exists():
            if not create:
                return DbSession(None)
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
        return DbSession(conn, label=self.label, errors=(sqlite3.Error,))

    def _check_or_create(self, conn: sqlite3.Connection) -> None:
        """Check that the file is a scenario GeoPackage, or make the tables in a new one."""
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

    def _geom_value(self, geom: shapely.Geometry | None) -> bytes | None:
        return gpkg_blob(geom)

    def _geom_out(self) -> str:
        return "geom"

    def _geom_read(self, value: bytes | None) -> shapely.Geometry | None:
        return from_gpkg_blob(value)

    def _insert_scenario(self, cur: Cursor, values: list) -> int:
        names = ", ".join(c for c, _ in SCENARIO_COLUMNS)
        cur.execute(f"INSERT INTO scenarios ({names}) VALUES ({', '.join('?' * len(values))})", values)  # noqa: S608 - names from SCENARIO_COLUMNS; values bound
        # cast: a GeoPackage's cursors are sqlite3's (see _connect), which know the new row's id
        return int(cast("sqlite3.Cursor", cur).lastrowid or 0)

    def _after_insert(self, cur: Cursor, new: NewScenario) -> None:
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
