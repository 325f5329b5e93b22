"""The page elements of the map: calls into the map's script (``maps/static/map.js``) and groups.

branca renders a :class:`~branca.element.MacroElement` by compiling the text it produced as a new
Jinja template (``Element(text)``), once per element and page: on a city's map that was ~70
compiles of up to megabytes of encoded geometry, a fifth of the time spent writing the map, and
a name holding ``{{`` would have been read as template code. The elements here render their
template's macro once and place the text as it is (:class:`Raw`); the page is the same text.
"""

from __future__ import annotations

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import ElementAddToElement
from jinja2 import Template

from maps.content import gap_words
from maps.display import safe_json
from maps.labels import Words


class Raw(Element):
    """Text placed in the page as it is (an :class:`~branca.element.Element` would compile it)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Raw"
        self.text = text

    def render(self, **kwargs: object) -> str:  # noqa: ARG002 - branca passes the page's options
        """The text itself."""
        return self.text


def _figure(element: Element) -> Figure:
    figure = element.get_root()
    if not isinstance(figure, Figure):
        raise TypeError("an element is rendered inside a Figure")  # as branca asserts
    return figure


def emit_script(element: MacroElement, kwargs: dict) -> None:
    """Place ``element``'s script macro in its page as text, then render its children.

    What :meth:`branca.element.MacroElement.render` does for an element with a script macro only,
    without compiling the macro's output again.
    """
    script = element._template.module.__dict__["script"]  # noqa: SLF001 - branca's own way to reach the macro
    _figure(element).script.add_child(Raw(script(element, kwargs)), name=element.get_name())
    for child in element._children.values():  # noqa: SLF001 - (same)
        child.render(**kwargs)


class Macro(MacroElement):
    """A MacroElement with a script macro only, rendered by :func:`emit_script`."""

    def render(self, **kwargs: object) -> str:
        """Place the script in the page (nothing is returned: branca ignores it)."""
        emit_script(self, kwargs)
        return ""


class Group(folium.FeatureGroup):
    """A feature group in the layer control, rendered by :func:`emit_script` (folium's own text)."""

    def render(self, **kwargs: object) -> str:
        """The group, its children, then (shown at first) its ``addTo`` line, as folium writes them."""
        emit_script(self, kwargs)
        if self.show and self._parent is not None:
            add = ElementAddToElement(element_name=self.get_name(), element_parent_name=self._parent.get_name())
            script = add._template.module.__dict__["script"]  # noqa: SLF001 - as in emit_script
            _figure(self).script.add_child(Raw(script(add, kwargs)), name=add.get_name())
        return ""


class Init(Macro):
    """Creates the panes the overlay is drawn in (circles < gaps < facilities)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.init({{ this._parent.get_name() }}, {{ this.words }}, {{ this.attribution|tojson }});"
        "{% endmacro %}"
    )

    def __init__(self, words: Words, attribution: str | None) -> None:
        super().__init__()
        self._name = "ScInit"
        self.words = safe_json(gap_words(words))
        self.attribution = attribution


class GeoJson(Macro):
    """One GeoJSON layer inside a feature group, with our own JS options (``maps/static/map.js``)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.add({{ this.key|tojson }}, {{ this._parent.get_name() }}, "
        "L.geoJSON({% if this.encoded %}SC.decode({{ this.data }}){% else %}{{ this.data }}{% endif %}, "
        "{{ this.options }}), "
        "{{ this.front|tojson }});"
        "{% endmacro %}"
    )

    def __init__(self, key: str, data: str, options: str, *, front: bool = False, encoded: bool = True) -> None:
        super().__init__()
        self._name = "ScGeoJson"
        self.key, self.data, self.options, self.front, self.encoded = key, data, options, front, encoded


class Script(Macro):
    """A call into the map's script with the parent group: ``SC.<call>(key, group, *args)``."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.{{ this.call }}({{ this.key|tojson }}, "
        "{% if this.with_map %}{{ this._parent._parent.get_name() }}, {% endif %}"
        "{{ this._parent.get_name() }}{% for a in this.args %}, {{ a }}{% endfor %});"
        "{% endmacro %}"
    )

    def __init__(self, call: str, key: str, *args: str, with_map: bool = False) -> None:
        super().__init__()
        self._name = "ScScript"
        self.call, self.key, self.args, self.with_map = call, key, list(args), with_map


class Points(Macro):
    """Facility points, grouped at low zoom when there are many (``SC.cluster``)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.add({{ this.key|tojson }}, {{ this._parent.get_name() }}, "
        "{% if this.colour %}SC.cluster({% endif %}L.geoJSON({{ this.data }}, {{ this.options }})"
        "{% if this.colour %}, {{ this.colour|tojson }}){% endif %}, true);"
        "{% endmacro %}"
    )

    def __init__(self, key: str, data: str, options: str, colour: str | None) -> None:
        super().__init__()
        self._name = "ScPoints"
        self.key, self.data, self.options, self.colour = key, data, options, colour


class Panel(Macro):
    """A panel of HTML in a corner of the map (the summary, the legend)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "SC.panel({{ this._parent.get_name() }}, {{ this.position|tojson }}, {{ this.cls|tojson }}, {{ this.html }});"
        "{% endmacro %}"
    )

    def __init__(self, position: str, cls: str, html: str) -> None:
        super().__init__()
        self._name = "ScPanel"
        self.position, self.cls, self.html = position, cls, safe_json(html)
