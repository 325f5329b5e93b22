"""What-if scenarios: try a crossing, a closure or a facility change before building it.

A scenario is a list of edits, read from a GeoJSON FeatureCollection (one feature per edit, its
``edit`` property naming what it does) or from a YAML/TOML file with an ``edits`` list:

==================  ==========================  ===============================================
``edit``            geometry (GeoJSON) / keys   meaning
==================  ==========================  ===============================================
``add_link``        LineString / ``line``       a new walkable link (crosswalk, footbridge, a
                                                gate opened in a wall) between the streets
                                                nearest its two ends; ``penalty_s``: seconds of
                                                waiting (a signal), added as walking metres
``close``           LineString or Polygon /     a barrier line closes every edge it crosses; a
                    ``line`` or ``polygon``     polygon every edge it touches (works, a gate)
``add_facility``    Point / ``at``              a new facility of ``layer`` (``name``, ``id``,
                                                ``tier``, ``opening_hours`` optional)
``move_facility``   Point / ``at``              move facility ``id`` (or ``name``) of ``layer``
``remove_facility`` none                        remove facility ``id`` (or ``name``)
``set_hours``       none                        set ``opening_hours`` of facility ``id``/``name``
==================  ==========================  ===============================================

Coordinates are WGS84 longitude, latitude. Every edit is checked and all problems are reported
at once, each naming the edit's number and field.

The edits are made on a *copy* of the network (:func:`geo.netedit.with_edits`): the base
network is never changed. Recomputing is fast because nothing is rebuilt from the OSM file: the
homes keep their base snapping (carried over split edges, re-snapped only where their street
was closed), the facilities are re-snapped (hundreds of points) and each layer costs one
multi-source Dijkstra.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from geo.crs import normalise_crs, to_wgs84
from geo.errors import InputError
from geo.kinds import LAYERS
from geo.netedit import Closure, EditLog, Link, carry_snapped, with_edits
from geo.network import Network, Snapped
from geo.plan_types import PlanResult

EDIT_KINDS = ("add_link", "close", "add_facility", "move_facility", "remove_facility", "set_hours")
#: a scenario (file or API request) holds at most this many edits.
MAX_EDITS = 500
#: a link end farther than this from every walkable way is refused.
LINK_SNAP_MAX_M = 100.0
#: longest link accepted (m): the Qiantang bridges are ~1.5 km; longer is a typo.
MAX_LINK_M = 3000.0
MAX_PENALTY_S = 3600.0
#: deepest nesting of a JSON/YAML scenario document
MAX_DEPTH = 32
#: most values (numbers, texts, lists, mappings) one scenario document may hold
MAX_VALUES = 1_000_000
#: largest scenario file read (bytes)
MAX_FILE_BYTES = 20 * 1024 * 1024
_GEOM_KEYS = {"add_link": ("line",), "close": ("line", "polygon"), "add_facility": ("at",), "move_facility": ("at",)}


@dataclass(frozen=True)
class Edit:
    """One edit. ``geometry`` is a shapely geometry in WGS84 (or None)."""

    kind: str
    number: int  # 1-based position in the scenario, for messages
    geometry: object = None
    layer: str | None = None
    ref: str | None = None  # facility id or name (move, remove, set_hours)
    props: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """The edit as ``coverage.json`` lists it: number, kind, layer, facility and options."""
        d = {"number": self.number, "edit": self.kind}
        for k in ("layer", "ref"):
            if getattr(self, k):
                d["facility" if k == "ref" else k] = getattr(self, k)
        d.update({k: v for k, v in self.props.items() if v is not None})
        return d


@dataclass(frozen=True)
class Scenario:
    """Checked edits, where they came from, and what one edit is called in messages."""

    edits: tuple[Edit, ...]
    source: str
    unit: str = "feature"  # what one edit is called in messages: "feature" (GeoJSON) or "edit"


# ---------------------------------------------------------------- reading and validation


def read_scenario(path: str | Path, *, crs: str | None = None) -> Scenario:
    """Read and check a scenario file (``.geojson``/``.json``, ``.yaml``/``.yml``, ``.toml``).

    ``crs`` (gcj02, bd09) converts its coordinates to WGS84.
    """
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise InputError(src, ["file not found"])
    if not path.is_file():
        raise InputError(src, ["is a folder, not a scenario file (.geojson, .json, .yaml, .yml, .toml)"])
    suffix = path.suffix.lower()
    if suffix not in (".geojson", ".json", ".yaml", ".yml", ".toml"):
        raise InputError(src, [f"unknown file type {suffix or '(none)'!r}: give .geojson, .json, .yaml, .yml or .toml"])
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(
            src,
            [
                (
                    f"is {path.stat().st_size:,} bytes: a scenario file is at most {MAX_FILE_BYTES:,} "
                    f"(at most {MAX_EDITS} edits)"
                )
            ],
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(src, [f"is not UTF-8 text (byte {err.start}): save it as UTF-8"]) from None
    try:
        if suffix in (".geojson", ".json"):
            doc = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml  # noqa: PLC0415 - ~10 ms, only for a YAML scenario file

            doc = yaml.safe_load(text)
        else:
            doc = tomllib.loads(text)
    except RecursionError:
        raise InputError(src, [f"is nested too deeply to be a scenario (at most {MAX_DEPTH} levels)"]) from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, ValueError) as err:
        raise InputError(src, [f"cannot be read as {suffix[1:].upper()}: {err}"]) from None
    except Exception as err:  # noqa: BLE001 - yaml.YAMLError and its subclasses
        raise InputError(src, [f"cannot be read as YAML: {err}"]) from None
    return scenario_from_doc(doc, source=src, crs=crs)


def json_type(value: object) -> str:
    """What a parsed JSON/YAML/TOML value is, in the words of the file: "a list", "a number"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    names: dict[type, str] = {str: "a text", list: "a list", dict: "an object"}
    return names.get(type(value), f"a {type(value).__name__}")


