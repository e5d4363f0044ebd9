"""``emodiffhead animate AUDIO -o track.json``: speech (+ emotion) -> expression track."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EmodiffheadError, InputFileError

NAME = "animate"
HELP = "animate a head to speech: audio (+ transcript, + emotion) -> expression track (.json or .npz)"


class UsageError(EmodiffheadError):
    """Conflicting or invalid command-line options."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..emotion import EMOTIONS

    p.add_argument("audio", help="speech recording: wav, flac, mp3, m4a/aac, or a video file with audio")
    p.add_argument("-o", "--output", required=True, help="output track: .json, or .npz for a compact file")
    p.add_argument("--transcript", help="the spoken text, or a .txt file holding it (forced alignment)")
    p.add_argument("--emotion", choices=EMOTIONS, help="one emotion for the whole clip")
    p.add_argument("--intensity", type=float, default=None, help="intensity of --emotion, 0..1.5 (default 1)")
    p.add_argument("--emotion-timeline", help="JSON file (or inline JSON) with emotion keyframes; see docs/animator.md")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--seed", type=int, default=0, help="seed of the idle motion: blinks, gaze, sway (default 0)")
    p.add_argument("--model", default="builtin", help="head model: builtin (default) or a FLAME model file")
    p.add_argument("--speech-mode", default="auto", choices=("auto", "allphone", "alignment", "acoustic"),
                   help="force a speech path (default auto)")
    p.add_argument("--fast", action="store_true",
                   help="faster phone recognition (about 1.4x) at some accuracy cost; see docs/animator.md")
    p.add_argument("--workers", type=int, default=1,
                   help="processes for phone recognition of long inputs (default 1; same result)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def read_transcript(value: str) -> str:
    """The transcript text: the content of ``value`` if it names an existing .txt file, else ``value``."""
    path = Path(value)
    if value.lower().endswith(".txt"):
        if not path.is_file():
            raise InputFileError(f"transcript file not found: {path}")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputFileError(f"transcript file is not UTF-8 text: {path}") from None
    return value


def run(args: argparse.Namespace) -> int:
    from ..animate import EmotionTimeline, animate
    from ..head import load_head
    from ..progress import ConsoleProgress
    from ..track import save_track

    out = Path(args.output)
    if out.suffix.lower() not in (".json", ".npz"):
        raise UsageError(f"output must end in .json or .npz, got {out.name!r}")
    if args.emotion_timeline and (args.emotion or args.intensity is not None):
        raise UsageError("give either --emotion/--intensity or --emotion-timeline, not both")
    if args.intensity is not None and not args.emotion:
        raise UsageError("--intensity needs --emotion")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if not (0 < args.fps <= 240):
        raise UsageError(f"--fps must be in (0, 240], got {args.fps}")
    timeline = None
    if args.emotion_timeline:
        timeline = EmotionTimeline.from_json(args.emotion_timeline)
    elif args.emotion:
        intensity = 1.0 if args.intensity is None else args.intensity
        if not (0.0 <= intensity <= 1.5):
            raise UsageError(f"--intensity must be in 0..1.5, got {intensity}")
        timeline = EmotionTimeline.constant(args.emotion, intensity)
    transcript = read_transcript(args.transcript) if args.transcript else None
    head = load_head(args.model)
    with ConsoleProgress("animate", enabled=False if args.quiet else None) as bar:
        track = animate(args.audio, head, transcript=transcript, emotion=timeline, fps=args.fps, seed=args.seed,
                        speech_mode=args.speech_mode, phone_preset="fast" if args.fast else "accurate",
                        phone_workers=args.workers, progress=bar)
    save_track(track, out)
    print(f"{out}: {track.num_frames} frames at {track.fps:g} fps, speech path {track.meta['speech_path']}")
    return 0
