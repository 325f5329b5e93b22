"""uvicorn's HTTP/1.1 protocol with a deadline for request headers (slow clients).

uvicorn times out idle keep-alive connections but not a client that sends its request headers
a byte at a time (or never finishes them): each such connection holds a place until
``limit_concurrency`` is reached and the service refuses everyone. Here a connection whose
request headers are not complete within ``header_timeout_s`` of its first byte (or of the
end of its previous answer) is closed, as nginx's ``client_header_timeout`` does. Bodies have
their own deadline (:class:`api.app.BodyLimit`).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle


class _HeaderTimeout(H11Protocol):
    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _waiting_for_headers(self) -> bool:
        # uvicorn annotates ``cycle`` as always set, but it is None until the first request arrives
        cycle: RequestResponseCycle | None = self.cycle
        return cycle is None or cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_headers():
            self._arm()  # part of a request's headers: the deadline runs
        else:
            self._disarm()  # the headers are in: the request runs

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()
        self._arm()

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


#: name of the protocol class for a deadline: the deadline in milliseconds follows it.
_NAME = "HeaderTimeoutH11_"
_MADE: dict[str, type[H11Protocol]] = {}  # one class per deadline (immutable once made)


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """An h11 protocol class for ``uvicorn.Config(http=...)`` with a deadline for request headers.

    A connection whose request headers take longer than ``seconds`` is closed.

    The class is an attribute of this module under a name that holds the deadline, so it is
    pickled by name: uvicorn's worker processes (``--workers 2``, started with *spawn*) find it
    again through the module's ``__getattr__``.
    """
    ms = round(float(seconds) * 1000)
    return __getattr__(f"{_NAME}{ms}")


def __getattr__(name: str) -> type[H11Protocol]:
    if not name.startswith(_NAME) or not name[len(_NAME) :].isdigit():
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _MADE:
        cls = type(
            name,
            (_HeaderTimeout,),
            {"header_timeout_s": int(name[len(_NAME) :]) / 1000.0, "__module__": __name__, "__qualname__": name},
        )
        _MADE[name] = cls
    return _MADE[name]
