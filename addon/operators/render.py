"""Render the clip through the backend: a modal, timer-driven operator that never blocks the UI.

The HTTP work runs in :class:`..jobs.RenderJob`'s worker thread; ``modal()`` runs on the main thread
at every timer tick, copies the job's status into ``scene.emodiffhead`` (drawn by the panel) and, when
done, loads the mp4 into the sequencer at the audio's start frame. ESC or the panel's Cancel button
cancels the job on the server. Without a window (``blender --background``, tests) ``execute``
follows the same job synchronously.
"""

from __future__ import annotations

import logging
import os
import time

import bpy

from ..jobs import RenderJob
from ..preferences import make_client
from ..scene import export, lines, mapping, sequencer
from ..scene import head as head_scene
from ..track_io import write_track
from .background import invoke_modal
from .common import active_head, poll_fails, scene_fps, settings, work_dir

log = logging.getLogger(__name__)
_active: dict = {"job": None}


def is_running() -> bool:
    """True while a render job started in this Blender session is being followed."""
    job = _active.get("job")
    return job is not None and (job.alive or bool(job._queue.qsize()))


def line_for_render(op: bpy.types.Operator, context: bpy.types.Context, mesh: bpy.types.Object):
    """The dialogue line to render or preview: (sound strip, (first, last) scene frames) with the keys made to
    follow a slid strip; None after an error report."""
    scene = context.scene
    key = head_scene.key_of(mesh)
    names = {a.get(lines.LINE_PROP) for a in lines.line_actions(key)}
    strip = sequencer.find_sound_strip(scene, scene.frame_current, names)
    if strip is None:
        op.report({"ERROR"}, "no sound strip in the sequencer: animate from audio first")
        return None
    ids = [key, mapping.armature(mesh)]
    action = lines.find(key, strip.name)
    if action is None or not lines.span(action):
        op.report({"ERROR"}, f"the line '{strip.name}' is not animated yet: select its sound strip and press "
                             "Animate from audio")
        return None
    moved, error = lines.follow_strip(ids, strip.name, sequencer.timing(strip))
    if error:
        op.report({"ERROR"}, error)
        return None
    if moved:
        op.report({"INFO"}, f"the keys of '{strip.name}' followed its sound strip ({moved:+d} frames)")
    sp = lines.span(action)
    return strip, (int(sp["first"]), int(sp["last"]))


