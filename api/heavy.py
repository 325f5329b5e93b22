"""CPU-heavy requests (scenarios, sites, circles drawn on demand) run in worker processes.

The event loop only waits for them, so ``/nearest`` keeps answering in milliseconds while
heavy requests run. Workers are forked once the plan is loaded and take it over from the
parent (nothing is copied), and run at a lower priority (``HEAVY_NICE``) than the event loop.
At most ``heavy_workers`` run and ``heavy_queue`` wait; a request beyond that gets HTTP 503
with ``Retry-After``.

A worker holds nothing of the server's network: it is forked while the server listens, so at
start it points every inherited network socket (the listening one, the open connections) at
``/dev/null`` (:func:`drop_sockets`), and a stopped server never leaves a worker holding its port.
Workers end with the server: :meth:`HeavyPool.close` (the app's shutdown, on SIGTERM or SIGINT)
stops them, and a worker whose server died without that (killed) ends within
``PARENT_CHECK_S`` (:func:`watch_parent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from geo.drawing import default_signals
from geo.errors import CirclesError

if TYPE_CHECKING:  # annotations only: api.deps imports this module
    from api.deps import Served

P = ParamSpec("P")
R = TypeVar("R")

_SERVED: Served | None = None  # the plan a worker process serves: set by _init in the worker only


class BusyError(CirclesError):
    """Every heavy worker is busy and the queue is full: try again shortly."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"the service is busy with other scenario, site or circle requests; retry in {retry_after} s")


#: scheduling niceness added to the heavy workers: on a busy machine the event loop answering
#: /nearest gets the CPU first, the scenarios and sites wait a little
HEAVY_NICE = 10

#: seconds between a worker's checks that the server that started it is still running
PARENT_CHECK_S = 0.5

#: seconds :meth:`HeavyPool.close` waits for a worker told to stop before killing it
STOP_WAIT_S = 5.0


def _open_fds() -> list[int]:
    """The descriptors open in this process (every possible one where ``/proc`` is absent)."""
    try:
        return sorted(int(entry.name) for entry in Path("/proc/self/fd").iterdir())
    except OSError:  # pragma: no cover - not Linux
        return list(range(3, min(os.sysconf("SC_OPEN_MAX"), 65536)))


def _network_socket(fd: int) -> bool:
    """Whether ``fd`` is a socket holding a port or a peer: an internet socket, or any listening one."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return False
        sock = socket.socket(fileno=fd)
    except OSError:  # closed meanwhile (the folder listing's own descriptor), or not inspectable
        return False
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 0
    except OSError:  # pragma: no cover - a socket without this option
        listening = False
    finally:
        family = sock.family
        sock.detach()  # the descriptor stays open: only looked at
    return listening or family in (socket.AF_INET, socket.AF_INET6)


def drop_sockets() -> int:
    """Point every network socket this (forked) process inherited at ``/dev/null``; return how many.

    The server's listening socket and its open connections stay the server's alone: a worker
    that outlived the server would otherwise keep its port (a restart fails "address already
    in use") and keep clients' connections open. The descriptors are replaced, not closed, so
    no inherited Python object that closes its old number later can close something else.

    Returns
    -------
    int
        The number of sockets dropped.
    """
    null = os.open(os.devnull, os.O_RDWR)
    dropped = 0
    try:
        for fd in _open_fds():
            if fd > 2 and fd != null and _network_socket(fd):
                os.dup2(null, fd, inheritable=False)
                dropped += 1
    finally:
        os.close(null)
    return dropped


def watch_parent(parent: int, *, every_s: float = PARENT_CHECK_S) -> threading.Thread:
    """End this process (exit status 1) once ``parent`` is no longer its parent process.

    A daemon thread checks every ``every_s`` seconds: a worker whose server was killed (and so
    could not stop it) ends by itself instead of waiting forever for work.

    Parameters
    ----------
    parent
        The process id of the server that started this worker.
    every_s
        Seconds between checks.

    Returns
    -------
    threading.Thread
        The (started) watching thread.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="circles-watch-server", daemon=True)
    thread.start()
    return thread


def _init(served: Served, parent: int) -> None:
    """Set up a forked worker: no server sockets, end with the server, lower priority, the plan it serves."""
    global _SERVED  # noqa: PLW0603 - each forked worker keeps the plan it serves, set once by this initializer
    drop_sockets()
    watch_parent(parent)
    with contextlib.suppress(OSError):  # not permitted here: run at the parent's priority
        os.nice(HEAVY_NICE)
    default_signals()
    _SERVED = served


def _call(task: Callable[Concatenate[Served, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``task`` on the plan this worker serves (in the worker)."""
    served = _SERVED
    if served is None:  # pragma: no cover - _init always ran first
        raise RuntimeError("heavy worker not initialised")
    return task(served, *args, **kwargs)


class WorkerLostError(CirclesError):
    """A heavy worker process died during the request (killed, out of memory).

    The pool is started again and the request may be retried.
    """

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            "the worker running this request stopped (out of memory, or killed); the service "
            f"started a new one: retry in {retry_after} s, with a smaller request if it happens again"
        )


class HeavyPool:
    """A bounded pool of worker processes for one loaded plan."""

    def __init__(self, served: Served, *, workers: int, queue: int) -> None:
        self.capacity = workers + queue
        self.workers = workers
        self._lock = threading.Lock()
        self._busy = 0
        self.served = served
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor | None:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        return (
            ProcessPoolExecutor(
                max_workers=self.workers, mp_context=ctx, initializer=_init, initargs=(self.served, os.getpid())
            )
            if ctx is not None
            else None
        )

    async def run(self, task: Callable[Concatenate[Served, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``task(served, *args, **kwargs)`` in a worker; BusyError when full.

        ``task`` is a function of :mod:`api.work`: it is sent to the worker by name, and its
        arguments and answer cross the process boundary.
        """
        with self._lock:
            if self._busy >= self.capacity:
                raise BusyError(retry_after=5)
            self._busy += 1
        try:
            if self._pool is None:  # no fork: in a thread of this process
                return await asyncio.to_thread(task, self.served, *args, **kwargs)
            loop = asyncio.get_running_loop()
            pool = self._pool
            try:
                return await loop.run_in_executor(pool, functools.partial(_call, task, *args, **kwargs))
            except BrokenProcessPool:  # a worker died: every later request would fail the same way
                with self._lock:
                    if self._pool is pool:
                        self._pool = self._start()
                        pool.shutdown(wait=False, cancel_futures=True)
                raise WorkerLostError(retry_after=1) from None
        finally:
            with self._lock:
                self._busy -= 1

    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}  # the executor's own table of its workers
        return [p.pid for p in list(processes.values()) if p.pid is not None]

    def close(self) -> None:
        """Stop the worker processes now (queued work is cancelled, running work is stopped).

        Each worker is told to stop (SIGTERM, which workers do not handle) and killed if it has
        not ended within ``STOP_WAIT_S``: nothing is left running after the server.
        """
        pool = self._pool
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(OSError, ValueError):  # ended already
                process.terminate()
        deadline = time.monotonic() + STOP_WAIT_S
        for process in processes:
            with contextlib.suppress(OSError, ValueError, AssertionError):
                process.join(timeout=max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.kill()
                    process.join(timeout=1.0)
