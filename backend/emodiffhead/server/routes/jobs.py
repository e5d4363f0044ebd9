"""The render jobs: POST /jobs queues one; GET /jobs, GET /jobs/{id}, cancel, DELETE, result and frames.zip."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...errors import NotAvailableError
from ...seeds import derive_seed
from .. import inputs
from ..forms import Audio, Emotion, Intensity, Photo, Size, Transcript, fps_field, seed_field
from ..jobs import FRAMES_NAME, RESULT_NAME, Job
from ..schemas import JobCreated, JobStatus
from ..state import FoundJob, Manager, ServerState, State
from ._responses import error_responses

router = APIRouter()


@router.post("/jobs", status_code=202, response_model=JobCreated, summary="Queue a render job",
             responses=error_responses(400, 409, 413, 415, 422, 507))
def post_jobs(request: Request, state: State, photo: Photo, audio: Audio,
              track: UploadFile | None = File(None, description="expression track JSON (else animated here)"),
              renderer: str = Form("warp", max_length=64), size: Size = 512,
              fps: float = fps_field("ignored with a track (its fps is used)"),
              emotion: Emotion = "neutral", intensity: Intensity = 1.0,
              emotion_timeline: str | None = Form(None, max_length=inputs.MAX_TIMELINE_BYTES),
              transcript: Transcript = None,
              seed: int | None = seed_field("idle-motion seed; default: derived from photo and audio"),
              frames: Literal["none", "zip"] = Form("none")) -> JSONResponse:
    check_renderer(state, renderer)
    if not track or not track.filename:
        track = None
        inputs.parse_emotion(emotion, intensity, emotion_timeline)
    length = request.headers.get("content-length", "")
    state.check_free_space(int(length) if length.isdigit() else 0)
    try:
        job_id, job_dir = state.manager.new_job_dir()
    except OSError as e:
        raise inputs.storage_error(e, "the job folder") from None
    try:
        names = {"photo": inputs.save_upload("photo", photo.content_type, photo.file, job_dir).name,
                 "audio": inputs.save_upload("audio", audio.content_type, audio.file, job_dir).name}
        if track is not None:
            names["track"] = inputs.save_upload("track", track.content_type, track.file, job_dir).name
        duration_s, fps = check_job_inputs(state, job_dir, names, size, fps, frames == "zip")
    except BaseException:
        state.store.delete(job_id)
        raise
    if seed is None:
        seed = derive_seed(job_dir / names["photo"], job_dir / names["audio"])
    options = {"renderer": renderer, "size": size, "fps": fps, "emotion": emotion, "intensity": intensity,
               "emotion_timeline": emotion_timeline or "", "transcript": transcript or "", "seed": seed,
               "frames": frames, "audio_duration_s": round(duration_s, 4)}
    try:
        job = state.manager.submit(job_id, job_dir, options, names, frames_total=int(round(duration_s * fps)))
    except OSError as e:
        state.store.delete(job_id)
        raise inputs.storage_error(e, "the job's state") from None
    return JSONResponse({"id": job.id, "state": job.state}, status_code=202)


def check_renderer(state: ServerState, renderer: str) -> None:
    """ParameterError (400) for a renderer the server does not have, NotAvailableError for one it cannot run."""
    rend = state.renderers()
    if renderer not in rend:
        raise inputs.ParameterError(f"field 'renderer': unknown renderer {renderer!r}; "
                                    f"this server has {', '.join(sorted(rend))}")
    ok, reason = rend[renderer]
    if not ok:
        raise NotAvailableError(f"renderer {renderer!r} is not available: {reason}")


def check_job_inputs(state: ServerState, job_dir: Path, names: dict[str, str], size: int, fps: float,
                     with_frames_zip: bool) -> tuple[float, float]:
    """Check a new job's saved uploads (``names``: role -> file name in ``job_dir``) before it is queued.

    A FLAME track is rewritten as a built-in-head track in place. Returns (audio duration in s, the fps to
    render at: the track's own when there is one). Raises the 4xx/507 user errors."""
    photo_wh = inputs.check_photo_header(job_dir / names["photo"])  # 413 at once for a huge photo
    t = None
    if "track" in names:
        with state.heavy:  # large tracks are parsed in a child process; bound how many at once
            t = inputs.parse_track_file(job_dir / names["track"], **state.track_limits.kwargs())
    clip = inputs.check_audio(job_dir / names["audio"], state.config.max_audio_s)
    if t is not None:
        if t.head_model != "builtin":  # a FLAME track: rendered through the built-in head
            from ...track import save_track
            from ..head_tracks import builtin_track

            t = builtin_track(t, state.heads)
            save_track(t, job_dir / names["track"])
        inputs.check_track_for_render(t, clip.duration_s)
        fps = t.fps  # a given track is rendered at its own frame rate
        del t
    with state.heavy:  # photo decoding and face detection: at most two at once
        inputs.check_photo(job_dir / names["photo"], size)
    frames_total = int(round(clip.duration_s * fps))
    state.check_free_space(estimate_job_bytes(frames_total, size, photo_wh, with_frames_zip))
    return clip.duration_s, fps


def estimate_job_bytes(frames: int, size: int, photo_wh: tuple[int, int], with_frames_zip: bool) -> int:
    """Disk space a job's outputs may take, bytes: the mp4 (generous: 0.05 byte per pixel per frame) and,
    with frames.zip, PNG frames (1.5 bytes per pixel, about half of raw RGB). The video has the photo's
    aspect with ``size`` px on the short side."""
    pixels = int(frames) * size * size * max(photo_wh) / max(1, min(photo_wh))
    return int(pixels * (0.05 + (1.5 if with_frames_zip else 0.0)))


@router.get("/jobs", response_model=list[JobStatus], summary="All jobs, oldest first")
async def list_jobs(manager: Manager) -> list[dict[str, Any]]:
    return [j.status() for j in manager.list()]


@router.get("/jobs/{job_id}", response_model=JobStatus, summary="State and progress of a job",
            responses=error_responses(404))
async def get_job(job: FoundJob) -> dict[str, Any]:
    return job.status()


@router.post("/jobs/{job_id}/cancel", response_model=JobStatus, responses=error_responses(404),
             summary="Cancel a queued job at once or stop a running one at its next frame")
async def cancel_job(job: FoundJob, manager: Manager) -> dict[str, Any]:
    return manager.cancel(job.id).status()


@router.delete("/jobs/{job_id}", status_code=204, response_class=Response, responses=error_responses(404, 409),
               summary="Delete a finished job and its files")
async def delete_job(job: FoundJob, manager: Manager) -> Response:
    if not manager.delete(job.id):
        raise StarletteHTTPException(409, f"job {job.id} is {job.state}; cancel it before deleting it")
    return Response(status_code=204)


def job_output(job: Job, key: str, name: str, media_type: str) -> FileResponse:
    """The file ``name`` of a done job (output ``key``); 409 while it is not done, 404 when the file is missing."""
    if job.state != "done":
        raise StarletteHTTPException(409, f"job {job.id} is {job.state}; its result is ready when the state "
                                          "is done" + (f" (error: {job.error})" if job.error else ""))
    path = job.dir / name
    if key not in job.outputs or not path.is_file():
        what = "frames were not requested (frames=zip)" if key == "frames" else "the result file is missing"
        raise StarletteHTTPException(404, f"job {job.id}: {what}")
    return FileResponse(path, media_type=media_type, filename=f"emodiffhead-{job.id}{Path(name).suffix}")


@router.get("/jobs/{job_id}/result", response_class=FileResponse, summary="The rendered video (when done)",
            responses={200: {"content": {"video/mp4": {}}}, **error_responses(404, 409)})
async def job_result(job: FoundJob):
    return job_output(job, "video", RESULT_NAME, "video/mp4")


@router.get("/jobs/{job_id}/frames.zip", response_class=FileResponse, summary="The frames as PNGs in a zip",
            responses={200: {"content": {"application/zip": {}}}, **error_responses(404, 409)})
async def job_frames(job: FoundJob):
    return job_output(job, "frames", FRAMES_NAME, "application/zip")
