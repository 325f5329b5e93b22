"""What a body that cannot be read gets: the refusal (413, 408) or the reason it cannot be parsed
(not UTF-8, nested too deeply, a number too long, not sent as JSON), never FastAPI's own "There
was an error parsing the body", which it gives whatever reading the body raised."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from api import errors
from api.app import BodyLimit


class Body(BaseModel):
    name: str = ""


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.post("/x")
    async def x(body: Body) -> dict:
        return {"name": body.name}

    return app


def _call(chunks: list[bytes], *, headers: dict[str, str], stall: bool = False, max_bytes: int = 1_000,
          timeout_s: float = 5.0) -> tuple[int, dict]:
    """Send ``chunks`` as one request through BodyLimit around a FastAPI app; (status, JSON answer)."""
    app = BodyLimit(_app(), max_bytes=max_bytes, timeout_s=timeout_s)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/x", "raw_path": b"/x", "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    left = list(chunks)
    sent: list[dict] = []

    async def receive() -> dict:
        if left:
            return {"type": "http.request", "body": left.pop(0), "more_body": bool(left) or stall}
        if stall:
            await asyncio.sleep(60)  # the client sent less than it said
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert sum(m["type"] == "http.response.start" for m in sent) == 1  # one answer, not two
    return start["status"], json.loads(body)


JSON = {"content-type": "application/json"}


def test_a_chunked_body_past_the_limit_is_413_not_400():
    status, doc = _call([b'{"name": "' + b"a" * 600, b"b" * 600 + b'"}'], headers=JSON)
    assert status == 413
    assert doc["detail"] == "request body larger than 1,000 bytes (CIRCLES_MAX_BODY_BYTES)"


def test_a_body_shorter_than_it_said_is_408_after_the_timeout():
    status, doc = _call([b'{"name": '], headers={**JSON, "content-length": "40"}, stall=True, timeout_s=0.2)
    assert status == 408
    assert doc["detail"] == "the request body did not arrive within 0.2 s"


@pytest.mark.parametrize(("body", "says"), [
    ('{"name": "滨江"}'.encode("gbk"), "request body: is not UTF-8 text (byte 10)"),
    (b"[" * 100_000 + b"]" * 100_000, "request body: is nested too deeply"),
    (b'{"name": "a", "n": ' + b"7" * 5000 + b"}", "request body: holds a number too long to read"),
])
def test_a_body_that_cannot_be_parsed_says_why(body, says):
    status, doc = _call([body], headers=JSON, max_bytes=1_000_000)
    assert status == 400
    assert doc["detail"].startswith(says)


def test_a_body_not_sent_as_json_says_so_without_echoing_its_bytes():
    status, doc = _call([b'{"name": "x"}'], headers={"content-type": "text/plain"})
    assert status == 400
    assert doc["detail"] == "request body: not read as JSON — send it with Content-Type: application/json"
    status, doc = _call([b'{"name": "x"}'], headers=JSON)
    assert (status, doc) == (200, {"name": "x"})
