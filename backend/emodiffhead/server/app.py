"""The FastAPI application: routes, error mapping and request logging.

``create_app(config)`` builds the app; ``emodiffhead serve`` runs it with uvicorn. Heavy endpoints are plain
``def`` handlers (FastAPI runs them in its thread pool); status endpoints are ``async`` and only read memory, so
they answer while the worker thread renders. See ``docs/server.md`` for the API.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..emotion import EMOTIONS
from ..errors import EmodiffheadError, NotAvailableError
from ..seeds import derive_seed
from . import inputs, jsonlimits
from .instance import InstanceLock
from .jobs import FRAMES_NAME, RESULT_NAME, JobFn, JobManager
from .schemas import ErrorBody, Health, JobCreated, JobStatus
from .security import GuardMiddleware, send_json
from .storage import JobStore, is_job_id

log = logging.getLogger("emodiffhead.server")

EmotionName = Literal[EMOTIONS]  # type: ignore[valid-type]
FORM_PATHS = {"/heads", "/animate", "/jobs", "/preview"}
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass
class ServerConfig:
    """Settings of one server.

    data_dir: jobs and token live here; token: the bearer token; max_upload_mb: request body limit (MB);
    max_audio_s: longest audio (s); flame_paths: FLAME model files the clients may name; loopback_only: check
    the Host header (False with --allow-remote); job_fn: runs a render job (default: the render pipeline);
    renderers_fn: name -> (available, reason) of the renderers job_fn offers (default: the render registry);
    switch_interval_s: ``sys.setswitchinterval`` while serving (how soon a request handler gets the GIL from
    a render holding it; CPython's default is 0.005 s), None to leave it.
    max_track_mb: largest track upload (MB); min_free_mb: free space the data folder's disk must keep beyond a
    new job's inputs and estimated outputs (else 507); keep_days: finished jobs older than this are deleted (0:
    never); header_timeout_s / body_timeout_s / keep_alive_s / max_connections: connection limits (see
    :mod:`.connections`); instance: the data folder's lock when the caller took it already (else taken here,
    before any job is read).
    """

    data_dir: Path
    token: str
    max_upload_mb: float = 200.0
    max_audio_s: float = 600.0
    flame_paths: list[Path] = field(default_factory=list)
    loopback_only: bool = True
    job_fn: JobFn | None = None
    renderers_fn: Callable[[], dict[str, tuple[bool, str]]] | None = None
    switch_interval_s: float | None = 0.001
    flame_landmarks: Path | None = None  # landmark embedding for the FLAME files (serve --flame-landmarks)
    max_track_mb: float = 64.0
    min_free_mb: float = 256.0
    keep_days: float = 30.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = 64
    instance: InstanceLock | None = None


def _error_responses(*codes: int) -> dict[int, dict[str, Any]]:
    return {c: {"model": ErrorBody} for c in codes}


class HeadCache:
    """Loads head models on first use: ``"builtin"`` and the configured FLAME files (by path or file stem)."""

    def __init__(self, flame_paths: list[Path], landmarks: Path | None = None) -> None:
        self.landmarks = landmarks
        self.flame = {p.stem: p for p in flame_paths}
        self.flame.update({str(p): p for p in flame_paths})
        self._heads: dict[str, Any] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return ["builtin"] + sorted({p.stem for p in self.flame.values()})

    def get(self, name: str):
        from ..head import load_head

        if name != "builtin" and name not in self.flame:
            raise inputs.ParameterError(f"field 'model': unknown head model {name!r}; this server has "
                                        f"{', '.join(self.names())} (FLAME files are added with serve --flame PATH)")
        key = "builtin" if name == "builtin" else str(self.flame[name])
        with self._lock:
            if key not in self._heads:
                self._heads[key] = load_head("builtin") if name == "builtin" else \
                    load_head(self.flame[name], landmark_embedding=self.landmarks)
            return self._heads[key]


def renderer_status() -> dict[str, tuple[bool, str]]:
    """``available_renderers()`` of the render registry, or why it cannot be asked."""
    try:
        from ..render.registry import available_renderers
    except ImportError as e:
        return {"warp": (False, f"the render pipeline is not installed ({e})")}
    return {name: (bool(ok), str(reason)) for name, (ok, reason) in available_renderers().items()}


def create_app(config: ServerConfig) -> FastAPI:
    """The FastAPI app for ``config`` (starts its job worker on startup, stops it on shutdown).

    Takes the data folder's lock first (unless ``config.instance`` holds it): ServerAlreadyRunning when another
    server uses the folder, before any job on disk is read."""
    store = JobStore(config.data_dir)
    own_lock = config.instance is None
    lock = InstanceLock(store.data_dir).acquire() if own_lock else config.instance
    if config.job_fn is None:
        from .render_job import render_job

        job_fn: JobFn = render_job
    else:
        job_fn = config.job_fn
    try:
        manager = JobManager(store, job_fn, keep_days=config.keep_days)
    except BaseException:
        if own_lock:
            lock.release()
        raise
    renderers = config.renderers_fn or renderer_status
    heads = HeadCache(config.flame_paths, config.flame_landmarks)
    heavy = threading.BoundedSemaphore(2)  # at most two fits / animations at once beside the render worker

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import sys

        if config.switch_interval_s:
            sys.setswitchinterval(config.switch_interval_s)
        manager.start()
        log.info("data folder %s, %d job(s) on disk", config.data_dir, len(manager.list()))
        try:
            yield
        finally:
            manager.stop()
            if own_lock:
                lock.release()

    app = FastAPI(title="emodiffhead server", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, description="Local job service of emodiffhead (see docs/server.md). Every "
                  "endpoint except GET /health needs 'Authorization: Bearer <token>' (token file in the data folder).")
    app.state.config = config
    app.state.manager = manager
    app.state.heads = heads
    app.state.instance = lock
    track_limits = {"max_bytes": int(config.max_track_mb * 2**20),
                    "max_frames": inputs.max_track_frames(config.max_audio_s)}

    # ---- errors -------------------------------------------------------------------------------
    @app.exception_handler(EmodiffheadError)
    async def _user_error(request: Request, exc: EmodiffheadError):
        return JSONResponse({"detail": str(exc)}, status_code=int(getattr(exc, "http_status", 400)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header")]
            parts.append(f"field '{'.'.join(loc) or '?'}': {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal server error ({type(exc).__name__}); see the server log"},
                            status_code=500)

    # ---- health -------------------------------------------------------------------------------
    health_cache: dict[str, Any] = {}
    from ..audio.io import MIN_DURATION_S

    limits = {"max_upload_mb": config.max_upload_mb, "max_audio_s": config.max_audio_s,
              "min_audio_s": MIN_DURATION_S, "max_photo_pixels": inputs.MAX_PHOTO_PIXELS,
              "max_track_mb": config.max_track_mb, "max_track_frames": track_limits["max_frames"],
              "max_json_depth": jsonlimits.MAX_DEPTH, "min_free_mb": config.min_free_mb,
              "keep_days": config.keep_days, "max_connections": config.max_connections,
              "header_timeout_s": config.header_timeout_s, "body_timeout_s": config.body_timeout_s}

    @app.get("/health", response_model=Health, summary="Version, head models, renderers, limits (no token needed)")
    def health() -> dict[str, Any]:
        now = time.monotonic()
        if "t" not in health_cache or now - health_cache["t"] > 5.0:
            try:
                names = list(heads.get("builtin").expression_names)
            except Exception as e:  # the built-in head assets are not installed yet
                log.warning("built-in head not available: %s", e)
                names = []
            rend = renderers()
            health_cache.update(t=now, names=names,
                                renderers={k: {"available": ok, "reason": r} for k, (ok, r) in rend.items()})
        return {"status": "ok", "version": __version__, "head_models": heads.names(),
                "renderers": health_cache["renderers"], "emotions": list(EMOTIONS),
                "expression_names": health_cache["names"],
                "limits": limits}

    @app.head("/health", include_in_schema=False)
    def health_head() -> JSONResponse:  # the same headers as GET, no body (monitors and load balancers use HEAD)
        return JSONResponse(health())

    # ---- heads --------------------------------------------------------------------------------
    @app.post("/heads", summary="A head model (optionally fitted to a photo) as binary glTF",
              response_class=Response, responses={200: {"content": {"model/gltf-binary": {}}},
                                                  **_error_responses(400, 413, 415, 422)})
    def post_heads(model: str = Form("builtin", max_length=4096), photo: UploadFile | None = File(None),
                   shape: str | None = Form(None, max_length=inputs.MAX_SHAPE_BYTES,
                                            description="JSON array of shape coefficients")) -> Response:
        import tempfile

        export_glb_bytes = inputs.need("emodiffhead.gltf", "export_glb_bytes", "glTF export")
        head = heads.get(model)
        shape_arr = _parse_shape(shape, head)
        if photo is not None and photo.filename is not None:
            with tempfile.TemporaryDirectory(prefix="emodiffhead-head-") as tmp:
                path = inputs.save_upload("photo", photo.content_type, photo.file, Path(tmp))
                inputs.check_photo_header(path)  # 413 at once, before waiting for a decode slot
                fit_head = inputs.need("emodiffhead.face.fit", "fit_head", "photo fitting")
                with heavy:  # decoding and fitting: at most two at once
                    rgb = inputs.load_photo_rgb(path)
                    fit = fit_head(rgb, head)
                    del rgb
                shape_arr = getattr(fit, "shape", shape_arr)
        data = export_glb_bytes(head, shape=shape_arr)
        return Response(content=data, media_type="model/gltf-binary")

    # ---- animate ------------------------------------------------------------------------------
    @app.post("/animate", summary="Speech audio + emotion -> expression track (track JSON)",
              responses=_error_responses(400, 409, 413, 415, 422))
    def post_animate(audio: UploadFile = File(..., description="speech recording"),
                     emotion: EmotionName = Form("neutral"), intensity: float = Form(1.0, ge=0.0, le=1.5),
                     emotion_timeline: str | None = Form(None, max_length=inputs.MAX_TIMELINE_BYTES,
                                                         description="JSON emotion timeline (overrides emotion)"),
                     transcript: str | None = Form(None, max_length=100_000),
                     fps: float = Form(25.0, ge=inputs.MIN_FPS, le=inputs.MAX_FPS),
                     seed: int | None = Form(None, ge=0, le=2**31 - 1,
                                             description="idle-motion seed; default: derived from the audio"),
                     model: str = Form("builtin", max_length=4096)) -> JSONResponse:
        import tempfile

        animate = inputs.need("emodiffhead.animate", "animate", "the animator")
        head = heads.get(model)
        timeline = inputs.parse_emotion(emotion, intensity, emotion_timeline)
        with tempfile.TemporaryDirectory(prefix="emodiffhead-animate-") as tmp:
            path = inputs.save_upload("audio", audio.content_type, audio.file, Path(tmp))
            clip = inputs.check_audio(path, config.max_audio_s)
            if seed is None:
                seed = derive_seed(path)
            with heavy:
                track = animate(clip, head, transcript=transcript or None, emotion=timeline, fps=fps, seed=seed)
        return JSONResponse(track.to_dict())

    # ---- jobs ---------------------------------------------------------------------------------
    @app.post("/jobs", status_code=202, response_model=JobCreated, summary="Queue a render job",
              responses=_error_responses(400, 409, 413, 415, 422, 507))
    def post_jobs(request: Request, photo: UploadFile = File(..., description="identity photo with one face"),
                  audio: UploadFile = File(..., description="speech recording"),
                  track: UploadFile | None = File(None, description="expression track JSON (else animated here)"),
                  renderer: str = Form("warp", max_length=64), size: int = Form(512, ge=64, le=1024),
                  fps: float = Form(25.0, ge=inputs.MIN_FPS, le=inputs.MAX_FPS,
                                    description="ignored with a track (its fps is used)"),
                  emotion: EmotionName = Form("neutral"),
                  intensity: float = Form(1.0, ge=0.0, le=1.5),
                  emotion_timeline: str | None = Form(None, max_length=inputs.MAX_TIMELINE_BYTES),
                  transcript: str | None = Form(None, max_length=100_000),
                  seed: int | None = Form(None, ge=0, le=2**31 - 1,
                                          description="idle-motion seed; default: derived from photo and audio"),
                  frames: Literal["none", "zip"] = Form("none")) -> JSONResponse:
        rend = renderers()
        if renderer not in rend:
            raise inputs.ParameterError(f"field 'renderer': unknown renderer {renderer!r}; "
                                        f"this server has {', '.join(sorted(rend))}")
        ok, reason = rend[renderer]
        if not ok:
            raise NotAvailableError(f"renderer {renderer!r} is not available: {reason}")
        if not track or not track.filename:
            track = None
            inputs.parse_emotion(emotion, intensity, emotion_timeline)
        length = request.headers.get("content-length", "")
        upload_bytes = int(length) if length.isdigit() else 0
        check_free_space(upload_bytes)
        try:
            job_id, job_dir = manager.new_job_dir()
        except OSError as e:
            raise inputs.storage_error(e, "the job folder") from None
        try:
            names = {"photo": inputs.save_upload("photo", photo.content_type, photo.file, job_dir).name,
                     "audio": inputs.save_upload("audio", audio.content_type, audio.file, job_dir).name}
            if track is not None:
                names["track"] = inputs.save_upload("track", track.content_type, track.file, job_dir).name
            photo_wh = inputs.check_photo_header(job_dir / names["photo"])  # 413 at once for a huge photo
            t = None
            if track is not None:
                with heavy:  # large tracks are parsed in a child process; bound how many at once
                    t = inputs.parse_track_file(job_dir / names["track"], **track_limits)
            clip = inputs.check_audio(job_dir / names["audio"], config.max_audio_s)
            frames_total = int(round(clip.duration_s * fps))
            if t is not None:
                if t.head_model != "builtin":  # a FLAME track: rendered through the built-in head
                    from ..track import save_track
                    from .head_tracks import builtin_track

                    t = builtin_track(t, heads)
                    save_track(t, job_dir / names["track"])
                inputs.check_track_for_render(t, clip.duration_s)
                fps = t.fps  # a given track is rendered at its own frame rate
                frames_total = int(round(clip.duration_s * fps))
                del t
            with heavy:  # photo decoding and face detection: at most two at once
                inputs.check_photo(job_dir / names["photo"], size)
            check_free_space(estimate_job_bytes(frames_total, size, photo_wh, frames == "zip"))
        except BaseException:
            store.delete(job_id)
            raise
        if seed is None:
            seed = derive_seed(job_dir / names["photo"], job_dir / names["audio"])
        options = {"renderer": renderer, "size": size, "fps": fps, "emotion": emotion, "intensity": intensity,
                   "emotion_timeline": emotion_timeline or "", "transcript": transcript or "", "seed": seed,
                   "frames": frames, "audio_duration_s": round(clip.duration_s, 4)}
        try:
            job = manager.submit(job_id, job_dir, options, names, frames_total=frames_total)
        except OSError as e:
            store.delete(job_id)
            raise inputs.storage_error(e, "the job's state") from None
        return JSONResponse({"id": job.id, "state": job.state}, status_code=202)

    def check_free_space(need_bytes: int) -> None:
        """InsufficientStorage (507) unless the data folder's disk has ``need_bytes`` + min_free_mb free."""
        try:
            free = store.free_bytes()
        except OSError:
            return
        need = int(need_bytes + config.min_free_mb * 2**20)
        if free < need:
            raise inputs.InsufficientStorage(
                f"the disk of the server's data folder has {free / 2**20:.0f} MB free; this job needs about "
                f"{need / 2**20:.0f} MB (its files plus a reserve of {config.min_free_mb:g} MB, set with "
                "emodiffhead serve --min-free-mb); free space or delete old jobs, then submit again")

    def _job(job_id: str):
        job = manager.get(job_id) if is_job_id(job_id) else None
        if job is None:
            raise StarletteHTTPException(404, f"unknown job id {job_id[:64]!r}")
        return job

    @app.get("/jobs", response_model=list[JobStatus], summary="All jobs, oldest first")
    async def list_jobs() -> list[dict[str, Any]]:
        return [j.status() for j in manager.list()]

    @app.get("/jobs/{job_id}", response_model=JobStatus, summary="State and progress of a job",
             responses=_error_responses(404))
    async def get_job(job_id: str) -> dict[str, Any]:
        return _job(job_id).status()

    @app.post("/jobs/{job_id}/cancel", response_model=JobStatus, responses=_error_responses(404),
              summary="Cancel a queued job at once or stop a running one at its next frame")
    async def cancel_job(job_id: str) -> dict[str, Any]:
        _job(job_id)
        return manager.cancel(job_id).status()

    @app.delete("/jobs/{job_id}", status_code=204, response_class=Response, responses=_error_responses(404, 409),
                summary="Delete a finished job and its files")
    async def delete_job(job_id: str) -> Response:
        job = _job(job_id)
        if not manager.delete(job_id):
            raise StarletteHTTPException(409, f"job {job_id} is {job.state}; cancel it before deleting it")
        return Response(status_code=204)

    def _output(job_id: str, key: str, name: str, media_type: str) -> FileResponse:
        job = _job(job_id)
        if job.state != "done":
            raise StarletteHTTPException(409, f"job {job_id} is {job.state}; its result is ready when the state "
                                              "is done" + (f" (error: {job.error})" if job.error else ""))
        path = job.dir / name
        if key not in job.outputs or not path.is_file():
            what = "frames were not requested (frames=zip)" if key == "frames" else "the result file is missing"
            raise StarletteHTTPException(404, f"job {job_id}: {what}")
        return FileResponse(path, media_type=media_type, filename=f"emodiffhead-{job_id}{Path(name).suffix}")

    @app.get("/jobs/{job_id}/result", response_class=FileResponse, summary="The rendered video (when done)",
             responses={200: {"content": {"video/mp4": {}}}, **_error_responses(404, 409)})
    async def job_result(job_id: str):
        return _output(job_id, "video", RESULT_NAME, "video/mp4")

    @app.get("/jobs/{job_id}/frames.zip", response_class=FileResponse, summary="The frames as PNGs in a zip",
             responses={200: {"content": {"application/zip": {}}}, **_error_responses(404, 409)})
    async def job_frames(job_id: str):
        return _output(job_id, "frames", FRAMES_NAME, "application/zip")

    # ---- preview ------------------------------------------------------------------------------
    from .preview import PreviewCache

    previews = PreviewCache()

    @app.post("/preview", summary="One frame of a track on the photo, as PNG (fit cached per photo)",
              response_class=Response, responses={200: {"content": {"image/png": {}}},
                                                  **_error_responses(400, 413, 415, 422)})
    def post_preview(photo: UploadFile = File(..., description="identity photo with one face"),
                     track: UploadFile = File(..., description="track JSON (FLAME tracks are mapped to the built-in head)"),
                     frame: int = Form(0, ge=0, description="track frame to render (0-based)"),
                     size: int = Form(512, ge=64, le=1024)) -> Response:
        from ..track import check_compatible
        from .head_tracks import builtin_track

        inputs.check_photo_header(photo.file)  # 413 at once for a huge photo, before any decoding
        data = track.file.read(track_limits["max_bytes"] + 1)
        t = builtin_track(inputs.parse_track_bytes(data, **track_limits), heads)
        head = heads.get("builtin")
        check_compatible(t, head.expression_names, head.name)
        photo.file.seek(0)
        with heavy:
            png = previews.render_png(photo.file.read(), t, frame, size, head)
        return Response(content=png, media_type="image/png")

    _add_security_scheme(app)
    # first added = innermost: request log -> guards (origin, host, token, size) -> form content type -> routes
    app.add_middleware(FormTypeMiddleware)
    app.add_middleware(GuardMiddleware, token=config.token, loopback_only=config.loopback_only,
                       max_body_bytes=int(config.max_upload_mb * 2**20))
    app.add_middleware(RequestLogMiddleware)
    return app


