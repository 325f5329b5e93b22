"""The follow-up commands' quick paths give the same answers as the slow ones."""

from __future__ import annotations

import subprocess
import sys


def test_engine_modules_leave_optional_imports_to_their_use() -> None:
    """geo.osm, geo.scenarios and geo.gaps import osmium, yaml and scipy.spatial only where used."""
    code = (
        "import sys, geo.osm, geo.scenarios, geo.gaps\n"
        "print(','.join(m for m in ('osmium', 'yaml', 'scipy.spatial') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
