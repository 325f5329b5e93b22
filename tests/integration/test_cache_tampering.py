"""A damaged or planted network cache is a cache miss: said in one line, rebuilt, same answer.

The network cache of the embedded Helsinki plan is damaged in the ways a disk, an interrupted
copy or an attacker would (a flipped byte, a truncated file, another format version, a missing
file, garbage for a manifest, and an array file carrying a pickle whose checksum was updated to
match). Each time the next plan says the cache cannot be used, rebuilds it, and gives the same
coverage as a plan with no cache at all; the planted pickle never runs.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from pathlib import Path

import numpy as np
import pytest

from geo.plan import PlanInputs, PlanParams, plan

pytestmark = pytest.mark.slow


def _coverage(result) -> dict:
    return {k: v for k, v in result.coverage.items() if k not in ("generated",)}


@pytest.fixture(scope="module")
def reference():
    """The plan with no cache at all."""
    return _coverage(plan(PlanInputs(), PlanParams(cache_dir=None, per_facility=False)))


class _Planted:
    """Unpickling this would create the marker file: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _rehash(folder: Path, name: str) -> None:
    """Make the manifest agree with a changed file (what an attacker who read the format does)."""
    doc = json.loads((folder / "manifest.json").read_text("utf-8"))
    data = (folder / name).read_bytes()
    doc["files"][name].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (folder / "manifest.json").write_text(json.dumps(doc), encoding="utf-8")


def _flip(folder: Path, marker: Path) -> None:
    p = folder / "network.npz"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _truncate(folder: Path, marker: Path) -> None:
    p = next(folder.glob("*.parquet"))
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])


def _version(folder: Path, marker: Path) -> None:
    doc = json.loads((folder / "manifest.json").read_text("utf-8"))
    doc["version"] = int(doc["version"]) + 1000
    (folder / "manifest.json").write_text(json.dumps(doc), encoding="utf-8")


def _missing(folder: Path, marker: Path) -> None:
    (folder / "homes.npz").unlink()


def _garbage_manifest(folder: Path, marker: Path) -> None:
    (folder / "manifest.json").write_bytes(b'{"kind": "service-circles/base", "files": [1, 2')


def _pickle(folder: Path, marker: Path) -> None:
    with open(folder / "network.npz", "wb") as fh:
        np.savez(fh, node_xy=np.array([_Planted(marker)], dtype=object))
    _rehash(folder, "network.npz")


DAMAGE = {"flipped byte": _flip, "truncated table": _truncate, "other version": _version,
          "missing file": _missing, "garbage manifest": _garbage_manifest, "planted pickle": _pickle}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_cache_is_a_miss_with_the_same_answer(how, reference, tmp_path):
    cache = tmp_path / "cache"
    params = PlanParams(cache_dir=cache, per_facility=False)
    assert _coverage(plan(PlanInputs(), params)) == reference
    [folder] = cache.glob("base-*")
    marker = tmp_path / "pickle-ran"
    DAMAGE[how](folder, marker)
    said: list[str] = []
    again = plan(PlanInputs(), params, progress=said.append)
    assert not marker.exists(), "the planted pickle ran"
    assert [s for s in said if "cannot be used" in s and folder.name in s], said
    assert _coverage(again) == reference
    # rebuilt: the next plan reloads it without a word of complaint
    said.clear()
    assert _coverage(plan(PlanInputs(), params, progress=said.append)) == reference
    assert any("reloaded from the cache" in s for s in said) and not any("cannot be used" in s for s in said), said
