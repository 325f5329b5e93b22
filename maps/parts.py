"""The map's reusable parts: encoded geometry and the base layer, keyed by what they came from.

Writing a city's map spends most of its time simplifying and encoding geometry
(:func:`maps.display.encode_polygons`) and cutting the base layer (:func:`maps.basemap.basemap_data`).
A follow-up of a saved plan (a scenario, proposed sites, ``circles map --plan``) draws mostly the
same geometry again. :class:`MapParts` keeps each encoded text under a content hash of what it
came from — a polygon's WKB with the latitude and tolerances it was drawn at; the base layer's
tables, admin areas, study area and extent — so a changed geometry has another key and is encoded
again: a stale text is never used.

``circles plan`` keeps the parts of its map in the saved plan (:data:`PARTS_FILE`, checksummed in
the bundle's manifest; the api layer passes them, as ``geo/`` never imports ``maps/``). The file
holds data only and is checked when read: encoded geometry is digits, commas and brackets; other
texts are JSON with nothing that could end the page's ``<script>``; a file written by other code
(another :func:`fingerprint`) or failing a check is ignored whole, and the map is drawn from scratch.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import shapely

from maps.basemap import LABEL_CLASSES, Basemap, basemap_data, basemap_key
from maps.display import MIN_HOLE_M2, TOLERANCE_M, encode_polygons

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from geo.plan import PlanResult

#: the parts of a plan's map, kept in the saved plan's folder
PARTS_FILE = "map_parts.json"
PARTS_KIND = "service-circles/map-parts"
PARTS_VERSION = 1
#: an encoded geometry (:func:`maps.display.encode_polygons`): integers in nested lists
_ENCODED = re.compile(r"\[[\[\]0-9,\-]*\]")
#: a base layer's drawing (:func:`maps.display.encoded_collection_text` of one geometry and its kind)
_LAYER = re.compile(r'\{"s":[0-9]+(,"t":"l")?,"f":\[\[\{"k":"[a-z0-9.]+"\},\[[\[\]0-9,\-]*\]\]\]\}')
_KIND = re.compile(r"[a-z0-9.]+")
#: the modules whose code makes the parts or their keys (maps.overlays keys and draws the gap groups)
_CODE = ("display.py", "basemap.py", "content.py", "overlays.py", "parts.py")


def fingerprint() -> str:
    """A hash of the code that makes the parts and their keys: parts made by other code are not used."""
    h = hashlib.blake2b(f"{PARTS_KIND}/{PARTS_VERSION}".encode(), digest_size=16)
    for name in _CODE:
        try:
            h.update(resources.files("maps").joinpath(name).read_bytes())
        except OSError:  # installed without sources: the format version alone tells
            h.update(name.encode())
    return h.hexdigest()


def content_key(*chunks: str | bytes) -> str:
    """A hash of the texts a part is made from, in order (each chunk delimited)."""
    h = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        data = chunk.encode() if isinstance(chunk, str) else chunk
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def polygon_keys(geoms: Sequence | np.ndarray, *, lat: float, tolerance_m: float, min_hole_m2: float) -> list[str]:
    """The key of each geometry's encoded text: a hash of its WKB and the display settings."""
    salt = f"{lat!r}/{tolerance_m!r}/{min_hole_m2!r}/".encode()
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object))
    return [hashlib.blake2b(salt + (w if w is not None else b""), digest_size=16).hexdigest() for w in wkb]


