"""CPU-heavy requests (scenarios, sites, circles drawn on demand) run in worker processes.

The event loop only waits for them, so ``/nearest`` keeps answering in milliseconds while
heavy requests run. Workers are forked once the plan is loaded and take it over from the
parent (nothing is copied), and run at a lower priority (``HEAVY_NICE``) than the event loop.
At most ``heavy_workers`` run and ``heavy_queue`` wait; a request beyond that gets HTTP 503
with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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


def _init(served: Served) -> None:
    """Set up a forked worker: a lower priority, default signal handling, the plan it serves."""
    global _SERVED  # noqa: PLW0603 - each forked worker keeps the plan it serves, set once by this initializer
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
            ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init, initargs=(self.served,))
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

    def close(self) -> None:
        """Stop the worker processes (queued work is cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
