"""What every request shares: the server's state, built once per app, and the FastAPI dependencies that hand it
to the route functions (``state: State``, ``heads: Heads``, ``manager: Manager``, ``job: FoundJob``).

The dependencies are ``async`` and only read ``request.app.state``, so they run on the event loop and never
wait for a thread-pool slot (status answers stay quick while the worker renders).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from fastapi import Depends, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import inputs, jsonlimits
from .config import ServerConfig
from .head_cache import HeadCache
from .jobs import Job, JobManager
from .preview import PreviewCache
from .storage import JobStore, is_job_id

RenderersFn = Callable[[], dict[str, tuple[bool, str]]]


def renderer_status() -> dict[str, tuple[bool, str]]:
    """``available_renderers()`` of the render registry, or why it cannot be asked."""
    try:
        from ..render.registry import available_renderers
    except ImportError as e:
        return {"warp": (False, f"the render pipeline is not installed ({e})")}
    return {name: (bool(ok), str(reason)) for name, (ok, reason) in available_renderers().items()}


@dataclass(frozen=True)
class TrackLimits:
    """Limits of a track upload: ``max_bytes`` (bytes) and ``max_frames`` (frames)."""

    max_bytes: int
    max_frames: int

    @classmethod
    def of(cls, config: ServerConfig) -> "TrackLimits":
        return cls(max_bytes=int(config.max_track_mb * 2**20), max_frames=inputs.max_track_frames(config.max_audio_s))

    def kwargs(self) -> dict[str, int]:
        """The keyword arguments of ``inputs.parse_track_file`` / ``parse_track_bytes``."""
        return {"max_bytes": self.max_bytes, "max_frames": self.max_frames}


@dataclass
class ServerState:
    """One server's shared objects. ``heavy`` bounds fits / animations / track parses to two at once beside the
    render worker; ``health_cache`` holds the slow parts of GET /health for 5 s."""

    config: ServerConfig
    store: JobStore
    manager: JobManager
    heads: HeadCache
    renderers: RenderersFn
    track_limits: TrackLimits
    heavy: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(2))
    previews: PreviewCache = field(default_factory=PreviewCache)
    health_cache: dict[str, Any] = field(default_factory=dict)

    def limits(self) -> dict[str, Any]:
        """The ``limits`` object of GET /health (see ``schemas.Limits``)."""
        from ..audio.io import MIN_DURATION_S

        c = self.config
        return {"max_upload_mb": c.max_upload_mb, "max_audio_s": c.max_audio_s,
                "min_audio_s": MIN_DURATION_S, "max_photo_pixels": inputs.MAX_PHOTO_PIXELS,
                "max_track_mb": c.max_track_mb, "max_track_frames": self.track_limits.max_frames,
                "max_json_depth": jsonlimits.MAX_DEPTH, "min_free_mb": c.min_free_mb,
                "keep_days": c.keep_days, "max_connections": c.max_connections,
                "header_timeout_s": c.header_timeout_s, "body_timeout_s": c.body_timeout_s}

    def check_free_space(self, need_bytes: int) -> None:
        """InsufficientStorage (507) unless the data folder's disk has ``need_bytes`` + min_free_mb free."""
        try:
            free = self.store.free_bytes()
        except OSError:
            return
        need = int(need_bytes + self.config.min_free_mb * 2**20)
        if free < need:
            raise inputs.InsufficientStorage(
                f"the disk of the server's data folder has {free / 2**20:.0f} MB free; this job needs about "
                f"{need / 2**20:.0f} MB (its files plus a reserve of {self.config.min_free_mb:g} MB, set with "
                "emodiffhead serve --min-free-mb); free space or delete old jobs, then submit again")


async def server_state(request: Request) -> ServerState:
    """Dependency: the state of the app serving ``request``."""
    return request.app.state.server


async def head_cache(request: Request) -> HeadCache:
    """Dependency: the server's head models."""
    return request.app.state.server.heads


async def job_manager(request: Request) -> JobManager:
    """Dependency: the server's job manager."""
    return request.app.state.server.manager


async def found_job(job_id: str, manager: Annotated[JobManager, Depends(job_manager)]) -> Job:
    """Dependency: the job named by the path's ``job_id``; 404 when there is none."""
    job = manager.get(job_id) if is_job_id(job_id) else None
    if job is None:
        raise StarletteHTTPException(404, f"unknown job id {job_id[:64]!r}")
    return job


State = Annotated[ServerState, Depends(server_state)]
Heads = Annotated[HeadCache, Depends(head_cache)]
Manager = Annotated[JobManager, Depends(job_manager)]
FoundJob = Annotated[Job, Depends(found_job)]
