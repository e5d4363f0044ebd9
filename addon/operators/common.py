"""Small helpers shared by the operators."""

from __future__ import annotations

import os
import tempfile

import bpy


def settings(context: bpy.types.Context):
    """The scene's emodiffhead settings (``scene.emodiffhead``)."""
    return context.scene.emodiffhead


def active_head(context: bpy.types.Context) -> bpy.types.Object | None:
    """The head mesh to work on: the settings' head, else the active object if it has shape keys."""
    s = settings(context)
    if s.head is not None and s.head.name in context.scene.objects:
        return s.head
    ob = context.active_object
    if ob is not None and ob.type == "MESH" and ob.data.shape_keys is not None:
        return ob
    return None


def work_dir() -> str:
    """A folder for files exchanged with the backend (next to the .blend when saved, else temp)."""
    if bpy.data.filepath:
        d = os.path.join(os.path.dirname(bpy.data.filepath), "emodiffhead")
    else:
        d = os.path.join(tempfile.gettempdir(), "emodiffhead-blender")
    os.makedirs(d, exist_ok=True)
    return d


def scene_fps(scene: bpy.types.Scene) -> float:
    """Frames per second of ``scene`` (fps / fps_base)."""
    return scene.render.fps / scene.render.fps_base


def poll_fails(cls, reason: str) -> bool:
    """For an operator's ``poll``: False, and ``reason`` shown in the button's tooltip where Blender offers
    ``poll_message_set`` (3.0+; guarded so the add-on still loads wherever it is missing)."""
    if hasattr(cls, "poll_message_set"):
        cls.poll_message_set(reason)
    return False
