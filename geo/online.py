"""Download the walking network and planning features for a place name (osmnx + Overpass).

For users who are online. The result has the same shape as :func:`geo.osm.read_osm`, so every
later step is shared. Tests replace :func:`_download` (no test touches the internet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from geo.crossings import is_crossing_node, way_class
from geo.errors import InputError, NetworkError
from geo.osm import POI_KEYS, Features, OsmExtract, WalkWays, is_walkable

if TYPE_CHECKING:  # annotations only: osmnx and geopandas load when a place is downloaded
    import geopandas as gpd
    import networkx as nx

FEATURE_TAGS: dict[str, bool | str | list[str]] = {
    "building": True,
    "landuse": ["residential"],
    "boundary": ["administrative"],
    **dict.fromkeys(POI_KEYS, True),
}


def _download(place: str) -> tuple[nx.MultiDiGraph, gpd.GeoDataFrame]:
    """(walk graph, features GeoDataFrame) from osmnx; the only function that goes online."""
    import osmnx as ox

    graph = ox.graph_from_place(place, network_type="walk", simplify=True, retain_all=False)
    feats = ox.features_from_place(place, tags=FEATURE_TAGS)
    return graph, feats


def extract_from_place(place: str) -> OsmExtract:
    """The walking network and planning features of a place name, downloaded with osmnx (needs the internet)."""
    try:
        graph, feats = _download(place)
    except (ValueError, LookupError) as err:  # osmnx: nothing found for that name
        raise InputError("--place", [f"{place!r}: osmnx found no area for it ({err}); check the name"]) from None
    except OSError as err:
        raise NetworkError(
            f"--place {place!r}: download failed ({err}); are you online? Use --osm with a local extract otherwise"
        ) from None
    return extract_from_graph(graph, feats, source=f"osmnx: {place}")


def extract_from_graph(graph: nx.MultiDiGraph, feats: gpd.GeoDataFrame | None, *, source: str) -> OsmExtract:
    """Convert an osmnx MultiDiGraph and features frame to the extract shape."""
    return OsmExtract(source=source, data_date=None, ways=_walk_ways(graph, source=source), features=_features(feats))


def _walk_ways(graph: nx.MultiDiGraph, *, source: str) -> WalkWays:
    """The walkable edges of an osmnx graph as flat way arrays (one way per undirected edge)."""
    node_ids, lons, lats, offsets, way_ids, highways, names = [], [], [], [0], [], [], []
    classes: list[int] = []  # geo.crossings road classes; crossing nodes osmnx kept (simplification
    # drops a crossing tagged on a road alone, so strict crossings may miss a few of those)
    crossing_ids = [n for n, d in graph.nodes(data=True) if is_crossing_node({"highway": d.get("highway")})]
    seen = set()
    synthetic = -1
    for u, v, _key, data in graph.edges(keys=True, data=True):
        key = (
            min(u, v),
            max(u, v),
            data.get("osmid") if not isinstance(data.get("osmid"), list) else tuple(data["osmid"]),
        )
        if key in seen:  # both directions of a two-way street
            continue
        seen.add(key)
        hw = data.get("highway", "footway")
        hw = hw[0] if isinstance(hw, list) else hw
        if not is_walkable(
            {"highway": hw, **{t: data[t] for t in ("foot", "access", "area") if isinstance(data.get(t), str)}}
        ):
            continue
        if "geometry" in data:
            coords = np.asarray(data["geometry"].coords)
        else:
            coords = np.array([[graph.nodes[u]["x"], graph.nodes[u]["y"]], [graph.nodes[v]["x"], graph.nodes[v]["y"]]])
        ids = [u]
        for _ in range(len(coords) - 2):
            ids.append(synthetic)
            synthetic -= 1
        ids.append(v)
        node_ids += ids
        lons += coords[:, 0].tolist()
        lats += coords[:, 1].tolist()
        offsets.append(len(node_ids))
        osmid = data.get("osmid", 0)
        way_ids.append(int(osmid[0] if isinstance(osmid, list) else osmid))
        highways.append(hw)
        nm = data.get("name", "")
        names.append(nm[0] if isinstance(nm, list) else (nm if isinstance(nm, str) else ""))
        classes.append(
            way_class(
                {
                    "highway": hw,
                    **{
                        t: data[t]
                        for t in ("lanes", "service", "access", "footway", "dual_carriageway", "divider")
                        if isinstance(data.get(t), str)
                    },
                }
            )
        )
    if not way_ids:
        raise NetworkError(f"{source}: the downloaded network holds no walkable way")
    return WalkWays(
        node_ids=np.asarray(node_ids, dtype=np.int64),
        lon=np.asarray(lons, float),
        lat=np.asarray(lats, float),
        offsets=np.asarray(offsets, dtype=np.int64),
        way_ids=np.asarray(way_ids, dtype=np.int64),
        highway=highways,
        name=names,
        road_class=np.asarray(classes, dtype=np.int8),
        crossing_nodes=np.unique(np.asarray(crossing_ids, dtype=np.int64)),
    )


def _features(feats: gpd.GeoDataFrame | None) -> Features:
    """The buildings, residential land, admin areas and points of interest of an osmnx features frame."""
    f = Features()
    if feats is not None and len(feats):
        for idx, row in feats.iterrows():
            etype, oid = idx if isinstance(idx, tuple) else ("node", idx)
            tags = {c: str(row[c]) for c in feats.columns if c != "geometry" and isinstance(row[c], str)}
            geom = row.geometry
            kinds = []
            if "building" in tags and tags["building"] != "no" and geom.geom_type in ("Polygon", "MultiPolygon"):
                kinds.append("building")
            if tags.get("landuse") == "residential" and geom.geom_type in ("Polygon", "MultiPolygon"):
                kinds.append("landuse")
            if (
                tags.get("boundary") == "administrative"
                and "name" in tags
                and geom.geom_type in ("Polygon", "MultiPolygon")
            ):
                kinds.append("admin")
            if any(k in tags for k in POI_KEYS) and ("name" in tags or "amenity" in tags):
                kinds.append("poi")
            for kind in kinds:
                f.kind.append(kind)
                f.osm_id.append(f"{str(etype)[0]}{oid}")
                f.wkb.append(shapely.to_wkb(geom))
                f.tags.append(tags)
    return f
