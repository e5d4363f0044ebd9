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
    max_upload_mb: float = Field(description="largest request body accepted, MB (2**20 bytes)")
    max_audio_s: float = Field(description="longest audio accepted, seconds")


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
