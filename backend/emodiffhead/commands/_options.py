"""Command-line options shared by several sub-commands (emotion, transcript, fps, seed, input formats,
speech warnings), defined once."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EmodiffheadError, InputFileError
from ..track import MAX_FPS, MAX_INTENSITY, fps_in_range

#: What the photo and audio arguments accept (shown in --help).
PHOTO_FORMATS = "JPEG, PNG (transparency is composited on white), BMP, WebP or TIFF"
AUDIO_FORMATS = "wav, flac, mp3, m4a/aac, ogg/opus, or a video file with an audio track"


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
    p.add_argument("--transcript", help="the spoken text, or a .txt file holding it (forced alignment: the most "
                   "accurate mouth timing, and the one that holds up in noisy or reverberant recordings)")


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
    """UsageError unless 0 < fps <= MAX_FPS (the track format's limit)."""
    if not fps_in_range(fps):
        raise UsageError(f"--fps must be in (0, {MAX_FPS}], got {fps}")


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


def add_seed_argument(p: argparse.ArgumentParser) -> None:
    """``--seed``: None by default, then :func:`emodiffhead.seeds.derive_seed` picks one from the inputs."""
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the idle motion (blinks, gaze, sway); default: derived from the input files, so "
                        "each clip moves differently and the same inputs give the same clip")


#: An aligned transcript giving fewer phones than this per second of audio probably does not match it
#: (speech has about 8-15).
MIN_ALIGNED_PHONES_PER_S = 4.0


def speech_warnings(meta: dict, transcript: str | None) -> list[str]:
    """Warning lines for the user from a track's ``meta`` (see animate.pipeline): transcript words that were
    dropped, an alignment that failed (the phones were then recognised without the transcript), and an
    alignment with far fewer phones than the audio's length suggests."""
    out = []
    speech = meta.get("speech") or {}
    dropped = speech.get("dropped_words") or []
    if dropped:
        shown = ", ".join(repr(w) for w in dropped[:8]) + (f" and {len(dropped) - 8} more" if len(dropped) > 8 else "")
        out.append(f"{len(dropped)} transcript word{'s' if len(dropped) != 1 else ''} not in the English "
                   f"pronunciation dictionary, left out of the alignment: {shown}")
    path = meta.get("speech_path")
    if transcript and path != "alignment":
        why = speech.get("alignment_failed") or "it did not match the audio"
        out.append(f"transcript alignment failed ({why}); the mouth follows phones recognised from the audio "
                   f"instead (speech path {path!r})")
    elif transcript:
        dur = float((meta.get("audio") or {}).get("duration_s") or 0.0)
        n = int(speech.get("num_phones") or 0)
        if dur > 1.0 and n / dur < MIN_ALIGNED_PHONES_PER_S:
            out.append(f"the transcript gives only {n} phones for {dur:.1f} s of audio (speech has about 8-15 per "
                       "second): does it match the audio? Leave --transcript out to recognise the phones instead")
    return out


def print_warnings(command: str, lines: list[str]) -> None:
    """Print each line as ``emodiffhead COMMAND: warning: ...`` on stderr."""
    import sys

    for line in lines:
        print(f"emodiffhead {command}: warning: {line}", file=sys.stderr)
