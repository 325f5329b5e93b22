"""Read an OpenStreetMap extract (``.osm.pbf``, ``.osm``, ``.osm.bz2``) in one pass.

pyosmium parses all three formats natively; node locations and multipolygon assembly run in
its C++ core, and only the objects this project uses reach Python (key filters). What comes out
is plain data: the walkable ways as flat arrays (for :mod:`geo.network`), and the features the
demand and layer modules need (buildings, residential land, places, points of interest, admin
boundaries) as WKB plus the few tags that matter.

On the Hangzhou merged extract (4.7 MB, ~29k highway ways, ~34k areas) the pass takes about
0.6 s on one core; osmnx's ``graph_from_xml`` on the same data takes ~20 s and 1.7 GB. Most of
a pass is Python (the callbacks of :class:`PassReader`), so a large ``.osm.pbf`` is read by several
processes, each keeping a share of the objects (:mod:`geo.osm_shares`): the same extract.
WKB is kept as bytes: GEOS parses pyosmium's hex text about seven times slower.
"""

from __future__ import annotations

import bz2
import datetime as dt
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geo.crossings import is_crossing_node, is_signal_node, way_class
from geo.errors import InputError, NetworkError

if TYPE_CHECKING:  # annotations only: osmium is imported where an extract is read (~8 ms a follow-up does not need)
    from collections.abc import Callable, Collection

    import osmium
    import osmium.geom
    import osmium.osm

SUPPORTED_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".xml", ".osm.xml")

#: highway values a pedestrian can never use (or that are not built yet).
EXCLUDED_HIGHWAY = frozenset(
    {
        "motorway",
        "motorway_link",
        "construction",
        "proposed",
        "planned",
        "abandoned",
        "razed",
        "raceway",
        "bus_guideway",
        "busway",
        "escape",
        "no",
        "disused",
        "corridor",
        "platform",
        "emergency_bay",
        "rest_area",
        "services",
    }
)
#: highway values only kept when foot access is explicitly granted.
FOOT_ONLY_IF_ALLOWED = frozenset({"cycleway", "bridleway"})
#: big roads: walkable along their sidewalks unless a tag says there is none.
BIG_ROADS = frozenset({"trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link"})
FOOT_YES = frozenset({"yes", "designated", "permissive", "official", "destination", "use_sidepath"})
ACCESS_NO = frozenset({"private", "no"})

#: keys of features kept as points of interest (for OSM-derived facility layers).
POI_KEYS = ("amenity", "office", "place", "tourism", "leisure", "social_facility", "shop")
#: tags copied for every point of interest (others are not needed downstream).
POI_TAGS = (
    "name",
    "name:zh",
    "name:en",
    "amenity",
    "office",
    "place",
    "tourism",
    "leisure",
    "social_facility",
    "shop",
    "opening_hours",
    "operator",
    "addr:street",
    "addr:housenumber",
    "building",
    "information",
)
#: what the map draws to orient by when there is no tile server (:mod:`geo.basemap`): water
#: areas, rivers and canals drawn as lines, parks and woods.
WATERWAY_LINES = frozenset({"river", "canal", "stream"})
GREEN = {
    "leisure": ("park", "garden", "nature_reserve"),
    "landuse": ("forest", "recreation_ground", "village_green"),
    "natural": ("wood",),
}
HOME_BUILDINGS = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "dormitory",
        "detached",
        "semidetached_house",
        "terrace",
        "bungalow",
        "farm",
        "static_caravan",
        "cabin",
        "houseboat",
    }
)


