"""The HTTP service: ``create_app(settings)`` builds a FastAPI app; nothing is built at import.

The plan is loaded once, in the app's lifespan: a saved plan (``CIRCLES_PLAN``, a few seconds)
or planned with the same :func:`geo.plan.plan` the CLI runs. It is kept on ``app.state``:
``settings``, ``served`` (:class:`api.deps.Served`: the plan and the lookups built from it) and
``pool`` (:class:`api.heavy.HeavyPool`: the processes that run scenarios, sites and circles
drawn on demand).

Every request is bounded: bodies beyond ``max_body_bytes`` get 413, bodies that do not arrive
within ``body_timeout_s`` get 408, heavy work waits in a bounded queue (503 with
``Retry-After`` when full), and each endpoint caps what it computes. The API documentation
(``/docs``, ``/redoc``) loads its scripts from the installed ``fastapi-offline`` package, so it
works with no internet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.supervisors import Multiprocess

from api import docs, errors
from api.cli_common import build_inputs, default_cache_dir
from api.deps import Served
from api.heavy import HeavyPool
from api.protocol import header_timeout_protocol
from api.routers import areas, circles, meta, nearest, scenarios_store, whatif
from api.schemas import ErrorOut, Feature, FeatureCollection
from api.settings import Settings
from geo.plan import PlanResult, plan
from geo.saved import load_plan

log = logging.getLogger("circles.api")

DESCRIPTION = """
Walk-time service circles for Party-mass service centres, stations and e-bike charging points,
over real OSM streets. Coordinates are WGS84 lon/lat (``/nearest`` also takes and answers in
GCJ-02 and BD-09); geometry is RFC 7946 GeoJSON. Bad requests get HTTP 4xx with
``{"detail": "..."}`` naming the parameter, the value and what is allowed. The examples below
work on the loaded data.
"""


def version() -> str:
    """The installed package's version (one source: the project's metadata)."""
    try:
        return metadata.version("service-circles")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


def prepare(settings: Settings, *, progress: Callable[[str], None] | None = None) -> PlanResult:
    """Check the settings and load (or plan) what they describe; return the plan.

    Bad inputs fail here, with their message, before any worker starts.
    """
    say = progress or log.info
    if settings.plan is not None:
        say(f"loading the saved plan in {settings.plan}")
        return load_plan(settings.plan, cache_dir=None if settings.no_cache else default_cache_dir())
    inputs, params = build_inputs(settings.plan_kw())
    say(f"planning {inputs.osm or inputs.place or 'the embedded default extract'}")
    return plan(inputs, params, progress=say)


def load(app: FastAPI, settings: Settings, *, result: PlanResult | None = None) -> None:
    """Load the plan (or take ``result``, already loaded), build the lookups and start the heavy workers.

    They are kept on ``app.state``.
    """
    result = prepare(settings) if result is None else result
    served = Served.build(result, settings)
    app.state.settings = settings
    app.state.served = served
    app.state.pool = HeavyPool(served, workers=settings.heavy_workers, queue=settings.heavy_queue)
    for w in result.warnings:
        log.warning(w)


def create_app(settings: Settings | None = None, *, result: PlanResult | None = None) -> FastAPI:
    """A new app serving the plan that ``settings`` (default: from the environment) describe.

    ``result``: that plan, already loaded (:func:`prepare`), served as it is at start-up.
    """
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        load(app, settings, result=result)
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPI(
        title="service-circles",
        version=version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    errors.install(app)
    app.router.dependencies.append(Depends(errors.known_query))  # unknown query parameters: 400
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    for module in (meta, nearest, circles, areas, whatif, scenarios_store, docs):
        app.include_router(module.router)
    _custom_openapi(app)
    return app


class BodyLimit:
    """ASGI middleware refusing request bodies that are too big or too slow.

    Bodies larger than ``max_bytes`` get 413 and bodies that do not arrive within ``timeout_s``
    get 408, before any handler reads them.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request on, or refuse it when its body is too big or too slow."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _reject(send, 400, "Content-Length is not a number")
                return
            if declared > self.max_bytes:
                await _reject(
                    send,
                    413,
                    f"request body of {declared:,} bytes: at most {self.max_bytes:,} (CIRCLES_MAX_BODY_BYTES)",
                )
                return
        received = 0
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        refused: tuple[int, str] | None = None  # the answer once the body is too big or too slow
        answered = False

        async def limited() -> Message:
            nonlocal received, refused
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except TimeoutError:
                refused = (408, f"the request body did not arrive within {self.timeout_s:g} s")
                raise _SlowBodyError from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = (413, f"request body larger than {self.max_bytes:,} bytes (CIRCLES_MAX_BODY_BYTES)")
                    raise _TooBigError
            return message

        async def guarded(message: Message) -> None:
            # FastAPI turns what reading the body raised into its own 400 ("error parsing the
            # body"): once the body is refused, that answer is replaced by the refusal
            nonlocal answered
            if refused is None:
                await send(message)
            elif not answered:
                answered = True
                await _reject(send, *refused)

        try:
            await self.app(scope, limited, guarded)
        except (_TooBigError, _SlowBodyError):
            if not answered and refused is not None:
                answered = True
                await _reject(send, *refused)


