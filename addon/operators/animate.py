"""Animate the head from audio: POST /animate, then key the returned track onto the head.

The request runs off the main thread from the UI (see :mod:`.background`); keys are written on the main
thread when the answer arrives.
"""

from __future__ import annotations

import os

import bpy

from ..client import BackendError
from ..preferences import make_client
from ..scene import head as head_scene
from ..scene import keyframes, sequencer
from ..track_io import TrackFormatError, track_from_bytes, write_track
from .background import BackgroundRequest
from .common import active_head, scene_fps, settings, work_dir


class EMODIFFHEAD_OT_animate(BackgroundRequest, bpy.types.Operator):
    """Send the audio to the backend and key the expression, emotion and bone curves (ESC abandons)"""

    bl_idname = "emodiffhead.animate"
    bl_label = "Animate from audio"
    bl_options = {"REGISTER", "UNDO"}

    def prepare(self, context) -> dict | None:
        """Main thread: find the head, the audio and the emotion curves; None (after a report) if impossible."""
        scene = context.scene
        s = settings(context)
        mesh = active_head(context)
        if mesh is None:
            self.report({"ERROR"}, "no head: create one first (emodiffhead panel > Create head)")
            return None
        if s.audio_source == "FILE":
            path = bpy.path.abspath(s.audio_path)
            if not s.audio_path or not os.path.isfile(path):
                self.report({"ERROR"}, f"audio file not found: {path or '(none chosen)'}")
                return None
            strip = sequencer.find_sound_strip(scene)
            if strip is None or sequencer.strip_audio_path(strip) != os.path.abspath(path):
                strip = sequencer.add_sound_strip(scene, path)
        else:
            strip = sequencer.find_sound_strip(scene)
            if strip is None:
                self.report({"ERROR"}, "no sound strip in the sequencer: add one, or choose an audio file")
                return None
            path = sequencer.strip_audio_path(strip)
        frame_start = int(round(strip.frame_start))
        timeline = None
        if s.use_emotion_curves:
            n = int(round(getattr(strip, "frame_duration", 0) or strip.frame_final_duration))
            timeline = keyframes.emotion_timeline(mesh, frame_start, n, scene_fps(scene))
        request = dict(audio=path, emotion=s.emotion or "neutral", intensity=s.intensity, emotion_timeline=timeline,
                       transcript=s.transcript, fps=scene_fps(scene), seed=s.seed,
                       model=head_scene.recall(mesh, "model_spec", "builtin"))
        return {"mesh_name": mesh.name, "strip_name": strip.name, "frame_start": frame_start,
                "region": (s.region_start, s.region_end) if s.use_region else None,
                "client": make_client(context), "request": request}

    @staticmethod
    def request(prepared: dict) -> dict:
        """Any thread: ask the backend; returns {"track": ...} or {"error": text}. Touches no Blender data."""
        try:
            data = prepared["client"].animate(**prepared["request"])
            return {"track": track_from_bytes(data)}
        except (BackendError, TrackFormatError) as e:
            return {"error": str(e)}

    def apply(self, context, prepared: dict, answer: dict) -> set:
        """Main thread: key the track onto the head (only inside the region when one is set)."""
        if "error" in answer:
            self.report({"ERROR"}, answer["error"])
            return {"CANCELLED"}
        scene = context.scene
        mesh = bpy.data.objects.get(prepared["mesh_name"])
        if mesh is None:
            self.report({"ERROR"}, "the head was deleted while the backend was animating")
            return {"CANCELLED"}
        track = answer["track"]
        write_track(track, os.path.join(work_dir(), f"animate_{bpy.path.clean_name(prepared['strip_name'])}.json"))
        region = prepared["region"]
        try:
            summary = keyframes.apply_track(context, mesh, track, prepared["frame_start"], region)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        last = int(summary["frames"][1])
        if region is None and scene.frame_end < last:
            scene.frame_end = last
        msg = (f"animated frames {summary['frames'][0]:g}-{summary['frames'][1]:g}: "
               f"{summary['expression_curves']} expression curves, {summary['bone_curves']} bone curves")
        if summary["missing"]:
            msg += f"; {len(summary['missing'])} components have no shape key"
        self.report({"INFO"}, msg)
        return {"FINISHED"}


classes = (EMODIFFHEAD_OT_animate,)
