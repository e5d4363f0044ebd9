"""``emodiffhead extract VIDEO_OR_PHOTO -o track.json``: expression and head pose from a video or photo."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..fileio import check_writable
from ..track import DEFAULT_FPS, save_track

NAME = "extract"
HELP = "extract an expression track (expression + head pose per frame) from a video or a photo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video (mp4, mov, mkv, webm...) or photo with one face")
    p.add_argument("-o", "--output", required=True, help="output track: .json, or .npz for a compact file")
    p.add_argument("--extractor", default="landmarks", choices=("landmarks", "deca"),
                   help="landmarks (default: mediapipe + head fit) or deca (needs decalib and its licensed weights)")
    p.add_argument("--model", default="builtin", help="head model: builtin (default) or a FLAME model file")
    p.add_argument("--fps", type=float, default=None, help=f"frame rate of the track (default: the video's; {DEFAULT_FPS:g} for a photo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..face.extract import extract_track
    from ..head import load_head
    from ..progress import ConsoleProgress
    from ._options import UsageError, check_fps

    out = Path(args.output)
    if out.suffix.lower() not in (".json", ".npz"):
        raise UsageError(f"output must end in .json or .npz, got {out.name!r}")
    if args.fps is not None:
        check_fps(args.fps)
    if not Path(args.input).is_file():
        from ..errors import InputFileError

        raise InputFileError(f"file not found: {args.input}" if not Path(args.input).exists()
                             else f"not a file: {args.input}")
    head = load_head(args.model)
    check_writable(out)
    with ConsoleProgress("extract", enabled=False if args.quiet else None) as bar:
        track = extract_track(args.input, head, fps=args.fps, extractor=args.extractor, progress=bar)
    save_track(track, out)
    print(f"{out}: {track.num_frames} frames at {track.fps:g} fps ({args.extractor})")
    return 0
