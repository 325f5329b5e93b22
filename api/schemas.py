"""Response shapes of the HTTP API (RFC 7946 GeoJSON for geometry, WGS84 lon/lat)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Position = list[float]


class ErrorOut(BaseModel):
    """An error answer: what was wrong and how to fix it."""

    detail: str = Field(..., description="what was wrong, naming the parameter, the value and what is allowed")


class Point(BaseModel):
    """A GeoJSON Point (WGS84 lon/lat)."""

    type: Literal["Point"] = "Point"
    coordinates: Position = Field(..., min_length=2, max_length=2, description="[lon, lat]")


class LineString(BaseModel):
    """A GeoJSON LineString (WGS84 lon/lat)."""

    type: Literal["LineString"] = "LineString"
    coordinates: list[Position] = Field(..., min_length=2)


class FacilityProperties(BaseModel):
    """A facility as the layer files and OSM tags describe it (extra columns pass through)."""

    model_config = ConfigDict(extra="allow")
    id: str | int | float | None = None
    name: str | int | float | None = None
    layer: str | None = None
    tier: str | None = None
    kind: str | None = None
    opening_hours: str | None = None
    stars: float | str | None = None
    services: list[Any] | str | None = None
    area_m2: float | str | None = None
    address: str | int | float | None = None
    source: str | None = None


class FacilityFeature(BaseModel):
    """A facility as a GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    geometry: Point
    properties: FacilityProperties


class NearestQuery(BaseModel):
    """The query of a ``/nearest`` answer, as understood."""

    lon: float = Field(..., description="longitude as given")
    lat: float = Field(..., description="latitude as given")
    crs: str = Field(..., description="coordinate system of lon/lat as given")
    out_crs: str = Field("wgs84", description="coordinate system of the answer's geometry")
    layer: str
    profile: str
    speed_kmh: float
    snapped: Point = Field(..., description="where the walk starts: the nearest point on a walkable street (WGS84)")
    snap_metres: float = Field(..., description="straight distance from the query point to the snapped point")
    max_walk_minutes: float = Field(..., description="facilities farther than this walk are not searched for")


class NearestResult(BaseModel):
    """One facility of a ``/nearest`` answer: walk time, distance and route."""

    facility: FacilityFeature
    walk_seconds: float
    walk_metres: float
    route: LineString = Field(..., description="the walk from the snapped start to the facility, along streets")


class NearestOut(BaseModel):
    """The answer of ``/nearest``."""

    query: NearestQuery
    results: list[NearestResult]


class Feature(BaseModel):
    """A GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    properties: dict[str, Any]
    geometry: dict[str, Any] | None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    name: str | None = None
    features: list[Feature]


class Health(BaseModel):
    """The answer of ``/health``."""

    status: Literal["ok"] = "ok"
    source: str
    nodes: int
    edges: int


class Threshold(BaseModel):
    """A walk-time threshold: minutes, profile, speed and metres."""

    minutes: float
    profile: str
    speed_kmh: float
    metres: float


class LayerInfo(BaseModel):
    """One layer of ``/layers``."""

    name: str
    facilities: int
    snapped: int
    origin: str
    tiers: dict[str, int] = Field(..., description="facilities per tier")
    services: list[str] = Field(..., description="services named by at least one facility")


class LayersOut(BaseModel):
    """The answer of ``/layers``."""

    source: str
    data_date: str | None
    profile: str
    profiles: dict[str, float] = Field(..., description="walking speed (km/h) per profile /nearest accepts")
    minutes: list[float]
    thresholds: list[Threshold]
    bbox: list[float] = Field(..., min_length=4, max_length=4, description="[west, south, east, north]")
    max_snap_metres: float
    max_walk_minutes: float
    max_k: int
    layers: list[LayerInfo]
