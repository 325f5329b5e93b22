"""The planner's map (Leaflet inlined; the page written by maps.page), the printed report and static maps."""
