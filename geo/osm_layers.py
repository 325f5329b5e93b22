"""Facility layers derived from OSM tags, by the rules of a mapping file (``data/osm_layers.toml``).

The facility table has the same columns as a planner's own file read by :mod:`geo.layers`:
``id, name, layer, tier, kind, opening_hours, stars, services, area_m2, address, source``
and a Point geometry in WGS84.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo.errors import InputError
from geo.osm import Features

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_MAPPING = DATA_DIR / "osm_layers.toml"
LAYERS = ("centres", "stations", "charging")
TIERS = ("district", "street", "community", "special")
FACILITY_COLUMNS = (
    "id", "name", "layer", "tier", "kind", "opening_hours", "stars", "services", "area_m2",
    "address", "source",
)
#: OSM features of one layer with the same name closer than this are one facility.
SAME_PLACE_M = 150.0


@dataclass(frozen=True)
class Rule:
    layer: str
    tier: str | None
    kind: str
    match: dict[str, tuple[str, ...]]
    name_regex: re.Pattern | None
    exclude_name_regex: re.Pattern | None

    def matches(self, tags: dict[str, str]) -> bool:
        for key, values in self.match.items():
            val = tags.get(key)
            if val is None or ("*" not in values and val not in values):
                return False
        name = tags.get("name", "")
        if self.name_regex is not None and not self.name_regex.search(name):
            return False
        if self.exclude_name_regex is not None and self.exclude_name_regex.search(name):
            return False
        return True


def load_rules(path: str | Path = DEFAULT_MAPPING) -> list[Rule]:
    """Read and check a mapping file; all problems are reported together."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), ["file not found; copy data/osm_layers.toml and edit it"])
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(str(path), [f"is not valid TOML ({err})"]) from None
    problems: list[str] = []
    rules: list[Rule] = []
    raw = doc.get("rule")
    if not isinstance(raw, list) or not raw:
        raise InputError(str(path), ["holds no [[rule]] table; see data/osm_layers.toml for the format"])
    for i, r in enumerate(raw, start=1):
        where = f"rule {i}"
        layer = r.get("layer")
        if layer not in LAYERS:
            problems.append(f"{where}: layer {layer!r} is not one of {', '.join(LAYERS)}")
        tier = r.get("tier")
        if tier is not None and tier not in TIERS:
            problems.append(f"{where}: tier {tier!r} is not one of {', '.join(TIERS)}")
        match = r.get("match", {})
        if not isinstance(match, dict):
            problems.append(f"{where}: match must be a table such as {{ amenity = [\"toilets\"] }}")
            match = {}
        if not match and "name_regex" not in r:
            problems.append(f"{where}: needs a match table or a name_regex, or it would take every feature")
        compiled = {}
        for field in ("name_regex", "exclude_name_regex"):
            if field in r:
                try:
                    compiled[field] = re.compile(r[field])
                except re.error as err:
                    problems.append(f"{where}: {field} {r[field]!r} is not a valid regular expression ({err})")
        rules.append(
            Rule(
                layer=str(layer),
                tier=tier,
                kind=str(r.get("kind", layer)),
                match={k: (v,) if isinstance(v, str) else tuple(v) for k, v in match.items()},
                name_regex=compiled.get("name_regex"),
                exclude_name_regex=compiled.get("exclude_name_regex"),
            )
        )
    if problems:
        raise InputError(str(path), problems)
    return rules


def facilities_from_osm(features: Features, rules: list[Rule], *, project) -> dict:
    """Apply the rules to an extract's points of interest.

    Returns ``{layer: GeoDataFrame}`` for every layer in :data:`LAYERS` (possibly empty), in
    WGS84. ``project`` maps a WGS84 shapely array to the metric CRS (used for the same-place test).
    """
    import geopandas as gpd
    import shapely

    rows: dict[str, list] = {layer: [] for layer in LAYERS}
    geoms: dict[str, list] = {layer: [] for layer in LAYERS}
    poi = [i for i, k in enumerate(features.kind) if k == "poi"]
    wkbs = shapely.from_wkb([features.wkb[i] for i in poi])
    pts = shapely.point_on_surface(wkbs)
    for j, i in enumerate(poi):
        tags = features.tags[i]
        for rule in rules:
            if rule.matches(tags):
                name = tags.get("name:zh") or tags.get("name") or tags.get("name:en") or rule.kind
                addr = " ".join(t for t in (tags.get("addr:street"), tags.get("addr:housenumber")) if t)
                rows[rule.layer].append(
                    {
                        "id": f"osm-{features.osm_id[i]}",
                        "name": name,
                        "layer": rule.layer,
                        "tier": rule.tier,
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
    return out


def _merge_same_place(gdf, project):
    """One facility mapped twice (a node and its building) becomes one row."""
    import shapely

    if len(gdf) < 2:
        return gdf.reset_index(drop=True)
    xy = shapely.get_coordinates(project(gdf.geometry.values.to_numpy() if hasattr(gdf.geometry.values, "to_numpy") else np.asarray(gdf.geometry)))
    keep = np.ones(len(gdf), bool)
    names = gdf["name"].to_numpy()
    by_name: dict[str, list[int]] = {}
    for i, nm in enumerate(names):
        for j in by_name.get(nm, []):
            if np.hypot(*(xy[i] - xy[j])) < SAME_PLACE_M:
                keep[i] = False
                break
        if keep[i]:
            by_name.setdefault(nm, []).append(i)
    return gdf[keep].reset_index(drop=True)
