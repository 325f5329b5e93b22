"""What a map needs to orient by when there is no tile server: streets, water, parks."""

from __future__ import annotations


def basemap_tables(extract, net) -> dict:
    """Basemap tables of an extract (name -> GeoDataFrame, WGS84)."""
    return {}
