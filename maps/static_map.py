"""Static maps of a plan for print (PNG, drawn with matplotlib in the plan's metric CRS).

One map per layer (:func:`layer_map_png`): the streets of the extract (big roads heavier),
water where the extract maps it, the layer's circles per threshold (the shorter one stronger),
its gap areas beyond the longest threshold, its facilities, the study area's outline, a scale
bar, a north arrow and the OpenStreetMap credit. Drawn in the metric CRS the plan chose (a UTM
zone), so the scale bar is true across the map and grid north is within a degree or two of
true north at these latitudes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely

from geo.network import _ranges
from maps.content import LAYER_COLOURS
from maps.labels import Words

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.font_manager import FontProperties

    from geo.network import Network
    from geo.plan import PlanResult

#: a map's frame in the metric CRS: (xmin, ymin, xmax, ymax)
Frame = tuple[float, float, float, float]

ATTRIBUTION = "© OpenStreetMap contributors"
BIG_ROADS = frozenset(
    {"motorway", "trunk", "primary", "secondary", "trunk_link", "primary_link", "secondary_link", "tertiary"}
)
GAP_COLOUR = "#54278f"


def _metric(gdf: gpd.GeoDataFrame, crs: int) -> gpd.GeoDataFrame:
    """A WGS84 frame in the plan's metric CRS (empty frames as they are)."""
    return gdf.to_crs(crs) if len(gdf) else gdf


def nice_length(span_m: float) -> float:
    """A round scale-bar length near a fifth of ``span_m`` (1, 2 or 5 x 10^k metres)."""
    target = max(span_m / 5.0, 1.0)
    k = 10 ** np.floor(np.log10(target))
    return float(max((m * k for m in (1, 2, 5) if m * k <= target), default=k))


def extent(result: PlanResult, pad: float = 0.04) -> Frame:
    """The map's frame: a square in the plan's metric CRS around what the map shows.

    Parameters
    ----------
    result
        The plan.
    pad
        The margin on each side, as a share of the frame's side.

    Returns
    -------
    Frame
        ``(xmin, ymin, xmax, ymax)`` around the study area, else the homes, facilities and
        circles, else the streets.
    """
    if result.area is not None and result.area.metric is not None:
        x0, y0, x1, y1 = shapely.bounds(result.area.metric)
    else:
        pts = [np.asarray(result.homes.xy, float).reshape(-1, 2)]
        pts += [lr.snapped.xy[lr.snapped.ok].reshape(-1, 2) for lr in result.layers.values()]
        circles = result.circles
        if circles is not None and len(circles):
            layer_rows = circles[circles["scope"] == "layer"]
            if len(layer_rows):
                b = layer_rows.to_crs(result.network.crs).total_bounds
                if np.isfinite(b).all():
                    pts.append(np.array([[b[0], b[1]], [b[2], b[3]]]))
        xy = np.vstack(pts)
        if len(xy) < 2:
            xy = result.network.node_xy
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
    w, h = max(x1 - x0, 200.0), max(y1 - y0, 200.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(w, h) * (1 + 2 * pad)  # square frame: the map fills the page's width
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def _street_segments(net: Network, frame: Frame) -> tuple[list, list]:
    """Line segments of the streets inside the frame: (minor, major)."""
    x0, y0, x1, y1 = frame
    gs, ge, g = net.geom_start, net.geom_end, net.geom_xy
    counts = ge - gs + 1
    if len(gs) == 0:
        return [], []
    pts = g[_ranges(gs, counts)]  # each edge's vertices, edge after edge
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo, hi = np.minimum.reduceat(pts, first), np.maximum.reduceat(pts, first)
    inside = (hi[:, 0] >= x0) & (lo[:, 0] <= x1) & (hi[:, 1] >= y0) & (lo[:, 1] <= y1)
    minor: list[np.ndarray] = []
    major: list[np.ndarray] = []
    hw = np.asarray(net.edge_highway, dtype=object)
    for e in np.flatnonzero(inside):
        (major if hw[e] in BIG_ROADS else minor).append(g[gs[e] : ge[e] + 1])
    return minor, major


def _font(font_path: Path | None) -> FontProperties:
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(font_path)) if font_path else FontProperties()


