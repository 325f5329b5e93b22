"""Everything read from a network source, kept between runs as a checked bundle.

A :class:`Base` is the walking network, the homes and their land, the facility layers the OSM
tags give, and the named admin areas and places of one extract. Building it from an OSM file
takes a second or two on a city extract; it is kept in the cache folder (:mod:`geo.store`: npz
and GeoParquet with a manifest of checksums, never pickle), keyed by the file's content and the
rules that build it, and reloaded in a fraction of that. A cache that cannot be read for any
reason (missing, damaged, another version, changed by hand) is rebuilt, with a one-line note.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import geopandas as gpd
import numpy as np
import shapely

from geo.areas import named_places
from geo.basemap import basemap_tables
from geo.crossings import walk_ways
from geo.demand import Homes, homes_and_land
from geo.kinds import LAYERS
from geo.network import (
    NETWORK_ARRAYS,
    Network,
    build_network,
    network_arrays,
    network_crs,
    network_from_arrays,
    transformer,
)
from geo.online import extract_from_place
from geo.osm import OsmExtract, check_osm_path, read_osm
from geo.osm_layers import Rule, facilities_from_osm, load_rules
from geo.osm_shares import share_count
from geo.plan_types import Progress, embedded_default, source_key
from geo.store import Bundle, StoreError, read_bundle, write_bundle

if TYPE_CHECKING:  # annotations only
    from geo.plan_types import PlanInputs, PlanParams

#: bump when the cached format or the rules that build a Base change.
BASE_VERSION = 10  # 9: basemap tables (streets, water, waterways, green) in extras; 10: road sides (geo.crossings)
BASE_KIND = "service-circles/base"
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Base:
    """Everything read from the network source."""

    source: str  # the path or place as given
    data_date: str | None  # "data as of" (the extract header's timestamp, else its newest object)
    network: Network
    homes: Homes
    land_source: np.ndarray | Deferred[np.ndarray]  # residential land (metric; parcels and footprints)
    osm_facilities: dict  # layer -> GeoDataFrame (WGS84)
    admin: object  # GeoDataFrame of named admin areas (WGS84: name, admin_level, osm_id)
    places: object  # GeoDataFrame of named places (WGS84 points: name, place)
    layer_notes: dict = field(default_factory=dict)  # layer -> what the OSM rules left out
    extras: dict = field(default_factory=dict)  # basemap features and other tables (name -> GeoDataFrame)
    key: str | None = None  # the cache key (None: not kept in a cache folder)

    @property
    def latest_edit(self) -> str | None:  # the name earlier versions used
        """The data date (the name earlier versions used)."""
        return self.data_date

    @property
    def land(self) -> np.ndarray:
        """Residential land polygons (metric): read from the cache only when first needed.

        The homes' land cells are kept apart, see :mod:`geo.homeinfo`.
        """
        src = self.land_source
        return src.get() if isinstance(src, Deferred) else src


class Deferred(Generic[T]):
    """A value read on first use (then kept): for parts of a cached base most runs never need."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._kept: tuple[T] | None = None

    def get(self) -> T:
        """The value, read on first use."""
        if self._kept is None:
            self._kept = (self._read(),)
            del self._read  # the reader (and the bundle it holds) is not needed again
        return self._kept[0]


def base_key(path: Path, params: PlanParams, layers_map: Path) -> str:
    """The cache key of a base: the file's content and what builds the base from it."""
    rules = Path(layers_map).read_bytes()
    src = "|".join(
        [
            str(BASE_VERSION),
            source_key(path),
            repr(params.people),
            hashlib.sha256(rules).hexdigest(),
            params.crossings,
            f"{params.signal_wait_m():.3f}",
        ]
    )
    return hashlib.sha256(src.encode()).hexdigest()[:24]


def load_base(inputs: PlanInputs, params: PlanParams, *, progress: Progress | None = None) -> Base:
    """Read (or reload from the cache folder ``params.cache_dir``) the base of ``inputs``."""
    say = progress or (lambda _: None)
    rules = load_rules(inputs.layers_map)
    if inputs.place:
        say(f"downloading the walking network for {inputs.place!r} (osmnx)")
        return base_from_extract(extract_from_place(inputs.place), rules, params, say)
    path = Path(inputs.osm) if inputs.osm else embedded_default()
    check_osm_path(path)
    folder = None
    if params.cache_dir is not None:
        folder = Path(params.cache_dir) / f"base-{base_key(path, params, inputs.layers_map)}"
        if (folder / "manifest.json").exists():
            try:
                base = read_base(folder)
                say(f"network reloaded from the cache ({folder.name})")
                # the same bytes may sit elsewhere
                return dataclasses.replace(base, source=str(path), key=folder.name)
            except StoreError as err:
                say(f"the network cache {folder.name} cannot be used ({err}): rebuilding it")
    shares = share_count(path, most=params.workers)  # --jobs caps the read's processes too
    say(f"reading {path.name}" + (f" in {shares} processes" if shares > 1 else ""))
    base = base_from_extract(read_osm(path, processes=shares, say=say), rules, params, say)
    if folder is not None:
        try:
            write_base(folder, base)
            _prune(folder.parent, "base-*", keep=folder)
            _prune(folder.parent, "homes-*", keep=folder)
            base = dataclasses.replace(base, key=folder.name)
        except OSError as err:
            say(f"could not write the network cache ({err}); continuing without it")
    return base


