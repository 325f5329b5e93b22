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
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geo.circles import metres_for, multi_source, point_distances
from geo.errors import InputError
from geo.netedit import Closure, EditLog, Link, carry_snapped, with_edits
from geo.network import Network, Snapped
from geo.osm_layers import LAYERS

EDIT_KINDS = ("add_link", "close", "add_facility", "move_facility", "remove_facility", "set_hours")
#: a scenario (file or API request) holds at most this many edits.
MAX_EDITS = 500
#: a link end farther than this from every walkable way is refused.
LINK_SNAP_MAX_M = 100.0
#: longest link accepted (m): the Qiantang bridges are ~1.5 km; longer is a typo.
MAX_LINK_M = 3000.0
MAX_PENALTY_S = 3600.0
#: hull buffer of changed areas (as gap areas)
AREA_BUFFER_M = 25.0
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
        d = {"number": self.number, "edit": self.kind}
        for k in ("layer", "ref"):
            if getattr(self, k):
                d["facility" if k == "ref" else k] = getattr(self, k)
        d.update({k: v for k, v in self.props.items() if v is not None})
        return d


@dataclass(frozen=True)
class Scenario:
    edits: tuple[Edit, ...]
    source: str
    unit: str = "feature"  # what one edit is called in messages: "feature" (GeoJSON) or "edit"


# ---------------------------------------------------------------- reading and validation


def read_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file (``.geojson``/``.json``, ``.yaml``/``.yml``, ``.toml``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), ["file not found"])
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    try:
        if suffix in (".geojson", ".json"):
            doc = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(text)
        elif suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            raise InputError(str(path), [f"unknown file type {suffix!r}: give .geojson, .json, .yaml, .yml or .toml"])
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(str(path), [f"cannot be read as {suffix[1:].upper()}: {err}"]) from None
    except Exception as err:  # yaml.YAMLError and friends
        raise InputError(str(path), [f"cannot be read as YAML: {err}"]) from None
    return scenario_from_doc(doc, source=str(path))


def scenario_from_doc(doc, *, source: str = "scenario") -> Scenario:
    """A scenario from a GeoJSON FeatureCollection dict, or a dict with an ``edits`` list."""
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise InputError(source, ["'features' must be a list of GeoJSON features"])
        items, unit = [], "feature"
        for f in feats:
            f = f if isinstance(f, dict) else {}
            items.append(({**(f.get("properties") or {})}, f.get("geometry"), "geometry"))
    elif isinstance(doc, dict) and isinstance(doc.get("edits"), list):
        items, unit = [], "edit"
        for e in doc["edits"]:
            e = dict(e) if isinstance(e, dict) else {}
            items.append((e, _geometry_from_keys(e), None))
    else:
        raise InputError(source, [
            "expected a GeoJSON FeatureCollection (features with an 'edit' property) or a mapping with "
            "an 'edits' list (YAML/TOML)"])
    if not items:
        raise InputError(source, ["no edits: the scenario lists nothing to change"])
    if len(items) > MAX_EDITS:
        raise InputError(source, [f"{len(items)} edits: at most {MAX_EDITS} per scenario — split it"])
    problems: list[str] = []
    edits = []
    for i, (props, geom, gkey) in enumerate(items, start=1):
        e = _check_edit(i, props, geom, gkey, unit, problems)
        if e is not None:
            edits.append(e)
    if problems:
        raise InputError(source, problems)
    return Scenario(tuple(edits), source, unit)


def _geometry_from_keys(e: dict):
    """YAML/TOML keys (``line``, ``polygon``, ``at``) as a GeoJSON geometry dict (or a marker)."""
    if "line" in e:
        return {"type": "LineString", "coordinates": e.pop("line"), "_key": "line"}
    if "polygon" in e:
        ring = e.pop("polygon")
        return {"type": "Polygon", "coordinates": [ring], "_key": "polygon"}
    if "at" in e:
        return {"type": "Point", "coordinates": e.pop("at"), "_key": "at"}
    return None


