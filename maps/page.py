"""The page a map is written into: a small element tree that writes the text folium wrote.

The map used to be built with folium (and branca, jinja2, requests): ~0.25 s of imports, most of
a follow-up's own time on the command line, and jinja templates compiled for a few lines each.
Every element the map uses is a line or two of script; here each is written with plain string
formatting, the same text folium 0.20 and branca 0.8 wrote (``tests/maps/test_page.py`` builds the
same page with folium and compares them, element ids aside):

- :class:`Page`: the HTML page (branca's ``Figure``): ``header``, ``html`` and ``script``
  entries by name, in the order they were first added;
- :class:`LeafletMap` (``folium.Map``), :class:`TileLayer`, :class:`FeatureGroup`,
  :class:`LayerControl` and :meth:`LeafletMap.fit_bounds`;
- :class:`Element`: any element with a line of script (:meth:`Element.script`), and :class:`Raw`
  text for the page's head.

Unlike branca, a script is never read as a template: a ``{{`` in a name stays as written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence


def html_json(value: object) -> str:
    """``value`` as JSON safe inside HTML (jinja's ``tojson``: keys sorted; ``<>&'`` escaped)."""
    return (
        json.dumps(value, sort_keys=True)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


def js_object(options: Mapping[str, str | float | bool]) -> str:
    """Options as folium's ``tojavascript`` wrote them: one ``"key": value,`` line each."""
    return "{\n" + "".join(f'  "{k}": {html_json(v)},\n' for k, v in options.items()) + "}"


class Node:
    """A node of the page's tree: children by name (in the order first added) and a parent."""

    def __init__(self) -> None:
        self.children: dict[str, Element] = {}
        self.parent: Node | None = None

    def add_child(self, child: Element, name: str | None = None) -> Node:
        """Add ``child`` under ``name`` (default: its own name); return this node."""
        self.children[child.get_name() if name is None else name] = child
        child.parent = self
        return self

    def get_root(self) -> Node:
        """The node at the top of the tree (the :class:`Page`)."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node


class Element(Node):
    """An element of the map with a unique name (``<kind>_<32 hex>``) and perhaps a line of script."""

    kind = "element"

    def __init__(self) -> None:
        super().__init__()
        self._id = os.urandom(16).hex()

    def get_name(self) -> str:
        """The element's name: its JavaScript variable (``feature_group_<id>``)."""
        return f"{self.kind}_{self._id}"

    def add_to(self, parent: Node) -> Element:
        """Add this element to ``parent``; return this element."""
        parent.add_child(self)
        return self

    def parent_name(self) -> str:
        """The name of the element this one was added to."""
        if not isinstance(self.parent, Element):
            raise TypeError("an element is drawn inside another")
        return self.parent.get_name()

    def script(self) -> str | None:
        """The element's own script (None: none)."""
        return None

    def render(self, page: Page) -> None:
        """Put this element's script into ``page``, then its children's."""
        text = self.script()
        if text is not None:
            page.scripts[self.get_name()] = text
        for child in self.children.values():
            child.render(page)


class Raw:
    """Text for the page's head, placed as it is."""

    def __init__(self, text: str) -> None:
        self.text = text


class Page(Node):
    """The HTML page: a title, then the ``head``, ``body`` and ``scripts`` entries in order."""

    def __init__(self, title: str | None = None) -> None:
        super().__init__()
        self.title = title
        self.head: dict[str, str] = {
            "meta_http": '<meta http-equiv="content-type" content="text/html; charset=UTF-8" />'
        }
        self.body: dict[str, str] = {}
        self.scripts: dict[str, str] = {}

    def add_head(self, raw: Raw, name: str) -> None:
        """Put ``raw`` into the page's head under ``name`` (a name given again keeps its place)."""
        self.head[name] = raw.text

    def render(self) -> str:
        """The whole page as one HTML text."""
        for child in self.children.values():
            child.render(self)
        head = "".join(f"\n    {t}" for t in self.head.values())
        body = "".join(f"\n    {t}" for t in self.body.values())
        script = "".join(f"\n    {t}" for t in self.scripts.values())
        title = f"<title>{self.title}</title>" if self.title else ""
        return (
            f"<!DOCTYPE html>\n<html>\n<head>\n{title}    {head}\n</head>\n<body>\n    {body}\n</body>\n"
            f"<script>\n    {script}\n</script>\n</html>"
        )


