"""``/docs`` and ``/redoc`` that work with no internet.

Their scripts come from the installed ``fastapi-offline`` package (Swagger UI and ReDoc builds)
and are served by the app itself.

Both pages carry a Content-Security-Policy that keeps every request on this server: ReDoc's
build always asks a CDN for the Redocly logo in its sidebar (an image it hides when it does not
load), which the policy stops in the browser before it leaves. The test opens both pages in
headless Chromium with every request beyond the server refused and checks the operations render.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from api.errors import NotFoundError

router = APIRouter(include_in_schema=False)
#: the pages' own inline start-up script and styles, everything else from this server
#: (ReDoc's search runs in a worker made from a blob, its images may be data: URIs)
POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)
ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "application/javascript",
    "favicon.png": "image/png",
}


def _static() -> Path:
    return Path(fastapi_offline.__file__).resolve().parent / "static"


@router.get("/docs")
async def swagger() -> HTMLResponse:
    """Swagger UI, from this server only."""
    return _local(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="service-circles · API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """ReDoc, from this server only (no Google fonts)."""
    return _local(
        get_redoc_html(
            openapi_url="/openapi.json",
            title="service-circles · API",
            redoc_js_url="/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/favicon.png",
            with_google_fonts=False,
        )
    )


def _local(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page


@router.get("/docs-assets/{name}")
async def asset(name: str) -> FileResponse:
    """One of the documentation pages' scripts, styles or icon (by name; nothing else is served)."""
    if name not in ASSETS:
        raise NotFoundError(f"name: no documentation asset {name!r}")
    return FileResponse(_static() / name, media_type=ASSETS[name])
