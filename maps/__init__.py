"""The planner's map (folium, Leaflet inlined), the printed report and static maps."""
