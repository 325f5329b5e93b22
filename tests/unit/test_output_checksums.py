"""geo.outputs.write_folder: outputs.json lists every file's checksum; a bundle's are those its manifest made."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

import geo.outputs
from geo.outputs import write_folder
from geo.store import read_bundle, write_bundle


def _bundle(folder: Path) -> None:
    write_bundle(
        folder,
        kind="k",
        version=1,
        meta={},
        arrays={"a": {"x": np.arange(10)}},
        tables={"t": pd.DataFrame({"n": np.arange(5), "o": ["a", None, 1, [2], "路"]})},
        files={"f.json": b'{"a": 1}'},
    )


def _listed(out: Path) -> dict[str, dict]:
    return json.loads((out / "outputs.json").read_text("utf-8"))["files"]


def _on_disk(out: Path) -> dict[str, dict]:
    return {
        p.relative_to(out).as_posix(): {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
        for p in out.rglob("*")
        if p.is_file() and p.name != "outputs.json"
    }


def _hashed(monkeypatch) -> list[str]:
    """The names of the files write_folder checksums from their bytes (filled as it runs)."""
    hashed: list[str] = []
    sha256_file = geo.outputs.sha256_file

    monkeypatch.setattr(geo.outputs, "sha256_file", lambda p: hashed.append(Path(p).name) or sha256_file(p))
    return hashed


def test_a_bundles_files_are_listed_with_the_checksums_its_manifest_made(tmp_path, monkeypatch):
    hashed = _hashed(monkeypatch)

    def files(tmp: Path) -> list[Path]:
        (tmp / "map.html").write_text("<p>", encoding="utf-8")
        _bundle(tmp / "plan")
        return [tmp / "map.html", tmp / "plan"]

    out = tmp_path / "out"
    write_folder(out, "plan", files)
    listed = _listed(out)
    assert listed == _on_disk(out)  # every checksum and size that of the file read back
    assert sorted(listed) == ["map.html", "plan/a.npz", "plan/f.json", "plan/manifest.json", "plan/t.parquet"]
    assert sorted(hashed) == ["manifest.json", "map.html"]  # the bundle's own files were not read again
    manifest = json.loads((out / "plan" / "manifest.json").read_text("utf-8"))["files"]
    for name, entry in manifest.items():
        assert listed[f"plan/{name}"] == {"sha256": entry["sha256"], "bytes": entry["bytes"]}
    read_bundle(out / "plan", kind="k", version=1)  # (still checked against its manifest)


def test_a_file_not_as_its_manifest_lists_it_is_checksummed_from_its_bytes(tmp_path, monkeypatch):
    hashed = _hashed(monkeypatch)

    def files(tmp: Path) -> list[Path]:
        _bundle(tmp / "plan")
        with (tmp / "plan" / "f.json").open("ab") as fh:  # changed after the bundle listed it
            fh.write(b" ")
        # a manifest.json that is no bundle's, and one whose entries are not a bundle's
        (tmp / "other").mkdir()
        (tmp / "other" / "manifest.json").write_text('{"files": {"g.txt": {"sha256": "0", "bytes": 1}}}', "utf-8")
        (tmp / "other" / "g.txt").write_text("g", encoding="utf-8")
        (tmp / "odd").mkdir()
        odd = {"kind": "k", "version": 1, "files": {"../map.html": {"sha256": "0", "bytes": 1}, "h": {"sha256": 1}}}
        (tmp / "odd" / "manifest.json").write_text(json.dumps(odd), "utf-8")
        (tmp / "odd" / "h").write_text("h", encoding="utf-8")
        (tmp / "map.html").write_text("m", encoding="utf-8")
        return [tmp / "plan", tmp / "other", tmp / "odd", tmp / "map.html"]

    out = tmp_path / "out"
    write_folder(out, "plan", files)
    assert _listed(out) == _on_disk(out)
    assert sorted(hashed) == sorted(
        ["f.json", "manifest.json", "manifest.json", "g.txt", "manifest.json", "h", "map.html"]
    )
