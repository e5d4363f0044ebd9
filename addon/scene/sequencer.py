"""Sound and movie strips in the Video Sequencer (Blender 5.0: ``sequence_editor.strips``; 4.2: ``sequences``)."""

from __future__ import annotations

import os

import bpy


def _strips(scene):
    """Every strip of the scene (Blender 5.0 ``strips_all``; 4.2-4.4 ``sequences_all``)."""
    ed = scene.sequence_editor
    if ed is None:
        return []
    return list(getattr(ed, "strips_all", None) or getattr(ed, "sequences_all", []))


def top_level(ed):
    """The editor's top-level strip collection (5.0: ``strips``; before: ``sequences``)."""
    return ed.strips if hasattr(ed, "strips") else ed.sequences


def find_sound_strip(scene):
    """The active strip if it is a sound, else the first sound strip, else None."""
    ed = scene.sequence_editor
    if ed is None:
        return None
    active = ed.active_strip
    if active is not None and active.type == "SOUND":
        return active
    sounds = sorted((s for s in _strips(scene) if s.type == "SOUND"), key=lambda s: (s.frame_start, s.channel))
    return sounds[0] if sounds else None


def strip_audio_path(strip) -> str:
    """Absolute path of a sound strip's file."""
    return os.path.abspath(bpy.path.abspath(strip.sound.filepath, library=strip.sound.library))


def _free_channel(scene, start: int, end: int) -> int:
    used = {s.channel for s in _strips(scene) if not (s.frame_final_end <= start or s.frame_final_start >= end)}
    ch = 1
    while ch in used:
        ch += 1
    return ch


def add_sound_strip(scene, path: str, frame_start: int | None = None, channel: int | None = None):
    """Add ``path`` as a sound strip (at the scene start by default) and return it."""
    ed = scene.sequence_editor or scene.sequence_editor_create()
    start = scene.frame_start if frame_start is None else int(frame_start)
    ch = channel or _free_channel(scene, start, start + 10**7)
    strip = top_level(ed).new_sound(name=os.path.basename(path), filepath=path, channel=ch, frame_start=start)
    ed.active_strip = strip
    return strip


def add_movie_strip(scene, path: str, frame_start: int, name: str = "emodiffhead render"):
    """Add the rendered video at ``frame_start`` in a free channel (its own sound is not added)."""
    ed = scene.sequence_editor or scene.sequence_editor_create()
    ch = _free_channel(scene, frame_start, frame_start + 10**7)
    strip = top_level(ed).new_movie(name=name, filepath=path, channel=ch, frame_start=int(frame_start))
    return strip


def add_image_sequence(scene, paths: list[str], frame_start: int, name: str = "emodiffhead frames"):
    """Add PNG frames (one per scene frame, sorted) as an image strip at ``frame_start``."""
    if not paths:
        raise ValueError("no frames to add")
    ed = scene.sequence_editor or scene.sequence_editor_create()
    ch = _free_channel(scene, frame_start, frame_start + 10**7)
    strip = top_level(ed).new_image(name=name, filepath=paths[0], channel=ch, frame_start=int(frame_start))
    for p in paths[1:]:
        strip.elements.append(os.path.basename(p))
    return strip