def _prepare(op: bpy.types.Operator, context: bpy.types.Context) -> tuple[RenderJob, int, str] | None:
    """Export the line's evaluated track and pick photo + audio; returns (RenderJob, frame_start, line) or None."""
    scene, s = context.scene, settings(context)
    mesh = active_head(context)
    if mesh is None:
        op.report({"ERROR"}, "no head: create and animate one first")
        return None
    photo = bpy.path.abspath(s.photo_path) if s.photo_path else None
    if not photo or not os.path.isfile(photo):
        op.report({"ERROR"}, f"photo not found: {photo}" if photo else "choose the identity Photo to render")
        return None
    found = line_for_render(op, context, mesh)
    if found is None:
        return None
    strip, (first, last) = found
    folder = work_dir()
    audio, _ = sequencer.line_audio(strip, scene_fps(scene), folder)
    track = export.evaluate_track(context, mesh, (first, last),
                                  meta={"audio": {"file": os.path.basename(audio)}, "line": strip.name,
                                        "head_model_spec": head_scene.recall(mesh, "model_spec", "builtin")})
    track_path = write_track(track, os.path.join(folder, "render_track.json"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = os.path.join(folder, f"render_{bpy.path.clean_name(strip.name)}_{stamp}.mp4")
    frames_dir = os.path.join(folder, f"render_{stamp}_frames") if s.image_sequence else ""
    job = RenderJob(make_client(context, timeout=60.0), photo, audio, track_path, result,
                    renderer=s.renderer, size=s.size, fps=scene_fps(scene), frames_dir=frames_dir)
    return job, first, strip.name


def _apply(context: bpy.types.Context, update: dict) -> None:
    """Mirror a job update into the scene settings (main thread)."""
    s = settings(context)
    s.job_id = update.get("id") or s.job_id
    if update.get("progress") is not None:
        s.job_progress = float(update["progress"])
    state = update.get("state", "")
    msg = update.get("message") or ""
    eta = update.get("eta_s")
    done, total = update.get("frames_done"), update.get("frames_total")
    parts = [state]
    if total:
        parts.append(f"{done or 0}/{total} frames")
    if eta is not None and state == "running":
        parts.append(f"about {eta:.0f} s left")
    if msg:
        parts.append(msg)
    s.job_message = ", ".join(p for p in parts if p)


def _finish(op: bpy.types.Operator, context: bpy.types.Context, update: dict, frame_start: int, line: str = "") -> set[str]:
    """Handle a terminal update: replace the line's previous render with the new movie strip, or report the
    failure/cancellation."""
    s = settings(context)
    s.job_running = False
    s.job_cancel_requested = False
    state = update.get("state")
    if state == "done" and update.get("result"):
        replaced = sequencer.remove_line_renders(context.scene, line) if line else None
        strip = sequencer.add_movie_strip(context.scene, update["result"], frame_start, line=line)
        s.last_result = update["result"]
        log.info("job %s done: %s", update.get("id") or s.job_id, update["result"])
        s.job_progress = 1.0
        s.job_message = f"done: {os.path.basename(update['result'])} on channel {strip.channel}"
        if update.get("frames"):
            images = sequencer.add_image_sequence(context.scene, update["frames"], frame_start, line=line)
            s.job_message += f"; {len(update['frames'])} frames on channel {images.channel}"
        op.report({"INFO"}, f"rendered clip loaded into the sequencer at frame {frame_start}"
                            + (" (it replaces the line's previous render)" if replaced is not None else ""))
        return {"FINISHED"}
    if state == "cancelled":
        s.job_message = "cancelled"
        op.report({"WARNING"}, "render cancelled")
        return {"CANCELLED"}
    err = update.get("error") or update.get("message") or "unknown error"
    log.warning("job %s failed: %s", s.job_id or "(not submitted)", err)
    s.job_message = f"failed: {err}"
    op.report({"ERROR"}, f"render failed: {err}")
    return {"CANCELLED"}


class EMODIFFHEAD_OT_render_clip(bpy.types.Operator):
    """Render the dialogue line under the current frame (or the selected sound strip) with the backend: photo +
    the line's evaluated track + its audio; replaces the line's previous render. ESC cancels"""

    bl_idname = "emodiffhead.render_clip"
    bl_label = "Render clip"
    bl_options = {"REGISTER", "UNDO"}

    _timer = None
    _job = None
    _frame_start = 1
    _line = ""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if is_running():  # module state, not the saved property: a crash cannot lock the button
            return poll_fails(cls, "a render is running: wait for it or cancel it")
        return True

    def _start(self, context: bpy.types.Context) -> bool:
        prepared = _prepare(self, context)
        if prepared is None:
            return False
        self._job, self._frame_start, self._line = prepared
        s = settings(context)
        s.job_running, s.job_cancel_requested = True, False
        s.job_progress, s.job_message, s.job_id = 0.0, "submitting", ""
        self._job.start()
        _active["job"] = self._job
        return True

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return invoke_modal(self, context, interval_s=0.25)

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        s = settings(context)
        if event.type == "ESC" or s.job_cancel_requested:
            if not self._job._cancel.is_set():
                self._job.cancel()
                s.job_message = "cancelling..."
        if event.type != "TIMER":
            return {"RUNNING_MODAL"} if event.type == "ESC" else {"PASS_THROUGH"}
        for update in self._job.updates():
            _apply(context, update)
            if update.get("state") in ("done", "failed", "cancelled") and (
                    update.get("state") != "done" or update.get("result")):
                self._cleanup(context)
                return _finish(self, context, update, self._frame_start, self._line)
        if not self._job.alive and not self._job._queue.qsize():
            self._cleanup(context)
            return _finish(self, context, {"state": "failed", "error": "the job ended without a result"},
                           self._frame_start, self._line)
        for area in context.screen.areas if context.screen else ():
            if area.type in ("VIEW_3D", "SEQUENCE_EDITOR", "PROPERTIES"):
                area.tag_redraw()
        return {"PASS_THROUGH"}

    def _cleanup(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        _active["job"] = None

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Headless path: the same job, followed on this thread until it ends."""
        if not self._start(context):
            return {"CANCELLED"}
        s = settings(context)
        while True:
            if s.job_cancel_requested:
                self._job.cancel()
            for update in self._job.updates():
                _apply(context, update)
                if update.get("state") in ("failed", "cancelled") or update.get("result"):
                    _active["job"] = None
                    return _finish(self, context, update, self._frame_start, self._line)
            if not self._job.alive and not self._job._queue.qsize():
                _active["job"] = None
                return _finish(self, context, {"state": "failed", "error": "the job ended without a result"},
                               self._frame_start, self._line)
            time.sleep(0.1)


class EMODIFFHEAD_OT_render_cancel(bpy.types.Operator):
    """Cancel the running render job on the server"""

    bl_idname = "emodiffhead.render_cancel"
    bl_label = "Cancel render"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return True if is_running() else poll_fails(cls, "no render is running")

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings(context).job_cancel_requested = True
        job = _active.get("job")
        if job is not None:
            job.cancel()
        return {"FINISHED"}


classes = (EMODIFFHEAD_OT_render_clip, EMODIFFHEAD_OT_render_cancel)
