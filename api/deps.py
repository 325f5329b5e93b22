"""What the routers share: the loaded plan and the tables built from it once.

They are given to the endpoints as ``Annotated`` dependencies (``ResultDep``, ``ServedDep``,
``SettingsDep``...).

The data is loaded in the app's lifespan (:mod:`api.app`); a request never reads a file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import Depends, Request
from starlette.datastructures import State

from api.errors import NotLoadedError
from api.heavy import HeavyPool
from api.settings import Settings
from geo.circles import metres_for
from geo.hours import open_mask
from geo.io import feature_collection, feature_collection_text
from geo.nearest import NearestIndex
from geo.plan import PlanResult
from maps.render import map_html


def json_safe(obj: Any) -> Any:  # noqa: ANN401 - any JSON-like value in; the same shape out, in plain JSON types
    """Plain JSON types: numpy scalars to Python, non-finite floats to ``None``."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in obj]
    return _json_scalar(obj)


def _json_scalar(obj: object) -> bool | int | float | str | None:
    """One value as a plain JSON scalar: numpy to Python, non-finite floats and pandas' NA to None."""
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    return None if _is_missing(obj) else str(obj)


def _is_missing(obj: object) -> bool:
    """Whether pandas calls ``obj`` missing (NA, NaT); False for what it cannot tell."""
    try:  # pandas' stubs list the types isna takes; it answers for any value (or raises: caught)
        return bool(pd.isna(cast("Any", obj)))
    except (TypeError, ValueError):
        return False


class FeatureStore:
    """GeoJSON features serialised once, served as bytes.

    They are filtered by properties and a bounding box, in pages, without building Python
    objects per request.
    """

    def __init__(self, gdf: gpd.GeoDataFrame, keys: tuple[str, ...]) -> None:
        text = feature_collection_text(gdf)
        start = text.index('"features":[') + len('"features":[')
        body = text[start : text.rindex("]}")]
        self.features = [f.encode("utf-8") for f in body.split(",\n")] if len(gdf) else []
        self.props = {k: (gdf[k].to_numpy(dtype=object) if k in gdf else np.full(len(gdf), None, object)) for k in keys}
        geoms = np.asarray(gdf.geometry.values, dtype=object) if len(gdf) else np.zeros(0, object)
        self.bounds = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))

    def select(self, *, bbox: tuple[float, float, float, float] | None = None, **want: object) -> np.ndarray:
        """Rows inside ``bbox`` whose properties equal ``want``."""
        keep = np.ones(len(self.features), bool)
        for k, v in want.items():
            if v is None:
                continue
            col = self.props[k]
            if isinstance(v, float):
                keep &= np.array([isinstance(x, (int, float)) and abs(float(x) - v) < 1e-9 for x in col], bool)
            else:
                keep &= col == v
        if bbox is not None and len(self.bounds):
            w, s, e, n = bbox
            b = self.bounds
            keep &= ~((b[:, 2] < w) | (b[:, 0] > e) | (b[:, 3] < s) | (b[:, 1] > n))
        return np.flatnonzero(keep)

    def page(self, idx: np.ndarray, *, offset: int, limit: int, name: str) -> bytes:
        """A page of the rows ``idx`` as FeatureCollection bytes, with the numbers matched and returned."""
        chosen = idx[offset : offset + limit]
        head = (
            f'{{"type":"FeatureCollection","name":{json.dumps(name)},"numberMatched":{len(idx)},'
            f'"numberReturned":{len(chosen)},"offset":{offset},"features":['
        ).encode()
        return head + b",".join(self.features[i] for i in chosen) + b"]}"


