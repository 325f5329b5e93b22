"""Output folders that are all or nothing.

Every command that writes a folder (``plan``, ``scenario``, ``site``, ``map``...) writes it
through :func:`write_folder`: the files go into a temporary folder beside ``--out``, a manifest
``outputs.json`` naming them (with checksums; those of a saved plan's files taken from its own
manifest, made as they were written) is written last, and the folder is swapped into
place (:func:`geo.store.replace_folder`). After any interruption ``--out`` holds either the
previous complete set or the new one, and the next run removes what the interrupted one left.

An existing ``--out`` is replaced only when it is one of ours: empty, or holding exactly the
files its ``outputs.json`` names (plus files a command keeps on purpose, such as the scenario
database); anything else is refused before any work, as is an ``--out`` that is a file or
cannot be written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from geo.errors import InputError
from geo.store import MANIFEST, TMP_MARK, recover, replace_folder, sha256_file

MARK = "outputs.json"
#: files a command keeps in its folder across runs (the saved scenarios of a plan)
KEPT = ("scenarios.gpkg",)


def _listed(out: Path) -> set[str] | None:
    """Files the folder's manifest names (None: not one of ours)."""
    try:
        doc = json.loads((out / MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict) or doc.get("tool") != "service-circles":
        return None
    return set(files)


def check_out(out: str | Path, *, reads: str | Path | None = None) -> Path:
    """Refuse an ``--out`` that cannot take a new output set, before any work is done.

    ``reads``: a folder the command reads (a follow-up's saved plan); an ``--out`` that is it or
    holds it is refused, as writing the new set would delete what the command starts from.
    """
    out = Path(out)
    recover(out)
    if reads is not None and Path(reads).resolve().is_relative_to(out.resolve()):
        why = f"holds the saved plan this command reads ({reads}): writing here would delete it; give another folder"
        raise InputError(f"--out {out}", [why])
    problems = []
    if out.exists() and not out.is_dir():
        problems.append("is a file, not a folder: give a folder for the outputs")
    elif out.is_dir():
        present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
        listed = _listed(out)
        if present and listed is None:
            shown = ", ".join(sorted(present)[:5]) + (" ..." if len(present) > 5 else "")
            problems.append(f"holds files this tool did not write ({shown}): give an empty or new folder")
        elif listed is not None:
            foreign = sorted(p for p in present if p not in listed and p != MARK and not p.startswith(KEPT))
            if foreign:
                shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
                problems.append(
                    f"holds files that are not part of its last output set ({shown}): move them, or give another folder"
                )
    parent = out if out.is_dir() else out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not problems and not _writable(parent):
        problems.append(f"cannot be written ({parent} is not writable): give a folder you can write")
    if problems:
        raise InputError(f"--out {out}", problems)
    return out


def _writable(folder: Path) -> bool:
    """Whether a file can be made in ``folder``.

    Tried with a real file: ``os.access`` says yes to root on read-only file systems and /proc.
    """
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".circles-probe-")
    except OSError:
        return False
    os.close(fd)
    Path(name).unlink()
    return True


def write_folder(out: str | Path, kind: str, write: Callable[[Path], list[Path]]) -> list[Path]:
    """Write an output set into ``out`` all at once.

    ``write(tmp)`` writes the files into the temporary folder and returns them. Returns the
    files' final paths.
    """
    out = Path(out)
    check_out(out)
    written: list[Path] = []

    def fill(tmp: Path) -> None:
        files = write(tmp)
        if out.is_dir():
            for name in KEPT:
                if (out / name).is_file() and not (tmp / name).exists():
                    shutil.copy2(out / name, tmp / name)
        present = [p for p in sorted(tmp.rglob("*")) if p.is_file()]
        known = _bundled(tmp, [p for p in present if p.name == MANIFEST])
        listed = {}
        for p in present:
            rel = p.relative_to(tmp).as_posix()
            if rel != MARK and not rel.startswith(KEPT) and TMP_MARK not in rel:
                size = p.stat().st_size
                entry = known.get(rel)
                sha = entry["sha256"] if entry is not None and entry["bytes"] == size else sha256_file(p)
                listed[rel] = {"sha256": sha, "bytes": size}
        doc = {
            "tool": "service-circles",
            "kind": kind,
            "written": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "files": listed,
        }
        (tmp / MARK).write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        written.extend(out / Path(f).relative_to(tmp) for f in files)

    replace_folder(out, fill)
    return written


def _bundled(tmp: Path, manifests: list[Path]) -> dict[str, dict]:
    """The checksums of the files of the bundles (:mod:`geo.store`) written into ``tmp``, by path in it.

    Each was made as its file was written (:func:`geo.store.write_bundle`) and is not made again;
    ``manifests``: the bundles' ``manifest.json`` files. A bundle is read back checked against
    its manifest (:func:`geo.store.read_bundle`) as before; a file whose size is not the one
    listed is checksummed from its bytes.
    """
    known: dict[str, dict] = {}
    for path in manifests:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        files = doc.get("files") if isinstance(doc, dict) and "kind" in doc and "version" in doc else None
        if not isinstance(files, dict):
            continue
        folder = path.parent.relative_to(tmp)
        for name, entry in files.items():
            if (
                isinstance(name, str)
                and not any(c in name for c in "/\\")
                and not name.startswith(".")
                and isinstance(entry, dict)
                and isinstance(entry.get("sha256"), str)
                and type(entry.get("bytes")) is int
            ):
                known[(folder / name).as_posix()] = {"sha256": entry["sha256"], "bytes": entry["bytes"]}
    return known
