"""``emodiffhead export-head``: write the head model (optionally with a track as animation) as glTF binary."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..errors import InputFileError

NAME = "export-head"
HELP = "write the head model as glTF 2.0 (.glb) with named expression morph targets (then its driven soft-limit, corrective and lid-follow targets) and a 5-joint skin"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="builtin", metavar="builtin|PATH",
                        help="head model: 'builtin' (default, CC0) or a FLAME generic_model.pkl / .npz you downloaded")
    parser.add_argument("--num-expression", type=int, default=100, metavar="N",
                        help="FLAME only: expression components to keep, 1..100 (default 100)")
    parser.add_argument("--num-shape", type=int, default=300, metavar="N",
                        help="FLAME only: shape components to keep, 0..300 (default 300)")
    parser.add_argument("--shape", default=None, metavar="JSON_OR_CSV",
                        help="identity coefficients: '0.5,-1,0', a JSON list, a JSON object by shape name, "
                             "or a .json/.csv file holding one of these (default: the mean head)")
    parser.add_argument("--track", type=Path, default=None, metavar="TRACK",
                        help="an emodiffhead track (.json or .npz) to include as the glTF animation 'track'")
    parser.add_argument("--no-uv", action="store_true", help="leave out texture coordinates")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .glb file to write")


def parse_shape(text: str, shape_names: list[str], num_shape: int) -> np.ndarray:
    """Identity coefficients (num_shape,) float32 from CSV, a JSON list, a JSON object or a file holding one.

    A JSON object maps shape names to values (others 0) or holds a list under ``"shape"``.
    Raises :class:`InputFileError` naming the problem.
    """
    source = "--shape"
    p = Path(text)
    if len(text) < 4096 and p.suffix.lower() in (".json", ".csv", ".txt"):
        if not p.is_file():
            raise InputFileError(f"--shape file not found: {p}")
        source, text = f"--shape file {p.name}", p.read_text(encoding="utf-8")
    text = text.strip()
    values: object
    if text.startswith(("[", "{")):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputFileError(f"{source}: not valid JSON ({e})") from None
    else:
        try:
            values = [float(v) for v in text.replace("\n", ",").split(",") if v.strip()]
        except ValueError:
            raise InputFileError(f"{source}: expected comma-separated numbers, got {text[:60]!r}") from None
    if isinstance(values, dict) and "shape" in values and isinstance(values["shape"], list):
        values = values["shape"]
    out = np.zeros(num_shape, np.float32)
    if isinstance(values, dict):
        unknown = [k for k in values if k not in shape_names]
        if unknown:
            raise InputFileError(f"{source}: unknown shape name(s) {unknown[:5]}; the model has "
                                 f"{', '.join(shape_names[:8])}{'...' if len(shape_names) > 8 else ''}")
        for k, v in values.items():
            out[shape_names.index(k)] = _finite(v, source, k)
        return out
    if not isinstance(values, list):
        raise InputFileError(f"{source}: expected a list of numbers or an object of name: value")
    if len(values) > num_shape:
        raise InputFileError(f"{source}: {len(values)} values but the model has {num_shape} shape components")
    for i, v in enumerate(values):
        out[i] = _finite(v, source, str(i))
    return out


def _finite(v: object, source: str, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise InputFileError(f"{source}: value {key!r} must be a finite number, got {v!r}")
    return float(v)


def run(args: argparse.Namespace) -> int:
    from ..head import load_head
    from ..gltf import export_glb
    from ..track import check_compatible, load_track

    if args.output.suffix.lower() != ".glb":
        raise InputFileError(f"-o {args.output}: the output must be a .glb file")
    t0 = time.monotonic()
    if args.model == "builtin":
        head = load_head("builtin")
    else:
        path = Path(args.model).expanduser()
        if not path.is_file():
            raise InputFileError(f"--model {args.model}: file not found (use 'builtin' or a FLAME .pkl/.npz)")
        head = load_head(path, num_shape=args.num_shape, num_expression=args.num_expression)
    shape = parse_shape(args.shape, head.shape_names, head.num_shape) if args.shape else None
    track = None
    if args.track is not None:
        track = load_track(args.track)
        check_compatible(track, head.expression_names, head.name)
    out = export_glb(head, args.output, shape=shape, track=track, with_uv=not args.no_uv)
    size = out.stat().st_size
    anim = f", animation of {track.num_frames} frames at {track.fps:g} fps" if track is not None else ""
    print(f"wrote {out} ({size / 1e6:.2f} MB: {head.name} head, {head.num_vertices} vertices, "
          f"{head.num_expression} morph targets, 5 joints{anim}) in {time.monotonic() - t0:.1f} s")
    return 0
