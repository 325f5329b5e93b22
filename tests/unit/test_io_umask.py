"""geo.io.process_umask reads the umask without setting it (atomic_write gives files the usual mode)."""

import os
import threading

from geo.io import atomic_write, process_umask


def test_process_umask_is_the_umask_and_leaves_it_alone(tmp_path):
    old = os.umask(0o027)
    try:
        assert process_umask() == 0o027
        assert os.umask(0o027) == 0o027  # not changed by reading it
        seen = []
        t = threading.Thread(target=lambda: seen.append(process_umask()))
        t.start()
        t.join()
        assert seen == [0o027]
        f = atomic_write(tmp_path / "a.txt", lambda p: p.write_text("x", encoding="utf-8"))
        assert f.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_replace_folder_gives_the_usual_folder_mode_without_setting_the_umask(tmp_path, monkeypatch):
    """A folder put in place by a worker thread must not change the umask other threads' files get."""
    from geo.store import replace_folder

    old = os.umask(0o027)
    try:

        def no_umask(_mask):
            raise AssertionError("os.umask called: it sets the mask of every thread for a moment")

        monkeypatch.setattr(os, "umask", no_umask)
        out = replace_folder(tmp_path / "set", lambda tmp: (tmp / "a.txt").write_text("x", encoding="utf-8"))
        assert out.stat().st_mode & 0o777 == 0o750 and (out / "a.txt").read_text(encoding="utf-8") == "x"
    finally:
        monkeypatch.undo()
        os.umask(old)