def _depth(doc: object, limit: int, *, max_values: int = 0) -> int:
    """Nesting depth of a parsed document, stopping once past ``limit``.

    -1 once it holds more than ``max_values`` values (default: :data:`MAX_VALUES`; YAML aliases
    can make a file of a few hundred bytes hold billions).
    """
    stack = [(doc, 1)]
    deepest = 0
    budget = max_values or MAX_VALUES
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        budget -= 1
        if budget < 0:
            return -1
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def scenario_from_doc(doc: object, *, source: str = "scenario", crs: str | None = None) -> Scenario:
    """A scenario from a GeoJSON FeatureCollection dict, or a dict with an ``edits`` list.

    ``crs`` (gcj02, bd09; wgs84 by default) is the coordinate system of its geometries.
    """
    depth = _depth(doc, MAX_DEPTH)
    if depth > MAX_DEPTH:
        raise InputError(source, [f"is nested too deeply to be a scenario (at most {MAX_DEPTH} levels)"])
    if depth < 0:
        raise InputError(
            source,
            [
                (
                    f"holds more than {MAX_VALUES:,} values (YAML anchors and aliases repeated?): "
                    f"a scenario is at most {MAX_EDITS} edits — write each edit out once"
                )
            ],
        )
    shape_problems: list[str] = []
    items, unit = _edit_items(doc, source, shape_problems)
    if not items:
        raise InputError(source, ["no edits: the scenario lists nothing to change"])
    if len(items) > MAX_EDITS:
        raise InputError(source, [f"{len(items)} edits: at most {MAX_EDITS} per scenario — split it"])
    problems: list[str] = list(shape_problems)
    edits = []
    for i, (props, geom, gkey) in enumerate(items, start=1):
        e = _check_edit(i, props, geom, gkey, unit, problems, crs)
        if e is not None:
            edits.append(e)
    if problems:
        raise InputError(source, problems)
    return Scenario(tuple(edits), source, unit)


