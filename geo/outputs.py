"""Output folders that are all or nothing.

Every command that writes a folder (``plan``, ``scenario``, ``site``, ``map``...) writes it
through :func:`write_folder`: the files go into a temporary folder beside ``--out``, a manifest
``outputs.json`` naming them (with checksums; those of a saved plan's files taken from its own
manifest, made as they were written) is written last, and the folder is swapped into
place (:func:`geo.store.replace_folder`). After any interruption ``--out`` holds either the
previous complete set or the new one, and the next run removes what the interrupted one left.

An existing ``--out`` is replaced only when it is one of ours: empty, or holding exactly the
files its ``outputs.json`` names (plus files a command keeps on purpose, such as the scenario
database, and output sets written inside it, such as a follow-up's ``out/scenario`` in the
plan's ``out``: both are carried into the new set); anything else is refused before any work,
as is an ``--out`` that is a file or cannot be written.
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


#: folders an output set writes of its own: an output set there is refused (it would be replaced)
OWN_FOLDERS = ("plan", "tables")


def nested_sets(folder: Path) -> list[str]:
    """The output sets of this tool inside ``folder`` (not itself), as paths relative to it.

    A folder holding an ``outputs.json`` of ours is one, and is not looked into further; the
    temporary folders of an unfinished write are not.
    """
    found: list[str] = []

    def walk(d: Path) -> None:
        for sub in sorted(p for p in d.iterdir() if p.is_dir() and not p.is_symlink()):
            if TMP_MARK in sub.name:
                continue
            if _listed(sub) is not None:
                found.append(sub.relative_to(folder).as_posix())
            else:
                walk(sub)

    if folder.is_dir():
        walk(folder)
    return found


def _files_outside(folder: Path, nested: list[str]) -> list[Path]:
    """The files below ``folder`` that are not inside one of the ``nested`` sets."""
    inner = tuple(f"{n}/" for n in nested)
    return [p for p in folder.rglob("*") if p.is_file() and not p.relative_to(folder).as_posix().startswith(inner)]


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link of ``src`` at ``dst`` (the sets' files are never changed in place), else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


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
    holds it is refused, as writing the new set would delete what the command starts from, and
    so is one inside the plan's own folder. Output sets inside ``--out`` (a follow-up written
    into ``out/scenario`` of the plan in ``out``) are not foreign files: :func:`write_folder`
    keeps them, unless one sits where a set writes its own folders (:data:`OWN_FOLDERS`).
    """
    out = Path(out)
    recover(out)
    if reads is not None:
        read = Path(reads).resolve()
        if read.is_relative_to(out.resolve()):
            why = (
                f"holds the saved plan this command reads ({reads}): writing here would delete it; give another folder"
            )
            raise InputError(f"--out {out}", [why])
        if out.resolve().is_relative_to(read):
            why = f"is inside the saved plan this command reads ({reads}), which holds its own files only; give another folder"
            raise InputError(f"--out {out}", [why])
    problems = []
    if out.exists() and not out.is_dir():
        problems.append("is a file, not a folder: give a folder for the outputs")
    elif out.is_dir():
        nested = nested_sets(out)
        present = {p.relative_to(out).as_posix() for p in _files_outside(out, nested)}
        listed = _listed(out)
        clash = sorted(n for n in nested if n.split("/")[0] in OWN_FOLDERS)
        if clash:
            problems.append(
                f"holds output sets where its own folders go ({', '.join(clash)}): move them, or give another folder"
            )
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
        nested: list[str] = []
        if out.is_dir():
            for name in KEPT:
                if (out / name).is_file() and not (tmp / name).exists():
                    shutil.copy2(out / name, tmp / name)
            for rel in nested_sets(out):  # follow-ups written inside this set: kept, as linked copies
                if not (tmp / rel).exists():
                    shutil.copytree(out / rel, tmp / rel, copy_function=_link_or_copy)
                    nested.append(rel)
        present = sorted(_files_outside(tmp, nested))
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
