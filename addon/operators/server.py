"""Start, stop and check the backend server from Blender."""

from __future__ import annotations

import bpy

from .. import server_process
from ..client import BackendError
from ..preferences import get_prefs, health_cache, make_client


def check_health(context: bpy.types.Context) -> dict | None:
    """GET /health into the shared cache; returns the answer or None (the error text is cached)."""
    try:
        h = make_client(context).health()
    except BackendError as e:
        health_cache.update(text=str(e), health=None)
        return None
    renderers = ", ".join(k for k, v in (h.get("renderers") or {}).items() if (v or {}).get("available"))
    health_cache.update(text=f"{h.get('status', '?')}, version {h.get('version', '?')}; renderers: {renderers or 'none'}",
                        health=h)
    return h


class EMODIFFHEAD_OT_server_start(bpy.types.Operator):
    """Start the emodiffhead server with the backend Python set in the preferences"""

    bl_idname = "emodiffhead.server_start"
    bl_label = "Start server"

    def execute(self, context: bpy.types.Context) -> set[str]:
        p = get_prefs(context)
        try:
            proc = server_process.start(bpy.path.abspath(p.backend_python), p.backend_url,
                                        bpy.path.abspath(p.data_dir) if p.data_dir else "",
                                        bpy.path.abspath(p.flame_path) if p.flame_path else "")
        except (RuntimeError, OSError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if getattr(proc, "reused", False):  # one server per data folder: use the one that runs
            p.backend_url = proc.url
            self.report({"INFO"}, f"emodiffhead server already running for this data folder (pid {proc.pid}, "
                                  f"{proc.url}); using it")
            return {"FINISHED"}
        self.report({"INFO"}, f"emodiffhead server starting (pid {proc.pid}); press Check in a few seconds")
        return {"FINISHED"}


class EMODIFFHEAD_OT_server_stop(bpy.types.Operator):
    """Stop the server started from Blender"""

    bl_idname = "emodiffhead.server_stop"
    bl_label = "Stop server"

    def execute(self, context: bpy.types.Context) -> set[str]:
        if server_process.stop():
            health_cache.update(text="stopped", health=None)
            self.report({"INFO"}, "emodiffhead server stopped")
        else:
            self.report({"WARNING"}, "no server was started from this Blender session")
        return {"FINISHED"}


class EMODIFFHEAD_OT_server_check(bpy.types.Operator):
    """Ask the server for its status (GET /health)"""

    bl_idname = "emodiffhead.server_check"
    bl_label = "Check server"

    def execute(self, context: bpy.types.Context) -> set[str]:
        h = check_health(context)
        if h is None:
            self.report({"ERROR"}, health_cache["text"])
            return {"CANCELLED"}
        self.report({"INFO"}, f"emodiffhead server: {health_cache['text']}")
        return {"FINISHED"}


classes = (EMODIFFHEAD_OT_server_start, EMODIFFHEAD_OT_server_stop, EMODIFFHEAD_OT_server_check)
