"""Scene settings the panels draw (``scene.emodiffhead``) and the render job's state."""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from .scene import head as head_scene

#: Names shown before any head or server told us the categories (the server's /health is authoritative).
_FALLBACK = ("neutral",)


def _emotion_items(self, context):
    names = head_scene.emotion_names(self.head) if self.head else []
    if not names:
        from .preferences import health_cache

        names = list((health_cache.get("health") or {}).get("emotions") or _FALLBACK)
    # Blender keeps a reference to the strings; cache them on the function to avoid garbage.
    items = [(n, n.capitalize(), f"Emotion category '{n}'") for n in names]
    _emotion_items.cache = items
    return items


def _is_head(self, obj):
    return obj.type == "MESH" and obj.data.shape_keys is not None


class EMODIFFHEAD_PG_scene(bpy.types.PropertyGroup):
    head: PointerProperty(name="Head", type=bpy.types.Object, poll=_is_head,
                          description="The head mesh (with expression shape keys) that emodiffhead animates")
    # create head
    head_source: EnumProperty(name="Source", items=[
        ("BUILTIN", "Built-in head", "The CC0 head that ships with emodiffhead"),
        ("FLAME", "FLAME file", "A licensed FLAME model file (generic_model.pkl or .npz) on this machine"),
        ("PHOTO", "Fitted to photo", "The built-in head fitted to a photo by the backend"),
    ], default="BUILTIN")
    flame_path: StringProperty(name="FLAME file", subtype="FILE_PATH")
    photo_path: StringProperty(name="Photo", subtype="FILE_PATH",
                               description="Identity photo (for fitting and rendering)")
    # animate
    audio_source: EnumProperty(name="Audio", items=[
        ("STRIP", "Sound strip", "The active (or first) sound strip in the sequencer"),
        ("FILE", "File", "An audio file; it is also added to the sequencer"),
    ], default="STRIP")
    audio_path: StringProperty(name="Audio file", subtype="FILE_PATH")
    transcript: StringProperty(name="Transcript", description="Optional text of the speech (better lip sync)")
    seed: IntProperty(name="Seed", default=0, min=0)
    use_emotion_curves: BoolProperty(name="Use the head's emotion curves", default=True,
                                     description="When the head already has emotion keys, send them to the backend "
                                                 "as the emotion timeline (instead of Emotion and Intensity) so the "
                                                 "speech is recomposed with your emotion edits")
    use_region: BoolProperty(name="Only a frame range", default=False,
                             description="Replace keys only between Start and End; keys elsewhere are kept")
    region_start: IntProperty(name="Start", default=1)
    region_end: IntProperty(name="End", default=100)
    # emotion
    emotion: EnumProperty(name="Emotion", items=_emotion_items)
    intensity: FloatProperty(name="Intensity", default=1.0, min=0.0, max=1.5, soft_max=1.0,
                             description="Emotion intensity (the track format allows 0..1.5)")
    fade_to: EnumProperty(name="To", items=_emotion_items)
    fade_start: IntProperty(name="From frame", default=1)
    fade_end: IntProperty(name="To frame", default=25)
    fade_hold: BoolProperty(name="Hold after", default=True,
                            description="Remove both emotions' later keys so the new emotion holds after the crossfade")
    # render
    renderer: StringProperty(name="Renderer", default="", description="Backend renderer (empty: server default)")
    image_sequence: BoolProperty(name="Also as image sequence", default=False,
                                 description="Also download the frames as PNGs and add them as an image strip")
    size: IntProperty(name="Size", default=256, min=64, max=1024, description="Video size in pixels")
    job_id: StringProperty(name="Job")
    job_running: BoolProperty(default=False)
    job_progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    job_message: StringProperty(name="Status", default="")
    job_cancel_requested: BoolProperty(default=False)
    last_result: StringProperty(name="Last video", subtype="FILE_PATH")


classes = (EMODIFFHEAD_PG_scene,)


def register_props() -> None:
    bpy.types.Scene.emodiffhead = PointerProperty(type=EMODIFFHEAD_PG_scene)


def unregister_props() -> None:
    del bpy.types.Scene.emodiffhead
