"""Photo + speech (or a track) -> talking-head mp4: the one function the CLI, the server and the add-on call."""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import NotAvailableError, TrackError
from ..progress import CancelFn, ProgressFn, check_cancel, report, scaled
from ..track import DEFAULT_FPS, MAX_FPS, Track, check_compatible, fps_in_range

#: A track may differ from round(audio duration x fps) by this many frames; it is then padded/trimmed.
FRAME_TOLERANCE = 2
#: Accepted output sizes (short side, pixels).
MIN_SIZE, MAX_SIZE = 64, 2048


@dataclass
class RenderResult:
    """What :func:`render_video` made.

    path: the mp4; num_frames, fps, duration_s (= num_frames / fps); size: (H, W) of the frames;
    timings: seconds per stage (``fit``, ``animate``, ``render+encode``, ``total``); fit_residual_px:
    mean landmark residual of the photo fit; warnings: notes for the user (e.g. several faces); track: the
    track that drove it; audio: the mp4's audio in words (e.g. "AAC 48 kHz stereo 192 kb/s (source: ...)").
    """

    path: Path
    num_frames: int
    fps: float
    duration_s: float
    size: tuple[int, int]
    timings: dict[str, float] = field(default_factory=dict)
    fit_residual_px: float = float("nan")
    warnings: list[str] = field(default_factory=list)
    track: Track | None = None
    audio: str = ""


def match_track_to_audio(track: Track, audio_duration_s: float, fps: float) -> Track:
    """The track with exactly round(duration x fps) frames; raises TrackError when they differ by more
    than FRAME_TOLERANCE frames or the frame rates differ."""
    if abs(float(track.fps) - float(fps)) > 1e-6:
        raise TrackError(f"track field 'fps' is {track.fps:g} but the video is rendered at {fps:g} fps; "
                         f"use --fps {track.fps:g}")
    want = max(1, int(round(audio_duration_s * fps)))
    have = track.num_frames
    if abs(have - want) > FRAME_TOLERANCE:
        hint = ("; a one-frame track (extracted from a photo) is a single pose, not an animation: leave out "
                "--track to animate the audio, or extract from a video") if have == 1 else ""
        raise TrackError(f"the track has {have} frame{'s' if have != 1 else ''} ({have / fps:.2f} s at {fps:g} fps) "
                         f"but the audio lasts {audio_duration_s:.2f} s ({want} frames); they must match{hint}")
    if have == want:
        return track
    if have > want:
        return track.slice(0, want)
    return track.take_frames(np.minimum(np.arange(want), have - 1)).validate()  # hold the last frame


def render_video(
    photo,
    audio,
    out_path: str | os.PathLike,
    *,
    track: Track | None = None,
    emotion=None,
    transcript: str | None = None,
    renderer: str = "warp",
    renderer_options: dict | None = None,
    size: int = 512,
    fps: float = DEFAULT_FPS,
    seed: int = 0,
    face: int | None = None,
    head=None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> RenderResult:
    """Render a talking-head mp4 (H.264 + AAC, written atomically).

    photo: path or (H, W, 3) uint8 RGB. audio: path (refused when shorter than ``audio.io.MIN_DURATION_S``) or
    ``AudioClip``. track: drive the head with this track
    (checked against the head model and the audio length); None: animate from the audio with ``emotion``
    (an ``EmotionTimeline`` or None for neutral), ``transcript`` and ``seed``. renderer: a name in
    :mod:`emodiffhead.render.registry`; renderer_options: keyword arguments for it. size: short side of the
    output in pixels. face: which face of a photo with several, 1.. from left to right (None: the largest).
    head: a HeadModel (default: the built-in head).
    """
    from ..audio.io import MIN_DURATION_S, AudioClip, load_audio
    from ..face.image import as_rgb_uint8, load_photo
    from ..head import load_head
    from .registry import get_renderer
    from ..video import plan_audio, write_mp4

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if not fps_in_range(fps):
        raise ValueError(f"fps must be in (0, {MAX_FPS}]")
    if not (MIN_SIZE <= int(size) <= MAX_SIZE):
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    report(progress, 0.0, "loading inputs")
    image = load_photo(photo) if isinstance(photo, (str, os.PathLike)) else as_rgb_uint8(photo)
    clip = audio if isinstance(audio, AudioClip) else load_audio(audio, min_duration_s=MIN_DURATION_S)
    head = load_head("builtin") if head is None else head
    if track is not None:
        check_compatible(track, head.expression_names, head.name)
        track = match_track_to_audio(track, clip.duration_s, fps)
    rend = get_renderer(renderer, **(renderer_options or {}))
    pick = {}
    if face is not None:
        if "face" not in inspect.signature(rend.prepare).parameters:
            raise NotAvailableError(f"renderer {renderer!r} cannot pick a face (face={face}); the warp renderer can")
        pick["face"] = int(face)
    audio_plan = plan_audio(clip)
    check_cancel(cancel)
    t = time.perf_counter()
    fit = rend.prepare(image, head, size=int(size), progress=scaled(progress, 0.01, 0.08), cancel=cancel, **pick)
    timings["fit"] = time.perf_counter() - t
    check_cancel(cancel)
    if track is None:
        from ..animate import animate

        t = time.perf_counter()
        track = animate(clip, head, transcript=transcript, emotion=emotion, fps=fps, seed=seed,
                        progress=scaled(progress, 0.08, 0.3), cancel=cancel)
        track = match_track_to_audio(track, clip.duration_s, fps)
        timings["animate"] = time.perf_counter() - t
    T = track.num_frames
    t = time.perf_counter()
    frames = rend.frames(track, audio=clip, cancel=cancel)
    path = write_mp4(frames, out_path, fps, audio=audio_plan, num_frames=T, progress=scaled(progress, 0.3, 1.0),
                     cancel=cancel)
    timings["render+encode"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    report(progress, 1.0, "done")
    return RenderResult(path=Path(path), num_frames=T, fps=float(fps), duration_s=T / float(fps),
                        size=tuple(rend.output_size), timings=timings,
                        fit_residual_px=float(getattr(fit, "residual_px", float("nan"))),
                        warnings=list(getattr(fit, "warnings", []) or []), track=track,
                        audio=audio_plan.describe() if audio_plan is not None else "")