def base_from_extract(extract: OsmExtract, rules: list[Rule], params: PlanParams, say: Progress) -> Base:
    """The base of a read extract: its walking network, homes, land and facility layers from the rules.

    The network is built in a thread while this one makes the homes, land and layers (projected
    into the network's CRS, known before the network: :func:`geo.network.network_crs`): both
    spend most of their time in numpy, scipy and GEOS, which let the other thread run meanwhile.
    One after the other when ``params.workers`` is 1 (``--jobs 1``, a batch's ``--workers 1``).
    """
    say("building the walking network and estimating homes and people")
    ways = walk_ways(extract, crossings=params.crossings)
    crs = network_crs(ways)
    to_metric = transformer(4326, crs)

    def project(g: np.ndarray) -> np.ndarray:
        return shapely.transform(g, lambda c: np.column_stack(to_metric.transform(c[:, 0], c[:, 1])))

    def network() -> Network:
        return build_network(ways, signal_wait_m=params.signal_wait_m(), crs=crs)

    def layers() -> tuple:
        homes, land = homes_and_land(extract.features, project=project, rule=params.people)
        osm_fac, notes = facilities_from_osm(extract.features, rules, project=project)
        kinds = np.asarray(extract.features.kind, dtype=object)
        ai = np.flatnonzero(kinds == "admin")
        tags = extract.features.tags
        admin = gpd.GeoDataFrame(
            {
                "name": [tags[i].get("name") for i in ai],
                "admin_level": [tags[i].get("admin_level") for i in ai],
                "osm_id": [extract.features.osm_id[i] for i in ai],
            },
            geometry=shapely.from_wkb([extract.features.wkb[i] for i in ai]) if len(ai) else [],
            crs=4326,
        )
        return homes, land, osm_fac, admin, named_places(extract.features), notes, basemap_tables(extract)

    if params.workers == 1:
        net = network()
        made = layers()
    else:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="circles-network") as pool:
            building = pool.submit(network)
            made = layers()
            net = building.result()
    return Base(extract.source, extract.data_date, net, *made)


# ------------------------------------------------------------------------------ the bundle


def write_base(folder: Path, base: Base) -> None:
    """Keep ``base`` in ``folder`` as a checked bundle (:mod:`geo.store`)."""
    h = base.homes
    tables = {f"osm_{k}": v for k, v in base.osm_facilities.items()}
    tables["admin"] = base.admin
    tables["places"] = base.places
    tables["land"] = gpd.GeoDataFrame(geometry=list(base.land), crs=base.network.crs)
    tables.update({f"extra_{k}": v for k, v in base.extras.items()})
    write_bundle(
        folder,
        kind=BASE_KIND,
        version=BASE_VERSION,
        meta={
            "source": Path(str(base.source)).name,
            "data_date": base.data_date,
            "homes_method": h.method,
            "layer_notes": base.layer_notes,
            "extras": sorted(base.extras),
        },
        arrays={
            "network": network_arrays(base.network),
            "homes": {"xy": h.xy, "people": h.people, "kind": h.kind, "osm_id": h.osm_id},
        },
        tables=tables,
    )


def read_base(folder: Path) -> Base:
    """A base from its bundle; raises :class:`geo.store.StoreError` when anything is wrong."""
    b = read_bundle(folder, kind=BASE_KIND, version=BASE_VERSION)
    try:
        return _base_of(b, folder)
    except (ValueError, KeyError, TypeError) as err:
        raise StoreError(f"{folder.name}: {err}") from None


def _base_of(b: Bundle, folder: Path) -> Base:
    """The base a read bundle holds; ValueError, KeyError or TypeError when its parts disagree."""
    net = network_from_arrays(b.arrays("network", names=(*NETWORK_ARRAYS, "crs"), text=("edge_highway", "edge_name")))
    ha = b.arrays("homes", names=("xy", "people", "kind", "osm_id"), text=("kind", "osm_id"))
    xy = ha["xy"].astype(float).reshape(-1, 2)
    n = len(xy)
    if not (len(ha["people"]) == len(ha["kind"]) == len(ha["osm_id"]) == n) or not np.all(np.isfinite(xy)):
        raise ValueError("home arrays disagree")
    people = ha["people"].astype(float)
    if not (np.all(np.isfinite(people)) and np.all(people >= 0)):
        raise ValueError("people are not finite and non-negative")
    homes = Homes(xy, people, ha["kind"], ha["osm_id"], str(b.meta.get("homes_method", "")))
    land = Deferred(lambda: np.asarray(b.table("land").geometry.to_numpy(), dtype=object))
    osm = {k: b.table(f"osm_{k}") for k in LAYERS}
    extras = {k: b.table(f"extra_{k}") for k in b.meta.get("extras", [])}
    notes = b.meta.get("layer_notes") or {}
    if not isinstance(notes, dict):
        raise TypeError("layer notes are not a mapping")
    return Base(
        str(b.meta.get("source", folder.name)),
        b.meta.get("data_date"),
        net,
        homes,
        land,
        osm,
        b.table("admin"),
        b.table("places"),
        notes,
        extras,
    )


def _prune(folder: Path, pattern: str, *, keep: Path, max_items: int = 8) -> None:
    """Delete all but the ``max_items`` most recently written bundles matching ``pattern``."""
    items = sorted(
        (p for p in folder.glob(pattern) if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for p in items[max_items - 1 :]:
        shutil.rmtree(p, ignore_errors=True)