def _check_edit(i: int, props: dict, geom, gkey: str | None, unit: str, problems: list[str]) -> Edit | None:
    import shapely.geometry

    kind = props.get("edit")
    where = f"{unit} {i}"
    if kind not in EDIT_KINDS:
        problems.append(f"{where}: field 'edit' is {kind!r}: expected one of {', '.join(EDIT_KINDS)}")
        return None
    where = f"{unit} {i} ({kind})"
    n_before = len(problems)
    key = (geom or {}).get("_key") if isinstance(geom, dict) else None
    field_name = gkey or key or "/".join(_GEOM_KEYS.get(kind, ("geometry",)))
    want = {"add_link": ("LineString",), "close": ("LineString", "Polygon", "MultiPolygon"),
            "add_facility": ("Point",), "move_facility": ("Point",)}.get(kind)
    g = None
    if want:
        if not isinstance(geom, dict) or geom.get("type") is None:
            problems.append(f"{where}: field '{field_name}' is missing: give a {' or '.join(want)} (lon, lat)")
        elif geom.get("type") not in want:
            problems.append(f"{where}: field '{field_name}' is a {geom.get('type')}: expected {' or '.join(want)}")
        else:
            try:
                g = shapely.geometry.shape({k: v for k, v in geom.items() if k != "_key"})
            except Exception as err:  # shapely raises several types for malformed coordinates
                problems.append(f"{where}: field '{field_name}' has malformed coordinates ({err})")
            else:
                problems += _check_lonlat(where, field_name, g)
                if kind == "add_link" and len(problems) == n_before:
                    if len(g.coords) < 2 or g.length == 0:
                        problems.append(f"{where}: field '{field_name}' needs two different points (from, to)")
                if g is not None and g.geom_type in ("Polygon", "MultiPolygon") and not g.is_valid:
                    problems.append(f"{where}: field '{field_name}' is not a valid polygon (self-intersecting?)")
    layer = props.get("layer")
    ref = props.get("id") if props.get("id") not in (None, "") else props.get("name")
    if kind in ("add_facility", "move_facility", "remove_facility", "set_hours"):
        if layer not in LAYERS:
            problems.append(f"{where}: field 'layer' is {layer!r}: expected one of {', '.join(LAYERS)}")
        if kind != "add_facility" and ref in (None, ""):
            problems.append(f"{where}: give the facility's 'id' (or its 'name')")
    out = {}
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
            problems.append(f"{where}: field 'opening_hours' is {oh!r}: give OSM-style hours such as '24/7' or 'Mo-Fr 08:30-17:30'")
        out = {"opening_hours": oh}
    for k in ("name", "id", "tier", "kind"):
        if out.get(k) is not None and not isinstance(out[k], (str, int)):
            problems.append(f"{where}: field '{k}' is {out[k]!r}: give text")
    if len(problems) > n_before:
        return None
    return Edit(kind, i, g, layer if kind not in ("add_link", "close") else None,
                None if kind in ("add_link", "close", "add_facility") else str(ref), out)


def _check_lonlat(where: str, fname: str, g) -> list[str]:
    import shapely

    xy = shapely.get_coordinates(g)
    if len(xy) == 0:
        return [f"{where}: field '{fname}' has no coordinates"]
    bad = ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    if bad.any():
        lon, lat = xy[bad][0]
        hint = " — are longitude and latitude swapped?" if abs(lat) > 90 and abs(lon) <= 90 else ""
        return [f"{where}: field '{fname}' has longitude {lon:g}, latitude {lat:g}: expected WGS84 "
                f"longitude -180..180, latitude -90..90 (order: lon, lat){hint}"]
    return []


# ---------------------------------------------------------------- applying


@dataclass(frozen=True, eq=False)
class Applied:
    """A scenario applied to a plan: the edited copy of the network and the facility tables."""

    network: Network
    log: EditLog
    home_snap: Snapped
    facilities: dict  # layer -> (GeoDataFrame WGS84, origin)
    notes: list[str]


