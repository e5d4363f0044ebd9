"""A render job on the backend, followed from a worker thread (no bpy here).

The worker submits the job, polls ``GET /jobs/{id}`` and downloads the mp4; it only talks HTTP and
puts plain dicts on a queue. The modal operator reads the queue on Blender's main thread, so no
Blender data is ever touched from the worker. ``cancel()`` asks the server to cancel the job.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import zipfile

from .client import BackendError, Client

log = logging.getLogger(__name__)

TERMINAL = ("done", "failed", "cancelled")


class RenderJob:
    """Submit ``files`` to POST /jobs and follow it. Read updates with :meth:`updates`.

    Each update is a dict: the server's job status (state, progress, message, frames_done,
    frames_total, eta_s, error), plus ``result`` (local mp4 path) when done, or
    ``{"state": "failed", "error": text}`` for client-side failures.
    """

    def __init__(self, client: Client, photo: str | None, audio: str, track: str, result_path: str,
                 renderer: str = "", size: int = 256, fps: float = 25.0, poll_s: float = 0.5,
                 frames_dir: str = "") -> None:
        self.client = client
        self.args = dict(photo=photo, audio=audio, track=track, renderer=renderer, size=size, fps=fps,
                         frames=bool(frames_dir))
        self.frames_dir = frames_dir
        self.result_path = result_path
        self.poll_s = poll_s
        self.job_id = ""
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emodiffhead-render", daemon=True)

    def start(self) -> "RenderJob":
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask for cancellation; the worker forwards it to the server."""
        self._cancel.set()

    def updates(self) -> list[dict]:
        """Every update queued since the last call (main thread)."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _put(self, d: dict) -> None:
        self._queue.put(dict(d, id=self.job_id))

    def _fetch_frames(self) -> list[str]:
        """Download frames.zip and unpack its PNGs into ``frames_dir``; returns their paths, sorted."""
        os.makedirs(self.frames_dir, exist_ok=True)
        zpath = os.path.join(self.frames_dir, "frames.zip")
        self.client.download_result(self.job_id, zpath, what="frames.zip")
        out = []
        with zipfile.ZipFile(zpath) as z:
            for name in sorted(z.namelist()):
                base = os.path.basename(name)
                if base.lower().endswith(".png") and base == name:  # flat names only: nothing escapes the folder
                    z.extract(name, self.frames_dir)
                    out.append(os.path.join(self.frames_dir, base))
        os.unlink(zpath)
        return out

    def _run(self) -> None:
        try:
            job = self.client.submit_job(**self.args)
            self.job_id = str(job["id"])
            self._put({"state": job.get("state", "queued"), "progress": 0.0, "message": "submitted"})
            cancel_sent = False
            while True:
                if self._cancel.is_set() and not cancel_sent:
                    self.client.cancel_job(self.job_id)
                    cancel_sent = True
                st = self.client.job_status(self.job_id)
                state = st.get("state")
                if state == "done":
                    self._put(dict(st, message="downloading the video"))
                    self.client.download_result(self.job_id, self.result_path)
                    extra = {}
                    if self.frames_dir:
                        self._put(dict(st, message="downloading the frames"))
                        extra["frames"] = self._fetch_frames()
                    self._put(dict(st, result=self.result_path, message="done", **extra))
                    return
                self._put(st)
                if state in TERMINAL:
                    return
                self._cancel.wait(self.poll_s)
                if not self._cancel.is_set():
                    time.sleep(0)
        except BackendError as e:
            log.warning("render job %s failed: %s", self.job_id or "(not submitted)", e)
            self._put({"state": "failed", "error": str(e)})
        except Exception as e:  # noqa: BLE001 - reported in the UI instead of dying silently
            log.exception("render job %s: unexpected error", self.job_id or "(not submitted)")
            self._put({"state": "failed", "error": f"{type(e).__name__}: {e}"})