def _edit_items(doc: object, source: str, shape_problems: list[str]) -> tuple[list[tuple], str]:
    """The edits of a scenario document as (properties, geometry, geometry field).

    Also what one is called ("feature" or "edit"); items of the wrong shape are added to
    ``shape_problems``.
    """
    items: list[tuple] = []
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise InputError(source, ["'features' must be a list of GeoJSON features"])
        for i, feat in enumerate(feats, start=1):
            if not isinstance(feat, dict):
                shape_problems.append(f"feature {i}: is {json_type(feat)}, not a GeoJSON Feature object")
            f = feat if isinstance(feat, dict) else {}
            props = f.get("properties")
            if props is not None and not isinstance(props, dict):
                shape_problems.append(
                    f"feature {i}: field 'properties' is {json_type(props)}: "
                    'expected an object such as {"edit": "add_link"}'
                )
                props = {}
            items.append(({**(props or {})}, f.get("geometry"), "geometry"))
        return items, "feature"
    if isinstance(doc, dict) and isinstance(doc.get("edits"), list):
        for i, given in enumerate(doc["edits"], start=1):
            if not isinstance(given, dict):
                shape_problems.append(f"edit {i}: is {json_type(given)}, not a mapping of keys such as edit, line")
            e = dict(given) if isinstance(given, dict) else {}
            items.append((e, _geometry_from_keys(e), None))
        return items, "edit"
    raise InputError(
        source,
        [
            (
                "expected a GeoJSON FeatureCollection (features with an 'edit' property) or a mapping with "
                "an 'edits' list (YAML/TOML)"
            )
        ],
    )


def _geometry_from_keys(e: dict) -> dict | None:
    """YAML/TOML keys (``line``, ``polygon``, ``at``) as a GeoJSON geometry dict (or a marker)."""
    if "line" in e:
        return {"type": "LineString", "coordinates": e.pop("line"), "_key": "line"}
    if "polygon" in e:
        ring = e.pop("polygon")
        return {"type": "Polygon", "coordinates": [ring], "_key": "polygon"}
    if "at" in e:
        return {"type": "Point", "coordinates": e.pop("at"), "_key": "at"}
    return None


def _check_edit(
    i: int, props: dict, geom: object, gkey: str | None, unit: str, problems: list[str], crs: str | None = None
) -> Edit | None:
    """One edit of a scenario, checked: its problems are added to ``problems`` (then None)."""
    kind = props.get("edit")
    where = f"{unit} {i}"
    if kind not in EDIT_KINDS:
        problems.append(f"{where}: field 'edit' is {kind!r}: expected one of {', '.join(EDIT_KINDS)}")
        return None
    where = f"{unit} {i} ({kind})"
    n_before = len(problems)
    key = (geom or {}).get("_key") if isinstance(geom, dict) else None
    field_name = gkey or key or "/".join(_GEOM_KEYS.get(kind, ("geometry",)))
    g = _edit_geometry(where, kind, geom, field_name, crs, problems)
    layer = props.get("layer")
    ref = props.get("id") if props.get("id") not in (None, "") else props.get("name")
    if kind in ("add_facility", "move_facility", "remove_facility", "set_hours"):
        if layer not in LAYERS:
            problems.append(f"{where}: field 'layer' is {layer!r}: expected one of {', '.join(LAYERS)}")
        if kind != "add_facility" and ref in (None, ""):
            problems.append(f"{where}: give the facility's 'id' (or its 'name')")
    out = _edit_options(where, kind, props, problems)
    if len(problems) > n_before:
        return None
    return Edit(
        kind,
        i,
        g,
        layer if kind not in ("add_link", "close") else None,
        None if kind in ("add_link", "close", "add_facility") else str(ref),
        out,
    )