def apply_scenario(before, scenario: Scenario, *, link_snap_max_m: float = LINK_SNAP_MAX_M) -> Applied:
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
            closures.append(Closure(_to_metric(base_net, e.geometry), where))
        elif e.kind == "add_link":
            import shapely

            xy = base_net.project(*shapely.get_coordinates(e.geometry).T)
            links.append(Link(xy, penalty_m=float(e.props.get("penalty_s") or 0) * speed / 3.6,
                              name=str(e.props.get("name") or ""), highway=str(e.props.get("kind") or "scenario_link"),
                              label=where))
    net, log = with_edits(base_net, links=links, closures=closures, snap_max_m=link_snap_max_m,
                          max_link_m=MAX_LINK_M, problems=problems)
    facilities = _facility_edits(before, scenario, problems)
    if problems:
        raise InputError(scenario.source, problems)
    hs = carry_snapped(before.home_snap, log, net, before.homes.xy, max_dist=before.params.home_snap_max_m)
    notes = [f"{len(log.closed)} edges closed, {len(log.split_pieces)} split, {len(log.links)} links added"]
    return Applied(net, log, hs, facilities, notes)


def _to_metric(net: Network, g):
    import shapely

    return shapely.transform(g, lambda c: net.project(c[:, 0], c[:, 1]))


def _find(fac, ref: str) -> tuple[np.ndarray, str | None]:
    ids = fac["id"].astype(str).to_numpy() if len(fac) else np.zeros(0, str)
    hit = np.flatnonzero(ids == ref)
    if len(hit) == 0 and len(fac):
        hit = np.flatnonzero(fac["name"].astype(str).to_numpy() == ref)
        if len(hit) > 1:
            return hit, f"name {ref!r} is shared by ids {', '.join(ids[hit][:5])}: give the 'id'"
    if len(hit) == 0:
        return hit, f"no facility with id or name {ref!r} in this layer"
    return hit[:1], None


def _facility_edits(before, scenario: Scenario, problems: list[str]) -> dict:
    import geopandas as gpd
    import pandas as pd

    tables = {name: lr.facilities.copy() for name, lr in before.layers.items()}
    touched = set()
    for e in scenario.edits:
        if e.layer is None:
            continue
        where = f"{scenario.unit} {e.number} ({e.kind})"
        fac = tables[e.layer]
        if e.kind == "add_facility":
            row = {c: None for c in fac.columns if c != fac.geometry.name}
            row.update({"id": str(e.props.get("id") or f"scenario-{e.number}"),
                        "name": str(e.props.get("name") or f"new {e.layer} ({scenario.unit} {e.number})"),
                        "layer": e.layer, "tier": e.props.get("tier"), "kind": "scenario",
                        "opening_hours": e.props.get("opening_hours"), "services": (),
                        "source": f"{Path(scenario.source).name} {scenario.unit} {e.number}"})
            new = gpd.GeoDataFrame([row], geometry=[e.geometry], crs=4326)
            tables[e.layer] = gpd.GeoDataFrame(pd.concat([fac, new], ignore_index=True), crs=4326)
        else:
            hit, err = _find(fac, e.ref)
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
    return {name: (tables[name], before.layers[name].origin + (" + scenario edits" if name in touched else ""))
            for name in tables}


# ---------------------------------------------------------------- recomputing and the diff


def layer_views(result) -> dict[str, np.ndarray]:
    """Home distances (m) of the plain layers and, with ``--at``, of the open-at views."""
    out = {name: lr.home_dist for name, lr in result.layers.items()}
    out.update({n: lr.home_dist for n, lr in (result.subsets or {}).items() if "[open=" in n})
    return out


def recompute(before, applied: Applied) -> dict[str, np.ndarray]:
    """Home distances after the edits: one multi-source Dijkstra per layer (and open-at view)."""
    from geo.plan import snap_layer

    net, params = applied.network, before.params
    out = {}
    at = None
    if params.at:
        from geo.hours import at_label, open_mask, parse_at

        at = parse_at(params.at)
    for name, (fac, _) in applied.facilities.items():
        snapped, _ = snap_layer(net, fac, params.snap_max_m)
        out[name] = point_distances(net, multi_source(net, snapped), applied.home_snap)[0]
        if at is not None and len(fac):
            ok, _ = open_mask(fac, at)
            reach = multi_source(net, snapped.subset(ok))
            out[f"{name}[open={at_label(at)}]"] = point_distances(net, reach, applied.home_snap)[0]
    return out


