"""Who is open at a given time: the ``--at`` filter for night coverage.

``--at`` takes a weekday and a time, ``"Mon 22:00"`` (English or Chinese weekday: ``周一 22:00``,
``星期日 07:30``), or a full date and time ``"2025-06-04 22:00"``. A bare time ``"22:00"`` is read
on a working day (Wednesday). Opening hours are OSM-style ``opening_hours`` strings (``24/7``,
``Mo-Fr 08:30-17:30``, the Chinese ``24小时``), parsed by the maintained ``opening-hours-py``
package through :func:`geo.layers.opening_hours_state`. A facility
with no hours, or hours that cannot be read, is *unknown*: counted as closed and listed.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from geo.errors import InputError

#: the week that weekday-only times fall in (Monday 2 June 2025; no public holiday in China).
REFERENCE_MONDAY = dt.date(2025, 6, 2)
WEEKDAYS = {
    "mon": 0, "monday": 0, "mo": 0, "周一": 0, "星期一": 0,
    "tue": 1, "tuesday": 1, "tu": 1, "周二": 1, "星期二": 1,
    "wed": 2, "wednesday": 2, "we": 2, "周三": 2, "星期三": 2,
    "thu": 3, "thursday": 3, "th": 3, "周四": 3, "星期四": 3,
    "fri": 4, "friday": 4, "fr": 4, "周五": 4, "星期五": 4,
    "sat": 5, "saturday": 5, "sa": 5, "周六": 5, "星期六": 5,
    "sun": 6, "sunday": 6, "su": 6, "周日": 6, "星期日": 6, "周天": 6, "星期天": 6,
}
_DAY_ABBR = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_ALWAYS = re.compile(r"^\s*(24\s*(小时|h|hours?)|全天(24小时)?|24/7)\s*(营业|开放)?\s*$", re.I)


def parse_at(text: str) -> dt.datetime:
    """``"Mon 22:00"`` / ``"周一 22:00"`` / ``"22:00"`` / ``"2025-06-04 22:00"`` -> datetime."""
    s = str(text).strip()
    try:
        return dt.datetime.fromisoformat(s.replace(" ", "T", 1)) if re.match(r"^\d{4}-\d\d-\d\d", s) else _weekday_time(s)
    except ValueError:
        raise InputError("--at", [
            f"{text!r} is not a weekday and time: give e.g. \"Mon 22:00\", \"周一 22:00\", \"22:00\" "
            "(a Wednesday) or \"2025-06-04 22:00\""
        ]) from None


def _weekday_time(s: str) -> dt.datetime:
    m = re.fullmatch(r"(?:([^\d\s,]+)[\s,]*)?(\d{1,2})[:：](\d{2})", s)
    if not m:
        raise ValueError(s)
    day = 2 if m.group(1) is None else WEEKDAYS.get(m.group(1).lower())
    if day is None:
        raise ValueError(s)
    hh, mm = int(m.group(2)), int(m.group(3))
    if hh > 24 or (hh == 24 and mm):
        raise ValueError(s)
    return dt.datetime.combine(REFERENCE_MONDAY + dt.timedelta(days=day), dt.time(hh % 24, mm))


def at_label(at: dt.datetime) -> str:
    """``Mon 22:00`` (a date is kept when it is not in the reference week)."""
    if REFERENCE_MONDAY <= at.date() < REFERENCE_MONDAY + dt.timedelta(days=7):
        return f"{_DAY_ABBR[at.weekday()]} {at:%H:%M}"
    return f"{at:%Y-%m-%d %H:%M}"


def state_at(oh, at: dt.datetime) -> bool | None:
    """True (open), False (closed) or None (no hours, or hours that cannot be read)."""
    if oh is None or (isinstance(oh, float) and np.isnan(oh)) or not str(oh).strip():
        return None
    text = str(oh).strip()
    if _ALWAYS.match(text):
        return True
    from geo.layers import opening_hours_state

    return opening_hours_state(text, at)


def open_mask(facilities, at: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """``(open, unknown)`` boolean arrays over a facility table's ``opening_hours`` column."""
    hours = facilities["opening_hours"] if "opening_hours" in facilities else [None] * len(facilities)
    states = [state_at(h, at) for h in hours]
    return np.array([s is True for s in states], bool), np.array([s is None for s in states], bool)
