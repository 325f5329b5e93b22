"""Facility layers derived from OSM tags, by the rules of a mapping file (``data/osm_layers.toml``).

The facility table has the same columns as a planner's own file read by :mod:`geo.layers`:
``id, name, layer, tier, kind, opening_hours, stars, services, area_m2, address, source``
and a Point geometry in WGS84. Each feature takes the first rule that matches it; ``exclude``
rules keep look-alikes out (car chargers, government offices, parcel lockers) and are counted,
so every layer says what it left out and what it could not find (:func:`facilities_from_osm`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import InputError
from geo.kinds import LAYERS, TIERS
from geo.osm import Features

#: WGS84 shapely geometries (an array) to the same in the plan's metric CRS
Projector = Callable[[np.ndarray], np.ndarray]


def _default_mapping() -> Path:
    """The mapping file the package ships (``data/osm_layers.toml``, installed as ``circles_data``)."""
    return Path(str(resources.files("circles_data").joinpath("osm_layers.toml")))


DEFAULT_MAPPING = _default_mapping()
FACILITY_COLUMNS = (
    "id",
    "name",
    "layer",
    "tier",
    "kind",
    "opening_hours",
    "stars",
    "services",
    "area_m2",
    "address",
    "source",
)
#: OSM features of one layer with the same name closer than this are one facility.
SAME_PLACE_M = 150.0
ACTIONS = ("include", "exclude")


@dataclass(frozen=True)
class Condition:
    """Tags that must all match (``*``: any value), and optionally a name pattern."""

    tags: tuple[tuple[str, tuple[str, ...]], ...]
    name_regex: re.Pattern | None = None
    #: ``(key, pattern)``: the tag must be present and match (``brand_regex = "Tesla"``)
    tag_regex: tuple[tuple[str, re.Pattern], ...] = ()

    def matches(self, tags: dict[str, str], name: str) -> bool:
        """Whether a feature's tags (and its name) meet this condition."""
        for key, values in self.tags:
            val = tags.get(key)
            if val is None or ("*" not in values and val not in values):
                return False
        for key, rx in self.tag_regex:
            if not rx.search(tags.get(key, "")):
                return False
        return self.name_regex is None or bool(self.name_regex.search(name))


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]`` of a mapping file: what it matches, and the layer, tier and kind it gives."""

    layer: str
    action: str
    tier: str | None
    tier_default: str | None
    kind: str
    match: Condition
    any: tuple[Condition, ...]
    exclude_name_regex: re.Pattern | None
    note: str | None

    def matches(self, tags: dict[str, str]) -> bool:
        """Whether a feature with these tags takes this rule."""
        name = tags.get("name", "")
        if not self.match.matches(tags, name):
            return False
        if self.any and not any(c.matches(tags, name) for c in self.any):
            return False
        return not (self.exclude_name_regex is not None and self.exclude_name_regex.search(name))

    def tier_of(self, name: str) -> str | None:
        """The tier a facility of this name gets (from its name when the rule says so)."""
        if self.tier != "from_name":
            return self.tier
        return tier_from_name(name) or self.tier_default


def tier_from_name(name: str) -> str | None:
    """The tier a centre's name says: …社区/…村 community, …街道/…镇/…乡 street, …区/…县/…市 district."""
    head = re.split(r"党群|服务|活动|居委会|居民委员会|村委会|村民委员会", str(name))[0] or str(name)
    if re.search(r"社区|村", head):
        return "community"
    if re.search(r"街道|镇|乡", head):
        return "street"
    if re.search(r"区|县|市", head):
        return "district"
    return None


def _condition(raw: object, where: str, problems: list[str]) -> Condition:
    if not isinstance(raw, dict):
        problems.append(f'{where}: must be a table such as {{ amenity = ["community_centre"] }}')
        return Condition(())
    tags = []
    regex = None
    tag_rx = []
    for k, v in raw.items():
        if k == "name_regex":
            regex = _regex(v, f"{where} name_regex", problems)
        elif str(k).endswith("_regex"):
            rx = _regex(v, f"{where} {k}", problems)
            if rx is not None:
                tag_rx.append((str(k)[: -len("_regex")], rx))
        elif isinstance(v, str):
            tags.append((str(k), (v,)))
        elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            tags.append((str(k), tuple(v)))
        else:
            problems.append(f'{where}: {k} = {v!r}: give a value or a list of values ("*" for any)')
    return Condition(tuple(tags), regex, tuple(tag_rx))