#: the geometry types each edit takes (edits not listed take none)
_GEOM_TYPES = {
    "add_link": ("LineString",),
    "close": ("LineString", "Polygon", "MultiPolygon"),
    "add_facility": ("Point",),
    "move_facility": ("Point",),
}


def _edit_geometry(
    where: str, kind: str, geom: object, field_name: str, crs: str | None, problems: list[str]
) -> shapely.Geometry | None:
    """The edit's geometry in WGS84 (None when it takes none or has problems, added to ``problems``)."""
    want = _GEOM_TYPES.get(kind)
    if not want:
        return None
    if not isinstance(geom, dict) or geom.get("type") is None:
        problems.append(f"{where}: field '{field_name}' is missing: give a {' or '.join(want)} (lon, lat)")
        return None
    if geom.get("type") not in want:
        problems.append(f"{where}: field '{field_name}' is a {geom.get('type')}: expected {' or '.join(want)}")
        return None
    n_before = len(problems)
    try:
        g = shapely.geometry.shape({k: v for k, v in geom.items() if k != "_key"})
    except Exception as err:  # noqa: BLE001 - shapely raises several types for malformed coordinates
        problems.append(f"{where}: field '{field_name}' has malformed coordinates ({err})")
        return None
    problems += _check_lonlat(where, field_name, g)
    if crs and len(problems) == n_before and g is not None:
        g = _to_wgs84(g, crs)
    if kind == "add_link" and len(problems) == n_before and (len(g.coords) < 2 or g.length == 0):
        problems.append(f"{where}: field '{field_name}' needs two different points (from, to)")
    if g is not None and g.geom_type in ("Polygon", "MultiPolygon") and not g.is_valid:
        problems.append(f"{where}: field '{field_name}' is not a valid polygon (self-intersecting?)")
    return g


def _edit_options(where: str, kind: str, props: dict, problems: list[str]) -> dict:
    """The options an edit of ``kind`` carries (penalty, name, hours...), checked."""
    out: dict = {}
    if kind == "add_link":
        pen = props.get("penalty_s", 0)
        if isinstance(pen, bool) or not isinstance(pen, (int, float)) or not (0 <= pen <= MAX_PENALTY_S):
            problems.append(f"{where}: field 'penalty_s' is {pen!r}: give the seconds of waiting, 0..{MAX_PENALTY_S:g}")
        out = {"penalty_s": pen, "name": props.get("name"), "kind": props.get("kind")}
    elif kind == "close":
        out = {"name": props.get("name")}
    elif kind == "add_facility":
        out = {k: props.get(k) for k in ("id", "name", "tier", "opening_hours")}
    elif kind == "set_hours":
        oh = props.get("opening_hours")
        if not isinstance(oh, str) or not oh.strip():
            problems.append(
                f"{where}: field 'opening_hours' is {oh!r}: give OSM-style hours such as '24/7' or 'Mo-Fr 08:30-17:30'"
            )
        out = {"opening_hours": oh}
    problems.extend(
        f"{where}: field '{k}' is {out[k]!r}: give text"
        for k in ("name", "id", "tier", "kind")
        if out.get(k) is not None and not isinstance(out[k], (str, int))
    )
    return out


def _to_wgs84(g: shapely.Geometry, crs: str) -> shapely.Geometry:
    """A geometry given in GCJ-02/BD-09 (AMap, Baidu), in WGS84."""
    name = normalise_crs(crs)
    if name == "wgs84":
        return g
    return shapely.transform(g, lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], name)))


def _check_lonlat(where: str, fname: str, g: shapely.Geometry) -> list[str]:
    """Problems of coordinates outside WGS84 longitude and latitude (swapped ones named)."""
    xy = shapely.get_coordinates(g)
    if len(xy) == 0:
        return [f"{where}: field '{fname}' has no coordinates"]
    bad = ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    if bad.any():
        lon, lat = xy[bad][0]
        hint = " — are longitude and latitude swapped?" if abs(lat) > 90 and abs(lon) <= 90 else ""
        return [
            (
                f"{where}: field '{fname}' has longitude {lon:g}, latitude {lat:g}: expected WGS84 "
                f"longitude -180..180, latitude -90..90 (order: lon, lat){hint}"
            )
        ]
    return []