def is_walkable(tags: dict[str, str]) -> bool:
    """Whether a highway way with these tags may be used on foot.

    Keeps footways, steps, paths, pedestrian, living, residential, service and unclassified
    streets, tracks, and big roads (assumed to have sidewalks unless ``sidewalk=no``/``none``);
    drops motorways, road tunnels of big roads without a tagged sidewalk, roads under
    construction, ``foot=no``, ``access=private``/``no`` (unless
    ``foot`` grants access), ``motorroad=yes``, ``area=yes`` polygons and cycleways without
    foot access.
    """
    hw = tags.get("highway")
    if hw is None or hw in EXCLUDED_HIGHWAY or tags.get("area") == "yes":
        return False
    foot = tags.get("foot", "")
    if foot in ("no", "private") or (foot == "use_sidepath" and hw not in BIG_ROADS):
        return False
    if foot in FOOT_YES:
        return True
    return hw not in FOOT_ONLY_IF_ALLOWED and not _closed_to_walkers(hw, tags)


def _closed_to_walkers(hw: str, tags: dict[str, str]) -> bool:
    """Whether a way without explicit foot access is closed to walkers by its other tags."""
    if tags.get("access") in ACCESS_NO or tags.get("service") == "private" or tags.get("motorroad") == "yes":
        return True
    if hw not in BIG_ROADS:
        return False
    # "separate": the sidewalk is its own footway, which we keep instead; road tunnels (e.g. 望江隧道
    # under the Qiantang) have no footway unless tagged
    return tags.get("sidewalk") in ("no", "none", "separate") or (
        tags.get("tunnel") in ("yes", "building_passage", "culvert") and "sidewalk" not in tags
    )


@dataclass(frozen=True)
class Features:
    """Non-network features of an extract, geometries as WKB in WGS84 (lon/lat)."""

    kind: list[str] = field(default_factory=list)  # building | landuse | poi | admin
    osm_id: list[str] = field(default_factory=list)  # "n123" / "w45" / "r67"
    wkb: list[bytes | str] = field(default_factory=list)  # WKB (bytes; hex text is read too)
    tags: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class WalkWays:
    """Walkable ways as flat arrays: way ``i`` holds positions ``offsets[i]:offsets[i+1]``."""

    node_ids: np.ndarray  # int64, OSM node id per position
    lon: np.ndarray
    lat: np.ndarray
    offsets: np.ndarray  # int64, len = n_ways + 1
    way_ids: np.ndarray  # int64
    highway: list[str]
    name: list[str]
    #: :func:`geo.crossings.way_class` per way (int8); None: every node is crossable
    road_class: np.ndarray | None = None
    #: OSM ids of the nodes tagged as places to cross (:func:`geo.crossings.is_crossing_node`)
    crossing_nodes: np.ndarray | None = None
    #: OSM ids of the crossing nodes with traffic lights (:func:`geo.crossings.is_signal_node`)
    signal_nodes: np.ndarray | None = None


@dataclass(frozen=True)
class OsmExtract:
    """What one pass over an extract gives: walkable ways, planning features and the data date."""

    source: str
    data_date: str | None  # "data as of": the header's timestamp, else the newest object read
    ways: WalkWays
    features: Features
    data_date_from: str | None = None  # "header" or "newest object"

    @property
    def latest_edit(self) -> str | None:  # the name earlier versions used
        """The data date (the name earlier versions used)."""
        return self.data_date


