"""Operators whose slow part is one backend request: the request runs off Blender's main thread.

From the UI (``invoke``) the request runs on a worker thread while a timer-driven modal handler keeps
Blender responsive; ``apply`` touches Blender data on the main thread once the answer is in. ESC abandons
the request (its answer is ignored). From scripts (``execute``) the same three steps run in order.

Subclasses implement:
    prepare(context) -> dict | None     main thread: read settings and scene; None (after a report) to stop
    request(prepared) -> dict           any thread: the backend call, no Blender data; {"error": text} on failure
    apply(context, prepared, answer)    main thread: use the answer; returns the operator result set
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: this module needs nothing from bpy at run time
    import bpy


def invoke_modal(op: bpy.types.Operator, context: bpy.types.Context, interval_s: float) -> set[str]:
    """Start ``op`` (its ``_start(context) -> bool``) and follow it with a modal timer every ``interval_s``.

    Without a window (headless Blender) the operator's ``execute`` runs instead. Stores the timer in
    ``op._timer`` for the operator's ``_cleanup``.
    """
    if context.window is None:
        return op.execute(context)
    if not op._start(context):
        return {"CANCELLED"}
    wm = context.window_manager
    op._timer = wm.event_timer_add(interval_s, window=context.window)
    wm.modal_handler_add(op)
    return {"RUNNING_MODAL"}


class BackgroundRequest:
    """Mixin for ``bpy.types.Operator`` subclasses (put it first in the bases)."""

    _timer = None
    _thread = None
    _prepared = None
    _answer = None

    def _start(self, context: bpy.types.Context) -> bool:
        """Prepare on the main thread and start the request on a worker thread."""
        self._prepared = self.prepare(context)
        if self._prepared is None:
            return False
        self._answer = {}
        self._t0 = time.monotonic()
        prepared, answer, request = self._prepared, self._answer, self.request

        def work():
            answer.update(request(prepared))

        self._thread = threading.Thread(target=work, name=f"emodiffhead-{self.bl_idname}", daemon=True)
        self._thread.start()
        return True

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return invoke_modal(self, context, interval_s=0.1)

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC":
            self._cleanup(context)
            self.report({"WARNING"}, f"{self.bl_label}: abandoned; the backend's answer will be ignored")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._thread.is_alive():
            self._tick(context)
            return {"PASS_THROUGH"}
        self._cleanup(context)
        return self.apply(context, self._prepared, self._answer)

    def _tick(self, context: bpy.types.Context) -> None:
        """While waiting: the elapsed time in the panel (``scene.emodiffhead.busy_message``) and status bar."""
        text = f"{self.bl_label}: waiting for the backend, {time.monotonic() - self._t0:.0f} s (ESC abandons)"
        context.scene.emodiffhead.busy_message = text
        if context.workspace is not None and context.window is not None:
            context.workspace.status_text_set(text)
        for area in context.screen.areas if context.screen else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()

    def _cleanup(self, context: bpy.types.Context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        context.scene.emodiffhead.busy_message = ""
        if context.workspace is not None and context.window is not None:
            context.workspace.status_text_set(None)

    def execute(self, context: bpy.types.Context) -> set[str]:
        prepared = self.prepare(context)
        if prepared is None:
            return {"CANCELLED"}
        return self.apply(context, prepared, self.request(prepared))