# ---------------------------------------------------------------- applying


@dataclass(frozen=True, eq=False)
class Applied:
    """A scenario applied to a plan: the edited copy of the network and the facility tables.

    ``network`` is the plan's own network (the same object) when the scenario edits no way.
    """

    network: Network
    log: EditLog
    home_snap: Snapped
    facilities: dict  # layer -> (GeoDataFrame WGS84, origin)
    notes: list[str]
    touched: frozenset = frozenset()  # layers whose facilities the edits change


def apply_scenario(before: PlanResult, scenario: Scenario, *, link_snap_max_m: float = LINK_SNAP_MAX_M) -> Applied:
    """Apply ``scenario`` to the plan ``before`` (a PlanResult) on copies; check every edit.

    Closures act on the existing network, then links are added (a closure never cuts a link
    of the same scenario); facility edits are applied in order, so an edit may refer to a
    facility an earlier one added. All problems are raised together as one InputError.
    """
    base_net: Network = before.network
    problems: list[str] = []
    speed = before.params.speeds()[before.params.profiles[0]]
    closures, links = [], []
    for e in scenario.edits:
        where = f"{scenario.unit} {e.number} ({e.kind})"
        if e.kind == "close":
            closures.append(Closure(base_net.metric_of(e.geometry), where))
        elif e.kind == "add_link":
            xy = base_net.project(*shapely.get_coordinates(e.geometry).T)
            links.append(
                Link(
                    xy,
                    penalty_m=float(e.props.get("penalty_s") or 0) * speed / 3.6,
                    name=str(e.props.get("name") or ""),
                    highway=str(e.props.get("kind") or "scenario_link"),
                    label=where,
                )
            )
    if links or closures:
        net, log = with_edits(
            base_net,
            links=links,
            closures=closures,
            snap_max_m=link_snap_max_m,
            max_link_m=MAX_LINK_M,
            problems=problems,
        )
    else:  # no network edit: the base network itself (an edited copy would hold the same arrays)
        net, log = base_net, EditLog(np.arange(base_net.n_edges, dtype=np.int64), np.zeros(0, np.int64))
    facilities, touched = _facility_edits(before, scenario, problems)
    _check_facility_places(net, scenario, before.params.snap_max_m, problems)
    if problems:
        raise InputError(scenario.source, problems)
    hs = (
        carry_snapped(before.home_snap, log, net, before.homes.xy, max_dist=before.params.home_snap_max_m)
        if net is not base_net
        else before.home_snap
    )
    notes = [f"{len(log.closed)} edges closed, {len(log.split_pieces)} split, {len(log.links)} links added"]
    return Applied(net, log, hs, facilities, notes, frozenset(touched))


def _check_facility_places(net: Network, scenario: Scenario, snap_max_m: float, problems: list[str]) -> None:
    """Add a problem for each facility an edit puts farther than ``snap_max_m`` from every walkable way.

    The plan's own snap limit: a facility row of a plan's file that far is listed as not placed
    and the plan goes on, but an edit is one deliberate change whose only effect would be none
    (an added facility serving nobody) or a silent removal (a facility moved off the network),
    so it is refused, as a link end too far from the streets is.
    """
    edits = [e for e in scenario.edits if e.kind in ("add_facility", "move_facility") and e.geometry is not None]
    if not edits:
        return
    lonlat = np.vstack([shapely.get_coordinates(e.geometry)[:1] for e in edits])
    xy = net.project(lonlat[:, 0], lonlat[:, 1])
    ok = net.snap(xy, max_dist=snap_max_m).ok
    if ok.all():
        return
    far = net.snap(xy[~ok], max_dist=1e9).dist  # the distance to the nearest way, however far
    for e, (lon, lat), d in zip(np.asarray(edits, dtype=object)[~ok], lonlat[~ok], far, strict=True):
        problems.append(
            f"{scenario.unit} {e.number} ({e.kind}): layer {e.layer}: the facility at {lon:.6f}, {lat:.6f} (WGS84) is "
            f"{d:,.0f} m from the nearest walkable way (limit {snap_max_m:.0f} m, as a plan places facilities) — "
            "put it beside a street of the plan's network; check the coordinates (longitude, latitude; "
            "GCJ-02/BD-09 need --crs)"
        )


