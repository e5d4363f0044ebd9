"""Export the evaluated animation as a track file, and import a track file as keyframes."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..scene import export, keyframes
from ..track_io import TrackFormatError, read_track, write_track
from .common import active_head


class EMODIFFHEAD_OT_export_track(bpy.types.Operator, ExportHelper):
    """Write the head's evaluated per-frame expression, emotion and pose (after your edits) as a track"""

    bl_idname = "emodiffhead.export_track"
    bl_label = "Export track"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        mesh = active_head(context)
        if mesh is None:
            self.report({"ERROR"}, "no head to export")
            return {"CANCELLED"}
        track = export.evaluate_track(context, mesh)
        write_track(track, self.filepath)
        self.report({"INFO"}, f"wrote {track.num_frames} frames to {self.filepath}")
        return {"FINISHED"}


class EMODIFFHEAD_OT_import_track(bpy.types.Operator, ImportHelper):
    """Key a track file onto the head, starting at the scene's start frame"""

    bl_idname = "emodiffhead.import_track"
    bl_label = "Import track"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        mesh = active_head(context)
        if mesh is None:
            self.report({"ERROR"}, "no head: create one first")
            return {"CANCELLED"}
        try:
            track = read_track(self.filepath)
            start = int(track.meta.get("frame_start", context.scene.frame_start))
            keyframes.apply_track(context, mesh, track, start)
        except (OSError, TrackFormatError, ValueError, TypeError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"imported {track.num_frames} frames at frame {start}")
        return {"FINISHED"}


classes = (EMODIFFHEAD_OT_export_track, EMODIFFHEAD_OT_import_track)
