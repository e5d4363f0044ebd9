"""ASGI middleware of the server: the form content-type check (415) and the one-line-per-request log."""

from __future__ import annotations

import logging
import time

from .security import send_json

log = logging.getLogger("emodiffhead.server")

FORM_PATHS = {"/heads", "/animate", "/jobs", "/preview"}
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class FormTypeMiddleware:
    """415 for a POST to a form endpoint whose body is not multipart/form-data (or urlencoded)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in FORM_PATHS:
            ct = ""
            for k, v in scope.get("headers", []):
                if k.lower() == b"content-type":
                    ct = v.decode("latin-1").split(";")[0].strip().lower()
            if ct and ct not in FORM_TYPES:
                await send_json(send, 415, {"detail": f"content type {ct!r} is not accepted; {scope['path']} takes "
                                                      "multipart/form-data"})
                return
        await self.app(scope, receive, send)


class RequestLogMiddleware:
    """One log line per request: method, path, status, milliseconds."""

    def __init__(self, app) -> None:
        self.app = app
        self.log = logging.getLogger("emodiffhead.server.requests")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [0]

        async def send_logged(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        except Exception:
            if status[0] == 0:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                await send_json(send, 500, {"detail": "internal server error; see the server log"})
                status[0] = 500
            else:
                raise
        finally:
            self.log.info("%s %s %d %.1f ms", scope["method"], scope["path"][:200], status[0],
                          (time.perf_counter() - t0) * 1e3)
