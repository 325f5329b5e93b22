"""Who is open at a given time: the ``--at`` filter for night coverage.

``--at`` takes a weekday and a time, ``"Mon 22:00"`` (English or Chinese weekday: ``周一 22:00``,
``星期日 07:30``), or a full date and time ``"2025-06-04 22:00"``. A bare time ``"22:00"`` is read
on a working day (Wednesday). Opening hours are OSM-style ``opening_hours`` strings (``24/7``,
``Mo-Fr 08:30-17:30``, the Chinese ``24小时``), parsed by the maintained ``opening-hours-py``
package (:func:`opening_hours_state`). A facility
with no hours, or hours that cannot be read, is *unknown*: counted as closed and listed.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from zoneinfo import ZoneInfo

import numpy as np
import opening_hours
import pandas as pd
from opening_hours import OpeningHours, State

from geo.errors import InputError

#: the week that weekday-only times fall in (Monday 2 June 2025; no public holiday in China).
REFERENCE_MONDAY = dt.date(2025, 6, 2)
WEEKDAYS = {
    "mon": 0,
    "monday": 0,
    "mo": 0,
    "周一": 0,
    "星期一": 0,
    "tue": 1,
    "tuesday": 1,
    "tu": 1,
    "周二": 1,
    "星期二": 1,
    "wed": 2,
    "wednesday": 2,
    "we": 2,
    "周三": 2,
    "星期三": 2,
    "thu": 3,
    "thursday": 3,
    "th": 3,
    "周四": 3,
    "星期四": 3,
    "fri": 4,
    "friday": 4,
    "fr": 4,
    "周五": 4,
    "星期五": 4,
    "sat": 5,
    "saturday": 5,
    "sa": 5,
    "周六": 5,
    "星期六": 5,
    "sun": 6,
    "sunday": 6,
    "su": 6,
    "周日": 6,
    "星期日": 6,
    "周天": 6,
    "星期天": 6,
}
_DAY_ABBR = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


CHINA_TZ = "Asia/Shanghai"


class OpeningHoursError(ValueError):
    """Opening hours that cannot be read, even after folding the Chinese forms."""

    def __init__(self, value: str, tried: str) -> None:
        self.value = value
        self.tried = tried
        super().__init__(f"{value!r} cannot be read as opening hours (tried {tried!r})")


# ------------------------------------------------------------------------------ opening hours
_ALWAYS = re.compile(
    r"(7\s*[x×*]\s*)?24\s*(小时|h|hrs?|hours?)(营业|开放|服务)?|全天(候|24小时)?(营业|开放)?|24/7|全年无休|不打烊",
    re.IGNORECASE,
)
_UNKNOWN = {"未知", "不详", "待定", "暂无", "无", "-", "/", "?", "unknown", "n/a", "na"}
_CN_DAY = {
    "一": "Mo",
    "二": "Tu",
    "三": "We",
    "四": "Th",
    "五": "Fr",
    "六": "Sa",
    "日": "Su",
    "天": "Su",
    "七": "Su",
    "1": "Mo",
    "2": "Tu",
    "3": "We",
    "4": "Th",
    "5": "Fr",
    "6": "Sa",
    "7": "Su",
}
_DAY = r"(?:Mo|Tu|We|Th|Fr|Sa|Su|PH)"


def _clock(m: re.Match) -> str:
    minutes = "30" if m.group(2) == "半" else (m.group(3) or "00")
    return f"{int(m.group(1))}:{int(minutes):02d}"


def _afternoon(m: re.Match) -> str:
    def shift(hhmm: str) -> str:
        h, mm = hhmm.split(":")
        return f"{int(h) + 12 if int(h) < 12 else int(h)}:{mm}"

    times = re.findall(r"\d{1,2}:\d\d", m.group(0))
    return "-".join(shift(t) for t in times) if m.group(1) in ("下午", "晚上", "晚") else "-".join(times)


def _from_chinese(s: str) -> str:
    """Fold the usual Chinese ways of writing hours into OSM syntax (best effort)."""
    s = re.sub(r"^(开放|营业|服务|办公)?时间\s*:?", "", s)
    s = re.sub(r"\s*[至到~〜—–]\s*|\s+-\s+", "-", s)
    s = re.sub(r"(?:周|星期|礼拜)([一二三四五六日天七1-7])", lambda m: _CN_DAY[m.group(1)], s)
    s = re.sub(rf"({_DAY})-([一二三四五六日天七])", lambda m: f"{m.group(1)}-{_CN_DAY[m.group(2)]}", s)
    for words, osm in (
        ("每天|每日|天天|全周", "Mo-Su"),
        ("工作日", "Mo-Fr"),
        ("周末|双休日", "Sa,Su"),
        ("(?:法定)?节假日", "PH"),
        ("闭馆|休息|不开放|关闭", " off"),
    ):
        s = re.sub(words, osm, s)
    s = re.sub(r"\(?\s*PH\s*除外\s*\)?", "; PH off", s).replace("、", ",")
    s = re.sub(r"[()]", " ", s)
    s = re.sub(r"(\d{1,2})[点时](半|(\d{1,2})分?)?", _clock, s)
    s = re.sub(r"(上午|早上|早|中午|下午|晚上|晚)\s*(\d{1,2}:\d\d(?:\s*-\s*\d{1,2}:\d\d)?)", _afternoon, s)
    s = re.sub(r"(?<![\d:])(\d):(\d\d)", r"0\1:\2", s)
    s = re.sub(r"(开放|营业|办公|服务)", " ", s)
    s = re.sub(rf"({_DAY})(?=\d)", r"\1 ", s)
    s = re.sub(r"(\d\d:\d\d)\s+(?=\d\d:\d\d)", r"\1,", s)
    s = re.sub(rf"(\d\d:\d\d|off)\s*[,;]?\s*(?={_DAY}\b)", r"\1; ", s)
    s = re.sub(r"\s*;\s*", "; ", s)
    return re.sub(r"\s+", " ", s).strip(" ,;")


#: what the parser raises on text it cannot read (the extension has it; its type stub omits it)
_PARSER_ERROR: type[Exception] = opening_hours.ParserError  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> OpeningHours | None:
    """The parsed expression (China's public holidays for ``PH``), or None if it does not parse."""
    try:
        return OpeningHours(text, country="CN")
    except (_PARSER_ERROR, ValueError):
        return None


def normalise_opening_hours(value: object) -> str | None:
    """Opening hours as written in a facility list -> OSM ``opening_hours`` syntax.

    ``24小时``, ``全天``, ``24h``, ``7×24小时`` -> ``24/7``; ``周一至周五 8:30-17:30`` ->
    ``Mo-Fr 08:30-17:30``; ``下午2:00-5:30`` -> ``14:00-17:30``; ``工作日``, ``每天``,
    ``周末``, ``节假日`` (PH) and ``闭馆`` (off) are understood. The result is the canonical form
    of the ``opening-hours-py`` parser (``Mo-Su 08:00-20:00`` becomes ``08:00-20:00``).

    Returns
    -------
    str or None
        None for an empty value or an explicit "unknown" (``未知``, ``不详``, ``待定``...).

    Raises
    ------
    OpeningHoursError
        The value cannot be read; ``err.value`` is the text as given, ``err.tried`` the folded form.
    """
    text = _cell_text(value)
    if text is None:
        return None
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
    if s.lower() in _UNKNOWN:
        return None
    if _ALWAYS.fullmatch(s):
        return "24/7"
    for candidate in (s, _from_chinese(s)):
        oh = _parsed(candidate)
        # "周一闭馆" alone says nothing about the other days: unknown, not "closed"
        if oh is not None and str(oh.normalize()) != "closed":
            return str(oh.normalize())
    raise OpeningHoursError(text, _from_chinese(s))


def opening_hours_state(opening_hours: object, at: dt.datetime) -> bool | None:
    """Is a facility open at ``at``? True (open), False (closed), None (unknown).

    ``at`` is local time in China when naive; an aware datetime is converted to Asia/Shanghai.
    Unknown means: no hours, hours that cannot be read, or an OSM ``unknown`` rule.
    """
    try:
        text = normalise_opening_hours(opening_hours)
    except OpeningHoursError:
        return None
    oh = None if text is None else _parsed(text)
    if oh is None:
        return None
    if at.tzinfo is not None:
        at = at.astimezone(ZoneInfo(CHINA_TZ)).replace(tzinfo=None)
    result: object = oh.state(at)  # (State, comment); some releases give the State alone
    state = result[0] if isinstance(result, tuple) else result
    if state == State.OPEN:
        return True
    if state == State.CLOSED:
        return False
    return None


def _cell_text(value: object) -> str | None:
    """A cell as trimmed text; None for empty or NaN."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(float(value))):
        return None
    if value is pd.NA:
        return None
    s = str(value).strip()
    return s or None


def parse_at(text: str) -> dt.datetime:
    """``"Mon 22:00"`` / ``"周一 22:00"`` / ``"22:00"`` / ``"2025-06-04 22:00"`` -> datetime."""
    s = str(text).strip()
    try:
        return (
            dt.datetime.fromisoformat(s.replace(" ", "T", 1)) if re.match(r"^\d{4}-\d\d-\d\d", s) else _weekday_time(s)
        )
    except ValueError:
        raise InputError(
            "--at",
            [
                (
                    f'{text!r} is not a weekday and time: give e.g. "Mon 22:00", "周一 22:00", "22:00" '
                    '(a Wednesday) or "2025-06-04 22:00"'
                )
            ],
        ) from None


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


def state_at(oh: object, at: dt.datetime) -> bool | None:
    """True (open), False (closed) or None (no hours, or hours that cannot be read)."""
    return opening_hours_state(oh, at)


def open_mask(facilities: pd.DataFrame, at: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """``(open, unknown)`` boolean arrays over a facility table's ``opening_hours`` column."""
    hours = facilities["opening_hours"] if "opening_hours" in facilities else [None] * len(facilities)
    states = [state_at(h, at) for h in hours]
    return np.array([s is True for s in states], bool), np.array([s is None for s in states], bool)
