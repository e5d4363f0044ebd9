"""Command-line options shared by several sub-commands (emotion, transcript, fps), defined once."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EmodiffheadError, InputFileError
from ..track import MAX_INTENSITY


class UsageError(EmodiffheadError):
    """Conflicting or invalid command-line options."""


def add_emotion_arguments(p: argparse.ArgumentParser) -> None:
    """``--emotion``, ``--intensity``, ``--emotion-timeline`` and ``--transcript``."""
    from ..emotion import EMOTIONS

    p.add_argument("--emotion", choices=EMOTIONS, help="one emotion for the whole clip")
    p.add_argument("--intensity", type=float, default=None,
                   help=f"intensity of --emotion, 0..{MAX_INTENSITY} (default 1)")
    p.add_argument("--emotion-timeline",
                   help="JSON file (or inline JSON) with emotion keyframes; see docs/animator.md")
    p.add_argument("--transcript", help="the spoken text, or a .txt file holding it (forced alignment)")


def emotion_from_args(args: argparse.Namespace):
    """The :class:`EmotionTimeline` the options ask for, or None; UsageError on conflicting options."""
    from ..animate import EmotionTimeline

    if args.emotion_timeline and (args.emotion or args.intensity is not None):
        raise UsageError("give either --emotion/--intensity or --emotion-timeline, not both")
    if args.intensity is not None and not args.emotion:
        raise UsageError("--intensity needs --emotion")
    if args.emotion_timeline:
        return EmotionTimeline.from_json(args.emotion_timeline)
    if args.emotion:
        intensity = 1.0 if args.intensity is None else args.intensity
        if not (0.0 <= intensity <= MAX_INTENSITY):
            raise UsageError(f"--intensity must be in 0..{MAX_INTENSITY}, got {intensity}")
        return EmotionTimeline.constant(args.emotion, intensity)
    return None


def check_fps(fps: float) -> None:
    """UsageError unless 0 < fps <= 240."""
    if not (0 < fps <= 240):
        raise UsageError(f"--fps must be in (0, 240], got {fps}")


def read_transcript(value: str | None) -> str | None:
    """The transcript text: the content of ``value`` if it names a .txt file, else ``value`` itself."""
    if not value:
        return None
    path = Path(value)
    if value.lower().endswith(".txt"):
        if not path.is_file():
            raise InputFileError(f"transcript file not found: {path}")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputFileError(f"transcript file is not UTF-8 text: {path}") from None
    return value
