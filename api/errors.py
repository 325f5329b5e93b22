"""The project's exceptions as HTTP answers, in one place.

Every client error is ``{"detail": "<message>"}``: the same text the CLI prints for the same
mistake, naming the parameter, the value given and what is allowed.

=================================  ======
exception                          status
=================================  ======
request parameters (FastAPI)        400
a query parameter not taken         400
:class:`geo.errors.InputError`      400
:class:`geo.errors.UnknownNameError` 400
:class:`NotFoundError`              404
:class:`NotLoadedError`             503
:class:`api.heavy.BusyError`         503 with ``Retry-After`` (queue full)
:class:`api.heavy.WorkerLostError`   503 with ``Retry-After`` (a worker died)
other :class:`geo.errors.CirclesError` 400
=================================  ======
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    if isinstance(err, NotLoadedError) or getattr(err, "retry_after", None) is not None:
        return 503
    return 400


async def circles_error(_request: Request, err: Exception) -> JSONResponse:
    """The project's errors as 4xx/503 answers with their message."""
    assert isinstance(err, CirclesError)  # registered for CirclesError only (install)
    retry = getattr(err, "retry_after", None)  # api.heavy.BusyError: the heavy queue is full
    headers = {"Retry-After": str(int(retry))} if retry is not None else None
    return JSONResponse({"detail": str(err)}, status_code=_status(err), headers=headers)


def validation_message(errors: list[dict]) -> str:
    """FastAPI's validation errors as one sentence per parameter."""
    lines = []
    for e in errors:
        where = e.get("loc", ())
        loc = [str(p) for p in where if p not in ("query", "path", "body")]
        name = ".".join(loc) or ("request body" if where[:1] == ("body",) else "request")
        hint = EXPECTED.get(loc[-1] if loc else "", "")
        if e.get("type") == "json_invalid":
            at = f" at character {where[1]}" if len(where) > 1 and isinstance(where[1], int) else ""
            lines.append(
                f"request body: not valid JSON{at} ({e.get('ctx', {}).get('error', 'JSON decode error')}) — "
                "send a JSON object"
            )
            continue
        if e.get("type") == "missing" and not loc and where[:1] == ("body",):
            text = "request body: required — send a JSON object (see /docs for an example)"
        elif where[:1] == ("body",) and isinstance(e.get("input"), bytes):  # a body not sent as JSON
            text = "request body: not read as JSON — send it with Content-Type: application/json"
        elif e.get("type") == "missing":
            text = f"{name}: required" + (f" — give {hint}" if hint else "")
        else:
            value = _shown(e.get("input"))
            msg = str(e.get("msg", "is not valid"))
            text = f"{name}: {value} is not valid — {msg}" + (f" (expected {hint})" if hint else "")
        lines.append(text)
    return "; ".join(lines)


def _shown(value: object) -> str:
    """A query value as the user typed it: numbers bare, anything else quoted."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return repr(value)
        return value if value.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity") else repr(value)
    return repr(value)


async def request_error(_request: Request, err: Exception) -> JSONResponse:
    """Bad request parameters as 400, naming the parameter, the value and what is allowed."""
    assert isinstance(err, RequestValidationError)  # registered for RequestValidationError only (install)
    return JSONResponse({"detail": validation_message(list(err.errors()))}, status_code=400)


async def http_error(_request: Request, err: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own HTTP errors as JSON answers.

    A body that cannot be parsed at all (not UTF-8, or JSON nested beyond what the parser
    follows) gets a clearer text.
    """
    assert isinstance(err, StarletteHTTPException)  # registered for HTTPException only (install)
    detail = err.detail
    if err.status_code == 400 and detail == "There was an error parsing the body":
        detail = _unparsable(err.__cause__)
    return JSONResponse({"detail": detail}, status_code=err.status_code, headers=getattr(err, "headers", None))


def _unparsable(cause: BaseException | None) -> str:
    """Why a request body could not be read as JSON, from what the parser raised."""
    if isinstance(cause, UnicodeDecodeError):
        why = f"is not UTF-8 text (byte {cause.start}) — send the JSON encoded as UTF-8 (not GBK)"
    elif isinstance(cause, RecursionError):
        why = "is nested too deeply — send JSON nested at most a few dozen levels deep"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        why = "holds a number too long to read — send numbers of ordinary length"
    else:
        why = "cannot be parsed — send a UTF-8 JSON object"
    return f"request body: {why} (see /docs for an example)"


async def known_query(request: Request) -> None:
    """A query parameter the endpoint does not take is refused (400), not silently ignored."""
    if not request.query_params:
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    allowed: set[str] = set()
    stack = [dependant]
    while stack:
        d = stack.pop()
        allowed.update(p.alias for p in d.query_params)
        stack.extend(d.dependencies)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "no query parameters"
        raise CirclesError(f"{', '.join(unknown)}: not a parameter of {request.url.path} — it takes {takes}")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(CirclesError, circles_error)
    app.add_exception_handler(RequestValidationError, request_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