def _regex(value: object, where: str, problems: list[str]) -> re.Pattern | None:
    if not isinstance(value, str):
        problems.append(f"{where}: {value!r} is not text")
        return None
    try:
        return re.compile(value)
    except re.error as err:
        problems.append(f"{where}: {value!r} is not a valid regular expression ({err})")
        return None


def load_rules(path: str | Path = DEFAULT_MAPPING) -> list[Rule]:
    """Read and check a mapping file; all problems are reported together."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), ["file not found; copy data/osm_layers.toml and edit it"])
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(str(path), [f"is not valid TOML ({err})"]) from None
    raw = doc.get("rule")
    if not isinstance(raw, list) or not raw:
        raise InputError(str(path), ["holds no [[rule]] table; see data/osm_layers.toml for the format"])
    problems: list[str] = []
    rules: list[Rule] = []
    for i, r in enumerate(raw, start=1):
        if not isinstance(r, dict):
            problems.append(f"rule {i}: must be a table")
            continue
        rules.append(_rule(r, f"rule {i}", problems))
    if problems:
        raise InputError(str(path), problems)
    return rules


def _check_names(r: dict, where: str, problems: list[str]) -> None:
    """Problems with a rule's action, layer, note and tiers."""
    action = r.get("action", "include")
    if action not in ACTIONS:
        problems.append(f"{where}: action {action!r} is not one of {', '.join(ACTIONS)}")
    if r.get("layer") not in LAYERS:
        problems.append(
            f"{where}: layer {r.get('layer')!r} is not one of {', '.join(LAYERS)} (an exclude rule names "
            "the layer it keeps look-alikes out of)"
        )
    if action == "exclude" and not isinstance(r.get("note"), str):
        problems.append(f"{where}: an exclude rule needs a note saying what it leaves out")
    tier = r.get("tier")
    if tier is not None and tier not in (*TIERS, "from_name"):
        problems.append(f"{where}: tier {tier!r} is not one of {', '.join(TIERS)}, from_name")
    tier_default = r.get("tier_default")
    if tier_default is not None and tier_default not in TIERS:
        problems.append(f"{where}: tier_default {tier_default!r} is not one of {', '.join(TIERS)}")


def _rule(r: dict, where: str, problems: list[str]) -> Rule:
    """One ``[[rule]]`` table as a :class:`Rule`; its problems are added to ``problems``."""
    _check_names(r, where, problems)
    match = _condition(r.get("match", {}), f"{where} match", problems)
    alts = r.get("any", [])
    if not isinstance(alts, list):
        problems.append(f"{where}: any must be a list of tables")
        alts = []
    anys = tuple(_condition(a, f"{where} any[{j}]", problems) for j, a in enumerate(alts, start=1))
    name_rx = _regex(r["name_regex"], f"{where} name_regex", problems) if "name_regex" in r else None
    if name_rx is not None:
        match = Condition(match.tags, name_rx, match.tag_regex)
    ex = _regex(r["exclude_name_regex"], f"{where} exclude_name_regex", problems) if "exclude_name_regex" in r else None
    if not match.tags and match.name_regex is None and not match.tag_regex and not anys:
        problems.append(f"{where}: needs a match table, an any list or a name_regex, or it would take every feature")
    layer = r.get("layer")
    return Rule(
        str(layer),
        r.get("action", "include"),
        r.get("tier"),
        r.get("tier_default"),
        str(r.get("kind", layer)),
        match,
        anys,
        ex,
        r.get("note"),
    )


