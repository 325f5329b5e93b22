"""What a plan, a scenario or a siting run writes into its ``--out`` folder (all or nothing).

The CLI, the API and the province batch write through these functions, which compose the
engine's tables (:mod:`geo`) with the map (:mod:`maps`) into one folder written by
:func:`geo.outputs.write_folder`.
"""

from __future__ import annotations

from pathlib import Path

FORMATS = ("geojson", "gpkg")


def plan_files(result, tmp: Path, *, fmt: str = "geojson", map_options: dict | None = None,
               saved: bool = True) -> list[Path]:
    """Write a plan's files into ``tmp`` (a folder being filled); return them."""
    from geo.io import write_geojson, write_gpkg, write_json, write_text
    from geo.saved import PLAN_FOLDER, save_plan
    from maps.render import map_html

    written = [write_json(tmp / "coverage.json", result.coverage)]
    if fmt == "gpkg":
        layers = {"circles": result.circles, "gaps": result.gaps, "facilities": result.facilities}
        if result.area is not None:
            import geopandas as gpd

            layers["area"] = gpd.GeoDataFrame({"name": [result.area.name], "source": [result.area.source]},
                                              geometry=[result.area.geometry], crs=4326)
        written.append(write_gpkg(tmp / "plan.gpkg", layers))
    else:
        written.append(write_geojson(tmp / "circles.geojson", result.circles, name="circles"))
        written.append(write_geojson(tmp / "gaps.geojson", result.gaps, name="gaps"))
        written.append(write_geojson(tmp / "facilities.geojson", result.facilities, name="facilities"))
    written.append(write_text(tmp / "map.html", map_html(result, **(map_options or {}))))
    if saved:
        save_plan(result, tmp / PLAN_FOLDER)
        written.append(tmp / PLAN_FOLDER)
    return written


def write_plan(result, out: str | Path, *, fmt: str = "geojson", map_options: dict | None = None) -> list[Path]:
    """A plan's output set in ``out``: coverage.json, circles/gaps/facilities, map.html, plan/."""
    from geo.outputs import write_folder

    return write_folder(out, "plan", lambda tmp: plan_files(result, tmp, fmt=fmt, map_options=map_options))


def write_map(result, out: str | Path, *, map_options: dict | None = None) -> list[Path]:
    from geo.io import write_text
    from geo.outputs import write_folder
    from maps.render import map_html

    return write_folder(out, "map", lambda tmp: [write_text(tmp / "map.html", map_html(result, **(map_options or {})))])


def write_scenario(outcome, out: str | Path, *, map_options: dict | None = None) -> list[Path]:
    """A scenario's output set: coverage.json (before/after), changed homes and areas, the edits,
    the circles after (per layer), and the before/after map."""
    from geo.io import write_geojson, write_json, write_text
    from geo.outputs import write_folder
    from maps.render import map_html

    def files(tmp: Path) -> list[Path]:
        after = outcome.after
        layer_circles = after.circles[after.circles["scope"] == "layer"] if len(after.circles) else after.circles
        return [
            write_json(tmp / "coverage.json", outcome.coverage),
            write_geojson(tmp / "changed_homes.geojson", outcome.homes, name="changed_homes"),
            write_geojson(tmp / "changed_areas.geojson", outcome.areas, name="changed_areas"),
            write_geojson(tmp / "edits.geojson", outcome.edits, name="edits"),
            write_geojson(tmp / "circles_after.geojson", layer_circles, name="circles_after"),
            write_text(tmp / "map.html", map_html(after, before=outcome.before, scenario=outcome,
                                                  **(map_options or {}))),
        ]

    return write_folder(out, "scenario", files)


def write_sites(before, res, out: str | Path, *, map_options: dict | None = None, progress=None) -> list[Path]:
    """A siting run's output set: sites, their circles, coverage before/after, the map with the sites."""
    from geo.io import write_geojson, write_json, write_text
    from geo.outputs import write_folder
    from geo.siting import plan_with_sites
    from maps.render import map_html

    after = plan_with_sites(before, res, progress=progress)
    doc = {**res.summary, "plan_after": after.coverage["layers"][res.layer]}

    def files(tmp: Path) -> list[Path]:
        return [write_geojson(tmp / "sites.geojson", res.sites, name="sites"),
                write_geojson(tmp / "site_circles.geojson", res.circles, name="site_circles"),
                write_json(tmp / "coverage.json", doc),
                write_text(tmp / "map.html", map_html(after, before=before, sites=res.sites, **(map_options or {})))]

    return write_folder(out, "site", files)