class LeafletMap(Element):
    """The Leaflet map (``folium.Map`` with the options the planner's map uses)."""

    kind = "map"

    def __init__(self, location: Sequence[float], *, zoom_start: int = 13, max_zoom: int = 19) -> None:
        super().__init__()
        self.location = [float(v) for v in location]
        self.options = {"zoom": zoom_start, "zoomControl": True, "preferCanvas": True, "maxZoom": max_zoom}

    def fit_bounds(self, bounds: Sequence[Sequence[float]]) -> None:
        """Frame ``[[south, west], [north, east]]`` when the page opens."""
        self.add_child(FitBounds(bounds))

    def render(self, page: Page) -> None:
        """The map's styles in the head, its ``<div>``, its script, then its children."""
        name = self.get_name()
        page.head[name] = (
            "\n"
            '            <meta name="viewport" content="width=device-width,\n'
            '                initial-scale=1.0, maximum-scale=1.0, user-scalable=no" />\n'
            "            <style>\n"
            f"                #{name} {{\n"
            "                    position: relative;\n"
            "                    width: 100.0%;\n"
            "                    height: 100.0%;\n"
            "                    left: 0.0%;\n"
            "                    top: 0.0%;\n"
            "                }\n"
            "                .leaflet-container { font-size: 1rem; }\n"
            "            </style>\n"
            "\n"
            "            <style>html, body {\n"
            "                width: 100%;\n"
            "                height: 100%;\n"
            "                margin: 0;\n"
            "                padding: 0;\n"
            "            }\n"
            "            </style>\n"
            "\n"
            "            <style>#map {\n"
            "                position:absolute;\n"
            "                top:0;\n"
            "                bottom:0;\n"
            "                right:0;\n"
            "                left:0;\n"
            "                }\n"
            "            </style>\n"
            "\n"
            "            <script>\n"
            "                L_NO_TOUCH = false;\n"
            "                L_DISABLE_3D = false;\n"
            "            </script>\n"
            "\n"
            "        "
        )
        page.body[name] = f'\n            <div class="folium-map" id={html_json(name)} ></div>\n        '
        page.scripts[name] = (
            f"\n            var {name} = L.map(\n"
            f"                {html_json(name)},\n"
            "                {\n"
            f"                    center: {html_json(self.location)},\n"
            "                    crs: L.CRS.EPSG3857,\n"
            f"                    ...{js_object(self.options)}\n"
            "\n"
            "                }\n"
            "            );\n"
            "\n"
            "            \n"
            "\n"
            "        "
        )
        for child in self.children.values():
            child.render(page)


class AddTo(Element):
    """``<element>.addTo(<parent>);``: a layer shown when the page opens."""

    kind = "macro_element"

    def __init__(self, element: str, target: str) -> None:
        super().__init__()
        self.element, self.target = element, target

    def script(self) -> str:
        """The line adding the layer."""
        return f"\n            {self.element}.addTo({self.target});\n        "


class Layer(Element):
    """A layer of the map: named in the layer control (``control``), shown at first (``show``)."""

    def __init__(self, name: str, *, show: bool = True, control: bool = True) -> None:
        super().__init__()
        self.layer_name, self.show, self.control = name, show, control

    def render(self, page: Page) -> None:
        """The layer, its children, then (shown at first) its ``addTo`` line."""
        super().render(page)
        if self.show:
            AddTo(self.get_name(), self.parent_name()).render(page)


class FeatureGroup(Layer):
    """A group of the layer control (``L.featureGroup``)."""

    kind = "feature_group"

    def script(self) -> str:
        """The group's variable."""
        return (
            f"\n            var {self.get_name()} = L.featureGroup(\n                {{\n}}\n            );\n        "
        )


class TileLayer(Layer):
    """The base tiles (``L.tileLayer``), not in the layer control."""

    kind = "tile_layer"

    def __init__(self, url: str, *, attribution: str, max_zoom: int = 19) -> None:
        super().__init__("base", show=True, control=False)
        self.url = url
        self.options: dict[str, str | float | bool] = {
            "minZoom": 0,
            "maxZoom": max_zoom,
            "maxNativeZoom": max_zoom,
            "noWrap": False,
            "attribution": attribution,
            "subdomains": "abc",
            "detectRetina": False,
            "tms": False,
            "opacity": 1,
        }

    def script(self) -> str:
        """The tile layer's variable."""
        return (
            f"\n            var {self.get_name()} = L.tileLayer(\n"
            f"                {html_json(self.url)},\n"
            f"                {js_object(self.options)}\n"
            "\n"
            "            );\n"
            "        "
        )


class LayerControl(Element):
    """The layer control (top right, expanded) listing the map's groups in the order added."""

    kind = "layer_control"

    def script(self) -> str:
        """The control and its list of groups (a name given twice lists the later group)."""
        overlays: dict[str, str] = {}
        siblings = self.parent.children.values() if self.parent is not None else ()
        for item in siblings:
            if isinstance(item, Layer) and item.control:
                overlays[item.layer_name] = item.get_name()
        name = self.get_name()
        rows = "".join(f"\n                    {html_json(k)} : {v}," for k, v in overlays.items())
        options = js_object({"position": "topright", "collapsed": False, "autoZIndex": True})
        return (
            f"\n            var {name}_layers = {{\n"
            "                base_layers : {\n"
            "                },\n"
            f"                overlays :  {{{rows}\n"
            "                },\n"
            "            };\n"
            f"            let {name} = L.control.layers(\n"
            f"                {name}_layers.base_layers,\n"
            f"                {name}_layers.overlays,\n"
            f"                {options}\n"
            f"            ).addTo({self.parent_name()});\n"
            "\n"
            "        "
        )


class FitBounds(Element):
    """Frame the given bounds when the page opens."""

    kind = "fit_bounds"

    def __init__(self, bounds: Sequence[Sequence[float]]) -> None:
        super().__init__()
        self.bounds = bounds

    def script(self) -> str:
        """The ``fitBounds`` call."""
        return (
            f"\n            {self.parent_name()}.fitBounds(\n"
            f"                {html_json(self.bounds)},\n"
            "                {}\n"
            "            );\n"
            "        "
        )