def layer_map_png(
    result: PlanResult,
    layer: str,
    *,
    words: Words,
    font_path: Path | None,
    dpi: int = 200,
    size_in: float = 6.0,
    before: PlanResult | None = None,
    edits: gpd.GeoDataFrame | None = None,
) -> bytes:
    """A PNG map of one layer of a plan (what it shows: the module docstring).

    Parameters
    ----------
    result
        The plan.
    layer
        The layer drawn.
    words
        The map's words, in its language.
    font_path
        A TrueType font for the words (None: matplotlib's default).
    dpi
        Pixels per inch.
    size_in
        The side of the square map (inches).
    before
        The plan before a scenario: its circles are drawn as outlines under the new ones.
    edits
        A scenario's new links and closed ways (WGS84 lines), drawn as heavy black lines.

    Returns
    -------
    bytes
        The PNG.
    """
    import matplotlib as mpl

    mpl.use("Agg", force=False)
    import matplotlib.pyplot as plt

    frame = extent(result)
    fp = _font(font_path)
    fig, ax = plt.subplots(figsize=(size_in, size_in), dpi=dpi)
    try:
        ax.set_xlim(frame[0], frame[2])
        ax.set_ylim(frame[1], frame[3])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("#fbfbf8")
        handles = _streets(ax, result, frame, words)
        handles += _circles(ax, result, layer, words, before)
        handles += _gaps_and_edits(ax, result, layer, words, edits)
        handles += _facilities_and_area(ax, result, layer, words)
        ax.set_xlabel("")
        ax.set_ylabel("")
        _scale_bar(ax, frame, fp)
        _north_arrow(ax, frame, fp)
        ax.text(
            0.995,
            0.005,
            ATTRIBUTION,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=6.5,
            fontproperties=fp,
            color="#333333",
            zorder=7,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1.5},
        )
        leg = ax.legend(handles=handles, loc="upper left", fontsize=7, prop=fp, framealpha=0.85)
        for t in leg.get_texts():
            t.set_fontsize(7)
        fig.tight_layout(pad=0.2)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()
    finally:
        plt.close(fig)


def _streets(ax: Axes, result: PlanResult, frame: Frame, words: Words) -> list[Artist]:
    """Water (where the extract maps it) and the streets, big roads heavier."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    net = result.network
    water = (getattr(result.base, "extras", None) or {}).get("water") if result.base is not None else None
    if water is not None and len(water):
        _metric(water, net.crs).plot(ax=ax, color="#c6dbef", linewidth=0, zorder=0)
    minor, major = _street_segments(net, frame)
    ax.add_collection(LineCollection(minor, colors="#bdbdbd", linewidths=0.35, zorder=1))
    ax.add_collection(LineCollection(major, colors="#8c8c8c", linewidths=0.9, zorder=1))
    return [Line2D([], [], color="#8c8c8c", lw=0.9, label=words("report.streets"))]


def _circles(ax: Axes, result: PlanResult, layer: str, words: Words, before: PlanResult | None) -> list[Artist]:
    """The layer's circles, and those of the plan before a scenario.

    Dissolved circles per threshold (the longest underneath, lighter), and the longest one before
    a scenario as a dashed outline.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    net = result.network
    colour = LAYER_COLOURS.get(layer, "#555555")
    profile = result.params.profiles[0]
    mins = sorted(result.params.minutes)
    handles: list[Artist] = []
    circles = result.circles
    if len(circles):
        sel = (circles["scope"] == "layer") & (circles["layer"] == layer) & (circles["profile"] == profile)
        for i, m in enumerate(reversed(mins)):
            part = circles[sel & (circles["minutes"] == m)]
            if len(part):
                alpha = 0.22 if i == 0 and len(mins) > 1 else 0.38
                _metric(part, net.crs).plot(ax=ax, color=colour, alpha=alpha, linewidth=0, zorder=2)
                handles.append(Patch(facecolor=colour, alpha=alpha, label=words("report.circle", m=f"{m:g}")))
    if before is not None and len(before.circles):
        bc = before.circles
        bsel = (
            (bc["scope"] == "layer") & (bc["layer"] == layer) & (bc["profile"] == profile) & (bc["minutes"] == mins[-1])
        )
        if bsel.any():
            _metric(bc[bsel], net.crs).boundary.plot(ax=ax, color="#404040", linewidth=0.45, linestyle="--", zorder=3)
            handles.append(
                Line2D([], [], color="#404040", lw=0.6, ls="--", label=words("report.before", m=f"{mins[-1]:g}"))
            )
    return handles


