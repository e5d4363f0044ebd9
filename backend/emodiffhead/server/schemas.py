"""Pydantic models of the JSON the server answers with (they make the published OpenAPI spec)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class ErrorBody(BaseModel):
    """Every error: a message that names the problem."""

    detail: str


class RendererInfo(BaseModel):
    available: bool
    reason: str = ""


class Limits(BaseModel):
    # (the duplicates tool pairs these field lines by shape: each is one documented limit, nothing to share)
    max_upload_mb: float = Field(description="largest request body accepted, MB (2**20 bytes)")
    max_audio_s: float = Field(description="longest audio accepted, seconds")
    min_audio_s: float = Field(description="shortest audio accepted, seconds (the CLI's limit too)")
    max_photo_pixels: int = Field(description="largest photo, width x height, checked from its header")
    max_track_mb: float = Field(description="largest track upload, MB")
    max_track_frames: int = Field(description="most frames in a track upload")
    max_json_depth: int = Field(description="deepest nesting of arrays/objects in any JSON field")
    min_free_mb: float = Field(description="free space kept on the data folder's disk beyond a job's files, MB")
    keep_days: float = Field(description="finished jobs are deleted this many days after they finished (0: never)")
    max_connections: int = Field(description="open connections + running requests before new requests get 503")
    header_timeout_s: float = Field(description="a request's headers must arrive within this time, seconds")
    body_timeout_s: float = Field(description="a request body may pause this long between bytes, seconds")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    head_models: list[str]
    renderers: dict[str, RendererInfo]
    emotions: list[str]
    expression_names: list[str] = Field(description="expression components of the built-in head, in track order")
    limits: Limits


class JobCreated(BaseModel):
    id: str
    state: JobState


class JobStatus(BaseModel):
    id: str
    state: JobState
    progress: float = Field(ge=0, le=1)
    message: str
    frames_done: int
    frames_total: int
    eta_s: float | None = Field(description="seconds left, estimated from the progress rate; null when unknown")
    error: str = Field(description="why the job failed; empty otherwise")
    created: float = Field(description="Unix time, seconds")
    started: float | None
    finished: float | None
    cancel_requested: bool
    renderer: str
    outputs: list[str] = Field(description="'video' when result.mp4 is ready, 'frames' when frames.zip is")
    warnings: list[str] = Field(default_factory=list,
                                description="problems that did not fail the job (e.g. frames.zip could not be written)")
