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


def _live_changed(self, context) -> None:
    from .operators import preview

    preview.set_live(self.preview_live)


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
    ], default="BUILTIN", description="Where the head for Create head comes from")
    flame_path: StringProperty(name="FLAME file", subtype="FILE_PATH",
                               description="A licensed FLAME model file (generic_model.pkl or .npz); the server must "
                                           "offer it too (emodiffhead serve --flame PATH)")
    photo_path: StringProperty(name="Photo", subtype="FILE_PATH",
                               description="Identity photo (for fitting and rendering)")
    # animate
    audio_source: EnumProperty(name="Audio", items=[
        ("STRIP", "Sound strip", "The active (or first) sound strip in the sequencer"),
        ("FILE", "File", "An audio file: once animated it becomes a new sound strip at the current frame"),
    ], default="STRIP", description="Where the speech of the line comes from")
    audio_path: StringProperty(name="Audio file", subtype="FILE_PATH",
                               description="Speech recording (wav, flac, mp3, ...) for Audio: File")
    transcript: StringProperty(name="Transcript", description="Optional text of the speech (better lip sync)")
    seed: IntProperty(name="Seed", default=-1, min=-1,
                      description="Random seed of the idle motion (blinks, head sway); same seed, same motion. "
                                  "-1: derived from the line's audio, so each line moves differently")
    use_emotion_curves: BoolProperty(name="Keep my emotion keys", default=True,
                                     description="When you edited this line's emotion keys, animating again sends them "
                                                 "to the backend as the emotion timeline and keeps them as they are; "
                                                 "lines whose emotion keys are untouched use Emotion and Intensity")
    use_region: BoolProperty(name="Only a frame range", default=False,
                             description="Replace keys only between Start and End; keys elsewhere are kept")
    region_start: IntProperty(name="Start", default=1, description="First frame whose keys are replaced")
    region_end: IntProperty(name="End", default=100, description="Last frame whose keys are replaced")
    key_error: FloatProperty(name="Key error", default=0.0, min=0.0, soft_max=0.05, precision=3,
                             description="0: a key on every frame. Above 0: only the keys a linear curve needs to stay "
                                         "within this error (shape-key value, radians, metres): fewer keys to hand-edit")
    # emotion
    emotion: EnumProperty(name="Emotion", items=_emotion_items,
                          description="Emotion category (sent with Animate; keyed by Key at current frame)")
    intensity: FloatProperty(name="Intensity", default=1.0, min=0.0, max=head_scene.MAX_INTENSITY, soft_max=1.0,
                             description="Emotion intensity (the track format allows 0..1.5)")
    fade_to: EnumProperty(name="To", items=_emotion_items, description="The emotion the crossfade ends in")
    fade_start: IntProperty(name="From frame", default=1, description="Frame where the crossfade starts")
    fade_end: IntProperty(name="To frame", default=25, description="Frame where the crossfade ends")
    fade_hold: BoolProperty(name="Hold after", default=True,
                            description="Remove both emotions' later keys so the new emotion holds after the crossfade")
    # render
    renderer: StringProperty(name="Renderer", default="", description="Backend renderer (empty: server default)")
    image_sequence: BoolProperty(name="Also as image sequence", default=False,
                                 description="Also download the frames as PNGs and add them as an image strip")
    size: IntProperty(name="Size", default=256, min=64, max=1024, description="Video size in pixels")
    job_id: StringProperty(name="Job", description="The server's id of the last render job")
    job_running: BoolProperty(name="Rendering", default=False, description="A render job is being followed")
    job_progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR",
                                description="Progress of the render job")
    job_message: StringProperty(name="Status", default="", description="State of the render job")
    job_cancel_requested: BoolProperty(name="Cancel requested", default=False,
                                       description="Cancel was pressed; the job stops at its next frame")
    last_result: StringProperty(name="Last video", subtype="FILE_PATH", description="The last rendered mp4")
    busy_message: StringProperty(name="Waiting", default="", description="What the add-on is waiting for")
    # preview
    preview_live: BoolProperty(name="Live preview", default=False, update=_live_changed,
                               description="Render the current frame with the photo whenever the frame or the "
                                           "curves change (in the background; shown in the image 'emodiffhead preview')")
    preview_size: IntProperty(name="Preview size", default=512, min=64, max=1024,
                              description="Preview image size in pixels (short side)")
    preview_message: StringProperty(name="Preview", default="", description="State of the last preview")


classes = (EMODIFFHEAD_PG_scene,)


def register_props() -> None:
    bpy.types.Scene.emodiffhead = PointerProperty(type=EMODIFFHEAD_PG_scene)


def unregister_props() -> None:
    del bpy.types.Scene.emodiffhead
