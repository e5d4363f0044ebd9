"""Emotion editing: key an intensity at the current frame, crossfade two emotions over a range."""

from __future__ import annotations

from typing import Callable

import bpy

from ..scene import head as head_scene
from ..scene import keyframes, lines
from .common import active_head, poll_fails, settings


def _emotion_block(mesh, name: str):
    return head_scene.key_of(mesh).key_blocks.get(head_scene.EMOTION_PREFIX + name)


def _curve(mesh, name: str, frame: float):
    """The emotion curve of the dialogue line at ``frame`` (its own action; the head's first line when none
    covers the frame)."""
    key = head_scene.key_of(mesh)
    action = lines.line_at(key, frame)
    if action is None:
        action, _ = lines.ensure(key, "line", f"{mesh.name} line expression")
    bag = lines.bag(key, action)
    return keyframes.fcurve(bag, f'key_blocks["{head_scene.EMOTION_PREFIX}{name}"].value', group="Emotion")


def key_emotion(mesh, name: str, frame: float, value: float) -> None:
    """Set emotion ``name`` to ``value`` at ``frame`` (replacing a key there)."""
    fc = _curve(mesh, name, frame)
    keyframes.replace_keys(fc, [frame], [value], frame, frame, interpolation="BEZIER")


def crossfade(mesh, from_name: str, to_name: str, start: int, end: int, intensity: float, hold: bool = True) -> None:
    """Fade ``from_name`` out and ``to_name`` in to ``intensity`` between frames start..end.

    Keys between start and end are replaced; the curves keep their values at ``start``. With ``hold``
    both curves' keys after ``end`` are removed, so the new emotion holds to the end of the clip.
    """
    a, b = _curve(mesh, from_name, start), _curve(mesh, to_name, start)
    a0 = a.evaluate(start) if len(a.keyframe_points) else _emotion_block(mesh, from_name).value
    b0 = b.evaluate(start) if len(b.keyframe_points) else 0.0
    hi = float("inf") if hold else end
    keyframes.replace_keys(a, [start, end], [a0, 0.0], start, hi, interpolation="BEZIER")
    keyframes.replace_keys(b, [start, end], [b0, intensity], start, hi, interpolation="BEZIER")


class _EmotionOp:
    """Base of the emotion operators: available once the head has emotion keys (Animate from audio makes them)."""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        mesh = active_head(context)
        if mesh is None:
            return poll_fails(cls, "no head: create one in the Head panel")
        if not head_scene.emotion_names(mesh):
            return poll_fails(cls, "the head has no emotion keys yet: animate it from audio first")
        return True

    def _edit(self, context: bpy.types.Context, names: tuple[str, ...], edit: Callable[[], None],
              done: str) -> set[str]:
        """Run ``edit`` once the head has the emotion keys ``names``; report ``done`` (or the error)."""
        mesh = active_head(context)
        for n in names:
            if _emotion_block(mesh, n) is None:
                self.report({"ERROR"}, f"the head has no '{n}' emotion key; animate it from audio first")
                return {"CANCELLED"}
        try:
            edit()
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        context.scene.frame_set(context.scene.frame_current)
        self.report({"INFO"}, done)
        return {"FINISHED"}


class EMODIFFHEAD_OT_emotion_key(_EmotionOp, bpy.types.Operator):
    """Key the chosen emotion at the current frame with the chosen intensity"""

    bl_idname = "emodiffhead.emotion_key"
    bl_label = "Key at current frame"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        s, mesh, frame = settings(context), active_head(context), context.scene.frame_current
        return self._edit(context, (s.emotion,), lambda: key_emotion(mesh, s.emotion, frame, s.intensity),
                          f"{s.emotion} = {s.intensity:.2f} at frame {frame}")


class EMODIFFHEAD_OT_emotion_crossfade(_EmotionOp, bpy.types.Operator):
    """Crossfade from the chosen emotion to another over a frame range"""

    bl_idname = "emodiffhead.emotion_crossfade"
    bl_label = "Crossfade"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        s, mesh = settings(context), active_head(context)
        if s.fade_end <= s.fade_start:
            self.report({"ERROR"}, "the crossfade needs 'To frame' after 'From frame'")
            return {"CANCELLED"}
        return self._edit(context, (s.emotion, s.fade_to),
                          lambda: crossfade(mesh, s.emotion, s.fade_to, s.fade_start, s.fade_end, s.intensity,
                                            s.fade_hold),
                          f"crossfade {s.emotion} -> {s.fade_to} over frames {s.fade_start}-{s.fade_end}")


classes = (EMODIFFHEAD_OT_emotion_key, EMODIFFHEAD_OT_emotion_crossfade)
