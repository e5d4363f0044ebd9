"""Sound and movie strips in the Video Sequencer, read the same way in Blender 4.2, 5.0 and 5.2+.

Strip collections: 5.0 ``sequence_editor.strips``/``strips_all``; 4.2-4.4 ``sequences``/``sequences_all``.
Strip timing: 5.2 renamed ``frame_start``/``frame_duration``/``frame_final_start``/``frame_final_end``/
``frame_final_duration`` to ``content_start``/``content_duration``/``left_handle``/``right_handle``/``duration``
(the old names are deprecated in 5.2 and removed in 6.0). :func:`timing` reads either; :func:`move_strip`
and :func:`trim_strip` write either. Nothing else in the add-on touches those properties.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import bpy

log = logging.getLogger(__name__)

#: Custom property on strips made or used by the add-on: the dialogue line (sound strip name) they belong to.
LINE_PROP = "emodiffhead_line"


@dataclass(frozen=True)
class StripTiming:
    """A strip's timing in scene frames.

    content_start: frame where the source's first frame sits (before trimming); content_duration: frames of
    the whole source; left, right: the visible part is [left, right) (right exclusive); duration = right - left.
    """

    content_start: float
    content_duration: int
    left: int
    right: int

    @property
    def duration(self) -> int:
        return self.right - self.left

    @property
    def offset(self) -> int:
        """Frames trimmed off the source's start (left - content_start)."""
        return int(round(self.left - self.content_start))

    @property
    def trimmed(self) -> bool:
        return self.offset != 0 or self.duration != self.content_duration


def _new_api(strip) -> bool:
    return hasattr(strip, "left_handle")


def timing(strip) -> StripTiming:
    """The strip's :class:`StripTiming` (5.2+ names when present, else the 4.2/5.0 ones)."""
    if _new_api(strip):
        return StripTiming(float(strip.content_start), int(strip.content_duration), int(strip.left_handle),
                           int(strip.right_handle))
    return StripTiming(float(strip.frame_start), int(strip.frame_duration), int(strip.frame_final_start),
                       int(strip.frame_final_end))


def move_strip(strip, delta: int) -> None:
    """Slide the strip (source and handles) by ``delta`` frames."""
    if _new_api(strip):
        strip.content_start = strip.content_start + delta
    else:
        strip.frame_start = strip.frame_start + delta


def trim_strip(strip, left: int, right: int) -> None:
    """Move the handles so the visible part is [left, right) (scene frames, right exclusive)."""
    if _new_api(strip):
        strip.left_handle, strip.right_handle = int(left), int(right)
    else:
        strip.frame_final_start, strip.frame_final_end = int(left), int(right)


def all_strips(scene) -> list:
    """Every strip of the scene (Blender 5.0 ``strips_all``; 4.2-4.4 ``sequences_all``)."""
    ed = scene.sequence_editor
    if ed is None:
        return []
    return list(getattr(ed, "strips_all", None) or getattr(ed, "sequences_all", []))


def top_level(ed):
    """The editor's top-level strip collection (5.0: ``strips``; before: ``sequences``)."""
    return ed.strips if hasattr(ed, "strips") else ed.sequences


def sound_strips(scene) -> list:
    """All sound strips, by start frame then channel."""
    return sorted((s for s in all_strips(scene) if s.type == "SOUND"),
                  key=lambda s: (timing(s).left, s.channel))


def find_sound_strip(scene, frame: int | None = None, lines: set[str] | None = None):
    """The sound strip to work on: the active strip when it is a sound (and one of ``lines`` when given); else
    the first sound strip under ``frame`` (those named in ``lines`` first); else the first of ``lines``; else the
    first sound strip. None when there is none."""
    ed = scene.sequence_editor
    if ed is None:
        return None
    active = ed.active_strip
    if active is not None and active.type == "SOUND" and (not lines or active.name in lines):
        return active
    sounds = sound_strips(scene)
    if frame is not None:
        under = [s for s in sounds if timing(s).left <= frame < timing(s).right]
        under.sort(key=lambda s: s.name not in (lines or ()))
        if under:
            return under[0]
    named = [s for s in sounds if s.name in (lines or ())]
    return (named or sounds or [None])[0]


def strip_audio_path(strip) -> str:
    """Absolute path of a sound strip's file."""
    return os.path.abspath(bpy.path.abspath(strip.sound.filepath, library=strip.sound.library))


