"""Connection limits: how long a client may take to send a request, and how many connections may be open.

uvicorn (h11) by itself closes idle keep-alive connections (``timeout_keep_alive``) and caps the request head
(``h11_max_incomplete_event_size``), but never times out a connection that sends nothing, or headers or a
body byte by byte. :func:`uvicorn_config` adds, through a subclass of uvicorn's h11 protocol:

- header timeout: a request's line and headers must arrive within ``header_timeout_s`` of the connection
  opening (or of the previous response): else ``408`` and the connection is closed;
- body timeout: a request body may pause at most ``body_timeout_s`` between bytes: else ``408`` and close;
- connection cap: a connection beyond ``max_connections`` open ones gets ``503`` (JSON, ``Retry-After``) and
  is closed at once.

Time spent by the server itself (a render request working, a response being read slowly by the client) never
counts: the timers only run while the server waits for the client's bytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("emodiffhead.server.connections")

#: Largest request line + headers (bytes); h11 answers 400 beyond it.
MAX_HEADER_BYTES = 16 * 1024


def _raw_response(status: int, reason: str, detail: str, extra: str = "") -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n{extra}\r\n").encode("latin-1") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header/body timeouts and a connection cap (class attributes, set by
    :func:`protocol_class`)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 64

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = ""
        if len(self.connections) > self.max_connections:
            log.warning("connection refused: %d connections open (limit %d)", len(self.connections) - 1,
                        self.max_connections)
            self._close_with(503, "Service Unavailable",
                             f"the server has {self.max_connections} connections open, its limit; retry in a moment",
                             "retry-after: 1\r\n")
            return
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.transport.is_closing():
            self._watch(got_bytes=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    # ---- timers ----------------------------------------------------------------------------------
    def _watch(self, got_bytes: bool = False) -> None:
        """Arm the timer that fits what the server waits for now: the request head, body bytes, or nothing."""
        state = self.conn.their_state
        if state is h11.IDLE or (state is h11.DONE and self.conn.our_state is h11.DONE):
            if self._waiting != "head":  # one deadline for the whole head: trickled bytes do not extend it
                self._arm("head", self.header_timeout_s)
        elif state is h11.SEND_BODY:
            if got_bytes or self._waiting != "body":
                self._arm("body", self.body_timeout_s)
        else:  # the request is complete: the application works, nothing is expected from the client
            self._cancel()

    def _arm(self, what: str, delay: float) -> None:
        self._cancel()
        self._waiting = what
        self._timer = self.loop.call_later(delay, self._expired, what)

    def _cancel(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
        self._timer = None
        self._waiting = ""

    def _expired(self, what: str) -> None:
        self._timer = None
        self._waiting = ""
        if self.transport.is_closing():
            return
        if what == "head":  # nothing of a response is in flight: a 408 is safe to send
            log.info("connection closed: no complete request within %g s", self.header_timeout_s)
            self._close_with(408, "Request Timeout",
                             f"no complete request headers within {self.header_timeout_s:g} s; connection closed")
            return
        if getattr(self.flow, "read_paused", False):  # the server stopped reading (its buffer is full): not the client
            self._arm("body", self.body_timeout_s)
            return
        log.info("connection closed: request body paused longer than %g s", self.body_timeout_s)
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # the application answered already; just stop waiting for the body
        else:
            self._close_with(408, "Request Timeout",
                             f"the request body paused longer than {self.body_timeout_s:g} s; connection closed")

    def _close_with(self, status: int, reason: str, detail: str, extra: str = "") -> None:
        try:
            self.transport.write(_raw_response(status, reason, detail, extra))
        finally:
            self.transport.close()


def protocol_class(header_timeout_s: float, body_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these limits (uvicorn builds one instance per connection)."""
    return type("EmodiffheadH11Protocol", (GuardedH11Protocol,),
                {"header_timeout_s": float(header_timeout_s), "body_timeout_s": float(body_timeout_s),
                 "max_connections": int(max_connections)})


def uvicorn_config(app: Any, config: Any, **kw: Any):
    """The ``uvicorn.Config`` for ``app`` with the connection limits of ``config`` (a ServerConfig); ``kw`` are
    further uvicorn settings (log_level, timeout_graceful_shutdown, ...)."""
    import uvicorn

    kw.setdefault("log_config", None)
    kw.setdefault("access_log", False)
    return uvicorn.Config(app, http=protocol_class(config.header_timeout_s, config.body_timeout_s,
                                                   config.max_connections),
                          timeout_keep_alive=config.keep_alive_s, limit_concurrency=config.max_connections + 1,
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES, **kw)
