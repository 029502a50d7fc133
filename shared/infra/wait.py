"""Polling with a deadline: the replacement for every fixed sleep in tests and startup code."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


def _timeout_error(what: str, timeout: float, last_error: BaseException | None) -> TimeoutError:
    detail = f" (last error: {last_error!r})" if last_error is not None else ""
    return TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}{detail}")


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str,
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Call `predicate` until it returns a truthy value and return it, else raise TimeoutError.

    Exceptions listed in `ignore` count as "not yet" (e.g. connection refused while a server boots).
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
        except ignore as exc:
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timeout_error(what, timeout, last_error)
        time.sleep(interval)


@overload
async def wait_for_async(
    predicate: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,  # noqa: ASYNC109 -- same signature as wait_for; the deadline is the point
    interval: float = ...,
    what: str,
    ignore: tuple[type[Exception], ...] = ...,
) -> T: ...


@overload
async def wait_for_async(
    predicate: Callable[[], T | None],
    *,
    timeout: float,  # noqa: ASYNC109
    interval: float = ...,
    what: str,
    ignore: tuple[type[Exception], ...] = ...,
) -> T: ...


async def wait_for_async(
    predicate: Callable[[], Any],
    *,
    timeout: float,  # noqa: ASYNC109
    interval: float = 0.05,
    what: str,
    ignore: tuple[type[Exception], ...] = (),
) -> Any:
    """Async twin of `wait_for`; `predicate` may be a plain or an async callable."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
        except ignore as exc:
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timeout_error(what, timeout, last_error)
        await asyncio.sleep(interval)
