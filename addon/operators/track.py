"""Export the evaluated animation as a track file, and import a track file as keyframes."""

from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..scene import export, keyframes, lines
from ..track_io import TrackFormatError, read_track, write_track
from .common import active_head


class _TrackFileOp:
    """The file browser of the track operators: .json files only."""

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})


class EMODIFFHEAD_OT_export_track(_TrackFileOp, bpy.types.Operator, ExportHelper):
    """Write the head's evaluated per-frame expression, emotion and pose (after your edits) as a track"""

    bl_idname = "emodiffhead.export_track"
    bl_label = "Export track"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        mesh = active_head(context)
        if mesh is None:
            self.report({"ERROR"}, "no head to export")
            return {"CANCELLED"}
        for note in lines.follow_all_strips(context.scene, mesh):
            self.report({"WARNING"} if "again" in note else {"INFO"}, note)
        track = export.evaluate_track(context, mesh)
        write_track(track, self.filepath)
        self.report({"INFO"}, f"wrote {track.num_frames} frames to {self.filepath}")
        return {"FINISHED"}


class EMODIFFHEAD_OT_import_track(_TrackFileOp, bpy.types.Operator, ImportHelper):
    """Key a track file onto the head as a line of its own (at the frame stored in the track, else the scene start)"""

    bl_idname = "emodiffhead.import_track"
    bl_label = "Import track"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        mesh = active_head(context)
        if mesh is None:
            self.report({"ERROR"}, "no head: create one first")
            return {"CANCELLED"}
        try:
            track = read_track(self.filepath)
            start = int(track.meta.get("frame_start", context.scene.frame_start))
            name = os.path.splitext(os.path.basename(self.filepath))[0]
            keyframes.apply_track(context, mesh, track, start, line=str(track.meta.get("line") or name))
        except (OSError, TrackFormatError, ValueError, TypeError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"imported {track.num_frames} frames at frame {start}")
        return {"FINISHED"}


def menu_import(self, context: bpy.types.Context) -> None:
    """File > Import entry."""
    self.layout.operator(EMODIFFHEAD_OT_import_track.bl_idname, text="emodiffhead track (.json)")


def menu_export(self, context: bpy.types.Context) -> None:
    """File > Export entry."""
    self.layout.operator(EMODIFFHEAD_OT_export_track.bl_idname, text="emodiffhead track (.json)")


classes = (EMODIFFHEAD_OT_export_track, EMODIFFHEAD_OT_import_track)
