"""How an opening ends at its corners, per photo, printed as a table (issue 11: the far corner cut off square).

    .venv/bin/python benchmarks/mouth_corners.py [--photos DIR] [--only NAME]

For each shared photo the warp renderer's frame landmarks (``frame_landmarks``: as the warp and the mouth painter
draw them) are taken for the emotion grid of ``bench_emotion.py`` (neutral, seven emotions at 0.5 / 1.0 / 1.5)
and for the ARCTIC a0009 clip animated by the animator; in every frame whose lips are apart by more than 2 px,
the angle between the corner-to-corner axis and the lower inner lip's last segment into each corner (90: the
lower lip drops straight below the corner, a square end). Run it with another checkout's ``PYTHONPATH`` for a
before table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SQUARE_DEG = 70.0


def corner_angles(lm: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> tuple[float, float]:
    """(image-left, image-right) angles in degrees of the lower inner lip's segments into the corners."""
    e = lm[upper[-1]] - lm[upper[0]]
    e = e / max(float(np.linalg.norm(e)), 1e-9)
    n = np.array([-e[1], e[0]])
    out = []
    for d in (lm[lower[1]] - lm[lower[0]], lm[lower[-2]] - lm[lower[-1]]):
        out.append(float(np.degrees(np.arctan2(abs(d @ n), abs(d @ e)))))
    return out[0], out[1]


def main(argv=None) -> int:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_emotion import grid_track

    from emodiffhead.animate import animate
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.face import facemesh_topology as topo
    from emodiffhead.face.image import load_photo
    from emodiffhead.head import load_head
    from emodiffhead.render.warp_renderer import WarpRenderer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(SHARED / "photos"))
    ap.add_argument("--only", help="only photos whose name contains this")
    args = ap.parse_args(argv)
    head = load_head("builtin")
    _, grid = grid_track(head, tuple(e for e in EMOTIONS if e != "neutral"))
    speech = animate(SHARED / "audio" / "arctic_a0009.wav", head)
    mu, ml = topo.mouth_lines()
    print(f"| photo | open frames | lower lip into the image-left corner: max / p90 (deg) | image-right: max / p90 "
          f"| frames with a square end (> {SQUARE_DEG:.0f} deg) |\n|---|---|---|---|---|")
    for p in sorted(q for q in Path(args.photos).iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png")):
        if args.only and args.only not in p.name:
            continue
        r = WarpRenderer()
        try:
            r.prepare(load_photo(p), head, size=512)
        except FaceNotFoundError:
            continue
        angles = []
        for track in (grid, speech):
            d = r.drive(track)
            for k in range(track.num_frames):
                lm = r.frame_landmarks(d.landmarks[k])[:, :2].astype(np.float64)
                if float(np.max((lm[ml] - lm[mu])[:, 1])) > 2.0:
                    angles.append(corner_angles(lm, mu, ml))
        a = np.array(angles).reshape(-1, 2)
        if not len(a):
            continue
        print(f"| {p.stem} | {len(a)} | {a[:, 0].max():.0f} / {np.percentile(a[:, 0], 90):.0f} "
              f"| {a[:, 1].max():.0f} / {np.percentile(a[:, 1], 90):.0f} | {int((a > SQUARE_DEG).any(1).sum())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