def check_osm_path(path: str | Path) -> Path:
    """The path of a readable extract (.osm.pbf, .osm, .osm.bz2), or an InputError saying what is wrong."""
    p = Path(path)
    problems = []
    if not p.exists():
        problems.append("file not found; give the path of an .osm.pbf, .osm or .osm.bz2 extract")
    elif p.is_dir():
        problems.append("is a folder, not an OSM file")
    elif not p.name.lower().endswith(SUPPORTED_SUFFIXES):
        problems.append(
            f"unsupported file type {''.join(p.suffixes) or '(none)'!r}: "
            f"expected one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    elif p.stat().st_size == 0:
        problems.append("the file is empty")
    if problems:
        raise InputError(str(path), problems)
    return p


def read_osm(path: str | Path, *, processes: int | None = None, say: Callable[[str], None] | None = None) -> OsmExtract:
    """Read the walkable ways and the planning features of an OSM extract.

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file.
    processes
        How many processes read it (:mod:`geo.osm_shares`; each reads the whole file and keeps
        a share of the objects, merged back in the file's order: the same extract). None: one
        for a small ``.osm.pbf`` (below :data:`geo.osm_shares.SHARE_BYTES`), more for a larger
        one, up to the usable cores, the available memory and ``$CIRCLES_READ_PROCESSES``.
    say
        Told when a share's process failed and the share is read here (None: a logged warning).

    Raises
    ------
    InputError
        The file is missing, empty, of an unknown type or cannot be parsed.
    NetworkError
        The extract holds no walkable way.
    """
    from geo import osm_shares  # noqa: PLC0415 - geo.osm_shares builds on this module (circular)

    p = check_osm_path(path)
    if p.name.lower().endswith(".bz2"):
        _check_bz2(p)
    header_date = _header_date(_processor(p))
    n = osm_shares.share_count(p) if processes is None else max(1, int(processes))
    if n > 1:
        ways, feats, latest = osm_shares.read_in_shares(p, shares=n, label=str(path), say=say)
    else:
        reader = read_share(p, label=str(path))
        ways, feats, latest = reader.walk_ways(), reader.feats, reader.latest
    if len(ways.way_ids) == 0:
        raise NetworkError(
            f"{path}: no walkable street or path in this extract "
            "(is it the right area, and does it contain highway ways?)"
        )
    newest = latest.astimezone(dt.UTC).date().isoformat() if latest and latest.year > 1970 else None
    return OsmExtract(
        source=str(path),
        data_date=header_date or newest,
        data_date_from="header" if header_date else ("newest object" if newest else None),
        ways=ways,
        features=feats,
    )


def _processor(p: Path) -> osmium.FileProcessor:
    """The one pass over ``p``: node locations, areas, and only the objects with keys we use."""
    import osmium  # noqa: PLC0415 - only when an extract is read, not on a follow-up's path
    import osmium.filter  # noqa: PLC0415 - (same)

    area_keys = osmium.filter.KeyFilter("building", "landuse", "boundary", "natural", "waterway", *POI_KEYS)
    return (
        osmium.FileProcessor(str(p))
        .with_locations()
        .with_areas(area_keys)
        .with_filter(
            osmium.filter.KeyFilter("highway", "building", "landuse", "boundary", "natural", "waterway", *POI_KEYS)
        )
    )


def read_share(p: Path, *, share: int | Collection[int] = 0, shares: int = 1, label: str | None = None) -> PassReader:
    """One pass over ``p`` keeping the objects numbered ``share`` modulo ``shares`` in the stream.

    ``share`` may be several numbers: the objects of all of them, kept in one pass.

    Every process reading a share sees the same stream (the same file, filters and area
    assembly), so an object's number in it (kept in ``way_seq`` / ``feat_seq``) orders the
    shares' objects back as one pass keeps them. Raises InputError when ``p`` cannot be parsed.
    """
    import osmium  # noqa: PLC0415 - only when an extract is read, not on a follow-up's path
    import osmium.geom  # noqa: PLC0415 - (same)
    import osmium.osm  # noqa: PLC0415 - (same)

    reader = PassReader(osmium.geom.WKBFactory())
    keep = {share} if isinstance(share, int) else set(share)
    latest = None
    try:
        for i, obj in enumerate(_processor(p)):
            if shares > 1 and i % shares not in keep:
                continue
            if isinstance(obj, osmium.osm.Changeset):
                continue  # never in an extract; it has no timestamp of its own
            ts = obj.timestamp
            if latest is None or ts > latest:
                latest = ts
            reader.seq = i
            if isinstance(obj, osmium.osm.Way):
                reader.way(obj)
            elif isinstance(obj, osmium.osm.Node):
                reader.node(obj)
            elif isinstance(obj, osmium.osm.Area):
                reader.area(obj)
    except EOFError as err:  # a truncated .bz2 (the decompressor runs as the file is read)
        raise InputError(
            label or str(p), [(f"ends early — a truncated or partly downloaded file? ({err}); download it again")]
        ) from None
    except (RuntimeError, osmium.InvalidLocationError) as err:  # osmium's parse errors
        raise InputError(label or str(p), [f"cannot be read as OpenStreetMap data ({err})"]) from None
    reader.latest = latest
    return reader


@dataclass(eq=False)
class PassReader:
    """What one pass over an extract collects: walkable ways, crossing nodes and features."""

    wkb_factory: osmium.geom.WKBFactory
    # a way's positions as machine numbers, not a Python object each: the read's largest lists
    # (as lists, ~0.4 kB per walk node more at the read's peak and after it)
    node_ids: array[int] = field(default_factory=lambda: array("q"))
    lons: array[float] = field(default_factory=lambda: array("d"))
    lats: array[float] = field(default_factory=lambda: array("d"))
    offsets: list[int] = field(default_factory=lambda: [0])
    way_ids: list[int] = field(default_factory=list)
    highways: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)
    crossing_ids: list[int] = field(default_factory=list)
    signal_ids: list[int] = field(default_factory=list)
    feats: Features = field(default_factory=Features)
    seq: int = 0  # the number of the object being read in the stream
    way_seq: list[int] = field(default_factory=list)  # each way's number in the stream
    feat_seq: list[int] = field(default_factory=list)  # each feature's number in the stream
    latest: dt.datetime | None = None  # the newest object's timestamp

    def way(self, obj: osmium.osm.Way) -> None:
        """A walkable way (with at least two located nodes), or a waterway line for the map."""
        tags = obj.tags
        if "highway" not in tags:
            if tags.get("waterway") in WATERWAY_LINES and _add_waterway(self.feats, obj, self.wkb_factory):
                self.feat_seq.append(self.seq)
            return
        tagd = dict(tags)
        if not is_walkable(tagd):
            return
        node_ids, lons, lats = self.node_ids, self.lons, self.lats
        n_before = len(node_ids)
        for nd in obj.nodes:
            loc = nd.location
            if not loc.valid():
                continue  # a node missing from a clipped extract
            node_ids.append(nd.ref)
            lons.append(loc.lon)
            lats.append(loc.lat)
        if len(node_ids) - n_before < 2:
            del node_ids[n_before:], lons[n_before:], lats[n_before:]
            return
        self.offsets.append(len(node_ids))
        self.way_ids.append(obj.id)
        self.highways.append(tagd["highway"])
        self.names.append(tagd.get("name", ""))
        self.classes.append(way_class(tagd))
        self.way_seq.append(self.seq)

    def node(self, obj: osmium.osm.Node) -> None:
        """A crossing or signal node, and a point of interest."""
        tags = obj.tags
        if ("highway" in tags or "crossing" in tags) and is_crossing_node(tags):
            self.crossing_ids.append(obj.id)
            if is_signal_node(tags):
                self.signal_ids.append(obj.id)
        if "name" not in tags and "amenity" not in tags:
            return
        if not any(k in tags for k in POI_KEYS) or not obj.location.valid():
            return
        feats = self.feats
        feats.kind.append("poi")
        feats.osm_id.append(f"n{obj.id}")
        feats.wkb.append(bytes.fromhex(self.wkb_factory.create_point(obj)))
        feats.tags.append(dict(tags))  # every tag: a mapping file may use any key
        self.feat_seq.append(self.seq)

    def area(self, obj: osmium.osm.Area) -> None:
        """An area (building, land use, water, green, admin boundary, point of interest)."""
        tags = obj.tags
        kinds = _area_kinds(tags)
        if not kinds:
            return
        try:
            geom = bytes.fromhex(self.wkb_factory.create_multipolygon(obj))
        except RuntimeError:
            return  # broken multipolygon in the source data
        oid = f"w{obj.orig_id()}" if obj.from_way() else f"r{obj.orig_id()}"
        feats = self.feats
        for kind in kinds:
            feats.kind.append(kind)
            feats.osm_id.append(oid)
            feats.wkb.append(geom)
            feats.tags.append(dict(tags) if kind == "poi" else {k: tags[k] for k in _AREA_TAGS[kind] if k in tags})
            self.feat_seq.append(self.seq)

    def walk_ways(self) -> WalkWays:
        """The walkable ways as arrays."""
        return WalkWays(
            node_ids=np.asarray(self.node_ids, dtype=np.int64),
            lon=np.asarray(self.lons, dtype=np.float64),
            lat=np.asarray(self.lats, dtype=np.float64),
            offsets=np.asarray(self.offsets, dtype=np.int64),
            way_ids=np.asarray(self.way_ids, dtype=np.int64),
            highway=self.highways,
            name=self.names,
            road_class=np.asarray(self.classes, dtype=np.int8),
            crossing_nodes=np.unique(np.asarray(self.crossing_ids, dtype=np.int64)),
            signal_nodes=np.unique(np.asarray(self.signal_ids, dtype=np.int64)),
        )