def facilities_from_osm(features: Features, rules: list[Rule], *, project: Projector) -> tuple[dict, dict[str, str]]:
    """Apply the rules to an extract's points of interest.

    Returns ``({layer: GeoDataFrame}, {layer: note})``: a table for every layer in
    :data:`geo.kinds.LAYERS` (possibly empty, WGS84), and per layer a note of what the
    exclude rules left out and, for an empty layer, that the extract offers none.
    ``project`` maps a WGS84 shapely array to the metric CRS (for the same-place test).
    """
    rows: dict[str, list] = {layer: [] for layer in LAYERS}
    geoms: dict[str, list] = {layer: [] for layer in LAYERS}
    left_out: dict[tuple[str, str], int] = {}
    poi = [i for i, k in enumerate(features.kind) if k == "poi"]
    pts = shapely.point_on_surface(shapely.from_wkb([features.wkb[i] for i in poi])) if poi else []
    for j, i in enumerate(poi):
        tags = features.tags[i]
        for rule in rules:
            if not rule.matches(tags):
                continue
            if rule.action == "exclude":
                key = (rule.layer, str(rule.note))
                left_out[key] = left_out.get(key, 0) + 1
                break
            name = tags.get("name:zh") or tags.get("name") or tags.get("name:en") or None
            addr = " ".join(t for t in (tags.get("addr:street"), tags.get("addr:housenumber")) if t)
            rows[rule.layer].append(
                {
                    "id": f"osm-{features.osm_id[i]}",
                    "name": name,
                    "layer": rule.layer,
                    "tier": rule.tier_of(name or ""),
                    "kind": rule.kind,
                    "opening_hours": tags.get("opening_hours"),
                    "stars": None,
                    "services": (),
                    "area_m2": None,
                    "address": addr or None,
                    "source": f"OSM {features.osm_id[i]}",
                }
            )
            geoms[rule.layer].append(pts[j])
            break
    out = {}
    for layer in LAYERS:
        gdf = gpd.GeoDataFrame(rows[layer], columns=list(FACILITY_COLUMNS), geometry=geoms[layer], crs=4326)
        out[layer] = _merge_same_place(gdf, project)
    notes = {}
    for layer in LAYERS:
        parts = [f"{n} {note}" for (lay, note), n in sorted(left_out.items(), key=lambda kv: -kv[1]) if lay == layer]
        if len(out[layer]) == 0:
            parts.append(
                f"the extract's OSM data holds no {layer} the rules recognise: give your own list (--{layer} FILE)"
            )
        if parts:
            notes[layer] = "; ".join(parts)
    return out, notes


def _merge_same_place(gdf: gpd.GeoDataFrame, project: Projector) -> gpd.GeoDataFrame:
    """One facility mapped twice (a node and its building) becomes one row.

    A spatial grid of ``SAME_PLACE_M`` cells per name: O(n log n) however many rows share a name.
    """
    if len(gdf) < 2:
        return gdf.reset_index(drop=True)
    xy = shapely.get_coordinates(project(np.asarray(gdf.geometry.values, dtype=object)))
    names = np.asarray([str(n) for n in gdf["name"]], dtype=object)
    keep = first_of_near_duplicates(names, xy, SAME_PLACE_M)
    return gdf[keep].reset_index(drop=True)


def first_of_near_duplicates(names: np.ndarray, xy: np.ndarray, radius: float) -> np.ndarray:
    """Mask keeping the first row of each group of same-named rows within ``radius`` of each other.

    A row is dropped when it lies within ``radius`` of an earlier kept row of the same name
    (checked in a grid of ``radius`` cells: near linear time).
    """
    keep = np.ones(len(names), bool)
    cells: dict[tuple, list[int]] = {}
    cx = np.floor(xy / radius).astype(np.int64)
    for i in range(len(names)):
        if not np.all(np.isfinite(xy[i])):
            continue
        gx, gy = int(cx[i, 0]), int(cx[i, 1])
        found = False
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for j in cells.get((names[i], gx + dx, gy + dy), ()):
                    if np.hypot(*(xy[i] - xy[j])) < radius:
                        found = True
                        break
                if found:
                    break
            if found:
                break
        if found:
            keep[i] = False
        else:
            cells.setdefault((names[i], gx, gy), []).append(i)
    return keep
