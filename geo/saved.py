"""A saved plan: what follow-up commands need, so they start without planning again.

``circles plan --out DIR`` leaves ``DIR/plan/``, a bundle (:mod:`geo.store`: npz arrays and
GeoParquet tables under a manifest of checksums, never pickle) holding the clipped network, the
homes and where they sit on it, every layer's and view's facilities and walk-time labels, the
circles, gap areas and facility table, the names of places, and the settings used.
:func:`load_plan` gives back the same :class:`geo.plan.PlanResult`; ``circles scenario``,
``site``, ``serve``, ``map`` and ``report`` take ``--plan DIR``.

With ``lazy=True`` (the command line's follow-ups) the network, homes and walk-time labels are
read at once and every table (facilities, circles, gap areas, admin areas, places, base-map
tables, the study area) when first used: a follow-up reads only what it needs. Each file is
checked against its checksum when it is read, and a damaged one raises
:class:`geo.errors.InputError` with the same message as :func:`load_plan`, whenever it is read.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from geo.areas import StudyArea
from geo.base import Base
from geo.basemap import table_digest
from geo.circles import Reach
from geo.demand import Homes, PeopleRule
from geo.errors import InputError
from geo.homeinfo import HomeLand
from geo.kinds import LAYERS
from geo.network import (
    NETWORK_ARRAYS,
    Network,
    network_arrays,
    network_from_arrays,
    snapped_arrays,
    snapped_from_arrays,
)
from geo.plan_types import LayerResult, PlanParams, PlanResult, check_params
from geo.saved_checks import check_homes, check_view
from geo.store import Bundle, StoreError, read_bundle, read_table, sha256_file, write_bundle

PLAN_KIND = "service-circles/plan"
PLAN_VERSION = 2
PLAN_FOLDER = "plan"


def _params_doc(params: PlanParams) -> dict:
    doc = dataclasses.asdict(params)
    doc["cache_dir"] = None  # a machine's folder; a follow-up passes its own
    doc["minutes"] = list(params.minutes)
    doc["profiles"] = list(params.profiles)
    return doc


def _params_from(doc: object) -> PlanParams:
    if not isinstance(doc, dict):
        raise TypeError("settings are not a mapping")
    fields = {f.name for f in dataclasses.fields(PlanParams)}
    unknown = set(doc) - fields
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    d = dict(doc)
    d["people"] = PeopleRule(**d.get("people", {}))
    d["minutes"] = tuple(float(m) for m in d.get("minutes", ()))
    d["profiles"] = tuple(str(p) for p in d.get("profiles", ()))
    params = PlanParams(**d)
    check_params(params)
    return params


def save_plan(result: PlanResult, folder: Path, *, files: Mapping[str, bytes] | None = None) -> Path:
    """Write ``result`` as a saved plan bundle into ``folder`` (atomically).

    ``files``: more files to keep in the bundle (name -> content, checksummed in its manifest),
    read back by :func:`saved_file`; the api layer keeps the map's parts there (``geo/`` does not read them).
    """
    base, land = result.base, result.home_land
    if base is None or land is None:
        raise ValueError("a plan is saved with the base and the home land it was made from (plan() sets both)")
    views = {**result.layers, **result.subsets}
    keys = list(views)
    layer_arrays = {}
    for i, key in enumerate(keys):
        lr = views[key]
        p = f"v{i}_"
        layer_arrays.update(snapped_arrays(lr.snapped, p))
        layer_arrays.update(
            {
                f"{p}reach_dist": lr.reach.dist,
                f"{p}source": lr.reach.source,
                f"{p}pred": lr.reach.pred,
                f"{p}home_dist": lr.home_dist,
                f"{p}home_src": lr.home_src,
            }
        )
    h = result.homes
    street, community, named_from = result.home_names
    homes = {
        "xy": h.xy,
        "people": h.people,
        "kind": h.kind,
        "osm_id": h.osm_id,
        "street": street,
        "community": community,
        "named_from": named_from,
        **snapped_arrays(result.home_snap, "snap_"),
        **land.arrays(),
    }
    tables = {f"fac{i}": views[k].facilities for i, k in enumerate(keys)}
    tables.update(
        {
            "circles": result.circles,
            "gaps": result.gaps,
            "facilities": result.facilities,
            "admin": base.admin,
            "places": base.places,
        }
    )
    tables.update({f"extra_{k}": v for k, v in base.extras.items()})
    area = None
    if result.area is not None:
        a = result.area
        tables["area"] = gpd.GeoDataFrame({"name": [a.name]}, geometry=[a.geometry], crs=4326)
        area = {"name": a.name, "source": a.source, "level": a.level}
    meta = {
        "source": Path(str(result.source)).name,
        "data_date": result.data_date,
        "params": _params_doc(result.params),
        "coverage": result.coverage,
        "warnings": result.warnings,
        "homes_method": h.method,
        "views": [
            {"key": k, "origin": views[k].origin, "unsnapped": views[k].unsnapped, "plain": k in result.layers}
            for k in keys
        ],
        "area": area,
        "layer_notes": base.layer_notes,
        "extras": sorted(base.extras),
        "extras_digests": _digests(base.extras),
    }
    return write_bundle(
        folder,
        kind=PLAN_KIND,
        version=PLAN_VERSION,
        meta=meta,
        arrays={"network": network_arrays(result.network), "homes": homes, "layers": layer_arrays},
        tables=tables,
        files=files or {},
    )


def _digests(extras: Mapping[str, Any]) -> dict[str, str]:
    """:func:`geo.basemap.table_digest` of each base-map table (a saved plan's own kept ones: not read again)."""
    kept = getattr(extras, "digests", None) or {}
    out = {}
    for name in extras:
        table = None if name in kept else extras[name]
        if name in kept or table is not None:
            out[name] = kept.get(name) or table_digest(table)
    return out


def plan_folder(folder: str | Path) -> Path:
    """The folder of the saved plan ``folder`` names: a plan's ``--out`` (its ``plan/``) or that ``plan/`` itself."""
    folder = Path(folder)
    return folder / PLAN_FOLDER if (folder / PLAN_FOLDER / "manifest.json").exists() else folder


def saved_file(folder: str | Path, name: str) -> bytes | None:
    """The content of the file ``name`` kept by :func:`save_plan` in ``folder`` (a plan's ``--out`` or its ``plan/``).

    None when the bundle does not list it, or the content read does not match its checksum.
    """
    folder = plan_folder(folder)
    try:
        entry = read_bundle(folder, kind=PLAN_KIND, version=PLAN_VERSION, verify=False).manifest["files"].get(name)
        data = (folder / name).read_bytes() if isinstance(entry, dict) else None
    except (StoreError, OSError):
        return None
    if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        return None
    return data


def load_plan(folder: str | Path, *, cache_dir: Path | None = None, lazy: bool = False) -> PlanResult:
    """The :class:`geo.plan.PlanResult` saved in ``folder`` (a plan's ``--out`` or its ``plan/``).

    Parameters
    ----------
    folder
        The saved plan.
    cache_dir
        The cache folder of the plan's settings (a follow-up passes its own).
    lazy
        Read the tables (facilities, circles, gap areas, admin areas, places, base-map tables,
        the study area) when first used, each checked against its checksum then; the network,
        homes and walk-time labels are read at once. Without it every file is checked and read
        here (a server fails at start-up, not at a request).

    Raises
    ------
    geo.errors.InputError
        When the folder holds no saved plan, or one that is damaged, changed, or of another
        version (the message says which and how to fix it: plan again); with ``lazy``, also
        when a damaged table is first used.
    """
    folder = plan_folder(folder)
    try:
        files = _Files(read_bundle(folder, kind=PLAN_KIND, version=PLAN_VERSION, verify=not lazy), check=lazy)
        result = _from_files(files, cache_dir)
    except StoreError as err:
        raise _unusable(folder, err) from None
    if not lazy:
        _read_all(result)
    return result


#: what reading a saved plan's files raises where they disagree with each other or with what they
#: should hold: an AttributeError too (a table without the column a reader takes; else a
#: ``getattr(..., default)`` of a later-read field would hide it), and a file the manifest lists
#: gone since (other OS errors, such as a permission or a full file table, are not the plan's
#: fault and are not reported as a damaged plan)
_DISAGREE = (ValueError, KeyError, TypeError, IndexError, AttributeError, FileNotFoundError)


def _unusable(folder: Path, err: StoreError) -> InputError:
    return InputError(
        str(folder), [f"not a usable saved plan ({err}) — run `circles plan --out DIR` again and pass that DIR"]
    )


class _Files:
    """A saved plan's files, each read once and (with ``check``) checked against its checksum when read."""

    def __init__(self, bundle: Bundle, *, check: bool) -> None:
        self.bundle = bundle
        self.check = check
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self._tables: dict[str, Any] = {}

    @property
    def name(self) -> str:
        """The bundle folder's name (for messages)."""
        return self.bundle.folder.name

    def _checked(self, filename: str) -> Path:
        entry = self.bundle.manifest["files"].get(filename)
        if entry is None:
            raise StoreError(f"{self.name}: {filename} missing from the manifest")
        path = self.bundle.folder / filename
        if self.check:
            try:
                same = sha256_file(path) == entry.get("sha256")
            except OSError as err:
                raise StoreError(f"{self.name}: {filename} unreadable ({err})") from None
            if not same:
                raise StoreError(f"{self.name}: {filename} does not match its checksum (changed or damaged)")
        return path

    def arrays(self, name: str, *, names: tuple[str, ...] = (), text: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """The arrays ``name`` (read once)."""
        if name not in self._arrays:
            self._checked(f"{name}.npz")
            self._arrays[name] = self.bundle.arrays(name, names=names, text=text)
        return self._arrays[name]

    def table(self, name: str) -> Any:  # noqa: ANN401 - a DataFrame, or a GeoDataFrame when written with geometry
        """The table ``name`` (read once: the plan and its base share it)."""
        if name not in self._tables:
            filename = f"{name}.parquet"
            self._tables[name] = read_table(self._checked(filename), self.bundle.manifest["files"][filename])
        return self._tables[name]

    def later(self, read: Callable[[], object]) -> Callable[[], object]:
        """``read`` for a value read on first use: a damaged file raises the error of :func:`load_plan` then."""

        def get() -> object:
            try:
                try:
                    return read()
                except _DISAGREE as err:
                    raise StoreError(f"{self.name}: {err}") from None
            except StoreError as err:
                raise _unusable(self.bundle.folder, err) from None

        return get


class _Later:
    """A saved plan's part whose fields named in ``_later`` (name -> reader) are read on first use.

    The subclasses name those fields with :class:`_Field`: the same classes, with the fields not
    yet read left out of the instance until first asked for. ``dataclasses.replace`` and copies
    read them all.
    """

    def __getstate__(self) -> dict:
        """Every field, read (a copy or a pickle holds no reader)."""
        for name in list(self.__dict__.get("_later") or ()):
            getattr(self, name)
        return {k: v for k, v in self.__dict__.items() if k != "_later"}


class _Field:
    """A field read on first use, then kept in the instance (which it then shadows)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> Any:  # noqa: ANN401 - the field's value
        if obj is None:
            return self
        later: dict = obj.__dict__.get("_later") or {}
        read = later.get(self.name)
        if read is None:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute {self.name!r}")
        value = read()
        obj.__dict__[self.name] = value
        later.pop(self.name, None)
        return value


class _SavedPlan(_Later, PlanResult):
    """A :class:`PlanResult` whose tables are read on first use."""

    circles: Any = _Field()
    gaps: Any = _Field()
    facilities: Any = _Field()
    admin: Any = _Field()
    places: Any = _Field()
    area: Any = _Field()


class _SavedLayer(_Later, LayerResult):
    """A :class:`LayerResult` whose facility table is read on first use."""

    facilities: Any = _Field()


class _SavedBase(_Later, Base):
    """A :class:`Base` whose admin areas and places are read on first use."""

    admin: Any = _Field()
    places: Any = _Field()


def _later(cls: type, readers: Mapping[str, Callable[[], object]], **fields: object) -> Any:  # noqa: ANN401
    """``cls(**fields)`` with the fields of ``readers`` read on first use."""
    obj = cls(**fields, **dict.fromkeys(readers))
    for name in readers:
        del obj.__dict__[name]
    obj.__dict__["_later"] = dict(readers)
    return obj


def _read_all(obj: object) -> None:
    """Read every field of a saved plan not read yet (and of its layers and base)."""
    if isinstance(obj, _SavedPlan):
        for lr in [*obj.layers.values(), *obj.subsets.values()]:
            _read_all(lr)
        _read_all(obj.base)
    if isinstance(obj, _Later):
        obj.__getstate__()
    extras = getattr(obj, "extras", None)
    if isinstance(extras, _Tables):
        for name in extras:
            extras[name]


class _Tables(Mapping[str, Any]):
    """Named tables read on first use (the base-map tables of a saved plan).

    ``digests``: :func:`geo.basemap.table_digest` of those tables, made when the plan was saved
    (:func:`maps.basemap.basemap_key` takes them instead of reading the tables).
    """

    def __init__(self, names: list[str], read: Callable[[str], Any], digests: Mapping[str, str]) -> None:
        self._names = list(names)
        self._read = read
        self._kept: dict[str, Any] = {}
        self.digests = {k: str(v) for k, v in digests.items() if k in self._names and isinstance(v, str)}

    def __getitem__(self, name: str) -> Any:  # noqa: ANN401 - a GeoDataFrame
        if name not in self._names:
            raise KeyError(name)
        if name not in self._kept:
            self._kept[name] = self._read(name)
        return self._kept[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _from_files(files: _Files, cache_dir: Path | None) -> PlanResult:
    """The plan a bundle holds; raises StoreError where its parts disagree."""
    try:
        return _from_bundle(files, cache_dir)
    except _DISAGREE as err:
        raise StoreError(f"{files.name}: {err}") from None


def _facilities(files: _Files, name: str, n: int, key: object) -> Callable[[], object]:
    """The reader of a view's facility table, checked against its ``n`` places on the network."""

    def read() -> object:
        fac = files.table(name)
        if len(fac) != n:
            raise ValueError(f"view {key!r}: facilities disagree with their places")
        return fac

    return files.later(read)


def _from_bundle(b: _Files, cache_dir: Path | None) -> PlanResult:
    """The plan a bundle holds; raises ValueError (or KeyError, TypeError, IndexError) where its parts disagree."""
    meta = b.bundle.meta
    params = dataclasses.replace(_params_from(meta.get("params")), cache_dir=cache_dir)
    net = network_from_arrays(b.arrays("network", names=(*NETWORK_ARRAYS, "crs"), text=("edge_highway", "edge_name")))
    ha = b.arrays(
        "homes",
        names=("xy", "people", "kind", "osm_id"),
        text=("kind", "osm_id", "street", "community", "named_from"),
    )
    xy = ha["xy"].astype(float).reshape(-1, 2)
    n = len(xy)
    if not all(len(ha[k]) == n for k in ("people", "kind", "osm_id", "street", "community", "named_from")):
        raise ValueError("home arrays disagree")
    homes = Homes(xy, ha["people"].astype(float), ha["kind"], ha["osm_id"], str(meta.get("homes_method", "")))
    names = tuple(np.array([v or None for v in ha[k]], dtype=object) for k in ("street", "community", "named_from"))
    home_snap = snapped_from_arrays(ha, "snap_", net)
    if len(home_snap) != n:
        raise ValueError("home places disagree with the homes")
    check_homes(xy, homes.people, home_snap)  # what a file rewritten with its checksum recomputed could break
    land = HomeLand.from_arrays(ha, n)
    la = b.arrays("layers")
    layers: dict[str, LayerResult] = {}
    subsets: dict[str, LayerResult] = {}
    for i, v in enumerate(meta.get("views", [])):
        p = f"v{i}_"
        sn = snapped_from_arrays(la, p, net)
        if not b.bundle.has(f"fac{i}.parquet"):
            raise ValueError(f"view {v.get('key')!r}: its facility table is missing")
        reach = Reach(
            la[f"{p}reach_dist"].astype(float),
            la[f"{p}source"].astype(np.int64),
            la[f"{p}pred"].astype(np.int64),
            sn,
        )
        hd, hs = la[f"{p}home_dist"].astype(float), la[f"{p}home_src"].astype(np.int64)
        # lengths, distances and indices; the facilities' table holds as many rows as their places (checked when read)
        check_view(p, reach, hd, hs, n_nodes=net.n_nodes, n_homes=n, view=str(v.get("key")))
        lr = _later(
            _SavedLayer,
            {"facilities": _facilities(b, f"fac{i}", len(sn), v.get("key"))},
            name=str(v["key"]),
            origin=str(v.get("origin", "")),
            snapped=sn,
            unsnapped=list(v.get("unsnapped") or []),
            reach=reach,
            home_dist=hd,
            home_src=hs,
        )
        (layers if v.get("plain") else subsets)[lr.name] = lr
    if set(layers) != set(LAYERS):
        raise ValueError("layers missing")
    tables: dict[str, Callable[[], object]] = {
        "circles": b.later(lambda: b.table("circles")),
        "gaps": b.later(lambda: b.table("gaps")),
        "facilities": b.later(lambda: b.table("facilities")),
        "admin": b.later(lambda: b.table("admin")),
        "places": b.later(lambda: b.table("places")),
    }
    if meta.get("area"):
        tables["area"] = b.later(lambda: _area(b, meta["area"], net))
    extras = _Tables(
        [str(k) for k in meta.get("extras", [])],
        lambda k: b.later(lambda: b.table(f"extra_{k}"))(),
        meta.get("extras_digests") or {},
    )
    for name in ("circles", "gaps", "facilities", "admin", "places", *(f"extra_{k}" for k in extras)):
        if not b.bundle.has(f"{name}.parquet"):
            raise ValueError(f"table {name!r} missing")
    # the land polygons stay with the extract: the plan keeps the land cells they gave
    base = _later(
        _SavedBase,
        {"admin": tables["admin"], "places": tables["places"]},
        source=str(meta.get("source", "")),
        data_date=meta.get("data_date"),
        network=net,
        homes=homes,
        land_source=np.zeros(0, object),
        osm_facilities={},
        layer_notes=dict(meta.get("layer_notes") or {}),
        extras=extras,
    )
    return _later(
        _SavedPlan,
        tables,
        source=str(meta.get("source", "")),
        data_date=meta.get("data_date"),
        params=params,
        network=net,
        homes=homes,
        home_snap=home_snap,
        layers=layers,
        coverage=dict(meta.get("coverage") or {}),
        warnings=list(meta.get("warnings") or []),
        subsets=subsets,
        home_names=names,
        home_land=land,
        base=base,
    )


def _area(b: _Files, a: Mapping[str, Any], net: Network) -> StudyArea:
    """The study area kept in the table ``area`` (its name, source and level from the manifest)."""
    geom = b.table("area").geometry.values[0]
    return StudyArea(
        str(a["name"]),
        str(a["source"]),
        a.get("level"),
        geom,
        net.metric_of(geom),
    )