_AREA_TAGS = {
    "building": ("building", "building:levels", "name"),
    "water": ("natural", "water", "waterway", "landuse", "name"),
    "green": ("leisure", "landuse", "natural", "name"),
    "landuse": ("landuse", "name"),
    "admin": ("name", "admin_level", "boundary"),
    "poi": POI_TAGS,
}


def _area_kinds(tags: osmium.osm.TagList) -> list[str]:
    """What one area is used as; a named community centre that is also a building is both.

    Each tag is looked up once where it can be (every lookup is a call into osmium): most areas
    are plain buildings, and this runs for each of them.
    """
    kinds = []
    building = tags.get("building")
    if building is not None and building != "no":
        kinds.append("building")
    landuse = tags.get("landuse")
    if landuse == "residential":
        kinds.append("landuse")
    if tags.get("boundary") == "administrative" and "name" in tags:
        kinds.append("admin")
    if ("name" in tags or "amenity" in tags) and any(k in tags for k in POI_KEYS):
        kinds.append("poi")
    natural = tags.get("natural")
    if natural == "water" or tags.get("waterway") == "riverbank" or landuse in ("reservoir", "basin"):
        kinds.append("water")
    else:
        got = {"landuse": landuse, "natural": natural}
        if any((got[k] if k in got else tags.get(k)) in v for k, v in GREEN.items()):
            kinds.append("green")
    return kinds


