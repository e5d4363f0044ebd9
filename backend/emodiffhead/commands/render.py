"""``emodiffhead render [PHOTO] [AUDIO] -o out.mp4``: one photo + speech -> talking-head video."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..fileio import check_writable
from ..render.pipeline import MAX_SIZE, MIN_SIZE
from ..track import DEFAULT_FPS, load_track

from ..seeds import derive_seed
from ._options import (AUDIO_FORMATS, PHOTO_FORMATS, UsageError, add_emotion_arguments, add_seed_argument, check_fps,
                       emotion_from_args, print_warnings, read_transcript, speech_warnings)

NAME = "render"
HELP = "render a talking-head mp4 from one photo and speech (defaults: the shipped Einstein photo and ARCTIC clip)"

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
DEFAULT_PHOTO = EXAMPLES / "einstein_1921.jpg"
DEFAULT_AUDIO = EXAMPLES / "arctic_a0009.wav"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo", nargs="?", default=None,
                   help=f"photo with a face: {PHOTO_FORMATS} (default: the shipped example, with a note)")
    p.add_argument("audio", nargs="?", default=None,
                   help=f"speech recording: {AUDIO_FORMATS} (default: the shipped example clip, with a note); "
                        "the mp4 keeps its sample rate and channels")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, H.264 + AAC, faststart)")
    add_emotion_arguments(p)
    p.add_argument("--track", help="drive the head with this track (.json/.npz) instead of animating the audio")
    p.add_argument("--size", type=int, default=512,
                   help=f"short side of the video in pixels, {MIN_SIZE}-{MAX_SIZE} (default 512)")
    p.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"frames per second (default {DEFAULT_FPS:g})")
    p.add_argument("--face", type=int, default=None, metavar="N",
                   help="which face to animate in a photo with several: 1, 2, ... counted from left to right "
                        "(default: the largest)")
    from ..render.registry import RENDERERS

    p.add_argument("--renderer", default="warp", choices=sorted(RENDERERS),
                   help="warp (default, no weights), diffusion or refiner (both need --weights from `emodiffhead train`)")
    p.add_argument("--weights", help="weights folder of the diffusion renderer or the refiner")
    p.add_argument("--force-identity", action="store_true",
                   help="refiner: render even when the photo is not the person the personal model learned")
    p.add_argument("--keep-photo-expression", type=float, default=None,
                   help="warp renderer: 0 = the track replaces the photo's expression (default), 1 = adds to it")
    add_seed_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def resolve_inputs(args: argparse.Namespace) -> tuple[str, str, list[str]]:
    """(photo, audio, notes): the given files, or the shipped examples with a note saying so."""
    notes = []
    photo, audio = args.photo, args.audio
    if photo is None:
        photo = str(DEFAULT_PHOTO)
        notes.append(f"no photo given; using the shipped example photo {DEFAULT_PHOTO.name}")
    if audio is None:
        audio = str(DEFAULT_AUDIO)
        notes.append(f"no audio given; using the shipped example speech {DEFAULT_AUDIO.name} "
                     "(give AUDIO after the photo to use your own)")
    return photo, audio, notes


def run(args: argparse.Namespace) -> int:
    from ..progress import ConsoleProgress
    from ..render.pipeline import render_video

    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        raise UsageError(f"output must end in .mp4, got {out.name!r}")
    if args.track and (args.emotion or args.emotion_timeline or args.transcript):
        raise UsageError("--track already holds the animation; do not combine it with --emotion, "
                         "--emotion-timeline or --transcript")
    check_fps(args.fps)
    if not (MIN_SIZE <= args.size <= MAX_SIZE):
        raise UsageError(f"--size must be between {MIN_SIZE} and {MAX_SIZE}, got {args.size}")
    if args.face is not None and args.face < 1:
        raise UsageError(f"--face counts faces from 1 (left to right), got {args.face}")
    timeline = emotion_from_args(args)
    track = load_track(args.track) if args.track else None
    transcript = read_transcript(args.transcript)
    options: dict = {}
    if args.weights:
        if args.renderer == "warp":
            raise UsageError("--weights is for --renderer diffusion or refiner; the warp renderer needs no weights")
        options["weights"] = args.weights
    if args.force_identity:
        if args.renderer != "refiner":
            raise UsageError("--force-identity applies to the refiner (a personal model) only")
        options["force_identity"] = True
    if args.keep_photo_expression is not None:
        if args.renderer != "warp":
            raise UsageError("--keep-photo-expression applies to the warp renderer only")
        if not 0.0 <= args.keep_photo_expression <= 1.0:
            raise UsageError(f"--keep-photo-expression must be in 0..1, got {args.keep_photo_expression:g}")
        options["keep_photo_expression"] = args.keep_photo_expression
    check_writable(out)
    photo, audio, notes = resolve_inputs(args)
    for n in notes:
        print(f"note: {n}", flush=True)
    seed = derive_seed(photo, audio) if args.seed is None else args.seed
    with ConsoleProgress("render", enabled=False if args.quiet else None) as bar:
        res = render_video(photo, audio, out, track=track, emotion=timeline, transcript=transcript,
                           renderer=args.renderer, renderer_options=options, size=args.size, fps=args.fps,
                           seed=seed, face=args.face, progress=bar)
    for w in res.warnings:
        print(f"note: {w}")
    if track is None and res.track is not None:
        print_warnings(NAME, speech_warnings(res.track.meta, transcript))
        print(f"idle-motion seed {seed}" + (" (from the inputs; --seed repeats or changes it)" if args.seed is None
                                             else ""))
    if res.audio:
        print(f"audio: {res.audio}")
    t = res.timings
    print(f"{res.path}: {res.num_frames} frames, {res.size[1]}x{res.size[0]} at {res.fps:g} fps, "
          f"{res.duration_s:.2f} s, made in {t.get('total', 0):.1f} s")
    return 0
