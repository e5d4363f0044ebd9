"""The emodiffhead tab in the 3D viewport's sidebar (N panel): head, audio, emotion, track, render."""

from __future__ import annotations

import bpy

from .operators import render as render_ops
from .preferences import health_cache
from .scene import head as head_scene


class _Panel:
    """Where every panel of the add-on lives: the 3D viewport's sidebar, tab "emodiffhead"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "emodiffhead"


class _HeadSubPanel(_Panel):
    """A closed-by-default sub-panel of the Head panel about the chosen head."""

    bl_parent_id = "EMODIFFHEAD_PT_head"
    bl_options = {"DEFAULT_CLOSED"}


class EMODIFFHEAD_PT_head(_Panel, bpy.types.Panel):
    bl_label = "Head"

    def draw(self, context: bpy.types.Context) -> None:
        s = context.scene.emodiffhead
        col = self.layout.column()
        col.label(text=f"Server: {health_cache['text']}")
        col.operator("emodiffhead.server_check", icon="FILE_REFRESH")
        col.separator()
        col.prop(s, "head_source")
        if s.head_source == "FLAME":
            col.prop(s, "flame_path")
        col.prop(s, "photo_path")
        col.operator("emodiffhead.create_head", icon="USER")
        col.prop(s, "head")


class EMODIFFHEAD_PT_rig(_HeadSubPanel, bpy.types.Panel):
    bl_label = "Rig mapping"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene.emodiffhead.head is not None

    def draw(self, context: bpy.types.Context) -> None:
        r = context.scene.emodiffhead.head.emodiffhead_rig
        col = self.layout.column()
        col.prop(r, "preset")
        col.prop(r, "armature")
        col.prop(r, "jaw_mode")
        if r.jaw_mode == "SHAPE_KEY":
            col.prop(r, "jaw_shape_key")
            col.prop(r, "jaw_per_radian")
        for j in ("root", "neck", "jaw", "eye_left", "eye_right"):
            if not (j == "jaw" and r.jaw_mode == "SHAPE_KEY"):
                col.prop(r, f"bone_{j}")


class EMODIFFHEAD_PT_expression(_HeadSubPanel, bpy.types.Panel):
    bl_label = "Expression sliders"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        s = context.scene.emodiffhead
        return s.head is not None and s.head.data.shape_keys is not None

    def draw(self, context: bpy.types.Context) -> None:
        key = context.scene.emodiffhead.head.data.shape_keys
        skip = head_scene.driven.driven_names(key)
        col = self.layout.column(align=True)
        for kb in key.key_blocks[1:]:
            # emotions are in the Emotion panel; driven keys (soft limits, correctives) follow these sliders
            if not kb.name.startswith(head_scene.EMOTION_PREFIX) and kb.name not in skip:
                col.prop(kb, "value", text=kb.name, slider=True)
        if skip:
            self.layout.label(text=f"{len(skip)} driven keys (soft limits, correctives) follow", icon="DRIVER")


class EMODIFFHEAD_PT_animate(_Panel, bpy.types.Panel):
    bl_label = "Animate from audio"

    def draw(self, context: bpy.types.Context) -> None:
        s = context.scene.emodiffhead
        col = self.layout.column()
        col.row().prop(s, "audio_source", expand=True)
        if s.audio_source == "FILE":
            col.prop(s, "audio_path")
        col.prop(s, "transcript")
        if s.head is not None and head_scene.emotion_names(s.head):
            col.prop(s, "use_emotion_curves")
        row = col.row(align=True)
        row.prop(s, "emotion")
        row.prop(s, "intensity")
        col.prop(s, "seed")
        col.prop(s, "key_error")
        col.prop(s, "use_region")
        if s.use_region:
            row = col.row(align=True)
            row.prop(s, "region_start")
            row.prop(s, "region_end")
        col.operator("emodiffhead.animate", icon="SPEAKER")
        if s.busy_message:
            col.label(text=s.busy_message, icon="TIME")


class EMODIFFHEAD_PT_emotion(_Panel, bpy.types.Panel):
    bl_label = "Emotion"

    def draw(self, context: bpy.types.Context) -> None:
        s = context.scene.emodiffhead
        col = self.layout.column()
        if s.head is None or not head_scene.emotion_names(s.head):
            col.label(text="Animate from audio to get emotion keys")
            return
        col.prop(s, "emotion")
        col.prop(s, "intensity", slider=True)
        col.operator("emodiffhead.emotion_key", icon="KEY_HLT")
        box = col.box()
        box.label(text="Crossfade")
        box.prop(s, "fade_to")
        row = box.row(align=True)
        row.prop(s, "fade_start")
        row.prop(s, "fade_end")
        box.prop(s, "fade_hold")
        box.operator("emodiffhead.emotion_crossfade", icon="IPO_EASE_IN_OUT")
        key = s.head.data.shape_keys
        sub = col.column(align=True)
        for n in head_scene.emotion_names(s.head):
            kb = key.key_blocks.get(head_scene.EMOTION_PREFIX + n)
            if kb is not None:
                sub.prop(kb, "value", text=n, slider=True)


class EMODIFFHEAD_PT_track(_Panel, bpy.types.Panel):
    bl_label = "Track"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        row = self.layout.row(align=True)
        row.operator("emodiffhead.export_track", icon="EXPORT")
        row.operator("emodiffhead.import_track", icon="IMPORT")


class EMODIFFHEAD_PT_render(_Panel, bpy.types.Panel):
    bl_label = "Render clip"

    def draw(self, context: bpy.types.Context) -> None:
        s = context.scene.emodiffhead
        col = self.layout.column()
        col.prop(s, "photo_path")
        renderers = (health_cache.get("health") or {}).get("renderers") or {}
        col.prop(s, "renderer")
        if renderers:
            col.label(text="Available: " + ", ".join(k for k, v in renderers.items() if (v or {}).get("available")))
        row = col.row(align=True)
        row.operator("emodiffhead.preview_frame", icon="IMAGE_DATA")
        row.prop(s, "preview_live", toggle=True)
        col.prop(s, "preview_size")
        if s.preview_message:
            col.label(text=s.preview_message)
        col.prop(s, "size")
        col.prop(s, "image_sequence")
        if render_ops.is_running():
            col.progress(factor=s.job_progress, text=s.job_message or "rendering")
            col.operator("emodiffhead.render_cancel", icon="CANCEL")
        else:
            col.operator("emodiffhead.render_clip", icon="RENDER_ANIMATION")
            if s.job_message:
                col.label(text=s.job_message)


classes = (EMODIFFHEAD_PT_head, EMODIFFHEAD_PT_rig, EMODIFFHEAD_PT_expression, EMODIFFHEAD_PT_animate, EMODIFFHEAD_PT_emotion,
           EMODIFFHEAD_PT_track, EMODIFFHEAD_PT_render)
