"""What both scenario stores share: the SQL that adds, lists, reads and deletes a kept scenario.

:class:`ScenarioStore` writes and reads the tables of :mod:`geo.scenario_records`; a backend
(:class:`geo.scenario_gpkg.GpkgStore`, :class:`geo.scenario_postgis.PostgisStore`) gives its
connection, placeholders and geometry encoding. Each scenario is written in one transaction
(all of its rows or none). Nothing read back is code: JSON text and WKB geometry only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from geo.errors import InputError
from geo.scenario_records import (
    FEATURE_TABLES,
    FORMAT_VERSION,
    SCENARIO_COLUMNS,
    SRID,
    NewScenario,
    SavedScenario,
    ScenarioNotFoundError,
)


class Cursor(Protocol):
    """What the stores use of a DB-API cursor (sqlite3's and psycopg's)."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        ...

    def execute(self, query: str, params: Sequence[object] = ..., /) -> object:
        """Run one statement with bound values."""
        ...

    def executemany(self, query: str, rows: Iterable[Sequence[object]], /) -> object:
        """Run one statement once per row of bound values."""
        ...

    def fetchone(self) -> tuple | None:
        """The next row of the result, None after the last."""
        ...

    def fetchall(self) -> Sequence[tuple]:
        """The remaining rows of the result."""
        ...


