"""The local HTTP job service used by the Blender add-on (``emodiffhead serve``).

- ``app``         the FastAPI app: state, routers, error handlers, middleware (``create_app(ServerConfig)``).
- ``config``      ``ServerConfig``, the settings of one server.
- ``state``       what requests share (``ServerState``) and the dependencies that hand it to routes.
- ``routes``      one ``APIRouter`` per resource: health, heads, animate, jobs, preview.
- ``forms``       form fields several endpoints take, declared once.
- ``head_cache``  head models loaded on first use.
- ``error_handlers`` / ``middleware``  errors as ``{"detail"}`` answers; 415 for non-form bodies; request log.
- ``jobs``        job state, the queue and the one render worker thread.
- ``render_job``  the default job function (render pipeline + optional frames zip).
- ``inputs``      upload content types, fixed file names, validation and content limits before queuing.
- ``jsonlimits``  client JSON parsed with limits (bytes, nesting depth, number length and range).
- ``image_header`` photo width x height from the file header (the pixel cap, before decoding).
- ``security``    token file, Origin / Host / token / body-size guards.
- ``connections`` header/body timeouts and the connection cap (uvicorn's h11 protocol, ``uvicorn_config``).
- ``instance``    one server per data folder: the lock and server.json.
- ``storage``     the data folder: job folders and atomic job.json files.
- ``schemas``     response models (the published OpenAPI spec).
- ``testing``     ``start_server(data_dir)`` for other test suites (e.g. the add-on's).
"""

from __future__ import annotations

__all__ = ["ServerConfig", "create_app"]


def __getattr__(name: str):
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