def _add_waterway(feats: Features, way: osmium.osm.Way, wkb_factory: osmium.geom.WKBFactory) -> bool:
    """A river, canal or stream drawn as a line (for the map's base layer); whether it was added."""
    try:
        geom = bytes.fromhex(wkb_factory.create_linestring(way))
    except RuntimeError:  # nodes missing from a clipped extract
        return False
    feats.kind.append("waterway")
    feats.osm_id.append(f"w{way.id}")
    feats.wkb.append(geom)
    feats.tags.append({k: way.tags[k] for k in ("waterway", "name") if k in way.tags})
    return True


def _header_date(proc: osmium.FileProcessor) -> str | None:
    """The extract's own timestamp (``osmosis_replication_timestamp`` or ``timestamp``), if any."""
    try:
        header = proc.header
    except Exception:  # noqa: BLE001 - pyosmium raises RuntimeError subclasses for unreadable headers
        return None
    for key in ("osmosis_replication_timestamp", "timestamp"):
        value = header.get(key) or ""
        try:
            return dt.datetime.fromisoformat(value).date().isoformat()
        except ValueError:
            continue
    return None


def _check_bz2(p: Path) -> None:
    try:
        with bz2.open(p, "rb") as fh:
            fh.read(16)
    except EOFError as err:
        raise InputError(
            str(p), [(f"ends early — a truncated or partly downloaded file? ({err}); download it again")]
        ) from None
    except OSError as err:
        raise InputError(str(p), [f"is not a valid bzip2 file ({err})"]) from None