@dataclass(frozen=True, eq=False)
class ScenarioOutcome:
    applied: Applied
    after: dict[str, np.ndarray]  # home distances per layer after the edits
    coverage: dict  # the scenario's coverage.json
    homes: object  # GeoDataFrame of homes that gain or lose coverage (WGS84 points)
    areas: object  # GeoDataFrame of changed areas (WGS84 polygons, with counts)
    seconds: float  # time to apply and recompute


def run_scenario(before, scenario: Scenario) -> ScenarioOutcome:
    """Apply ``scenario`` to ``before`` (PlanResult), recompute walk times and diff coverage."""
    t0 = time.perf_counter()
    applied = apply_scenario(before, scenario)
    after = recompute(before, applied)
    seconds = time.perf_counter() - t0
    cov, homes, areas = coverage_diff(before, after, scenario=scenario, applied=applied)
    cov["seconds"] = round(seconds, 3)
    return ScenarioOutcome(applied, after, cov, homes, areas, seconds)


def coverage_diff(before, after: dict[str, np.ndarray], *, scenario: Scenario | None = None,
                  applied: Applied | None = None, link_m: float | None = None):
    """Coverage before and after, and the homes and areas that gain or lose it.

    Returns
    -------
    (coverage, homes, areas)
        ``coverage``: per layer (and profile) and threshold, the figures before and after and
        the homes and people gained and lost; ``homes``: one point per home and change
        (layer, profile, minutes, change = "gain"/"loss", people, walk minutes before and
        after); ``areas``: changed homes closer than ``link_m`` grouped into hulls with counts.
    """
    import geopandas as gpd
    import shapely

    from geo.gaps import cluster_points
    from geo.report import layer_minutes, minutes_key

    params, homes, net = before.params, before.homes, before.network
    link_m = params.gap_link_m if link_m is None else link_m
    bviews = layer_views(before)
    speeds = params.speeds()
    people = homes.people
    doc: dict = {
        "scenario": scenario.source if scenario else None,
        "edits": [e.describe() for e in scenario.edits] if scenario else [],
        "profile": params.profiles[0], "speed_kmh": speeds[params.profiles[0]],
        "minutes": [float(m) for m in params.minutes],
        "homes": int(len(homes)), "people": round(float(people.sum())),
    }
    if applied is not None:
        lg = applied.log
        doc["network"] = {"edges_closed": int(len(lg.closed)), "edges_split": len(lg.split_pieces),
                          "links_added": int(len(lg.links)),
                          "links_m": [round(float(x), 1) for x in applied.network.edge_len[lg.links]]}
    rows, pts, area_rows, area_geoms = [], [], [], []
    per_profile = {}
    for p in params.profiles:
        speed = speeds[p]
        layers = {}
        for name in after:
            b, a = bviews[name], after[name]
            figs = {}
            lb, la = layer_minutes(b, people, params.minutes, speed), layer_minutes(a, people, params.minutes, speed)
            for m in params.minutes:
                lim = metres_for(m, speed)
                gain = (b > lim) & (a <= lim)
                loss = (b <= lim) & (a > lim)
                k = minutes_key(m)
                figs[k] = {"before": lb[k], "after": la[k],
                           "homes_gained": int(gain.sum()), "homes_lost": int(loss.sum()),
                           "people_gained": round(float(people[gain].sum())),
                           "people_lost": round(float(people[loss].sum()))}
                for change, mask in (("gain", gain), ("loss", loss)):
                    idx = np.flatnonzero(mask)
                    if len(idx) == 0:
                        continue
                    for j in idx:
                        rows.append({"layer": name, "profile": p, "minutes": float(m), "change": change,
                                     "people": round(float(people[j]), 1),
                                     "walk_min_before": _mins(b[j], speed), "walk_min_after": _mins(a[j], speed)})
                    pts.append(homes.xy[idx])
                    labels = cluster_points(homes.xy[idx], link_m)
                    for lab in np.unique(labels):
                        grp = idx[labels == lab]
                        mp = shapely.multipoints(homes.xy[grp])
                        hull = shapely.concave_hull(mp, ratio=0.3) if len(grp) > 2 else mp
                        area_geoms.append(shapely.buffer(hull, AREA_BUFFER_M, quad_segs=4))
                        area_rows.append({"layer": name, "profile": p, "minutes": float(m), "change": change,
                                          "homes": int(len(grp)), "people": round(float(people[grp].sum()), 1)})
            layers[name] = {"minutes": figs}
        per_profile[p] = layers
    doc["layers"] = per_profile[params.profiles[0]]
    if len(params.profiles) > 1:
        doc["profiles"] = {p: {"speed_kmh": speeds[p], "layers": v} for p, v in per_profile.items()}
    xy = np.vstack(pts) if pts else np.zeros((0, 2))
    cols = ["layer", "profile", "minutes", "change", "people", "walk_min_before", "walk_min_after"]
    hg = gpd.GeoDataFrame(rows, columns=cols, geometry=shapely.points(xy) if len(xy) else [], crs=net.crs)
    acols = ["layer", "profile", "minutes", "change", "homes", "people"]
    ag = gpd.GeoDataFrame(area_rows, columns=acols, geometry=area_geoms, crs=net.crs)
    if len(ag):
        ag = ag.sort_values(["layer", "profile", "minutes", "change", "people"],
                            ascending=[True, True, True, True, False], kind="stable").reset_index(drop=True)
    return doc, hg.to_crs(4326), ag.to_crs(4326)


