"""The bad-input corpus: every file and option gets a clear error, never a crash.

The files are written afresh for each session by ``tests/corpus/make_corpus.py`` into a
temporary folder (none is kept in the repository). Each case of ``tests/corpus/cases.toml`` is run through the command line (in-process, as a
user would type it) and must end with a non-zero exit, no traceback, no "internal error" and
a message naming the file (or option) and holding the fragments the case lists: the field, the
row or feature, the value. The API cases are sent to ``create_app(settings)`` and must get a
4xx (never a 5xx) whose detail names the parameter. A few cases also run as real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from tests.conftest import DATA, ROOT

pytestmark = pytest.mark.slow

CASES = tomllib.loads((ROOT / "tests" / "corpus" / "cases.toml").read_text("utf-8"))
FILES = sorted(CASES["files"])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The corpus files, written into a temporary folder."""
    from tests.corpus.make_corpus import write

    return write(tmp_path_factory.mktemp("corpus"))


def _filled(args: list[str], tmp_path: Path, file: Path | None = None) -> list[str]:
    afile = tmp_path / "afile"
    afile.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    spots = {"{file}": str(file), "{out}": str(tmp_path / "out"), "{afile}": str(afile), "{folder}": str(folder)}
    out = []
    for a in args:
        for k, v in spots.items():
            a = a.replace(k, v)
        out.append(a)
    return out


def _run(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(main, args)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"{args}: escaped the command: {res.exception!r}")
    return res.exit_code, res.output


def _check(code: int, text: str, expect: list[str], what: str) -> None:
    assert code != 0, f"{what}: accepted (exit 0):\n{text}"
    assert "Traceback" not in text and "internal error" not in text and "Aborted" not in text, f"{what}:\n{text}"
    assert "error:" in text or "Error:" in text, f"{what}: no error message:\n{text}"
    missing = [e for e in expect if e not in text]
    assert not missing, f"{what}: the message lacks {missing}:\n{text}"


def test_every_corpus_file_has_a_case_and_every_case_a_file(corpus):
    present = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()}
    assert present == set(FILES)
    assert {f.split("/")[0] for f in FILES} == set(CASES["commands"])


@pytest.mark.parametrize("name", FILES)
def test_bad_file_gets_a_clear_error(name, tmp_path, corpus):
    file = corpus / name
    args = _filled(CASES["commands"][name.split("/")[0]], tmp_path, file)
    code, text = _run(args)
    _check(code, text, [str(file), *CASES["files"][name]], name)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "wrote outputs"


@pytest.mark.parametrize("case", CASES["options"], ids=lambda c: " ".join(c["args"]))
def test_option_out_of_its_domain_is_refused(case, tmp_path):
    args = _filled(case["args"], tmp_path)
    if args[0] in ("plan", "site") and "--out" not in args:
        args += ["--out", str(tmp_path / "out"), "-q"]
    code, text = _run(args)
    _check(code, text, case["expect"], " ".join(case["args"]))


@pytest.mark.parametrize("args", [
    ["plan", "--osm", "{corpus}/osm/truncated.osm.bz2", "--out", "{out}", "-q"],
    ["scenario", "{corpus}/scenarios/yaml_bomb.yaml", "--out", "{out}", "-q"],
    ["layers", "check", "{corpus}/facilities/properties_list.geojson"],
    ["plan", "--width", "nan", "--out", "{out}"],
], ids=["truncated-bz2", "yaml-bomb", "properties-list", "width-nan"])
def test_real_process_exits_2_without_a_traceback(args, tmp_path, corpus):
    args = [a.replace("{corpus}", str(corpus)) for a in _filled(args, tmp_path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "Aborted" not in res.stderr, res.stderr
    assert res.stderr.startswith("error: "), res.stderr


# ------------------------------------------------------------------ the API
@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    settings = Settings(stations=DATA / "helsinki_stations.csv", charging=DATA / "helsinki_charging.csv")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _api_id(case: dict) -> str:
    return case.get("get") or f"POST {case['post']} {case['body'][:40]}"


@pytest.mark.parametrize("case", CASES["api"], ids=_api_id)
def test_bad_request_gets_a_4xx_naming_the_parameter(case, client, corpus):
    if "get" in case:
        res = client.get(case["get"])
    else:
        body = case["body"]
        if body.startswith("{scenario:"):
            content = (corpus / "scenarios" / body[len("{scenario:"):-1]).read_bytes()
        else:
            content = body.encode()
        res = client.post(case["post"], content=content, headers={"content-type": "application/json"})
    assert 400 <= res.status_code < 500, f"{res.status_code}: {res.text}"
    detail = res.json()["detail"]
    assert isinstance(detail, str)
    missing = [e for e in case["expect"] if e not in detail]
    assert not missing, f"the detail lacks {missing}: {detail}"


def test_no_answer_shows_an_absolute_server_path(client):
    """Every GET endpoint with the parameters it needs, error answers included."""
    served = client.app.state.served
    fid = str(next(iter(served.result.layers.values())).facilities["id"].iloc[0])
    urls = ["/health", "/layers", "/coverage", "/map", "/circles", "/gaps", "/circles?scope=facility",
            f"/facilities/{fid}/circle", "/facilities/nope/circle", "/nearest?lon=24.94&lat=60.17",
            "/nearest?lon=0&lat=0", "/openapi.json", "/docs"]
    secrets = {str(ROOT), str(DATA), os.environ["CIRCLES_CACHE_DIR"], "/tmp/", "/home/", "/root/", "site-packages"}
    seen = 0
    for url in urls:
        res = client.get(url)
        assert res.status_code < 500, url
        text = res.text
        found = [s for s in secrets if s in text]
        assert not found, f"{url} shows {found}"
        seen += 1
    assert seen == len(urls)
    assert json.loads(client.get("/health").text)["source"] == "Helsinki.osm.pbf"
