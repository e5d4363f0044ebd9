"""Preview frame: the current frame of the edited track rendered on the photo by the backend (POST /preview),
shown as the image ``emodiffhead preview`` (in every Image Editor of the screen).

The button renders once. **Live preview** re-renders whenever the frame or the head's curves change: the
frame-change and depsgraph handlers only note the time; a timer (debounce ``DEBOUNCE_S``) evaluates that one
frame on the main thread (a few milliseconds) and sends it from a worker thread; the finished PNG is loaded on
the main thread. A request still running when the frame changes again is followed by one more for the newest
frame (never a queue of stale ones).
"""

from __future__ import annotations

import logging
import os
import threading
import time

import bpy

from ..client import BackendError
from ..preferences import make_client
from ..scene import export, lines
from ..scene import head as head_scene
from .common import active_head, settings, work_dir

log = logging.getLogger(__name__)
IMAGE_NAME = "emodiffhead preview"
DEBOUNCE_S = 0.15

_state: dict = {"due": None, "thread": None, "answer": None, "prepared": None, "own_change": False}


def prepare(context: bpy.types.Context) -> dict:
    """Main thread: evaluate the current frame of the head into a one-frame track file. Raises ValueError with
    the artist-facing reason when there is nothing to preview."""
    s = settings(context)
    mesh = active_head(context)
    if mesh is None:
        raise ValueError("no head: create and animate one first")
    photo = bpy.path.abspath(s.photo_path) if s.photo_path else ""
    if not photo or not os.path.isfile(photo):
        raise ValueError(f"photo not found: {photo}" if photo else "choose the identity Photo to preview")
    if not head_scene.emotion_names(mesh):
        raise ValueError("animate the head from audio first")
    lines.follow_all_strips(context.scene, mesh)  # keys of slid strips follow before the frame is read
    frame = context.scene.frame_current
    _state["own_change"] = True  # the frame_set fallback of the export must not ask for another preview
    try:
        track = export.evaluate_track(context, mesh, (frame, frame),
                                      meta={"head_model_spec": head_scene.recall(mesh, "model_spec", "builtin")})
    finally:
        _state["own_change"] = False
    from ..track_io import write_track

    folder = work_dir()
    path = write_track(track, os.path.join(folder, "preview_track.json"))
    return {"client": make_client(context, timeout=30.0), "photo": photo, "track": path, "frame": frame,
            "size": s.preview_size, "png": os.path.join(folder, "preview.png")}


def request(prepared: dict) -> dict:
    """Any thread: ask the backend for the PNG; {"png": path, "seconds"} or {"error": text}."""
    t0 = time.monotonic()
    try:
        data = prepared["client"].preview(prepared["photo"], prepared["track"], 0, prepared["size"])
    except BackendError as e:
        return {"error": str(e)}
    tmp = prepared["png"] + ".part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, prepared["png"])
    return {"png": prepared["png"], "seconds": time.monotonic() - t0}


def show(context: bpy.types.Context, prepared: dict, answer: dict) -> bpy.types.Image | None:
    """Main thread: load the PNG as the preview image and show it in the Image Editors; returns the image."""
    s = settings(context)
    if "error" in answer:
        log.warning("preview of frame %s failed: %s", prepared["frame"], answer["error"])
        s.preview_message = f"preview failed: {answer['error']}"
        return None
    img = bpy.data.images.get(IMAGE_NAME)
    if img is None:
        img = bpy.data.images.load(answer["png"], check_existing=False)
        img.name = IMAGE_NAME
    else:
        img.filepath = answer["png"]
        img.reload()
    shown = 0
    for area in context.screen.areas if context.screen else ():
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = img
            area.tag_redraw()
            shown += 1
    s.preview_message = f"frame {prepared['frame']}: {answer['seconds']:.2f} s"
    if context.screen is not None and not shown:
        s.preview_message += f" (open an Image Editor and pick '{IMAGE_NAME}')"
    return img


class EMODIFFHEAD_OT_preview_frame(bpy.types.Operator):
    """Render the current frame of the edited track on the photo with the backend and show it in the Image
    Editor (image 'emodiffhead preview')"""

    bl_idname = "emodiffhead.preview_frame"
    bl_label = "Preview frame"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            prepared = prepare(context)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        answer = request(prepared)
        if show(context, prepared, answer) is None:
            self.report({"ERROR"}, answer["error"])
            return {"CANCELLED"}
        self.report({"INFO"}, settings(context).preview_message)
        return {"FINISHED"}


# ---- live preview ---------------------------------------------------------------------------------

def _relevant(depsgraph: bpy.types.Depsgraph) -> bool:
    mesh = active_head(bpy.context)
    if mesh is None:
        return False
    key = mesh.data.shape_keys
    for u in depsgraph.updates:
        idb = getattr(u.id, "original", u.id)
        if idb == key or idb == mesh or isinstance(idb, bpy.types.Action) or (
                isinstance(idb, bpy.types.Object) and idb.type == "ARMATURE"):
            return True
    return False


def _note(*_args) -> None:
    """Frame change or relevant edit: (re)start the debounce (not for the preview's own frame stepping)."""
    if _state["own_change"]:
        return
    _state["due"] = time.monotonic() + DEBOUNCE_S
    if not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=DEBOUNCE_S)


def _on_frame(scene, depsgraph=None) -> None:
    _note()


def _on_depsgraph(scene, depsgraph) -> None:
    if _relevant(depsgraph):
        _note()


_on_frame.emodiffhead_readonly = True  # export.fast_path_blockers: this handler changes nothing
_on_depsgraph.emodiffhead_readonly = True


def step(context: bpy.types.Context) -> bool:
    """One pass on the main thread: show a finished preview; start the due one when no request runs.
    Returns True while a request runs or one is due."""
    th = _state["thread"]
    if th is not None and not th.is_alive():
        _state["thread"] = None
        show(context, _state["prepared"], _state["answer"])
    due = _state["due"]
    if _state["thread"] is None and due is not None and time.monotonic() >= due:
        _state["due"] = None
        try:
            prepared = prepare(context)
        except ValueError as e:
            settings(context).preview_message = f"no preview: {e}"
            return False
        answer: dict = {}
        _state["prepared"], _state["answer"] = prepared, answer
        _state["thread"] = threading.Thread(target=lambda: answer.update(request(prepared)), daemon=True,
                                            name="emodiffhead-preview")
        _state["thread"].start()
    return _state["thread"] is not None or _state["due"] is not None


def _timer() -> float | None:
    try:
        busy = step(bpy.context)
    except ReferenceError:  # the scene went away
        return None
    return 0.05 if busy else None


def set_live(on: bool) -> None:
    """Register or remove the live-preview handlers."""
    h = bpy.app.handlers
    for lst, fn in ((h.frame_change_post, _on_frame), (h.depsgraph_update_post, _on_depsgraph)):
        if fn in lst:
            lst.remove(fn)
        if on:
            lst.append(fn)
    if on:
        _note()
    elif bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)


classes = (EMODIFFHEAD_OT_preview_frame,)
