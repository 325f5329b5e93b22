"""The built wheel carries everything `circles plan` needs.

The wheel is built from a copy of the project's sources (so no ``build/`` or ``*.egg-info`` lands
in the work tree), installed into a fresh virtual environment in a temporary folder, and run from
another temporary folder: the project itself can only come from the wheel. Its dependencies come
from the project's own environment through a plain path line in a ``.pth`` file (a path line adds
the folder to ``sys.path`` without running that folder's ``.pth`` files, so the editable install
living there stays inert). No network: pip neither downloads nor builds in isolation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "geo", "api", "maps", "data")


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res.stdout


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(dist), str(src)], cwd=src)
    (whl,) = dist.glob("service_circles-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=env_dir.parent)
    py = env_dir / "bin" / "python"
    # the project from the wheel only; then the dependencies from this environment, after it on sys.path
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        cwd=env_dir.parent)
    site = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=env_dir.parent).strip())
    (site / "zz_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", "utf-8")
    return env_dir


def clean_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CIRCLES_"))}
    env["CIRCLES_CACHE_DIR"] = str(cache)
    return env


def test_the_wheel_holds_the_data_files_and_the_licence(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("circles_data/osm_layers.toml", "maps/static/map.js", "maps/static/map.css", "geo/plan.py",
                 "api/cli.py", "api/routers/nearest.py"):
        assert want in names, f"{want} missing from {wheel.name}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode("utf-8")
    assert "License-Expression: MIT" in text
    assert f"Version: {project_version()}" in text
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_circles_plan_runs_from_the_installed_wheel(venv, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    env = clean_env(tmp_path / "cache")
    py = str(venv / "bin" / "python")
    where = json.loads(run([py, "-c", "import json, importlib.metadata as m, geo, api, maps, circles_data; "
                            "print(json.dumps([m.version('service-circles')] + "
                            "[x.__file__ for x in (geo, api, maps, circles_data)]))"], cwd=work, env=env))
    assert where[0] == project_version()
    for path in where[1:]:  # the project comes from the wheel, never from the work tree
        assert Path(path).resolve().is_relative_to(venv.resolve()), path
    assert project_version() in run([str(venv / "bin" / "circles"), "--version"], cwd=work, env=env)

    out = tmp_path / "out"
    run([str(venv / "bin" / "circles"), "plan", "--out", str(out), "-q", "--jobs", "1"], cwd=work, env=env)
    for name in ("coverage.json", "circles.geojson", "gaps.geojson", "facilities.geojson", "map.html",
                 "plan/manifest.json"):
        assert (out / name).stat().st_size > 0, name
    cov = json.loads((out / "coverage.json").read_text("utf-8"))
    assert set(cov["layers"]) == {"centres", "stations", "charging"}
    assert cov["layers"]["centres"]["facilities"] > 0  # the OSM tag rules (circles_data) were found
    assert cov["homes"] > 0 and cov["minutes"] == [10, 15]
    html = (out / "map.html").read_text("utf-8")
    assert "cdn.jsdelivr.net" not in html  # Leaflet inlined from the installed xstatic package
    assert not any(work.iterdir())  # nothing written to the working folder
