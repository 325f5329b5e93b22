r"""The HTML page a plan's map is written into: one full-window Leaflet map and its setup script.

A :class:`MapPage` holds what the page shows, in the order it is added: calls on the map (a
:class:`Call`, e.g. a panel) and groups of layers (:class:`Group`), each group listed in the
layer control under its label and shown when the page opens or not. :meth:`MapPage.html`
writes the page:

- ``<head>``: the charset, the viewport, the title, the page's own few styles, then the entries
  the caller added (:meth:`MapPage.add_head`: inlined Leaflet, the map's own CSS and script);
- ``<body>``: the map's ``<div id="map">`` and one ``<script>`` that makes the map
  (``L.map``), the optional base tiles, the calls and groups in order, the layer control (top
  right, expanded, the listed groups in order) and the first view (``fitBounds``).

The script runs inside a function, so its variables are its own: the map is ``map`` and the
groups are ``group_1``, ``group_2``, ... numbered in the order they are written, so the same map
gives the same page byte for byte. Values reach the script as JSON (:func:`js` here,
:func:`maps.display.safe_json` for the panels and the encoded layers), and the script
as a whole never holds ``</`` or ``<!--`` (written ``<\/`` and ``<\!--``, the same inside a
JavaScript string): no name, popup or label can end the ``<script>`` early. Nothing is read as a
template.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Protocol

#: the map's variable in the page's script (and the id of its ``<div>``)
MAP = "map"

#: the page's own styles: the map fills the window
_STYLE = "html, body { height: 100%; margin: 0; }\n#map { position: absolute; inset: 0; font-size: 1rem; }"


def js(value: object) -> str:
    r"""``value`` as a JavaScript literal (JSON) that can sit anywhere in an HTML ``<script>``.

    ``<``, ``>`` and ``&`` are written as ``\u`` escapes, and so are the line separators
    JavaScript once read as line ends; non-ASCII text stays as written.
    """
    text = json.dumps(value, ensure_ascii=False)
    for ch in "<>&\u2028\u2029":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


@dataclass(frozen=True)
class Where:
    """The variables a call is written with: the map's and the layer it is added into."""

    map: str
    into: str


class Call(Protocol):
    """Something written as a line of the map's script (a panel, a GeoJSON layer of a group, ...)."""

    def js(self, where: Where) -> str:
        """The line, with ``where.map`` the map and ``where.into`` the group it belongs to (or the map)."""
        ...


@dataclass
class Line:
    """A line of script as written; ``{map}`` stands for the map's variable."""

    code: str

    def js(self, where: Where) -> str:
        """The line with the map's variable in place of ``{map}``."""
        return self.code.replace("{map}", where.map)


@dataclass
class Group:
    """A group of layers (``L.featureGroup``): listed in the layer control under ``label``.

    ``shown``: on the map when the page opens; ``listed``: in the layer control. ``label`` is
    HTML (Leaflet shows it as such): escape text before.
    """

    label: str
    shown: bool = True
    listed: bool = True
    calls: list[Call] = field(default_factory=list)

    def add(self, call: Call) -> Group:
        """Add a line drawing into this group; return the group."""
        self.calls.append(call)
        return self


@dataclass(frozen=True)
class Tiles:
    """Base tiles (``L.tileLayer``), under everything and not in the layer control."""

    url: str
    attribution: str
    max_zoom: int = 19


class MapPage:
    """A page holding one Leaflet map (see the module docstring).

    Parameters
    ----------
    center
        ``(lat, lon)`` the map is centred on before the first view is framed.
    zoom, max_zoom
        The zoom the map opens at and the closest it zooms.
    title
        The page's title (text).
    lang
        The language of the page's text (``"zh"``, ``"en"``), or None.
    """

    def __init__(
        self,
        center: Sequence[float],
        *,
        zoom: int = 13,
        max_zoom: int = 19,
        title: str = "",
        lang: str | None = None,
    ) -> None:
        self.center = [float(v) for v in center]
        self.zoom, self.max_zoom, self.title, self.lang = zoom, max_zoom, title, lang
        self.head: dict[str, str] = {}
        self.tiles: Tiles | None = None
        self.items: list[Group | Call] = []
        self.bounds: list[list[float]] | None = None

    def add_head(self, key: str, text: str) -> None:
        """Put HTML ``text`` into the page's head under ``key`` (a key given again keeps its place)."""
        self.head[key] = text

    def add(self, item: Group | Call) -> None:
        """Add a group, or a call on the map, after those already added."""
        self.items.append(item)

    def frame(self, bounds: Sequence[Sequence[float]]) -> None:
        """Open on ``[[south, west], [north, east]]``."""
        self.bounds = [[float(v) for v in corner] for corner in bounds]

    def script(self) -> str:
        """The map's setup: one function run when the page loads."""
        options = {
            "center": self.center,
            "zoom": self.zoom,
            "maxZoom": self.max_zoom,
            "zoomControl": True,
            "preferCanvas": True,
        }
        lines = [f"const {MAP} = L.map({js(MAP)}, {js(options)});"]
        if self.tiles is not None:
            tile_options = {"maxZoom": self.tiles.max_zoom, "attribution": self.tiles.attribution}
            lines.append(f"L.tileLayer({js(self.tiles.url)}, {js(tile_options)}).addTo({MAP});")
        on_map = Where(MAP, MAP)
        names: list[str] = []
        listed: list[tuple[str, str]] = []
        for item in self.items:
            if not isinstance(item, Group):
                lines.append(item.js(on_map))
                continue
            name = f"group_{len(names) + 1}"
            names.append(name)
            lines.append(f"const {name} = L.featureGroup();")
            lines += [call.js(Where(MAP, name)) for call in item.calls]
            if item.shown:
                lines.append(f"{name}.addTo({MAP});")
            if item.listed:
                listed.append((name, item.label))
        if listed:
            control = {"position": "topright", "collapsed": False}
            lines.append(f"const layers = L.control.layers(null, null, {js(control)}).addTo({MAP});")
            lines += [f"layers.addOverlay({name}, {js(label)});" for name, label in listed]
        if self.bounds is not None:
            lines.append(f"{MAP}.fitBounds({js(self.bounds)});")
        body = "".join(f"\n  {line}" for line in lines)
        return f"(function () {{{body}\n}})();".replace("</", "<\\/").replace("<!--", "<\\!--")

    def html(self) -> str:
        """The whole page as one HTML text."""
        lang = f' lang="{escape(self.lang)}"' if self.lang else ""
        head = "".join(f"\n{text}" for text in self.head.values())
        return (
            f"<!DOCTYPE html>\n<html{lang}>\n<head>\n"
            '<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(self.title, quote=False)}</title>\n"
            f"<style>\n{_STYLE}\n</style>{head}\n"
            f'</head>\n<body>\n<div id="{MAP}"></div>\n<script>\n{self.script()}\n</script>\n</body>\n</html>\n'
        )
