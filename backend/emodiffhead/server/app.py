"""The FastAPI application: state, routers, error mapping and request logging.

``create_app(config)`` builds the app; ``emodiffhead serve`` runs it with uvicorn. The routes live in
:mod:`.routes`, one ``APIRouter`` per resource, and get the shared state through the dependencies of
:mod:`.state`. Heavy endpoints are plain ``def`` handlers (FastAPI runs them in its thread pool); status
endpoints are ``async`` and only read memory, so they answer while the worker thread renders. See
``docs/server.md`` for the API.
"""

from __future__ import annotations

import logging
import sys
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .. import __version__
from .config import ServerConfig
from .error_handlers import install_error_handlers
from .head_cache import HeadCache
from .instance import InstanceLock
from .jobs import JobFn, JobManager
from .middleware import FormTypeMiddleware, RequestLogMiddleware
from .routes import ROUTERS
from .security import GuardMiddleware
from .state import ServerState, TrackLimits, renderer_status
from .storage import JobStore

__all__ = ["ServerConfig", "create_app"]

log = logging.getLogger("emodiffhead.server")
DESCRIPTION = ("Local job service of emodiffhead (see docs/server.md). Every endpoint except GET /health needs "
               "'Authorization: Bearer <token>' (token file in the data folder).")


def create_app(config: ServerConfig) -> FastAPI:
    """The FastAPI app for ``config`` (starts its job worker on startup, stops it on shutdown).

    Takes the data folder's lock first (unless ``config.instance`` holds it): ServerAlreadyRunning when another
    server uses the folder, before any job on disk is read."""
    store = JobStore(config.data_dir)
    own_lock = config.instance is None
    lock = InstanceLock(store.data_dir).acquire() if own_lock else config.instance
    try:
        manager = JobManager(store, _job_fn(config), keep_days=config.keep_days)
    except BaseException:
        if own_lock:
            lock.release()
        raise
    state = ServerState(config=config, store=store, manager=manager,
                        heads=HeadCache(config.flame_paths, config.flame_landmarks),
                        renderers=config.renderers_fn or renderer_status, track_limits=TrackLimits.of(config))
    app = FastAPI(title="emodiffhead server", version=__version__, lifespan=_lifespan(state, lock if own_lock else None),
                  docs_url=None, redoc_url=None, description=DESCRIPTION)
    app.state.server = state
    app.state.config = config
    app.state.manager = manager
    app.state.heads = state.heads
    app.state.instance = lock
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _add_security_scheme(app)
    # first added = innermost: request log -> guards (origin, host, token, size) -> form content type -> routes
    app.add_middleware(FormTypeMiddleware)
    app.add_middleware(GuardMiddleware, token=config.token, loopback_only=config.loopback_only,
                       max_body_bytes=int(config.max_upload_mb * 2**20))
    app.add_middleware(RequestLogMiddleware)
    return app


def _job_fn(config: ServerConfig) -> JobFn:
    """``config.job_fn``, else the render pipeline's job function."""
    if config.job_fn is not None:
        return config.job_fn
    from .render_job import render_job

    return render_job


def _lifespan(state: ServerState, own_lock: InstanceLock | None):
    """The app's lifespan: the GIL switch interval and the job worker while serving; releases ``own_lock``
    (the data folder's lock when create_app took it) on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if state.config.switch_interval_s:
            sys.setswitchinterval(state.config.switch_interval_s)
        state.manager.start()
        log.info("data folder %s, %d job(s) on disk", state.config.data_dir, len(state.manager.list()))
        try:
            yield
        finally:
            state.manager.stop()
            if own_lock is not None:
                own_lock.release()

    return lifespan


def _add_security_scheme(app: FastAPI) -> None:
    """Declare the bearer token in the published OpenAPI spec."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = base()
        spec.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        for path, ops in spec.get("paths", {}).items():
            for method, op in ops.items():
                if (method.upper(), path) != ("GET", "/health"):
                    op["security"] = [{"bearer": []}]
                    op.setdefault("responses", {}).setdefault("401", {"description": "token missing or wrong"})
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
