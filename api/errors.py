"""The project's exceptions as HTTP answers, in one place.

Every client error is ``{"detail": "<message>"}``: the same text the CLI prints for the same
mistake, naming the parameter, the value given and what is allowed.

=================================  ======
exception                          status
=================================  ======
request parameters (FastAPI)        400
:class:`geo.errors.InputError`      400
:class:`geo.errors.UnknownNameError` 400
:class:`NotFoundError`              404
:class:`NotLoadedError`             503
other :class:`geo.errors.CirclesError` 400
=================================  ======
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from geo.errors import CirclesError

#: what each query parameter expects, for messages about a missing or malformed value.
EXPECTED = {
    "lon": "longitude in decimal degrees, -180..180",
    "lat": "latitude in decimal degrees, -90..90",
    "k": "a whole number of facilities, 1..20",
    "layer": "one of centres, stations, charging",
    "tier": "one of district, street, community, special",
    "crs": "one of wgs84, gcj02 (AMap/Tencent), bd09 (Baidu)",
    "profile": "one of adult, elderly",
    "minutes": "one of the loaded walk-time thresholds (see /layers)",
    "scope": "one of layer, facility",
}


class NotFoundError(CirclesError):
    """Something named in the path (a facility id) is not in the loaded data."""


class NotLoadedError(CirclesError):
    """The app is used without its lifespan having loaded the data."""


def _status(err: CirclesError) -> int:
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, NotLoadedError):
        return 503
    return 400


async def circles_error(request: Request, err: CirclesError) -> JSONResponse:
    return JSONResponse({"detail": str(err)}, status_code=_status(err))


def validation_message(errors: list[dict]) -> str:
    """FastAPI's validation errors as one sentence per parameter."""
    lines = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body")]
        name = ".".join(loc) or "request"
        hint = EXPECTED.get(loc[-1] if loc else "", "")
        if e.get("type") == "missing":
            text = f"{name}: required" + (f" — give {hint}" if hint else "")
        else:
            value = _shown(e.get("input"))
            msg = str(e.get("msg", "is not valid"))
            text = f"{name}: {value} is not valid — {msg}" + (f" (expected {hint})" if hint else "")
        lines.append(text)
    return "; ".join(lines)


def _shown(value) -> str:
    """A query value as the user typed it: numbers bare, anything else quoted."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return repr(value)
        return value if value.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity") else repr(value)
    return repr(value)


async def request_error(request: Request, err: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": validation_message(list(err.errors()))}, status_code=400)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(CirclesError, circles_error)
    app.add_exception_handler(RequestValidationError, request_error)
