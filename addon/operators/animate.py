"""Animate the head from audio: POST /animate, then key the returned track onto the head.

A dialogue line is a sound strip: its visible part (between the handles) is sent, and the keys go into the
line's own actions from the strip's left handle (:mod:`..scene.lines`). The request runs off the main thread
from the UI (see :mod:`.background`); keys are written on the main thread when the answer arrives.
"""

from __future__ import annotations

import os

import bpy

from ..client import BackendError
from ..preferences import make_client
from ..scene import head as head_scene
from ..scene import keyframes, lines, mapping, sequencer
from ..track_io import TrackFormatError, track_from_bytes, write_track
from .background import BackgroundRequest
from .common import active_head, scene_fps, settings, work_dir


def _emotion_edited(key, action, names: list[str]) -> bool:
    """True when the line's emotion curves differ from what Animate last wrote (the artist edited them)."""
    if action is None:
        return False
    now = keyframes.emotion_fingerprint(lines.bag(key, action), names)
    return bool(now) and now != (lines.span(action) or {}).get("emotion")


class EMODIFFHEAD_OT_animate(BackgroundRequest, bpy.types.Operator):
    """Send the dialogue line's audio to the backend and key its expression, emotion and bone curves into the
    line's own actions (ESC abandons)"""

    bl_idname = "emodiffhead.animate"
    bl_label = "Animate from audio"
    bl_options = {"REGISTER", "UNDO"}

    def prepare(self, context: bpy.types.Context) -> dict | None:
        """Main thread: find the head, the line's audio and its emotion curves; None (after a report) if impossible."""
        scene = context.scene
        s = settings(context)
        mesh = active_head(context)
        if mesh is None:
            self.report({"ERROR"}, "no head: create one first (emodiffhead panel > Create head)")
            return None
        fps = scene_fps(scene)
        strip, new_path = None, ""
        if s.audio_source == "FILE":
            path = bpy.path.abspath(s.audio_path)
            if not s.audio_path or not os.path.isfile(path):
                self.report({"ERROR"}, f"audio file not found: {path or '(none chosen)'}")
                return None
            active = scene.sequence_editor.active_strip if scene.sequence_editor else None
            if active is not None and active.type == "SOUND" and sequencer.strip_audio_path(active) == os.path.abspath(path):
                strip = active  # re-animating the line made from this file
            else:
                new_path = os.path.abspath(path)  # a new line: added at the current frame once the backend answers
        else:
            strip = sequencer.find_sound_strip(scene, scene.frame_current)
            if strip is None:
                self.report({"ERROR"}, "no sound strip in the sequencer: add one, or choose an audio file")
                return None
        key = head_scene.key_of(mesh)
        if strip is not None:
            t = sequencer.timing(strip)
            line, frame_start, n = strip.name, t.left, t.duration
            audio, _ = sequencer.line_audio(strip, fps, work_dir())
        else:
            line, frame_start, n, audio = "", scene.frame_current, 0, new_path
        action = lines.find(key, line) if line else None
        timeline, keep_emotion = None, False
        if s.use_emotion_curves and _emotion_edited(key, action, head_scene.emotion_names(mesh)):
            timeline = keyframes.emotion_timeline(mesh, frame_start, n, fps, bag=lines.bag(key, action))
            keep_emotion = timeline is not None
        model = head_scene.recall(mesh, "model_spec", "builtin") if mesh.emodiffhead_rig.preset in ("BUILTIN", "FLAME") \
            else "builtin"
        request = dict(audio=audio, emotion=s.emotion or "neutral", intensity=s.intensity, emotion_timeline=timeline,
                       transcript=s.transcript, fps=fps, seed=s.seed, model=model)
        return {"mesh_name": mesh.name, "line": line, "new_path": new_path, "frame_start": frame_start,
                "region": (s.region_start, s.region_end) if s.use_region else None, "keep_emotion": keep_emotion,
                "tolerance": s.key_error, "client": make_client(context), "request": request}

    @staticmethod
    def request(prepared: dict) -> dict:
        """Any thread: ask the backend; returns {"track": ...} or {"error": text}. Touches no Blender data."""
        try:
            data = prepared["client"].animate(**prepared["request"])
            return {"track": track_from_bytes(data)}
        except (BackendError, TrackFormatError) as e:
            return {"error": str(e)}

    def apply(self, context: bpy.types.Context, prepared: dict, answer: dict) -> set[str]:
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
        line = prepared["line"]
        if not line:  # Audio: File, a new line: its strip goes at the current frame on a free channel
            n = int(round(track.num_frames * scene_fps(scene) / track.fps))
            try:
                strip = sequencer.add_sound_strip(scene, prepared["new_path"], prepared["frame_start"], num_frames=n)
            except RuntimeError as e:  # e.g. a Blender built without audio ("compiled without Audaspace support")
                self.report({"ERROR"}, f"cannot add the sound strip: {e}")
                return {"CANCELLED"}
            line = strip.name
        else:
            strip = next((st for st in sequencer.all_strips(scene) if st.name == line), None)
        write_track(track, os.path.join(work_dir(), f"animate_{bpy.path.clean_name(line)}.json"))
        region = prepared["region"]
        try:
            summary = keyframes.apply_track(context, mesh, track, prepared["frame_start"], region, line=line,
                                            tolerance=prepared["tolerance"], keep_emotion=prepared["keep_emotion"])
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if strip is not None:
            t = sequencer.timing(strip)
            arm = mapping.armature(mesh)
            for idb in (head_scene.key_of(mesh), arm):
                act = lines.find(idb, line) if idb is not None else None
                if act is not None:
                    lines.set_span(act, left=t.left, right=t.right, content_start=t.content_start)
        last = int(summary["frames"][1])
        if region is None and scene.frame_end < last:
            scene.frame_end = last
        scene.sync_mode = "AUDIO_SYNC"  # playback follows the sound (scrubbing, no drift)
        msg = (f"line '{line}': animated frames {summary['frames'][0]:g}-{summary['frames'][1]:g}, "
               f"{summary['expression_curves']} expression curves, {summary['bone_curves']} bone curves")
        if summary["jaw_shape_key"]:
            msg += f"; the jaw opens through the '{summary['jaw_shape_key']}' shape key"
        if prepared["keep_emotion"]:
            msg += "; your emotion keys were kept"
        if summary["missing"]:
            msg += f"; {len(summary['missing'])} components have no shape key"
        if "jaw" not in mapping.joint_bones(mesh) and not summary["jaw_shape_key"]:
            self.report({"WARNING"}, msg + ". Nothing opens the mouth: name the jaw bone or the jaw shape key in "
                                           "the head's Rig mapping")
        else:
            self.report({"INFO"}, msg)
        return {"FINISHED"}


classes = (EMODIFFHEAD_OT_animate,)