@dataclass
class MapParts:
    """Encoded texts reused between maps, keyed by a content hash of what they came from.

    ``polygons``: key (:func:`polygon_keys`) -> text of :func:`maps.display.encode_polygons` (None
    for a geometry that vanishes); ``collections``: key (:func:`content_key` of its inputs) -> a
    drawing's JSON text (a group of gap areas with their popups); ``basemaps``: key
    (:func:`maps.basemap.basemap_key`) -> the base layer. ``encoded`` and ``reused`` count the
    parts made and found (a geometry, a collection or a base layer counts one).
    """

    polygons: dict[str, str | None] = field(default_factory=dict)
    collections: dict[str, str] = field(default_factory=dict)
    basemaps: dict[str, Basemap] = field(default_factory=dict)
    encoded: int = 0
    reused: int = 0

    def encode_polygons(
        self,
        geoms: Sequence | np.ndarray,
        *,
        lat: float,
        tolerance_m: float = TOLERANCE_M,
        min_hole_m2: float = MIN_HOLE_M2,
    ) -> list[str | None]:
        """:func:`maps.display.encode_polygons`, encoding only the geometries not seen before."""
        return self.encode(geoms, lat=lat, tolerance_m=tolerance_m, min_hole_m2=min_hole_m2)[1]

    def encode(
        self,
        geoms: Sequence | np.ndarray,
        *,
        lat: float,
        tolerance_m: float = TOLERANCE_M,
        min_hole_m2: float = MIN_HOLE_M2,
    ) -> tuple[list[str], list[str | None]]:
        """The keys (:func:`polygon_keys`) and texts of :meth:`encode_polygons`."""
        geoms = np.asarray(geoms, dtype=object)
        keys = polygon_keys(geoms, lat=lat, tolerance_m=tolerance_m, min_hole_m2=min_hole_m2)
        todo = [i for i, k in enumerate(keys) if k not in self.polygons]
        if todo:
            texts = encode_polygons(geoms[todo], lat=lat, tolerance_m=tolerance_m, min_hole_m2=min_hole_m2)
            self.polygons.update(zip([keys[i] for i in todo], texts, strict=True))
        self.encoded += len(todo)
        self.reused += len(keys) - len(todo)
        return keys, [self.polygons[k] for k in keys]

    def collection(self, key: str, build: Callable[[], str]) -> str:
        """The JSON text kept under ``key``, or ``build()`` kept under it."""
        if key in self.collections:
            self.reused += 1
        else:
            self.collections[key] = build()
            self.encoded += 1
        return self.collections[key]

    def basemap(self, result: PlanResult) -> Basemap:
        """:func:`maps.basemap.basemap_data` of ``result``, cut once for the same tables and extent."""
        key = basemap_key(result)
        if key in self.basemaps:
            self.reused += 1
        else:
            self.basemaps[key] = basemap_data(result)
            self.encoded += 1
        return self.basemaps[key]

    def to_json(self) -> bytes:
        """The parts as a JSON document (UTF-8), read back by :meth:`from_json`."""
        doc = {
            "kind": PARTS_KIND,
            "fingerprint": fingerprint(),
            "polygons": self.polygons,
            "collections": self.collections,
            "basemaps": {
                k: {"layers": [list(kv) for kv in b.layers], "labels": b.labels, "outline": b.outline}
                for k, b in self.basemaps.items()
            },
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | None) -> MapParts:
        """The parts in ``data`` (:meth:`to_json`); empty when there are none or they fail a check."""
        if not data:
            return cls()
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("kind") != PARTS_KIND or doc.get("fingerprint") != fingerprint():
                return cls()
            polygons = doc["polygons"]
            if not isinstance(polygons, dict) or not all(
                v is None or (isinstance(v, str) and _ENCODED.fullmatch(v)) for v in polygons.values()
            ):
                return cls()
            collections = {k: _script_json(v) for k, v in doc["collections"].items()}
            basemaps = {k: _basemap_from(v) for k, v in doc["basemaps"].items()}
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return cls()
        return cls(polygons, collections, basemaps)


def _basemap_from(doc: dict) -> Basemap:
    """A base layer read back, every text checked (ValueError when one fails)."""
    layers = []
    for kind, text in doc["layers"]:
        if not (isinstance(kind, str) and _KIND.fullmatch(kind) and isinstance(text, str) and _LAYER.fullmatch(text)):
            raise ValueError("a base layer text is not an encoded drawing")
        layers.append((kind, text))
    outline = doc["outline"]
    return Basemap(layers, _labels_json(doc["labels"]), None if outline is None else _script_json(outline))


def _labels_json(text: object) -> str:
    """A base layer's labels (``Basemap.labels``) when every part is what map.js expects; else ValueError.

    ``{"s": scale, "n": [names], "p": [[x, y, degrees, name index, class index], ...]}``, whole
    numbers only: the page puts the angle into an element's style and the class into its class
    name, so nothing but numbers may stand there (names are escaped by the page).
    """
    checked = _script_json(text)
    doc = json.loads(checked)
    if not isinstance(doc, dict) or set(doc) != {"s", "n", "p"} or not _whole(doc["s"]):
        raise ValueError("labels are not a mapping of scale, names and points")
    names, points = doc["n"], doc["p"]
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names) and isinstance(points, list)):
        raise ValueError("label names or points of the wrong type")
    for p in points:
        if not (isinstance(p, list) and len(p) == 5 and all(_whole(v) for v in p)):
            raise ValueError("a label point is not five whole numbers")
        if not (0 <= p[3] < len(names) and 0 <= p[4] < len(LABEL_CLASSES) and -360 <= p[2] <= 360):
            raise ValueError("a label point names no name or class")
    return checked


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _script_json(text: object) -> str:
    """``text`` when it is JSON that can sit inside a ``<script>`` as written; else ValueError."""
    if not isinstance(text, str):
        raise TypeError("not a text")
    json.loads(text)
    if _SCRIPT_END.search(text):
        raise ValueError("text could end the page's script")
    return text


#: what could end or open a script inside a page, in any case (as ``text.lower()`` would find it,
#: without copying a collection's megabyte of text; str.lower makes none of these from other letters)
_SCRIPT_END = re.compile(r"</|<!--|<script", re.ASCII | re.IGNORECASE)
