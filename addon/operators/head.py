"""Create a head through the backend (POST /heads) and import it with its shape keys and bones."""

from __future__ import annotations

import os

import bpy

from ..client import BackendError
from ..preferences import make_client
from ..scene import head as head_scene
from .background import BackgroundRequest
from .common import settings, work_dir
from .server import check_health


class EMODIFFHEAD_OT_create_head(BackgroundRequest, bpy.types.Operator):
    """Make a head (built-in, FLAME file or fitted to a photo) with the backend and import it (ESC abandons)"""

    bl_idname = "emodiffhead.create_head"
    bl_label = "Create head"
    bl_options = {"REGISTER", "UNDO"}

    def prepare(self, context: bpy.types.Context) -> dict | None:
        """Main thread: check the chosen source; refresh the emotion and renderer lists from /health."""
        s = settings(context)
        model, photo = "builtin", None
        if s.head_source == "FLAME":
            model = os.path.realpath(bpy.path.abspath(s.flame_path))  # the server knows it by this path
            if not s.flame_path or not os.path.isfile(model):
                self.report({"ERROR"}, f"FLAME file not found: {model or '(none chosen)'}")
                return None
        elif s.head_source == "PHOTO":
            photo = bpy.path.abspath(s.photo_path)
            if not s.photo_path or not os.path.isfile(photo):
                self.report({"ERROR"}, f"photo not found: {photo or '(none chosen)'}")
                return None
        check_health(context)  # fills the emotion and renderer lists the panels offer
        return {"client": make_client(context), "model": model, "photo": photo, "source": s.head_source,
                "path": os.path.join(work_dir(), f"head_{s.head_source.lower()}.glb")}

    @staticmethod
    def request(prepared: dict) -> dict:
        """Any thread: POST /heads and save the glb beside the .blend (or in temp)."""
        try:
            glb = prepared["client"].create_head(prepared["model"], prepared["photo"])
        except BackendError as e:
            return {"error": str(e)}
        with open(prepared["path"], "wb") as f:
            f.write(glb)
        return {"path": prepared["path"]}

    def apply(self, context: bpy.types.Context, prepared: dict, answer: dict) -> set[str]:
        """Main thread: import the glb with its shape keys and bones and make it the active head."""
        if "error" in answer:
            self.report({"ERROR"}, answer["error"])
            return {"CANCELLED"}
        s = settings(context)
        try:
            mesh, arm = head_scene.import_glb(context, answer["path"])
        except (RuntimeError, FileNotFoundError) as e:
            self.report({"ERROR"}, f"could not import the head: {e}")
            return {"CANCELLED"}
        model = prepared["model"]
        mesh.name = "emodiffhead_head"
        head_scene.set_expression_slider_ranges(mesh)
        head_scene.remember(mesh, head_model="builtin" if prepared["source"] != "FLAME" else os.path.basename(model),
                            model_spec=model, expression_names=head_scene.expression_names(mesh))
        mesh.emodiffhead_rig.preset = "FLAME" if prepared["source"] == "FLAME" else "BUILTIN"
        s.head = mesh
        context.view_layer.objects.active = mesh
        beside = head_scene.place_clear_of_others(context, mesh)
        n = len(head_scene.expression_names(mesh))
        n_driven = len(head_scene.driven.driven_names(mesh.data.shape_keys))
        bones = len(arm.data.bones) if arm is not None else 0
        self.report({"INFO"}, f"head imported: {n} expression shape keys"
                              + (f" (+{n_driven} driven: soft limits, correctives)" if n_driven else "")
                              + f", {bones} bones" + (f"; placed beside '{beside}'" if beside else ""))
        return {"FINISHED"}


classes = (EMODIFFHEAD_OT_create_head,)
