"""Kept scenarios in PostgreSQL with PostGIS (geometry columns in EPSG:4326), via psycopg 3.

For a team sharing one database: ``--db postgresql://user@host/db`` (or ``postgres://``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import shapely

from geo.errors import InputError
from geo.scenario_records import FEATURE_TABLES, SCENARIO_COLUMNS, SRID
from geo.scenario_sql import Cursor, DbSession, ScenarioStore

if TYPE_CHECKING:  # annotations only: psycopg loads when a PostGIS store is opened
    import psycopg


def shown_url(url: str) -> str:
    """A database URL without its password, for messages."""
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

    def _connect(self, *, create: bool) -> DbSession:  # noqa: ARG002 - the tables are made on first use either way
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
        return DbSession(conn, label=f"--db {self.label}", errors=(psycopg.Error,))

    def _ensure(self, conn: psycopg.Connection) -> None:
        """Make the extension, the tables and their indexes where they are missing."""
        with conn.cursor() as cur:
            cur.execute(
                "SELECT to_regclass('scenarios') IS NOT NULL, "
                "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')"
            )
            row = cur.fetchone()
            have, postgis = row if row is not None else (False, False)
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

    def _geom_value(self, geom: shapely.Geometry | None) -> bytes | None:
        return None if geom is None else shapely.to_wkb(geom, byte_order=1, flavor="iso")

    def _geom_out(self) -> str:
        return "ST_AsBinary(geom)"

    def _geom_read(self, value: bytes | None) -> shapely.Geometry | None:
        return None if value is None else shapely.from_wkb(bytes(value))

    def _insert_scenario(self, cur: Cursor, values: list) -> int:
        names = ", ".join(c for c, _ in SCENARIO_COLUMNS)
        cur.execute(f"INSERT INTO scenarios ({names}) VALUES ({', '.join(['%s'] * len(values))}) RETURNING fid", values)  # noqa: S608 - names from SCENARIO_COLUMNS; values bound
        row = cur.fetchone()
        if row is None:  # pragma: no cover - RETURNING gives the new row's id
            raise RuntimeError(f"{self.label}: the new scenario's id was not returned")
        return int(row[0])