@dataclass(eq=False)
class Served:
    """The plan and the lookups the endpoints answer from, built once at start-up."""

    result: PlanResult
    settings: Settings
    nearest: NearestIndex
    facility_features: dict[str, list[dict]]
    tiers: dict[str, np.ndarray]
    services: dict[str, list[tuple[str, ...]]]
    circles: FeatureStore
    gaps: FeatureStore
    coverage: dict
    example: dict
    source_name: str
    _masks: OrderedDict = field(default_factory=OrderedDict)
    _map: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, result: PlanResult, settings: Settings) -> Served:
        """Everything the routers serve, made once from a plan."""
        features, tiers, services = {}, {}, {}
        for name, lr in result.layers.items():
            fac = lr.facilities
            features[name] = feature_collection(fac)["features"] if len(fac) else []
            for feat in features[name]:
                feat["properties"] = json_safe(feat["properties"])
            tiers[name] = fac["tier"].to_numpy(dtype=object) if "tier" in fac else np.full(len(fac), None, object)
            services[name] = [
                tuple(str(s) for s in x) if isinstance(x, (list, tuple, np.ndarray)) else ()
                for x in (fac["services"] if "services" in fac else [()] * len(fac))
            ]
        return cls(
            result=result,
            settings=settings,
            nearest=NearestIndex(result.network),
            facility_features=features,
            tiers=tiers,
            services=services,
            circles=FeatureStore(result.circles, ("layer", "minutes", "profile", "scope", "facility_id")),
            gaps=FeatureStore(result.gaps, ("layer", "minutes", "profile")),
            coverage=json_safe(result.coverage),
            example=_example(result),
            source_name=Path(str(result.source)).name,
        )

    def open_mask(self, layer: str, at: dt.datetime) -> np.ndarray:
        """Facilities of ``layer`` open at ``at`` (unknown hours: closed); a small LRU cache."""
        key = (layer, at)
        with self._lock:
            if key in self._masks:
                self._masks.move_to_end(key)
                return self._masks[key]
        mask = open_mask(self.result.layers[layer].facilities, at)[0]
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > 256:
                self._masks.popitem(last=False)
        return mask

    def map_html(self) -> str:
        """The HTML map of the plan, rendered on first use and kept."""
        with self._lock:
            if self._map is None:
                self._map = map_html(self.result)
            return self._map


def _example(result: PlanResult) -> dict:
    """Parameter values that work on the loaded data, for the OpenAPI docs."""
    net = result.network
    layer = max(result.layers, key=lambda n: (int(result.layers[n].snapped.ok.sum()), n == "centres"))
    lr = result.layers[layer]
    out: dict[str, Any] = {"layer": layer, "minutes": float(result.params.minutes[0])}
    reach = lr.reach.dist
    finite = np.flatnonzero(np.isfinite(reach))
    if len(finite):
        # a street corner about half the first threshold's walk from the nearest facility
        target = metres_for(result.params.minutes[0], result.speed_kmh) / 2
        node = int(finite[np.argmin(np.abs(reach[finite] - target))])
    else:
        node = int(np.argmin(np.abs(net.node_xy - net.node_xy.mean(axis=0)).sum(axis=1)))
    out["lon"], out["lat"] = (round(float(c), 6) for c in net.node_lonlat[node])
    ok = np.flatnonzero(lr.snapped.ok)
    if len(ok):
        out["facility_id"] = str(lr.facilities["id"].iloc[int(ok[0])])
    return out


def _state(request: Request, name: str) -> State:
    """The app's state, holding ``name``; :class:`NotLoadedError` (503) before the data is loaded."""
    state = request.app.state
    if not hasattr(state, name):
        raise NotLoadedError(
            "the service has no data loaded: build it with api.app.create_app() and run it "
            "under uvicorn or TestClient as a context manager"
        )
    return state


async def get_served(request: Request) -> Served:
    """What the app serves (503 before the data is loaded)."""
    return _state(request, "served").served


async def get_result(request: Request) -> PlanResult:
    """The loaded plan."""
    return _state(request, "served").served.result


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return _state(request, "settings").settings


async def get_pool(request: Request) -> HeavyPool:
    """The heavy-work pool of the app."""
    return _state(request, "pool").pool


ServedDep = Annotated[Served, Depends(get_served)]
ResultDep = Annotated[PlanResult, Depends(get_result)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[HeavyPool, Depends(get_pool)]
