"""Base tiles: ``--tiles osm|none|URL``.

Our overlay is WGS84. AMap/Gaode and Tencent draw their tiles in GCJ-02 and Baidu in BD-09 (with
its own tile grid): WGS84 data on them sits hundreds of metres off, so those servers are refused
with a message that says what to use instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from geo.errors import InputError

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'

#: host fragments of tile servers drawn in China's offset coordinate systems
OFFSET_HOSTS = {
    "autonavi.com": "AMap/Gaode (GCJ-02)",
    "amap.com": "AMap/Gaode (GCJ-02)",
    "gaode.com": "AMap/Gaode (GCJ-02)",
    "gtimg.com": "Tencent (GCJ-02)",
    "map.qq.com": "Tencent (GCJ-02)",
    "tencent.com": "Tencent (GCJ-02)",
    "bdimg.com": "Baidu (BD-09)",
    "map.baidu.com": "Baidu (BD-09)",
    "bdstatic.com": "Baidu (BD-09)",
}


@dataclass(frozen=True)
class Tiles:
    """What base map to draw: ``url`` None means no base map (no network request at all)."""

    name: str
    url: str | None
    attribution: str


def _given(option: str, value: str) -> str:
    """``--tiles osm`` for an option of the command line, ``tiles=osm`` for a query parameter."""
    return f"{option} {value}" if option.startswith("-") else f"{option}={value}"


def tile_spec(tiles: str | None = "osm", *, option: str = "--tiles") -> Tiles:
    """Parse ``--tiles``: ``osm`` (default), ``none``, or an XYZ URL template in WGS84/Web Mercator.

    ``option``: how the value was given, for the messages (``tiles``: the API's query parameter).

    Raises
    ------
    InputError
        For a URL that is not an ``http(s)://…{z}…{x}…{y}`` template, or a tile server drawn in
        GCJ-02/BD-09 (AMap/Gaode, Tencent, Baidu).
    """
    value = (tiles or "osm").strip()
    if value.lower() == "osm":
        return Tiles("osm", OSM_URL, OSM_ATTRIBUTION)
    if value.lower() == "none":
        return Tiles("none", None, "© OpenStreetMap contributors")
    parsed = urlparse(value)
    host = (parsed.hostname or "").lower()
    for frag, what in OFFSET_HOSTS.items():
        if host == frag or host.endswith("." + frag) or frag in host:
            raise InputError(
                option,
                [
                    (
                        f"{value!r} serves {what} tiles: they are offset from the WGS84 OpenStreetMap data "
                        "by hundreds of metres, so every circle would be drawn in the wrong place. "
                        f"Use {_given(option, 'osm')} (the default), {_given(option, 'none')}, or a tile server in "
                        "WGS84/Web Mercator"
                    )
                ],
            )
    problems = []
    if parsed.scheme not in ("http", "https") or not host:
        problems.append(f"{value!r} is neither osm, none nor an http(s):// tile URL")
    missing = [p for p in ("{z}", "{x}") if p not in value] + ([] if re.search(r"\{-?y\}", value) else ["{y}"])
    if missing:
        problems.append(
            f"{value!r} lacks {', '.join(missing)}: give an XYZ template such as "
            "https://tile.example.org/{z}/{x}/{y}.png"
        )
    if problems:
        raise InputError(option, problems)
    return Tiles("url", value, f"tiles: {host} · © OpenStreetMap contributors")