def _gaps_and_edits(
    ax: Axes, result: PlanResult, layer: str, words: Words, edits: gpd.GeoDataFrame | None
) -> list[Artist]:
    """The gap areas beyond the longest threshold, and a scenario's new links and closed ways."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    net = result.network
    m = max(result.params.minutes)
    handles: list[Artist] = []
    gaps = result.gaps
    if len(gaps):
        g = gaps[(gaps["layer"] == layer) & (gaps["profile"] == result.params.profiles[0]) & (gaps["minutes"] == m)]
        if len(g):
            _metric(g, net.crs).plot(ax=ax, color=GAP_COLOUR, alpha=0.55, linewidth=0.2, edgecolor=GAP_COLOUR, zorder=3)
            handles.append(Patch(facecolor=GAP_COLOUR, alpha=0.55, label=words("report.gaps", m=f"{m:g}")))
    if edits is not None and len(edits):
        _metric(edits, net.crs).plot(ax=ax, color="black", linewidth=2.2, zorder=6)
        handles.append(Line2D([], [], color="black", lw=2.2, label=words("report.edits")))
    return handles


def _facilities_and_area(ax: Axes, result: PlanResult, layer: str, words: Words) -> list[Artist]:
    """The layer's placed facilities and the study area's outline."""
    from matplotlib.lines import Line2D

    net = result.network
    colour = LAYER_COLOURS.get(layer, "#555555")
    handles: list[Artist] = []
    lr = result.layers.get(layer)
    if lr is not None and lr.snapped.ok.any():
        xy = lr.snapped.xy[lr.snapped.ok]
        ax.scatter(xy[:, 0], xy[:, 1], s=14, c=colour, edgecolors="black", linewidths=0.6, zorder=5)
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                color="none",
                markerfacecolor=colour,
                markeredgecolor="black",
                markersize=5,
                label=words("report.facilities", layer=words.layer(layer)),
            )
        )
    if result.area is not None and result.area.metric is not None:
        gpd.GeoSeries([result.area.metric], crs=net.crs).boundary.plot(
            ax=ax, color="#000000", linewidth=1.0, linestyle="-.", zorder=4
        )
        handles.append(Line2D([], [], color="#000000", lw=1.0, ls="-.", label=words("report.area")))
    return handles


def _scale_bar(ax: Axes, frame: Frame, fp: FontProperties) -> None:
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = frame
    span = x1 - x0
    length = nice_length(span)
    bx, by = x0 + 0.04 * span, y0 + 0.045 * (y1 - y0)
    h = 0.008 * (y1 - y0)
    ax.add_patch(
        Rectangle(
            (bx - 0.01 * span, by - 2.5 * h),
            length + 0.02 * span,
            6.5 * h,
            facecolor="white",
            alpha=0.8,
            edgecolor="none",
            zorder=6,
        )
    )
    for i in range(2):
        ax.add_patch(
            Rectangle(
                (bx + i * length / 2, by),
                length / 2,
                h,
                facecolor="black" if i == 0 else "white",
                edgecolor="black",
                linewidth=0.6,
                zorder=7,
            )
        )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx + length / 2, by + 1.6 * h, label, ha="center", va="bottom", fontsize=7, fontproperties=fp, zorder=7)
    ax.text(bx, by - 0.6 * h, "0", ha="center", va="top", fontsize=6, fontproperties=fp, zorder=7)


def _north_arrow(ax: Axes, frame: Frame, fp: FontProperties) -> None:
    x0, y0, x1, y1 = frame
    x = x1 - 0.05 * (x1 - x0)
    ya, yb = y1 - 0.13 * (y1 - y0), y1 - 0.05 * (y1 - y0)
    ax.annotate("", xy=(x, yb), xytext=(x, ya), arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.4}, zorder=7)
    ax.text(
        x,
        yb + 0.005 * (y1 - y0),
        "N",
        ha="center",
        va="bottom",
        fontsize=9,
        fontweight="bold",
        fontproperties=fp,
        zorder=7,
    )
