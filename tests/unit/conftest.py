"""Fixtures of the unit tests."""

from __future__ import annotations

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
