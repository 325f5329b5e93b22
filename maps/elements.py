"""The lines of the map's script that call into its own code (``maps/static/map.js``, ``SC``).

Each is a :class:`maps.page.Call`: it writes one line with the variables of the map and of the
group it draws into (:class:`maps.page.Where`). Values are written as JSON (:func:`maps.page.js`
or :func:`maps.display.safe_json`); nothing is read as a template.
"""

from __future__ import annotations

from dataclasses import dataclass

from maps.content import gap_words
from maps.display import safe_json
from maps.labels import Words
from maps.page import Group, Where, js

__all__ = ["GeoJson", "Group", "Init", "Panel", "Points", "Script"]


class Init:
    """Creates the panes the overlay is drawn in (circles < gaps < facilities)."""

    def __init__(self, words: Words, attribution: str | None) -> None:
        self.words = safe_json(gap_words(words))
        self.attribution = attribution

    def js(self, where: Where) -> str:
        """The call ``SC.init(map, words, attribution);``."""
        return f"SC.init({where.map}, {self.words}, {js(self.attribution)});"


@dataclass
class GeoJson:
    """One GeoJSON layer inside a group, with our own JS options (``maps/static/map.js``)."""

    key: str
    data: str
    options: str
    front: bool = False
    encoded: bool = True

    def js(self, where: Where) -> str:
        """The call ``SC.add(key, group, L.geoJSON(data, options), front);``."""
        data = f"SC.decode({self.data})" if self.encoded else self.data
        return f"SC.add({js(self.key)}, {where.into}, L.geoJSON({data}, {self.options}), {js(self.front)});"


class Script:
    """A call into the map's script with the group: ``SC.<call>(key, [map, ]group, *args)``."""

    def __init__(self, call: str, key: str, *args: str, with_map: bool = False) -> None:
        self.call, self.key, self.args, self.with_map = call, key, list(args), with_map

    def js(self, where: Where) -> str:
        """The call ``SC.<call>(key, [map, ]group, *args);``."""
        in_map = f"{where.map}, " if self.with_map else ""
        args = "".join(f", {a}" for a in self.args)
        return f"SC.{self.call}({js(self.key)}, {in_map}{where.into}{args});"


@dataclass
class Points:
    """Facility points, grouped at low zoom when there are many (``SC.cluster``)."""

    key: str
    data: str
    options: str
    colour: str | None

    def js(self, where: Where) -> str:
        """The call ``SC.add(key, group, [SC.cluster(]L.geoJSON(data, options)[, colour)], true);``."""
        layer = f"L.geoJSON({self.data}, {self.options})"
        if self.colour:
            layer = f"SC.cluster({layer}, {js(self.colour)})"
        return f"SC.add({js(self.key)}, {where.into}, {layer}, true);"


class Panel:
    """A panel of HTML in a corner of the map (the summary, the legend)."""

    def __init__(self, position: str, cls: str, html: str) -> None:
        self.position, self.cls, self.html = position, cls, safe_json(html)

    def js(self, where: Where) -> str:
        """The call ``SC.panel(map, position, class, html);``."""
        return f"SC.panel({where.map}, {js(self.position)}, {js(self.cls)}, {self.html});"
