"""Slow clients on a real uvicorn (loopback): request headers that never finish are cut off.

A tiny app runs under uvicorn with the protocol ``circles serve`` uses
(:func:`api.protocol.header_timeout_protocol`) and a short deadline; a client that sends half
a request line and waits is disconnected, while whole requests on the same server, also after
a kept-alive pause shorter than the deadline, are answered.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from api.protocol import header_timeout_protocol

DEADLINE_S = 0.5


async def _app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    config = uvicorn.Config(_app, host="127.0.0.1", port=free, log_level="warning", lifespan="off",
                            http=header_timeout_protocol(DEADLINE_S), timeout_keep_alive=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield free
    server.should_exit = True
    thread.join(timeout=10)


def _closed_by_server(sock: socket.socket, wait_s: float) -> bool:
    sock.settimeout(wait_s)
    try:
        return sock.recv(100) == b""
    except TimeoutError:
        return False


def test_half_sent_headers_are_cut_off(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /nearest?lon=1")  # and nothing more
        assert _closed_by_server(s, wait_s=10 * DEADLINE_S)


def test_silent_connection_is_cut_off(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        assert _closed_by_server(s, wait_s=10 * DEADLINE_S)


def test_whole_requests_are_answered_also_after_a_short_pause(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(2):
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(10)
            data = b""
            while not data.endswith(b"ok"):
                chunk = s.recv(1000)
                assert chunk, data
                data += chunk
            assert data.startswith(b"HTTP/1.1 200")
            time.sleep(DEADLINE_S / 5)