def _find(fac: gpd.GeoDataFrame, ref: str) -> tuple[np.ndarray, str | None]:
    """Rows of ``fac`` whose id (else name) is ``ref``, or a problem saying why none or several."""
    ids = fac["id"].astype(str).to_numpy() if len(fac) else np.zeros(0, str)
    hit = np.flatnonzero(ids == ref)
    if len(hit) == 0 and len(fac):
        hit = np.flatnonzero(fac["name"].astype(str).to_numpy() == ref)
        if len(hit) > 1:
            return hit, f"name {ref!r} is shared by ids {', '.join(ids[hit][:5])}: give the 'id'"
    if len(hit) == 0:
        return hit, f"no facility with id or name {ref!r} in this layer"
    return hit[:1], None


def _facility_edits(before: PlanResult, scenario: Scenario, problems: list[str]) -> tuple[dict, set]:
    """The facility tables after the edits, and the layers they touch (problems added)."""
    tables = {name: lr.facilities.copy() for name, lr in before.layers.items()}
    touched = set()
    for e in scenario.edits:
        if e.layer is None:
            continue
        where = f"{scenario.unit} {e.number} ({e.kind})"
        fac = tables[e.layer]
        if e.kind == "add_facility":
            new_id = str(e.props.get("id") or f"scenario-{e.number}")
            same = np.flatnonzero(fac["id"].astype(str).to_numpy() == new_id) if len(fac) else np.zeros(0, np.int64)
            if len(same):
                problems.append(
                    f"{where}: layer {e.layer} already has a facility with id {new_id!r} "
                    f"({fac['name'].iloc[same[0]]}): give the new facility an id of its own, or use "
                    "move_facility to move that one"
                )
                continue
            row: dict[str, object] = {c: None for c in fac.columns if c != fac.geometry.name}
            row.update(
                {
                    "id": new_id,
                    "name": str(e.props.get("name") or f"new {e.layer} ({scenario.unit} {e.number})"),
                    "layer": e.layer,
                    "tier": e.props.get("tier"),
                    "kind": "scenario",
                    "opening_hours": e.props.get("opening_hours"),
                    "services": (),
                    "source": f"{Path(scenario.source).name} {scenario.unit} {e.number}",
                }
            )
            new = gpd.GeoDataFrame([row], geometry=[e.geometry], crs=4326)
            tables[e.layer] = gpd.GeoDataFrame(pd.concat([fac, new], ignore_index=True), crs=4326)
        else:
            hit, err = _find(fac, str(e.ref))
            if err:
                problems.append(f"{where}: layer {e.layer}: {err}")
                continue
            fac = fac.copy()
            if e.kind == "remove_facility":
                fac = fac.drop(index=fac.index[hit]).reset_index(drop=True)
            elif e.kind == "move_facility":
                fac.loc[fac.index[hit[0]], fac.geometry.name] = e.geometry
            else:
                fac.loc[fac.index[hit[0]], "opening_hours"] = e.props["opening_hours"]
            tables[e.layer] = fac
        touched.add(e.layer)
    return {
        name: (tables[name], before.layers[name].origin + (" + scenario edits" if name in touched else ""))
        for name in tables
    }, touched
