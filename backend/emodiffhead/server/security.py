"""Access token, loopback checks and the ASGI guards in front of every request.

- The token is random (``secrets.token_urlsafe(32)``), stored in ``<data_dir>/token`` with mode 0600 and reused
  across restarts (a token file readable by others, or a malformed one, is replaced by a new token).
- :class:`GuardMiddleware` refuses, in this order: a browser ``Origin`` other than this server's own loopback
  origin (403), a ``Host`` that is not loopback when bound to loopback (403, DNS rebinding), a missing or wrong
  ``Authorization: Bearer`` token on anything but ``GET /health`` (401), and request bodies over the limit (413).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Awaitable, Callable

from .storage import atomic_write_bytes

TOKEN_FILE = "token"
PUBLIC_PATHS = {("GET", "/health"), ("HEAD", "/health")}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def load_or_create_token(data_dir: Path, *, renew: bool = False) -> str:
    """The access token in ``<data_dir>/token``; created (mode 0600) when missing, unsafe or ``renew``."""
    path = Path(data_dir) / TOKEN_FILE
    if not renew and path.is_file():
        st = path.stat()
        private = (st.st_mode & (stat.S_IRWXG | stat.S_IRWXO)) == 0 and st.st_uid == os.getuid()
        token = path.read_text(encoding="ascii", errors="replace").strip()
        if private and len(token) >= 32 and all(c.isalnum() or c in "-_" for c in token):
            return token
    token = secrets.token_urlsafe(32)
    atomic_write_bytes(path, (token + "\n").encode("ascii"), mode=0o600)
    return token


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    h = host.strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def allowed_origins(port: int) -> set[str]:
    """The browser origins that may talk to a server on ``port``: its own loopback origins only."""
    return {f"http://{name}:{port}" for name in LOOPBACK_NAMES}


def _host_name(host_header: str) -> str:
    """``example.org`` from ``example.org:8765`` / ``[::1]`` from ``[::1]:8765``."""
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    """Send a complete JSON response from ASGI middleware."""
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a request body passes the limit."""


class GuardMiddleware:
    """Origin, Host, token and body-size checks (pure ASGI, before any routing or body parsing).

    token: the bearer token; loopback_only: check the Host header; max_body_bytes: request body limit.
    """

    def __init__(self, app, *, token: str, loopback_only: bool, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.loopback_only = loopback_only
        self.max_body_bytes = int(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        server = scope.get("server") or ("127.0.0.1", 0)
        port = int(server[1] or 0)
        origin = headers.get("origin")
        if origin is not None and origin not in allowed_origins(port):
            await send_json(send, 403, {"detail": f"requests from the browser origin {origin[:100]!r} are refused; "
                                                  "only this server's own loopback origin may call it"})
            return
        if self.loopback_only:
            host = _host_name(headers.get("host", ""))
            if host and not is_loopback(host):
                await send_json(send, 403, {"detail": f"Host header {host[:100]!r} is not a loopback name; "
                                                      "this server only answers on 127.0.0.1/localhost"})
                return
        if (scope["method"], scope["path"]) not in PUBLIC_PATHS:
            auth = headers.get("authorization", "")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), self.token.encode()):
                what = "missing" if not auth else "wrong"
                await send_json(send, 401, {"detail": f"access token {what}: send 'Authorization: Bearer <token>' "
                                                      "with the token from the server's token file"},
                                [(b"www-authenticate", b"Bearer")])
                return
        limit = self.max_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await send_json(send, 413, _too_large(limit))
            return
        seen = 0
        started = False
        exceeded = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to the broken body is replaced by the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await send_json(send, 413, _too_large(limit))


def _too_large(limit: int) -> dict[str, str]:
    return {"detail": f"request body is larger than the upload limit of {round(limit / 2**20, 3):g} MB "
                      "(set with emodiffhead serve --max-upload-mb)"}
