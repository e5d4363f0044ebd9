"""``emodiffhead animate AUDIO -o track.json``: speech (+ emotion) -> expression track."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..fileio import check_writable
from ..track import DEFAULT_FPS, save_track
from ..seeds import derive_seed
from ._options import (AUDIO_FORMATS, UsageError, add_emotion_arguments, add_seed_argument, check_fps,
                       emotion_from_args, print_warnings, read_transcript, speech_warnings)

NAME = "animate"
HELP = "animate a head to speech: audio (+ transcript, + emotion) -> expression track (.json or .npz)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", help=f"speech recording: {AUDIO_FORMATS}")
    p.add_argument("-o", "--output", required=True, help="output track: .json, or .npz for a compact file")
    add_emotion_arguments(p)
    p.add_argument("--fps", type=float, default=DEFAULT_FPS, help=f"frames per second (default {DEFAULT_FPS:g})")
    add_seed_argument(p)
    p.add_argument("--model", default="builtin", help="head model: builtin (default) or a FLAME model file")
    p.add_argument("--speech-mode", default="auto", choices=("auto", "allphone", "alignment", "words", "acoustic"),
                   help="force a speech path (default auto: alignment with --transcript, else allphone phone "
                        "recognition; acoustic for non-speech). words: recognise the words, then align them: "
                        "the most accurate phones without a transcript, 3-10x slower than allphone; see "
                        "docs/animator.md")
    p.add_argument("--fast", action="store_true",
                   help="faster phone recognition (about 1.4x) at some accuracy cost; see docs/animator.md")
    p.add_argument("--robust", action="store_true",
                   help="for noisy or reverberant recordings: the mouth follows three phone decodes (their mean), "
                        "steadier in noise and rooms; about 3.2x the phone-recognition time; see docs/animator.md")
    p.add_argument("--workers", default="auto",
                   help="processes sharing the phone recognition: a number, or auto (default: the usable cores, "
                        "at most 4, for inputs of 12 s or more); the same result for any number")
    p.add_argument("--no-breaths", action="store_true",
                   help="keep the lips closed in every pause (default: the mouth opens where an inhalation is heard "
                        "in a pause; see docs/animator.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _workers(text: str) -> int | None:
    """``--workers`` value: None for "auto", else a count >= 1 (UsageError otherwise)."""
    if text.strip().lower() == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"--workers must be a number or auto, got {text!r}") from None
    if n < 1:
        raise UsageError(f"--workers must be at least 1, got {n}")
    return n


def run(args: argparse.Namespace) -> int:
    from ..animate.pipeline import animate, start_phone_recognition
    from ..audio.io import MIN_DURATION_S, load_audio

    out = Path(args.output)
    if out.suffix.lower() not in (".json", ".npz"):
        raise UsageError(f"output must end in .json or .npz, got {out.name!r}")
    workers = _workers(args.workers)
    if args.fast and args.robust:
        raise UsageError("--fast and --robust: choose one, not both")
    check_fps(args.fps)
    timeline = emotion_from_args(args)
    transcript = read_transcript(args.transcript)
    check_writable(out)
    clip = load_audio(args.audio, min_duration_s=MIN_DURATION_S)
    preset = "fast" if args.fast else "robust" if args.robust else "accurate"
    # the phone recognition's workers decode while this process loads the head and the rest
    started = start_phone_recognition(clip, transcript=transcript, speech_mode=args.speech_mode,
                                      phone_preset=preset, phone_workers=workers)
    try:
        from ..head import load_head
        from ..progress import ConsoleProgress

        head = load_head(args.model)
        seed = derive_seed(args.audio) if args.seed is None else args.seed
        with ConsoleProgress("animate", enabled=False if args.quiet else None) as bar:
            track = animate(clip, head, transcript=transcript, emotion=timeline, fps=args.fps, seed=seed,
                            speech_mode=args.speech_mode, phone_preset=preset, phone_workers=workers,
                            breaths=not args.no_breaths, progress=bar, phones_started=started)
    finally:
        if started is not None:
            started.close()
    print_warnings(NAME, speech_warnings(track.meta, transcript))
    save_track(track, out)
    print(f"{out}: {track.num_frames} frames at {track.fps:g} fps, speech path {track.meta['speech_path']}, "
          f"idle-motion seed {seed}{' (from the input; --seed repeats or changes it)' if args.seed is None else ''}")
    return 0