def _mins(d: float, speed: float) -> float | None:
    return round(float(d) / (speed * 1000 / 60), 2) if np.isfinite(d) else None


def after_plan(inputs, base, before, applied: Applied, *, progress=None):
    """The full plan after the edits (circles, gaps) for the map: :func:`geo.plan.plan` on the copy."""
    import dataclasses

    from geo.plan import plan

    # circles of an edited network are not kept: no later run draws on the same edits
    params = dataclasses.replace(before.params, use_cache=False)
    return plan(inputs, params, progress=progress, base=dataclasses.replace(base, network=applied.network),
                facilities=applied.facilities, home_snap=applied.home_snap)


def write_outputs(outcome: ScenarioOutcome, out: Path, *, before=None, after=None, map_options: dict | None = None) -> list[Path]:
    """coverage.json, changed_homes.geojson, changed_areas.geojson, links.geojson and map.html."""
    import geopandas as gpd

    from geo.io import write_geojson, write_json, write_text

    out = Path(out)
    written = [write_json(out / "coverage.json", outcome.coverage),
               write_geojson(out / "changed_homes.geojson", outcome.homes, name="changed_homes"),
               write_geojson(out / "changed_areas.geojson", outcome.areas, name="changed_areas")]
    net, lg = outcome.applied.network, outcome.applied.log
    edges = lg.links
    lines = gpd.GeoDataFrame({"edit": ["add_link"] * len(edges), "name": list(net.edge_name[edges]),
                              "length_m": np.round(net.edge_len[edges], 1)},
                             geometry=list(net.edge_lines[edges]), crs=net.crs)
    if before is not None and len(lg.closed):
        closed = gpd.GeoDataFrame({"edit": ["close"] * len(lg.closed), "name": list(before.network.edge_name[lg.closed]),
                                   "length_m": np.round(before.network.edge_len[lg.closed], 1)},
                                  geometry=list(before.network.edge_lines[lg.closed]), crs=net.crs)
        import pandas as pd

        lines = gpd.GeoDataFrame(pd.concat([lines, closed], ignore_index=True), crs=net.crs)
    written.append(write_geojson(out / "edits.geojson", lines, name="edits"))
    if before is not None and after is not None:
        from maps.render import map_html

        written.append(write_text(out / "map.html", map_html(after, before=before, **(map_options or {}))))
    return written