class Connection(Protocol):
    """What the stores use of a DB-API connection (sqlite3's and psycopg's)."""

    def cursor(self) -> Cursor:
        """A new cursor."""
        ...

    def commit(self) -> None:
        """Commit the transaction."""
        ...

    def rollback(self) -> None:
        """Roll the transaction back."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class DbSession:
    """``with`` block yielding ``(connection, cursor)``, both None when there is no store yet.

    Rolls back on error, always closes, and turns the database's own errors (``errors``) into an
    :class:`InputError` naming the store.
    """

    def __init__(self, conn: Connection | None, *, label: str = "", errors: tuple[type[Exception], ...] = ()) -> None:
        self.conn, self.label, self.errors = conn, label, errors

    def __enter__(self) -> tuple[Connection | None, Cursor | None]:
        return self.conn, (self.conn.cursor() if self.conn is not None else None)

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
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


class ScenarioStore:
    """What both backends offer; the SQL differs only in placeholders and geometry encoding."""

    label: str
    param = "?"

    # --- per backend
    def _connect(self, *, create: bool) -> DbSession:  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_in(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_value(self, geom: shapely.Geometry | None) -> bytes | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_out(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _geom_read(self, value: bytes | None) -> shapely.Geometry | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _insert_scenario(self, cur: Cursor, values: list) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _after_insert(self, cur: Cursor, new: NewScenario) -> None:
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
            if conn is None or cur is None:  # pragma: no cover - create=True always connects
                raise RuntimeError(f"{self.label}: no connection")
            sid = self._insert_scenario(cur, values)
            for table, (_, cols) in FEATURE_TABLES.items():
                gdf = new.features.get(table)
                if gdf is None or len(gdf) == 0:
                    continue
                names = [c for c, _ in cols]
                rows: list[list[object]] = []
                records = gdf.drop(columns=gdf.geometry.name).to_dict("records")
                geoms = gdf.geometry.to_numpy()
                for rec, geom in zip(records, geoms, strict=True):
                    rec["scenario_id"] = sid
                    g = _as_multi(geom) if table == "scenario_areas" else geom
                    rows.append([*(_py(rec.get(c)) for c in names), self._geom_value(g)])
                p = self.param
                cur.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}, geom) VALUES "  # noqa: S608 - names from FEATURE_TABLES; values bound
                    f"({', '.join([p] * len(names))}, {self._geom_in()})",
                    rows,
                )
            self._after_insert(cur, new)
            conn.commit()
        return sid

    def list(self) -> list[SavedScenario]:
        """Every kept scenario (without geometry), oldest first."""
        with self._connect(create=False) as (conn, cur):
            if conn is None or cur is None:
                return []
            cur.execute(f"SELECT fid, {', '.join(c for c, _ in SCENARIO_COLUMNS)} FROM scenarios ORDER BY fid")  # noqa: S608 - names from SCENARIO_COLUMNS
            return [self._scenario(r, {}) for r in cur.fetchall()]

    def get(self, sid: int | str, *, geometry: bool = True) -> SavedScenario:
        """The kept scenario ``sid``; :class:`ScenarioNotFoundError` when there is none."""
        sid = _check_id(sid)
        p = self.param
        with self._connect(create=False) as (conn, cur):
            if conn is None or cur is None:
                raise ScenarioNotFoundError(self._missing(sid))
            cur.execute(
                f"SELECT fid, {', '.join(c for c, _ in SCENARIO_COLUMNS)} FROM scenarios WHERE fid = {p}",  # noqa: S608 - names from SCENARIO_COLUMNS; the id bound
                [sid],
            )
            row = cur.fetchone()
            if row is None:
                raise ScenarioNotFoundError(self._missing(sid))
            features: dict[str, gpd.GeoDataFrame] = {}
            if geometry:
                for table, (_, cols) in FEATURE_TABLES.items():
                    names = [c for c, _ in cols if c != "scenario_id"]
                    cur.execute(
                        f"SELECT {', '.join(names)}, {self._geom_out()} FROM {table} "  # noqa: S608 - names from FEATURE_TABLES; the id bound
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
            if conn is None or cur is None:
                raise ScenarioNotFoundError(self._missing(sid))
            cur.execute(f"DELETE FROM scenarios WHERE fid = {p}", [sid])  # noqa: S608 - a placeholder only; the id bound
            if cur.rowcount == 0:
                conn.rollback()
                raise ScenarioNotFoundError(self._missing(sid))
            for table in FEATURE_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE scenario_id = {p}", [sid])  # noqa: S608 - names from FEATURE_TABLES
            conn.commit()

    def _missing(self, sid: int) -> str:
        """The message of a scenario id the store does not hold."""
        return f"scenario {sid}: no kept scenario has this id in {self.label} (`circles scenario list` shows them)"

    def _scenario(self, row: tuple, features: dict) -> SavedScenario:
        """A row of ``scenarios`` (and its feature tables) as a :class:`SavedScenario`."""
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
        except (TypeError, ValueError, RecursionError) as err:
            raise InputError(
                self.label,
                [(f"scenario {sid}: its stored edits or coverage are not JSON ({err}): delete it and run it again")],
            ) from None
        return SavedScenario(int(sid), name, by, str(at), key, label, int(n or 0), edits_doc, cov, features)


def _check_id(sid: int | str) -> int:
    """A scenario id as given (CLI text, URL path, JSON), checked to be a whole number from 1."""
    try:
        out = int(sid)
    except (TypeError, ValueError):
        raise InputError(
            "scenario id", [(f"{sid!r} is not a scenario id: give the whole number `circles scenario list` shows")]
        ) from None
    if out < 1 or out > 2**62:
        raise InputError("scenario id", [f"{sid!r} is not a scenario id: ids are whole numbers from 1"])
    return out


def _py(v: object) -> int | float | str | None:
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
        # cast: pandas-stubs type isna for known scalars only; at run time it takes any object
        if pd.isna(cast("Any", v)):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _json_default(o: object) -> int | float | str | None:
    """What ``json.dumps`` writes for numpy numbers (NaN as null) and anything else (its text)."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o) if np.isfinite(o) else None
    return str(o)


def _as_multi(geom: shapely.Geometry | None) -> shapely.Geometry | None:
    """Areas as MultiPolygon (the column's type), as QGIS expects of one layer."""
    if geom is not None and geom.geom_type == "Polygon":
        return shapely.geometry.MultiPolygon([geom])
    return geom
