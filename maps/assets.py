"""Leaflet for a map that opens from a file with no server and no CDN.

Leaflet's ``leaflet.js`` and ``leaflet.css`` come from the ``xstatic-leaflet`` PyPI package,
installed as a dependency; they are inlined into the HTML (the CSS's images as data URIs). This
repository holds no copy. When the package is missing the map loads Leaflet from a CDN instead,
says so on the map, and :func:`leaflet_assets` warns.

Leaflet.markercluster (dense facility layers grouped at low zoom) comes the same way from the
``xstatic-leaflet-markercluster`` package; without it the points are drawn one by one, the map
says so, and :func:`cluster_assets` warns with the command that installs it.
"""

from __future__ import annotations

import base64
import functools
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CDN_VERSION = "1.9.3"
CDN_JS = f"https://cdn.jsdelivr.net/npm/leaflet@{CDN_VERSION}/dist/leaflet.js"
CDN_CSS = f"https://cdn.jsdelivr.net/npm/leaflet@{CDN_VERSION}/dist/leaflet.css"
STATIC = resources.files("maps") / "static"  # the map's own script and style, installed with the package


class LeafletFromCdnWarning(UserWarning):
    """The map will need the internet: Leaflet is not installed locally."""


class MarkerClusterMissingWarning(UserWarning):
    """Leaflet.markercluster is not installed: dense points are drawn one by one."""


@dataclass(frozen=True)
class Assets:
    """Leaflet's code and style: inlined text, or (fallback) CDN links."""

    js: str | None
    css: str | None
    origin: str

    @property
    def inline(self) -> bool:
        """Whether the code is inlined (else: CDN links, or nothing)."""
        return self.js is not None

    def head(self) -> str:
        """The ``<head>`` fragment that loads Leaflet."""
        if self.js is None:
            return f'<link rel="stylesheet" href="{CDN_CSS}"/>\n<script src="{CDN_JS}"></script>'
        return f"<style>{self.css}</style>\n<script>{script_safe(self.js)}</script>"


def leaflet_dir() -> Path | None:
    """The folder of ``leaflet.js`` in the installed ``xstatic-leaflet`` package, or None."""
    try:
        from xstatic.pkg import leaflet  # noqa: PLC0415 - optional: the map falls back without it
    except ImportError:
        return None
    d = Path(leaflet.BASE_DIR)
    return d if (d / "leaflet.js").is_file() and (d / "leaflet.css").is_file() else None


def script_safe(js: str) -> str:
    """Text that can sit inside ``<script>…</script>`` (no early close, no source-map fetch)."""
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    return js.replace("</script", "<\\/script")


def _inline_images(css: str, folder: Path) -> str:
    def data_uri(m: re.Match) -> str:
        p = folder / m.group(1)
        if not p.is_file():
            return "none"  # never a relative URL the browser would look up
        return f"url(data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})"

    return re.sub(r"url\(\s*['\"]?(images/[\w\-.]+\.png)['\"]?\s*\)", data_uri, css)


@functools.lru_cache(maxsize=4)
def _load(folder: Path | None) -> Assets:
    if folder is None:
        return Assets(None, None, f"CDN (leaflet {CDN_VERSION})")
    from xstatic.pkg import leaflet  # noqa: PLC0415 - optional, and present when folder is

    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    css = _inline_images((folder / "leaflet.css").read_text(encoding="utf-8"), folder)
    return Assets(js, css, f"xstatic-leaflet {leaflet.VERSION}")


def leaflet_assets() -> Assets:
    """Leaflet inlined from the installed package, or CDN links (with a warning) when it is missing."""
    assets = _load(leaflet_dir())
    if not assets.inline:
        warnings.warn(
            "the xstatic-leaflet package is not installed: map.html loads Leaflet from a CDN and needs "
            "the internet (pip install xstatic-leaflet, or reinstall service-circles)",
            LeafletFromCdnWarning,
            stacklevel=2,
        )
    return assets


def markercluster_dir() -> Path | None:
    """The folder of ``leaflet.markercluster.js`` in the installed ``xstatic-leaflet-markercluster``, or None."""
    try:
        from xstatic.pkg import leaflet_markercluster  # noqa: PLC0415 - optional: the map falls back without it
    except ImportError:
        return None
    d = Path(leaflet_markercluster.BASE_DIR)
    files = ("leaflet.markercluster.js", "MarkerCluster.css", "MarkerCluster.Default.css")
    return d if all((d / f).is_file() for f in files) else None


@functools.lru_cache(maxsize=4)
def _load_cluster(folder: Path | None) -> Assets:
    if folder is None:
        return Assets(None, None, "none")
    from xstatic.pkg import leaflet_markercluster  # noqa: PLC0415 - optional, and present when folder is

    js = (folder / "leaflet.markercluster.js").read_text(encoding="utf-8")
    css = "\n".join(
        (folder / f).read_text(encoding="utf-8") for f in ("MarkerCluster.css", "MarkerCluster.Default.css")
    )
    return Assets(js, css, f"xstatic-leaflet-markercluster {leaflet_markercluster.VERSION}")


def cluster_assets() -> Assets:
    """Leaflet.markercluster inlined from the installed package.

    When it is missing: an empty fragment (points are then drawn one by one) and a warning
    saying how to install it.
    """
    assets = _load_cluster(markercluster_dir())
    if not assets.inline:
        warnings.warn(
            "the xstatic-leaflet-markercluster package is not installed: dense facility layers are drawn "
            "point by point instead of grouped at low zoom (pip install xstatic-leaflet-markercluster, "
            "or reinstall service-circles)",
            MarkerClusterMissingWarning,
            stacklevel=2,
        )
    return assets


@functools.lru_cache(maxsize=2)
def own(name: str) -> str:
    """The map's own script or style (``map.js``, ``map.css``) shipped in ``maps/static``."""
    return (STATIC / name).read_text(encoding="utf-8")
