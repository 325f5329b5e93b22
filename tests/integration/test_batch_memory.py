"""`circles batch` lets the read extract go before its merge, and gives freed memory back.

The driver's base and partition are held by the tasks alone (:func:`api.cli_batch._tasks`), so
once every area is cut both are gone, and the merge — which holds every area's layers — does
not find the province's base beside them. The batch's outputs are those of the other batch
tests (`test_batch.py`, `test_batch_merged.py`: each area equals `plan()` with that area, the
merge from the areas' packs equals the merge from their files), which run the same code.
"""

import gc
import json
import platform
import weakref

import pytest
from click.testing import CliRunner

from api import cli_batch
from api.cli import main

pytestmark = pytest.mark.slow


def test_give_back_trims_on_glibc_and_changes_no_object():
    kept = list(range(1000))
    assert cli_batch.give_back() is (platform.libc_ver()[0] == "glibc")
    assert kept == list(range(1000))


def test_the_base_and_the_partition_are_gone_before_the_merge(tmp_path, monkeypatch, binjiang_path, cache_dir):
    refs: dict[str, weakref.ref] = {}
    alive: dict[str, bool] = {}
    read, merge = cli_batch._read, cli_batch._merge

    def reading(*args, **kwargs):
        extract, areas, part = read(*args, **kwargs)
        refs.update(partition=weakref.ref(part), base=weakref.ref(part.base), network=weakref.ref(part.base.network))
        return extract, areas, part

    def merging(*args, **kwargs):
        gc.collect()
        alive.update({k: r() is not None for k, r in refs.items()})
        return merge(*args, **kwargs)

    monkeypatch.setattr(cli_batch, "_read", reading)
    monkeypatch.setattr(cli_batch, "_merge", merging)
    monkeypatch.setenv("CIRCLES_CACHE_DIR", str(cache_dir))
    out = tmp_path / "out"
    args = ["batch", "--osm", str(binjiang_path), "--areas", "level=8", "--workers", "1", "--no-per-facility"]
    res = CliRunner().invoke(main, [*args, "--no-dashboard", "--no-saved-plan", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert alive == {"partition": False, "base": False, "network": False}
    doc = json.loads((out / "merged" / "coverage.json").read_text(encoding="utf-8"))
    # what the merged coverage says of the extract still comes from the base (taken before it went)
    assert doc["source"] == binjiang_path.name
    assert doc["network_nodes"] > 0
    assert doc["extract_homes"] > 0
    assert doc["areas_planned"] == doc["areas_total"] > 0