def free_channel(scene, start: int, end: int) -> int:
    """The lowest channel with no strip overlapping frames [start, end)."""
    used = set()
    for s in all_strips(scene):
        t = timing(s)
        if not (t.right <= start or t.left >= end):
            used.add(s.channel)
    ch = 1
    while ch in used:
        ch += 1
    return ch


def add_sound_strip(scene, path: str, frame_start: int | None = None, channel: int | None = None,
                    num_frames: int = 10**7):
    """Add ``path`` as a sound strip at ``frame_start`` (default: the current frame) on the lowest channel
    free over its ``num_frames``; makes it the active strip and returns it."""
    ed = scene.sequence_editor or scene.sequence_editor_create()
    start = scene.frame_current if frame_start is None else int(frame_start)
    ch = channel or free_channel(scene, start, start + max(1, int(num_frames)))
    strip = top_level(ed).new_sound(name=os.path.basename(path), filepath=path, channel=ch, frame_start=start)
    ed.active_strip = strip
    return strip


def remove_line_renders(scene, line: str) -> int | None:
    """Remove the movie/image strips an earlier render of ``line`` added; returns the lowest channel they
    used (None when there were none)."""
    ed = scene.sequence_editor
    if ed is None:
        return None
    old = [s for s in all_strips(scene) if s.type in ("MOVIE", "IMAGE") and s.get(LINE_PROP) == line]
    channel = min((s.channel for s in old), default=None)
    for s in old:
        top_level(ed).remove(s)
    return channel


def add_movie_strip(scene, path: str, frame_start: int, name: str = "emodiffhead render", line: str = ""):
    """Add the rendered video at ``frame_start`` on a free channel (its own sound is not added)."""
    ed = scene.sequence_editor or scene.sequence_editor_create()
    ch = free_channel(scene, frame_start, frame_start + 10**7)
    strip = top_level(ed).new_movie(name=name, filepath=path, channel=ch, frame_start=int(frame_start))
    if line:
        strip[LINE_PROP] = line
    return strip


def add_image_sequence(scene, paths: list[str], frame_start: int, name: str = "emodiffhead frames", line: str = ""):
    """Add PNG frames (one per scene frame, sorted) as an image strip at ``frame_start``."""
    if not paths:
        raise ValueError("no frames to add")
    ed = scene.sequence_editor or scene.sequence_editor_create()
    ch = free_channel(scene, frame_start, frame_start + 10**7)
    strip = top_level(ed).new_image(name=name, filepath=paths[0], channel=ch, frame_start=int(frame_start))
    for p in paths[1:]:
        strip.elements.append(os.path.basename(p))
    if line:
        strip[LINE_PROP] = line
    return strip


def line_audio(strip, scene_fps: float, folder: str) -> tuple[str, bool]:
    """The audio of the strip's visible part: (path, is_cut). Untrimmed: the strip's own file. Trimmed: the
    part between the handles written as a WAV in ``folder`` (exact for WAV sources, Blender's audaspace
    for other formats)."""
    src = strip_audio_path(strip)
    t = timing(strip)
    if not t.trimmed:
        return src, False
    # a strip's own playback rate can differ from the scene's: the source's seconds per scene frame
    start_s, dur_s = t.offset / scene_fps, t.duration / scene_fps
    name = bpy.path.clean_name(os.path.splitext(os.path.basename(src))[0])
    out = os.path.join(folder, f"line_{name}_{t.offset}_{t.duration}.wav")
    tmp = out + ".part.wav"
    try:
        import wave

        with wave.open(src, "rb") as r:
            rate, n = r.getframerate(), r.getnframes()
            a, b = int(round(start_s * rate)), min(n, int(round((start_s + dur_s) * rate)))
            r.setpos(min(a, n))
            data = r.readframes(max(0, b - a))
            with wave.open(tmp, "wb") as w:
                w.setnchannels(r.getnchannels())
                w.setsampwidth(r.getsampwidth())
                w.setframerate(rate)
                w.writeframes(data)
    except (wave.Error, EOFError, OSError) as e:
        log.debug("%s is not a readable WAV (%s): cut with aud", src, e)
        import aud

        snd = aud.Sound(src)
        rate = int(snd.specs[0]) or 48000
        snd.limit(start_s, start_s + dur_s).write(tmp, rate, aud.CHANNELS_MONO, aud.FORMAT_S16, aud.CONTAINER_WAV,
                                                  aud.CODEC_PCM)
    os.replace(tmp, out)
    return out, True
