"""The page elements of the map: calls into the map's script (``maps/static/map.js``) and groups.

Each element writes its line of script with plain string formatting into the page
(:mod:`maps.page`); the text is the one the jinja macros of the folium-based map wrote, and it
is never read as a template (a name holding ``{{`` stays as written).
"""

from __future__ import annotations

from maps.content import gap_words
from maps.display import safe_json
from maps.labels import Words
from maps.page import Element, FeatureGroup, Raw, html_json

__all__ = ["GeoJson", "Group", "Init", "Panel", "Points", "Raw", "Script"]

#: a group in the layer control (``L.featureGroup``), shown at first or not
Group = FeatureGroup


class Init(Element):
    """Creates the panes the overlay is drawn in (circles < gaps < facilities)."""

    kind = "sc_init"

    def __init__(self, words: Words, attribution: str | None) -> None:
        super().__init__()
        self.words = safe_json(gap_words(words))
        self.attribution = attribution

    def script(self) -> str:
        """The call ``SC.init(map, words, attribution);``."""
        return f"SC.init({self.parent_name()}, {self.words}, {html_json(self.attribution)});"


class GeoJson(Element):
    """One GeoJSON layer inside a feature group, with our own JS options (``maps/static/map.js``)."""

    kind = "sc_geo_json"

    def __init__(self, key: str, data: str, options: str, *, front: bool = False, encoded: bool = True) -> None:
        super().__init__()
        self.key, self.data, self.options, self.front, self.encoded = key, data, options, front, encoded

    def script(self) -> str:
        """The call ``SC.add(key, group, L.geoJSON(data, options), front);``."""
        data = f"SC.decode({self.data})" if self.encoded else self.data
        return (
            f"SC.add({html_json(self.key)}, {self.parent_name()}, L.geoJSON({data}, {self.options}), "
            f"{html_json(self.front)});"
        )


class Script(Element):
    """A call into the map's script with the parent group: ``SC.<call>(key, group, *args)``."""

    kind = "sc_script"

    def __init__(self, call: str, key: str, *args: str, with_map: bool = False) -> None:
        super().__init__()
        self.call, self.key, self.args, self.with_map = call, key, list(args), with_map

    def script(self) -> str:
        """The call ``SC.<call>(key, [map, ]group, *args);``."""
        group = self.parent
        if not isinstance(group, Element):
            raise TypeError("a call is drawn inside a group")
        in_map = f"{group.parent_name()}, " if self.with_map else ""
        args = "".join(f", {a}" for a in self.args)
        return f"SC.{self.call}({html_json(self.key)}, {in_map}{group.get_name()}{args});"


class Points(Element):
    """Facility points, grouped at low zoom when there are many (``SC.cluster``)."""

    kind = "sc_points"

    def __init__(self, key: str, data: str, options: str, colour: str | None) -> None:
        super().__init__()
        self.key, self.data, self.options, self.colour = key, data, options, colour

    def script(self) -> str:
        """The call ``SC.add(key, group, [SC.cluster(]L.geoJSON(data, options)[, colour)], true);``."""
        layer = f"L.geoJSON({self.data}, {self.options})"
        if self.colour:
            layer = f"SC.cluster({layer}, {html_json(self.colour)})"
        return f"SC.add({html_json(self.key)}, {self.parent_name()}, {layer}, true);"


class Panel(Element):
    """A panel of HTML in a corner of the map (the summary, the legend)."""

    kind = "sc_panel"

    def __init__(self, position: str, cls: str, html: str) -> None:
        super().__init__()
        self.position, self.cls, self.html = position, cls, safe_json(html)

    def script(self) -> str:
        """The call ``SC.panel(map, position, class, html);``."""
        return f"SC.panel({self.parent_name()}, {html_json(self.position)}, {html_json(self.cls)}, {self.html});"
