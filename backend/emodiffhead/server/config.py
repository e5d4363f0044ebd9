"""``ServerConfig``: the settings of one server (``emodiffhead serve`` fills it from its options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .instance import InstanceLock
from .jobs import JobFn


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
