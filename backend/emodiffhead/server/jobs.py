"""Render jobs: state, a queue and the one worker thread that runs them in order.

A job runs through ``job_fn(job, progress, cancel)``, which must write ``job.dir / job.output_tmp`` (the
manager renames it to ``result.mp4`` when the function returns) and poll ``cancel()`` between frames.
Request handlers only read in-memory state, so status answers never wait for the render.
States: queued -> running -> done | failed | cancelled; a queued job is cancelled without running.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import CancelledError, EmodiffheadError
from ..progress import CancelFn, ProgressFn
from .storage import JobStore

log = logging.getLogger("emodiffhead.server.jobs")

TERMINAL = ("done", "failed", "cancelled")
RESULT_NAME = "result.mp4"
FRAMES_NAME = "frames.zip"
#: Persist progress to job.json at most this often (seconds); state changes are always persisted.
PERSIST_INTERVAL_S = 1.0
#: How often the worker deletes jobs past the retention time when it is idle (seconds).
SWEEP_INTERVAL_S = 3600.0


@dataclass
class Job:
    """One render job. ``options`` are the validated render options; ``inputs`` maps role -> file name in ``dir``."""

    id: str
    dir: Path
    options: dict[str, Any]
    inputs: dict[str, str]
    state: str = "queued"
    progress: float = 0.0
    message: str = ""
    frames_done: int = 0
    frames_total: int = 0
    error: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    outputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    output_tmp = "result.tmp.mp4"

    def input_path(self, role: str) -> Path | None:
        name = self.inputs.get(role)
        return self.dir / name if name else None

    @property
    def eta_s(self) -> float | None:
        """Seconds left, from the progress rate so far (None before the first progress)."""
        if self.state != "running" or self.started is None or self.progress <= 0.0:
            return None
        elapsed = time.time() - self.started
        return max(0.0, elapsed * (1.0 - self.progress) / self.progress)

    def status(self) -> dict[str, Any]:
        """The public status dict (GET /jobs/{id})."""
        return {"id": self.id, "state": self.state, "progress": round(self.progress, 4), "message": self.message,
                "frames_done": self.frames_done, "frames_total": self.frames_total,
                "eta_s": None if self.eta_s is None else round(self.eta_s, 2), "error": self.error,
                "created": self.created, "started": self.started, "finished": self.finished,
                "cancel_requested": self.cancel_requested, "renderer": self.options.get("renderer", ""),
                "outputs": sorted(self.outputs), "warnings": list(self.warnings)}

    def to_record(self) -> dict[str, Any]:
        d = asdict(self)
        d["dir"] = None
        return d

    @classmethod
    def from_record(cls, d: dict[str, Any], job_dir: Path) -> "Job":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "dir"}
        return cls(dir=job_dir, **known)


JobFn = Callable[[Job, ProgressFn, CancelFn], None]


class JobManager:
    """Holds every job, persists their state, and runs them one at a time on a worker thread."""

    def __init__(self, store: JobStore, job_fn: JobFn, keep_days: float = 0.0) -> None:
        """keep_days: finished jobs older than this are deleted at start and then hourly (0: kept forever)."""
        self.store = store
        self.job_fn = job_fn
        self.keep_days = float(keep_days)
        self._last_sweep = time.monotonic()
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._current: str | None = None
        self._load()

    # ---- lifecycle --------------------------------------------------------------------------
    def _load(self) -> None:
        """Find jobs on disk: finished ones come back; queued/running ones failed with the restart; a folder
        without job.json (a submission interrupted before it was queued) is deleted; a folder whose job.json
        cannot be read is kept as a failed job, so the API can show and delete it."""
        for job_id, rec in self.store.read_all():
            job_dir = self.store.job_dir(job_id)
            if rec is None and not self.store.has_state(job_id):
                self.store.delete(job_id)
                log.warning("job folder %s had no job.json (a submission interrupted before it was queued); "
                            "deleted", job_id)
                continue
            job = None
            if rec is not None:
                try:
                    job = Job.from_record(rec, job_dir)
                except TypeError:
                    job = None
            if job is None:
                try:
                    created = job_dir.stat().st_mtime
                except OSError:
                    created = time.time()
                job = Job(id=job_id, dir=job_dir, options={}, inputs={}, state="failed", created=created,
                          finished=created, error="job.json is unreadable or has an unknown layout",
                          message="found on disk without a readable state")
                self._persist(job)
                log.warning("job %s: job.json unreadable; kept as a failed job", job_id)
            self.store.remove_temp_files(job_id)
            if job.state not in TERMINAL:
                job.state, job.error, job.finished = "failed", "server restarted", time.time()
                job.message = "the server stopped before this job finished"
                self._persist(job)
                log.info("job %s failed: server restarted", job_id)
            elif job.state == "done" and not (job_dir / RESULT_NAME).is_file():
                job.state, job.error = "failed", "result file missing"
                self._persist(job)
                log.info("job %s failed: result file missing", job_id)
            self._jobs[job_id] = job
        self.sweep_expired()

    def sweep_expired(self) -> int:
        """Delete finished jobs (done, failed, cancelled) that finished more than ``keep_days`` ago (never when
        ``keep_days`` is 0). Returns how many were deleted."""
        if not self.keep_days or self.keep_days <= 0:
            return 0
        cutoff = time.time() - self.keep_days * 86400.0
        old = [j.id for j in self.list() if j.state in TERMINAL and (j.finished or j.created) < cutoff]
        for job_id in old:
            self.delete(job_id)
        if old:
            log.info("deleted %d job(s) finished more than %g day(s) ago (--keep-days)", len(old), self.keep_days)
        self._last_sweep = time.monotonic()
        return len(old)

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._stopping = False
            self._queue = queue.Queue()
            for job in self.list():
                if job.state == "queued":
                    self._queue.put(job.id)
            self._thread = threading.Thread(target=self._worker, name="emodiffhead-render-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running job, stop the worker and wait for it (queued jobs stay queued on disk)."""
        self._stopping = True
        if self._current:
            job = self._jobs.get(self._current)
            if job is not None:
                job.cancel_requested = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # ---- requests ---------------------------------------------------------------------------
    def new_job_dir(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        return job_id, self.store.job_dir(job_id, create=True)

    def submit(self, job_id: str, job_dir: Path, options: dict[str, Any], inputs: dict[str, str],
               frames_total: int = 0) -> Job:
        """Queue a job whose inputs are already in ``job_dir``. OSError (nothing queued) when its job.json cannot
        be written: a job is only accepted once it is on disk."""
        job = Job(id=job_id, dir=job_dir, options=dict(options), inputs=dict(inputs), frames_total=int(frames_total))
        self.store.write_state(job.id, job.to_record())
        with self._lock:
            self._jobs[job_id] = job
        log.info("job %s queued (renderer=%s)", job_id, options.get("renderer"))
        self._queue.put(job_id)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once or ask a running one to stop; finished jobs are left as they are."""
        job = self._jobs.get(job_id)
        if job is None:
            return None
        with self._lock:
            if job.state == "queued":
                job.state, job.cancel_requested, job.finished = "cancelled", True, time.time()
                job.message = "cancelled before it started"
                self._persist(job)
                log.info("job %s cancelled (was queued)", job_id)
            elif job.state == "running" and not job.cancel_requested:
                job.cancel_requested = True
                job.message = "cancelling"
                log.info("job %s cancel requested", job_id)
        return job

    def delete(self, job_id: str) -> bool:
        """Forget a finished job and delete its folder; False when it is still queued or running."""
        job = self._jobs.get(job_id)
        if job is None or job.state not in TERMINAL:
            return False
        with self._lock:
            self._jobs.pop(job_id, None)
        self.store.delete(job_id)
        log.info("job %s deleted", job_id)
        return True

    # ---- worker -----------------------------------------------------------------------------
    def _persist(self, job: Job, durable: bool = True) -> None:
        try:
            self.store.write_state(job.id, job.to_record(), durable=durable)
        except OSError as e:  # a full disk must not kill the worker
            log.error("job %s: cannot write job.json: %s", job.id, e)

    def _worker(self) -> None:
        while True:
            try:
                job_id = self._queue.get(timeout=SWEEP_INTERVAL_S)
            except queue.Empty:
                self._sweep_safely()
                continue
            if job_id is None or self._stopping:
                return
            if time.monotonic() - self._last_sweep > SWEEP_INTERVAL_S:
                self._sweep_safely()
            job = self._jobs.get(job_id)
            if job is None or job.state != "queued":
                continue
            self._current = job_id
            try:
                self._run(job)
            finally:
                self._current = None

    def _sweep_safely(self) -> None:
        try:
            self.sweep_expired()
        except Exception:  # retention must never stop the worker
            log.exception("deleting old jobs failed")

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.state != "queued":
                return
            job.state, job.started, job.message = "running", time.time(), "starting"
        self._persist(job)
        log.info("job %s running", job.id)
        last_persist = [0.0]

        def progress(fraction: float, message: str = "") -> None:
            job.progress = min(1.0, max(job.progress, float(fraction)))
            if message:
                job.message = message
                _parse_frames(job, message)
            now = time.monotonic()
            if now - last_persist[0] > PERSIST_INTERVAL_S:
                last_persist[0] = now
                self._persist(job, durable=False)

        def cancel() -> bool:
            return job.cancel_requested

        try:
            self.job_fn(job, progress, cancel)
            if job.cancel_requested:
                raise CancelledError("cancelled")
            tmp = job.dir / job.output_tmp
            if not tmp.is_file():
                raise RuntimeError(f"the renderer returned without writing {job.output_tmp}")
            os.chmod(tmp, 0o600)
            os.replace(tmp, job.dir / RESULT_NAME)
            job.outputs["video"] = RESULT_NAME
            if (job.dir / FRAMES_NAME).is_file():
                job.outputs["frames"] = FRAMES_NAME
            job.state, job.progress, job.message = "done", 1.0, "done"
        except CancelledError:
            stopped = self._stopping
            job.state = "failed" if stopped else "cancelled"
            job.error = "server stopped while the job was running" if stopped else ""
            job.message = "stopped" if stopped else "cancelled"
        except EmodiffheadError as e:
            job.state, job.error, job.message = "failed", str(e), "failed"
        except OSError as e:
            job.state, job.error, job.message = "failed", describe_os_error(e), "failed"
            log.error("job %s failed: %s", job.id, job.error)
        except Exception as e:  # a bug in a renderer fails the job, never the server
            log.error("job %s crashed:\n%s", job.id, traceback.format_exc())
            job.state, job.error, job.message = "failed", f"internal error: {type(e).__name__}: {e}", "failed"
        job.finished = time.time()
        if job.state != "done":
            self.store.remove_temp_files(job.id)
        self._persist(job)
        log.info("job %s %s%s (%.2f s)", job.id, job.state, f": {job.error}" if job.error else "",
                 job.finished - (job.started or job.finished))


def describe_os_error(e: OSError) -> str:
    """A plain sentence for a file-system error met while a job ran (a full disk above all)."""
    import errno

    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return ("the disk of the server's data folder is full (no space left on device); free space or delete "
                "old jobs, then submit again")
    return f"cannot write the job's files: {(e.strerror or str(e)).lower()}"


_FRAMES = re.compile(r"(\d+)\s*/\s*(\d+)")


def _parse_frames(job: Job, message: str) -> None:
    """Fill frames_done/frames_total from a progress message like ``frame 12/75``."""
    m = _FRAMES.search(message)
    if m:
        job.frames_done, job.frames_total = int(m.group(1)), int(m.group(2))