def estimate_job_bytes(frames: int, size: int, photo_wh: tuple[int, int], with_frames_zip: bool) -> int:
    """Disk space a job's outputs may take, bytes: the mp4 (generous: 0.05 byte per pixel per frame) and,
    with frames.zip, PNG frames (1.5 bytes per pixel, about half of raw RGB). The video has the photo's
    aspect with ``size`` px on the short side."""
    pixels = int(frames) * size * size * max(photo_wh) / max(1, min(photo_wh))
    return int(pixels * (0.05 + (1.5 if with_frames_zip else 0.0)))


def _parse_shape(text: str | None, head):
    import numpy as np

    if not text:
        return None
    values = jsonlimits.loads(text, "shape", max_bytes=inputs.MAX_SHAPE_BYTES, max_depth=1)
    try:
        arr = np.asarray(values, np.float32)
    except (ValueError, TypeError, OverflowError):
        raise inputs.ParameterError("field 'shape': expected a JSON array of numbers") from None
    S = int(head.shape_basis.shape[-1])
    if arr.ndim != 1 or arr.size > S or not np.all(np.isfinite(arr)):
        raise inputs.ParameterError(f"field 'shape': expected a JSON array of at most {S} finite numbers")
    out = np.zeros(S, np.float32)
    out[: arr.size] = arr
    return out


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
