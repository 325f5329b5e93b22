"""Fixtures of the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.grid import opencv


@pytest.fixture
def tracings(monkeypatch) -> list[int]:
    """Counts OpenCV's contour tracings (``cv2.findContours``) made while the test runs: one item each."""
    cv2 = opencv()
    calls: list[int] = []
    real = cv2.findContours

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(cv2, "findContours", counting)
    return calls


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """The saved plan of the two-street toy plan (``tests.unit.test_scenarios.two_streets``), one per test module.

    Its folder (``<tmp>/p``) holds ``plan/``; a module that writes into it (a kept scenario)
    changes only its own copy.
    """
    from geo.saved import PLAN_FOLDER, save_plan
    from tests.unit.test_scenarios import two_streets

    _, before = two_streets()
    out = tmp_path_factory.mktemp("saved") / "p"
    save_plan(before, out / PLAN_FOLDER)
    return out
