"""uvicorn's httptools protocol with the limits a server open to any client needs.

Under httptools uvicorn bounds none of these: the size of a request's head (httptools buffers a
header of any length), the time to send it, pauses in a body, or the number of connections (its
`limit_concurrency` answers only once a request's headers have arrived, and a connection that
never sends a byte has no timer at all). Every refusal here is an answer followed by a lingering
close: the server half-closes and reads on for a moment, so that bytes the client is still
sending do not turn the answer into a TCP reset it never sees.
"""

from __future__ import annotations

import asyncio
from enum import Enum, auto
from typing import Any, ClassVar

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from shared.http_limits import ConnectionGate, HttpLimits, RefusalLog

LINGER_SECONDS = 2.0


class _Phase(Enum):
    FRESH = auto()  # connected, no request begun yet
    IDLE = auto()  # between requests
    HEAD = auto()  # request line and headers arriving
    BODY = auto()  # body arriving


class LimitedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with head size, head and body timeouts and a connection limit."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    gate: ClassVar[ConnectionGate]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.keepalive_timeout
        self._phase = _Phase.FRESH
        self._head_bytes = 0
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False  # answered for good: whatever else arrives is read and dropped
        self._lingering = False
        self._requests = 0  # begun on this connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self.transport, self.flow = transport, FlowControl(transport)
            self.gate.refused(self.loop)
            retry = str(self.limits.retry_after)
            self._answer(
                503,
                f"too many connections; retry after {retry} s",
                ((b"retry-after", retry.encode()),),
            )
            return
        super().connection_made(transport)
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering:
            self._lingering = False
            self.gate.lingering -= 1
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._phase is _Phase.BODY:
            self._due = self.loop.time() + self.limits.body_timeout
        else:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            not self._closing
            and self._phase is not _Phase.BODY
            and self._head_bytes > self.limits.max_header_bytes
        ):
            self._too_large()

    # Parser callbacks: after a refusal the parser may still be inside the same chunk.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase is _Phase.IDLE:
            self._arm(self.limits.header_timeout)
        self._phase = _Phase.HEAD

    def on_headers_complete(self) -> None:
        if self._closing:
            return
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._too_large()
            return
        self._phase = _Phase.BODY
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()
        self._requests += 1
        most = self.limits.max_requests_per_connection
        if most and self._requests >= most and self.cycle is not None:
            # The answer says `connection: close` and uvicorn closes after it. The client's next
            # request opens a new connection, which whichever worker is free accepts first:
            # without this a replica's workers keep the split of the first connections for good.
            self.cycle.keep_alive = False

    def on_body(self, body: bytes) -> None:
        if not self._closing:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._closing:
            return
        self._phase, self._head_bytes = _Phase.IDLE, 0
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._phase is _Phase.BODY and self.cycle.response_complete:
            # Answered before its body arrived: the rest of it is not read, so no next request.
            self.server_state.total_requests += 1
            self._linger()
            return
        super().on_response_complete()

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn logs two warnings per such request: a client could fill the log with them.
        self.logger.debug("unsupported upgrade request")

    # Timers: one per connection, checked against `_due` so that a body's reads only move a number.
    def _arm(self, seconds: float) -> None:
        self._due = self.loop.time() + seconds
        if self._timer is not None and self._timer.when() <= self._due:
            return
        self._disarm()
        self._timer = self.loop.call_at(self._due, self._check)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._closing or self.transport.is_closing():
            return
        if self.loop.time() < self._due:
            self._timer = self.loop.call_at(self._due, self._check)
            return
        waiting = self.flow.read_paused  # the server stopped reading, not the client sending
        if self._phase is _Phase.BODY and self.cycle is not None:
            waiting |= self.cycle.waiting_for_100_continue
        if waiting:
            body = self._phase is _Phase.BODY
            self._arm(self.limits.body_timeout if body else self.limits.header_timeout)
            return
        if self._phase in (_Phase.FRESH, _Phase.IDLE):
            self.transport.close()  # no request begun: nothing to answer
            return
        self._refuse(408, "the request did not arrive in time")

    # Refusals
    def _too_large(self) -> None:
        limit = self.limits.max_header_bytes
        self._refuse(431, f"request line and headers exceed {limit} bytes")

    def _refuse(self, status: int, reason: str) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()  # another answer is on the wire: ours cannot follow
            return
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's own answer must not follow ours
            cycle.message_event.set()
        self._answer(status, reason)

    def _answer(
        self, status: int, reason: str, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        body = reason.encode() + b"\n"
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *extra,
        ]
        lines = [STATUS_LINE[status], *(b"%s: %s\r\n" % pair for pair in headers), b"\r\n", body]
        self.transport.write(b"".join(lines))
        self._linger()

    def _linger(self) -> None:
        """Half-close, read and drop what the client still sends for a moment, then close."""
        self._closing = True
        self._disarm()
        self._unset_keepalive_if_required()
        transport = self.transport
        if transport.is_closing():
            return
        if self.gate.lingering >= self.limits.max_connections or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self.flow.resume_reading()
        self.gate.lingering += 1
        self._lingering = True
        self._timer = self.loop.call_later(LINGER_SECONDS, transport.close)


def protocol_with(limits: HttpLimits) -> type[LimitedHttpProtocol]:
    """A protocol class for one server: its limits and its own count of refused connections."""

    class Protocol(LimitedHttpProtocol):
        pass

    Protocol.limits = limits
    Protocol.gate = ConnectionGate(RefusalLog(limits.max_connections))
    return Protocol
