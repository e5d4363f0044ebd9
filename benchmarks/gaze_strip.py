"""Idle gaze over time in the pixels: zoomed eye crops of a rendered clip, plus a trace of the gaze track.

Animates ``--audio`` (the full animator: phrases, idle gaze, blinks), renders it on each ``--photo`` with the warp
renderer and writes one PNG: per photo, rows of eye tiles every ``--step`` frames (time, eye yaw/pitch in deg;
"A" marks frames in a look away), and under them a trace of the gaze in the scene (yaw red, pitch blue;
grey bars: the speech phrases).

    .venv/bin/python benchmarks/gaze_strip.py [--audio ../shared/data/audio/radio_address_a.wav]
        [--photo backend/emodiffhead/assets/examples/einstein_1921.jpg ../shared/data/photos/woman_portrait.jpg]
        [--seconds 8] [--step 2] [--seed 1] [--out out/gaze_strip.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from eye_sheets import eye_box, tile  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def trace(plan, fps: float, T: int, width: int, height: int = 90, start: float = 0.0) -> np.ndarray:
    """(height, width, 3) uint8 plot of the plan's gaze (yaw red, pitch blue, +-15 deg) with phrase bars, from
    ``start`` s to frame ``T``."""
    import cv2

    img = np.full((height, width, 3), 255, np.uint8)
    span = max(1e-6, (T - 1) / fps - start)
    x = lambda t: int(round((t - start) / span * (width - 1)))  # noqa: E731
    y = lambda d: int(round(height / 2 - d / 15.0 * (height / 2 - 4)))  # noqa: E731
    for a, b in plan.phrases_s:
        cv2.rectangle(img, (x(a), height - 6), (x(b), height - 1), (180, 180, 180), -1)
    for a, b in plan.aversions_s:
        cv2.rectangle(img, (x(a), 0), (x(b), 4), (255, 160, 0), -1)
    for d in (-10, -5, 0, 5, 10):
        cv2.line(img, (0, y(d)), (width, y(d)), (225, 225, 225) if d else (150, 150, 150), 1)
    k0 = int(round(start * fps))
    g = np.degrees(plan.world[k0:T])
    for ch, col in ((1, (220, 0, 0)), (0, (0, 0, 220))):
        pts = np.array([[x((k0 + i) / fps), y(v)] for i, v in enumerate(g[:, ch])], np.int32)
        cv2.polylines(img, [pts], False, col, 1, cv2.LINE_AA)
    cv2.putText(img, "yaw (red), pitch (blue, +down), +-15 deg; grey: phrases; orange: looks away", (4, 14),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def main(argv=None) -> int:
    import cv2

    from emodiffhead.animate import animate
    from emodiffhead.face.image import load_photo
    from emodiffhead.head import load_head
    from emodiffhead.head.model import Joint
    from emodiffhead.render.warp_renderer import WarpRenderer

    ap = argparse.ArgumentParser()
    ap.add_argument("--audio", default=str(SHARED / "audio" / "radio_address_a.wav"))
    ap.add_argument("--photo", nargs="+", default=[str(REPO / "backend/emodiffhead/assets/examples/einstein_1921.jpg"),
                                                   str(SHARED / "photos" / "woman_portrait.jpg")])
    ap.add_argument("--start", type=float, default=0.0, help="first tile's time (s)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--tile", type=int, default=200, help="tile width (px)")
    ap.add_argument("--step", type=int, default=2, help="frames between tiles")
    ap.add_argument("--per-row", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--emotion", default=None, help="e.g. sad (intensity 1.0)")
    ap.add_argument("--out", default=str(REPO / "out" / "gaze_strip.png"))
    args = ap.parse_args(argv)

    head = load_head("builtin")
    emotion = None
    if args.emotion:
        from emodiffhead.animate.emotion_timeline import EmotionTimeline

        emotion = EmotionTimeline.constant(args.emotion, 1.0)
    track = animate(args.audio, head, seed=args.seed, emotion=emotion)
    from emodiffhead.animate.idle import idle_motion
    from emodiffhead.audio.io import load_audio
    from emodiffhead.audio.prosody import analyze

    T = min(len(track.expression), int(args.seconds * track.fps))
    times = np.arange(len(track.expression)) / track.fps
    plan = idle_motion(times, analyze(load_audio(args.audio)), seed=args.seed).gaze
    track = track.slice(0, T) if hasattr(track, "slice") else track
    eye = np.degrees(track.pose[:, Joint.EYE_LEFT, :2])
    averted = np.zeros(T, bool)
    for a, b in plan.aversions_s:
        averted |= (times[:T] >= a) & (times[:T] < b)
    blocks = []
    for p in args.photo:
        r = WarpRenderer()
        r.prepare(load_photo(Path(p)), head, size=args.size)
        lm = np.asarray(r.fit.landmarks)
        c, hw, hh = eye_box(lm, "both")
        tiles = []
        for k, f in enumerate(r.frames(track)):
            if k >= T:
                break
            if k >= args.start * track.fps and k % args.step == 0:
                lab = f"{k / track.fps:4.2f}s y{eye[k, 1]:+.0f} p{eye[k, 0]:+.0f}{' A' if averted[k] else ''}"
                tiles.append(tile(f, c, hw, hh, args.tile, lab))
        rows = [np.concatenate(tiles[i:i + args.per_row] + [np.zeros_like(tiles[0])] * max(0, i + args.per_row - len(tiles)), 1)
                for i in range(0, len(tiles), args.per_row)]
        block = np.concatenate([np.pad(r_, ((0, 2), (0, 0), (0, 0))) for r_ in rows], 0)
        blocks.append(np.concatenate([block, trace(plan, track.fps, T, block.shape[1], start=args.start)], 0))
    sheet = np.concatenate([np.pad(b, ((0, 6), (0, 0), (0, 0))) for b in blocks], 0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}), {T} frames, looks away: "
          f"{np.round(plan.aversions_s, 2).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
