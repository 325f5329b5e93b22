"""PlanResult -> folium map (the only place that prepares geometry for display)."""

from __future__ import annotations

import html

import folium

LAYER_COLOURS = {"centres": "#d7301f", "stations": "#2b8cbe", "charging": "#31a354"}
TIER_COLOURS = {"district": "#7a0177", "street": "#c51b8a", "community": "#f768a1", "special": "#fe9929", None: "#888888"}
ATTRIBUTION = "© OpenStreetMap contributors"


def _fc(gdf, simplify_deg: float = 0.0):
    from geo.io import feature_collection

    if simplify_deg and len(gdf):
        gdf = gdf.copy()
        gdf["geometry"] = gdf.geometry.simplify(simplify_deg, preserve_topology=True)
    return feature_collection(gdf)


def render_map(result) -> folium.Map:
    """A folium map of the plan: facilities per layer, circles per layer and threshold, gaps."""
    lon0, lat0, lon1, lat1 = result.network.bbox_lonlat()
    m = folium.Map(location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2], zoom_start=13, tiles="OpenStreetMap",
                   attr=ATTRIBUTION, control_scale=True)
    for _, row in result.circles.sort_values("minutes", ascending=False).iterrows():
        colour = LAYER_COLOURS.get(row["layer"], "#555")
        grp = folium.FeatureGroup(name=f"{row['layer']} {row['minutes']:g}-min circle", show=row["layer"] == "centres")
        folium.GeoJson(
            _fc(result.circles.loc[[_]], 0.00005),
            style_function=lambda f, c=colour, mm=row["minutes"]: {
                "color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.12 if mm > 10 else 0.2},
        ).add_to(grp)
        grp.add_to(m)
    if len(result.gaps):
        top = result.gaps[result.gaps["minutes"] == result.gaps["minutes"].max()]
        for layer, sub in top.groupby("layer"):
            grp = folium.FeatureGroup(name=f"{layer} gaps (> {sub['minutes'].iloc[0]:g} min)", show=layer == "centres")
            folium.GeoJson(
                _fc(sub, 0.00002),
                style_function=lambda f: {"color": "#54278f", "weight": 1, "fillColor": "#756bb1", "fillOpacity": 0.45},
                tooltip=folium.GeoJsonTooltip(fields=["rank", "homes", "people", "walk_min_centre", "nearest_facility"]),
            ).add_to(grp)
            grp.add_to(m)
    for name, lr in result.layers.items():
        grp = folium.FeatureGroup(name=f"{name} ({len(lr.facilities)})")
        for _, f in lr.facilities.iterrows():
            popup = "<br>".join(
                html.escape(str(x)) for x in (f["name"], f.get("tier") or "", f.get("kind") or "", f.get("opening_hours") or "") if x
            )
            folium.CircleMarker(
                [f.geometry.y, f.geometry.x], radius=5, color=LAYER_COLOURS.get(name, "#333"), weight=2,
                fill=True, fill_color=TIER_COLOURS.get(f.get("tier"), "#888"), fill_opacity=0.9,
                popup=folium.Popup(popup, max_width=300), tooltip=str(f["name"]),
            ).add_to(grp)
        grp.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[lat0, lon0], [lat1, lon1]])
    return m


def map_html(result) -> str:
    return render_map(result).get_root().render()
