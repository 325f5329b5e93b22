"""The HTTP service: ``create_app(settings)`` builds a FastAPI app; nothing is built at import.

The data is loaded once, in the app's lifespan, with the same :func:`geo.plan.plan` the CLI
runs, and kept on ``app.state``: ``settings``, ``inputs``, ``params``, ``base``
(:class:`geo.plan.Base`), ``result`` (:class:`geo.plan.PlanResult`) and ``served``
(:class:`api.deps.Served`, the lookups built from the result).

Run it with ``circles serve`` or ``uvicorn --factory api.app:create_app`` (settings from the
``CIRCLES_`` environment variables, see :mod:`api.settings`).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.settings import Settings

log = logging.getLogger("circles.api")

DESCRIPTION = """
Walk-time service circles for Party-mass service centres, stations and e-bike charging points,
over real OSM streets. Coordinates are WGS84 lon/lat (``/nearest`` also takes GCJ-02 and BD-09);
geometry is RFC 7946 GeoJSON. Bad requests get HTTP 400 with ``{"detail": "..."}`` naming the
parameter, the value and what is allowed. The examples below work on the loaded data.
"""


def load(app: FastAPI, settings: Settings) -> None:
    """Plan once with the settings' inputs and keep everything on ``app.state``."""
    from api.cli import build_inputs
    from api.deps import Served
    from geo.plan import load_base, plan

    inputs, params = build_inputs(settings.plan_kw())
    log.info("loading %s", inputs.osm or inputs.place or "the embedded default extract")
    base = load_base(inputs, params, progress=log.info)
    result = plan(inputs, params, base=base, progress=log.info)
    app.state.settings = settings
    app.state.inputs = inputs
    app.state.params = params
    app.state.base = base
    app.state.result = result
    app.state.served = Served.build(result, settings)
    for w in result.warnings:
        log.warning(w)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app serving the plan that ``settings`` (default: from the environment) describe."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        load(app, settings)
        yield

    app = FastAPI(title="service-circles", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    from api import errors
    from api.routers import circles, meta, nearest

    errors.install(app)
    for module in (meta, nearest, circles):
        app.include_router(module.router)
    if importlib.util.find_spec("api.routers.whatif") is not None:
        from api.routers import whatif

        app.include_router(whatif.router)
    _custom_openapi(app)
    return app


def _custom_openapi(app: FastAPI) -> None:
    """OpenAPI with examples taken from the loaded data, and 400 (not 422) for bad requests."""
    from fastapi.openapi.utils import get_openapi

    from api.schemas import ErrorOut

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        served = getattr(app.state, "served", None)
        example = served.example if served is not None else {}
        error = {"description": "Bad request: the message names the parameter, the value and what is allowed",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        for path in doc.get("paths", {}).values():
            for op in path.values():
                if not isinstance(op, dict):
                    continue
                responses = op.setdefault("responses", {})
                if "422" in responses:  # request validation answers 400 (api.errors)
                    del responses["422"]
                    responses.setdefault("400", error)
                for param in op.get("parameters", []):
                    if param.get("name") in example:
                        param["example"] = example[param["name"]]
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())
        if served is not None:  # cache only once the examples are known
            app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def serve(*, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info") -> None:
    """Run :func:`create_app` under uvicorn (settings from the ``CIRCLES_`` environment).

    With several workers the listening socket is bound here and given ``TCP_NODELAY``, which
    the accepted connections inherit: uvicorn binds it with protocol 0, so asyncio does not set
    the option on them, and keep-alive answers (headers and body written apart) then waited
    ~40 ms for the client's delayed ACK.
    """
    import socket

    import uvicorn

    config = uvicorn.Config("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                            log_level=log_level)
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
