"""``emodiffhead render [PHOTO] [AUDIO] -o out.mp4``: one photo + speech -> talking-head video."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "render"
HELP = "render a talking-head mp4 from one photo and speech (defaults: the shipped Einstein photo and ARCTIC clip)"

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
DEFAULT_PHOTO = EXAMPLES / "einstein_1921.jpg"
DEFAULT_AUDIO = EXAMPLES / "arctic_a0009.wav"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..emotion import EMOTIONS

    p.add_argument("photo", nargs="?", default=str(DEFAULT_PHOTO), help="photo with one face (default: shipped example)")
    p.add_argument("audio", nargs="?", default=str(DEFAULT_AUDIO), help="speech recording (default: shipped example)")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4)")
    p.add_argument("--emotion", choices=EMOTIONS, help="one emotion for the whole clip")
    p.add_argument("--intensity", type=float, default=None, help="intensity of --emotion, 0..1.5 (default 1)")
    p.add_argument("--emotion-timeline", help="JSON file (or inline JSON) with emotion keyframes")
    p.add_argument("--track", help="drive the head with this track (.json/.npz) instead of animating the audio")
    p.add_argument("--transcript", help="the spoken text, or a .txt file holding it")
    p.add_argument("--size", type=int, default=512, help="short side of the video in pixels (default 512)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--renderer", default="warp", help="warp (default, no weights) or diffusion")
    p.add_argument("--weights", help="weights folder of the diffusion renderer")
    p.add_argument("--keep-photo-expression", type=float, default=None,
                   help="warp renderer: 0 = the track replaces the photo's expression (default), 1 = adds to it")
    p.add_argument("--seed", type=int, default=0, help="seed of the idle motion (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..animate import EmotionTimeline
    from ..progress import ConsoleProgress
    from ..render.pipeline import render_video
    from ..track import load_track
    from .animate import UsageError, read_transcript

    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        raise UsageError(f"output must end in .mp4, got {out.name!r}")
    if args.emotion_timeline and (args.emotion or args.intensity is not None):
        raise UsageError("give either --emotion/--intensity or --emotion-timeline, not both")
    if args.intensity is not None and not args.emotion:
        raise UsageError("--intensity needs --emotion")
    if args.track and (args.emotion or args.emotion_timeline or args.transcript):
        raise UsageError("--track already holds the animation; do not combine it with --emotion, "
                         "--emotion-timeline or --transcript")
    if not (0 < args.fps <= 240):
        raise UsageError(f"--fps must be in (0, 240], got {args.fps}")
    if not (64 <= args.size <= 2048):
        raise UsageError(f"--size must be between 64 and 2048, got {args.size}")
    timeline = None
    if args.emotion_timeline:
        timeline = EmotionTimeline.from_json(args.emotion_timeline)
    elif args.emotion:
        intensity = 1.0 if args.intensity is None else args.intensity
        if not (0.0 <= intensity <= 1.5):
            raise UsageError(f"--intensity must be in 0..1.5, got {intensity}")
        timeline = EmotionTimeline.constant(args.emotion, intensity)
    track = load_track(args.track) if args.track else None
    transcript = read_transcript(args.transcript) if args.transcript else None
    options: dict = {}
    if args.weights:
        if args.renderer == "warp":
            raise UsageError("--weights is for --renderer diffusion; the warp renderer needs no weights")
        options["weights"] = args.weights
    if args.keep_photo_expression is not None:
        if args.renderer != "warp":
            raise UsageError("--keep-photo-expression applies to the warp renderer only")
        options["keep_photo_expression"] = args.keep_photo_expression
    with ConsoleProgress("render", enabled=False if args.quiet else None) as bar:
        res = render_video(args.photo, args.audio, out, track=track, emotion=timeline, transcript=transcript,
                           renderer=args.renderer, renderer_options=options, size=args.size, fps=args.fps,
                           seed=args.seed, progress=bar)
    for w in res.warnings:
        print(f"note: {w}")
    t = res.timings
    print(f"{res.path}: {res.num_frames} frames, {res.size[1]}x{res.size[0]} at {res.fps:g} fps, "
          f"{res.duration_s:.2f} s, made in {t.get('total', 0):.1f} s")
    return 0