class _TooBigError(Exception):
    """The request body grew past the limit while it was read."""


class _SlowBodyError(Exception):
    """The request body did not arrive in time."""


async def _reject(send: Send, status: int, detail: str) -> None:
    """Answer ``status`` with ``{"detail": detail}`` and close the connection."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _custom_openapi(app: FastAPI) -> None:
    """OpenAPI with examples taken from the loaded data, and 400 (not 422) for bad requests."""

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        served = getattr(app.state, "served", None)
        example = served.example if served is not None else {}
        error = {
            "description": "Bad request: the message names the parameter, the value and what is allowed",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        }
        for path in doc.get("paths", {}).values():
            for op in path.values():
                if not isinstance(op, dict):
                    continue
                responses = op.setdefault("responses", {})
                if "422" in responses:  # request validation answers 400 (api.errors)
                    del responses["422"]
                    responses.setdefault("400", error)
                for code, resp in responses.items():  # errors are JSON whatever the answer's type
                    content = resp.get("content") or {}
                    if code.startswith(("4", "5")) and "application/geo+json" in content:
                        content["application/json"] = content.pop("application/geo+json")
                    geo = content.get("application/geo+json", {}).get("schema", {})
                    if "$ref" in geo:  # FastAPI adds its own {"type": "string"} for a raw Response class
                        geo.pop("type", None)
                for param in op.get("parameters", []):
                    if param.get("name") in example:
                        param["example"] = example[param["name"]]
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())
        for model in (Feature, FeatureCollection):  # the GeoJSON answers written as bytes
            s = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(s.pop("$defs", {}))
            schemas.setdefault(model.__name__, s)
        if served is not None:  # cache only once the examples are known
            app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
    keep_alive_s: float = 5.0,
    header_timeout_s: float = 10.0,
    result: PlanResult | None = None,
) -> None:
    """Run :func:`create_app` under uvicorn (settings from the ``CIRCLES_`` environment).

    ``result``: the plan those settings describe, already loaded here (:func:`prepare`); one
    worker serves it instead of loading it again (several workers each load their own).

    With several workers the listening socket is bound here and given ``TCP_NODELAY``, which
    the accepted connections inherit: uvicorn binds it with protocol 0, so asyncio does not set
    the option on them, and keep-alive answers (headers and body written apart) then waited
    ~40 ms for the client's delayed ACK. Idle keep-alive connections close after
    ``keep_alive_s``; headers are limited in size (h11) and must arrive within
    ``header_timeout_s`` (:mod:`api.protocol`).
    """
    one = workers <= 1 and result is not None
    config = uvicorn.Config(
        create_app(result=result) if one else "api.app:create_app",
        factory=not one,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        timeout_keep_alive=int(max(1, keep_alive_s)),
        h11_max_incomplete_event_size=64 * 1024,
        limit_concurrency=1000,
        http=header_timeout_protocol(header_timeout_s),
    )
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
