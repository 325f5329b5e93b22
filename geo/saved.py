"""A saved plan: what follow-up commands need, so they start without planning again.

``circles plan --out DIR`` leaves ``DIR/plan/``, a bundle (:mod:`geo.store`: npz arrays and
GeoParquet tables under a manifest of checksums, never pickle) holding the clipped network, the
homes and where they sit on it, every layer's and view's facilities and walk-time labels, the
circles, gap areas and facility table, the names of places, and the settings used.
:func:`load_plan` gives back the same :class:`geo.plan.PlanResult`; ``circles scenario``,
``site``, ``serve``, ``map`` and ``report`` take ``--plan DIR``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.areas import StudyArea
from geo.base import Base
from geo.circles import Reach
from geo.demand import Homes, PeopleRule
from geo.errors import InputError
from geo.homeinfo import HomeLand
from geo.kinds import LAYERS
from geo.network import NETWORK_ARRAYS, network_arrays, network_from_arrays, snapped_arrays, snapped_from_arrays
from geo.plan_types import LayerResult, PlanParams, PlanResult, check_params
from geo.store import Bundle, StoreError, read_bundle, write_bundle

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
    }
    return write_bundle(
        folder,
        kind=PLAN_KIND,
        version=PLAN_VERSION,
        meta=meta,
        arrays={"network": network_arrays(result.network), "homes": homes, "layers": layer_arrays},
        tables=tables,
        extra=None if not files else lambda tmp: [_write_file(tmp / name, data) for name, data in files.items()],
    )


def _write_file(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return path.name


def saved_file(folder: str | Path, name: str) -> bytes | None:
    """The content of the file ``name`` kept by :func:`save_plan` in ``folder`` (a plan's ``--out`` or its ``plan/``).

    None when the bundle does not list it, or the content read does not match its checksum.
    """
    folder = Path(folder)
    if (folder / PLAN_FOLDER / "manifest.json").exists():
        folder = folder / PLAN_FOLDER
    try:
        entry = read_bundle(folder, kind=PLAN_KIND, version=PLAN_VERSION, verify=False).manifest["files"].get(name)
        data = (folder / name).read_bytes() if isinstance(entry, dict) else None
    except (StoreError, OSError):
        return None
    if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        return None
    return data


def load_plan(folder: str | Path, *, cache_dir: Path | None = None) -> PlanResult:
    """The :class:`geo.plan.PlanResult` saved in ``folder`` (a plan's ``--out`` or its ``plan/``).

    Raises
    ------
    geo.errors.InputError
        When the folder holds no saved plan, or one that is damaged, changed, or of another
        version (the message says which and how to fix it: plan again).
    """
    folder = Path(folder)
    if (folder / PLAN_FOLDER / "manifest.json").exists():
        folder = folder / PLAN_FOLDER
    try:
        return _load(folder, cache_dir)
    except StoreError as err:
        raise InputError(
            str(folder), [(f"not a usable saved plan ({err}) — run `circles plan --out DIR` again and pass that DIR")]
        ) from None


def _load(folder: Path, cache_dir: Path | None) -> PlanResult:
    b = read_bundle(folder, kind=PLAN_KIND, version=PLAN_VERSION)
    try:
        return _from_bundle(b, cache_dir)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise StoreError(f"{folder.name}: {err}") from None


def _from_bundle(b: Bundle, cache_dir: Path | None) -> PlanResult:
    """The plan a bundle holds; raises ValueError (or KeyError, TypeError, IndexError) where its parts disagree."""
    meta = b.meta
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
    land = HomeLand.from_arrays(ha, n)
    la = b.arrays("layers")
    layers: dict[str, LayerResult] = {}
    subsets: dict[str, LayerResult] = {}
    for i, v in enumerate(meta.get("views", [])):
        p = f"v{i}_"
        fac = b.table(f"fac{i}")
        sn = snapped_from_arrays(la, p, net)
        if len(sn) != len(fac):
            raise ValueError(f"view {v.get('key')!r}: facilities disagree with their places")
        reach = Reach(
            la[f"{p}reach_dist"].astype(float),
            la[f"{p}source"].astype(np.int64),
            la[f"{p}pred"].astype(np.int64),
            sn,
        )
        hd, hs = la[f"{p}home_dist"].astype(float), la[f"{p}home_src"].astype(np.int64)
        if len(reach.dist) != net.n_nodes or len(hd) != n or len(hs) != n:
            raise ValueError(f"view {v.get('key')!r}: walk times disagree with the network or the homes")
        if np.any(hs >= len(fac)) or np.any(reach.source >= len(fac)) or np.any(reach.pred >= net.n_nodes):
            raise ValueError(f"view {v.get('key')!r}: labels point outside the layer")
        lr = LayerResult(
            str(v["key"]), fac, str(v.get("origin", "")), sn, list(v.get("unsnapped") or []), reach, hd, hs
        )
        (layers if v.get("plain") else subsets)[lr.name] = lr
    if set(layers) != set(LAYERS):
        raise ValueError("layers missing")
    area = None
    if meta.get("area"):
        ag = b.table("area")
        a = meta["area"]
        geom = ag.geometry.values[0]
        area = StudyArea(
            str(a["name"]),
            str(a["source"]),
            a.get("level"),
            geom,
            shapely.transform(geom, lambda c: net.project(c[:, 0], c[:, 1])),
        )
    extras = {k: b.table(f"extra_{k}") for k in meta.get("extras", [])}
    # the land polygons stay with the extract: the plan keeps the land cells they gave
    base = Base(
        str(meta.get("source", "")),
        meta.get("data_date"),
        net,
        homes,
        np.zeros(0, object),
        {},
        b.table("admin"),
        b.table("places"),
        dict(meta.get("layer_notes") or {}),
        extras,
    )
    return PlanResult(
        source=str(meta.get("source", "")),
        data_date=meta.get("data_date"),
        params=params,
        network=net,
        homes=homes,
        home_snap=home_snap,
        layers=layers,
        coverage=dict(meta.get("coverage") or {}),
        circles=b.table("circles"),
        gaps=b.table("gaps"),
        facilities=b.table("facilities"),
        warnings=list(meta.get("warnings") or []),
        subsets=subsets,
        home_names=names,
        home_land=land,
        area=area,
        admin=base.admin,
        places=base.places,
        base=base,
    )
