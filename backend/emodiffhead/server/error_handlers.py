"""How errors become responses: ``{"detail": message}`` with the error's status code."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EmodiffheadError

log = logging.getLogger("emodiffhead.server")


async def user_error(request: Request, exc: EmodiffheadError) -> JSONResponse:
    """A user error: its message with its ``http_status`` (400 by default)."""
    return JSONResponse({"detail": str(exc)}, status_code=int(getattr(exc, "http_status", 400)))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each invalid field: ``field 'NAME': message; ...``."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header")]
        parts.append(f"field '{'.'.join(loc) or '?'}': {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """404 / 405 / 409 and the like, with their headers."""
    return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


async def bug(request: Request, exc: Exception) -> JSONResponse:
    """500 for anything unexpected; the traceback goes to the server log."""
    log.exception("internal error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": f"internal server error ({type(exc).__name__}); see the server log"},
                        status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(EmodiffheadError, user_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, bug)
