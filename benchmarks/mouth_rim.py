"""Dark outline and corner specks round the rendered mouth opening (issue 11: "lips occluding with soft edges,
no outline, no specks").

For each shared photo, frames of the ARCTIC clip whose lips are apart (jaw quantiles 0.3..0.95, 12 frames) are
rendered at 512 px. Per frame, with the frame's own inner lip lines (smoothed as the mouth painter draws them):

* rim: the luminance of the 0-2 px band just outside the opening (each lip's inner margin), over the middle
  60 % of the mouth, relative to the median luminance of the same lip 3-8 px further out. ``med`` is the
  band's median ratio, ``p10`` its 10th percentile (ragged black bits). 1.0: the margin is lip coloured; real
  open mouths are at most slightly darker there.
* specks: pixels within 0.1 mouth widths of each corner whose luminance departs from their 7x7 median by more
  than 40 levels, lighter (light dots) or darker (dark dots), per frame. On small mouths (man_bw_portrait: 37 px
  wide at 512 px) this also counts the corners' own sharp edges: compare before and after, not across photos.

    .venv/bin/python benchmarks/mouth_rim.py [--photos DIR] [--only NAME ...] [--frames 12] [--extra PHOTO ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PHOTOS = ("einstein_1921.jpg", "man_open_mouth.jpg", "woman_portrait.jpg", "mona_lisa_painting.jpg",
          "man_bw_portrait.jpg")
SPECK_LEVELS = 40.0


def _mask(shape, poly) -> np.ndarray:
    import cv2

    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(poly) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return m.astype(bool)


def rim_figures(img: np.ndarray, lm: np.ndarray) -> dict[str, float] | None:
    """Rim and speck figures of one rendered frame (H, W, 3) uint8 with its (478, 2+) frame landmarks; None
    where the lips are not apart by 3 px or more at the centre."""
    import cv2

    from emodiffhead.face import facemesh_topology as topo
    from emodiffhead.render.mouth import LIPS_OUTER_LOWER, LIPS_OUTER_UPPER, smooth_line

    mu, ml = topo.mouth_lines()
    lm = np.asarray(lm, np.float32)[:, :2]
    up, lo = smooth_line(lm[mu]), smooth_line(lm[ml])
    e = lm[mu[-1]] - lm[mu[0]]
    w = float(np.hypot(*e))
    e = e / w
    n = np.array([-e[1], e[0]])
    if float((lm[topo.LOWER_LIP_INNER_MID] - lm[topo.UPPER_LIP_INNER_MID]) @ n) < 3.0:
        return None
    H, W = img.shape[:2]
    lum = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    opening = _mask((H, W), np.concatenate([up, lo[::-1]]))
    ys, xs = np.mgrid[0:H, 0:W]
    u = ((xs - lm[mu[0], 0]) * e[0] + (ys - lm[mu[0], 1]) * e[1]) / w
    mid = (u > 0.2) & (u < 0.8)
    dist = cv2.distanceTransform((~opening).astype(np.uint8), cv2.DIST_L2, 5)
    out = {}
    for name, outer, inner in (("upper", LIPS_OUTER_UPPER, up), ("lower", LIPS_OUTER_LOWER, lo)):
        lip = _mask((H, W), np.concatenate([lm[outer], inner[::-1]])) & mid & ~opening
        band = lip & (dist > 0) & (dist <= 2.0)
        further = lip & (dist >= 3.0) & (dist <= 8.0)
        if band.sum() < 5 or further.sum() < 5:
            return None
        ref = max(float(np.median(lum[further])), 1.0)
        out[f"{name}_med"] = float(np.median(lum[band])) / ref
        out[f"{name}_p10"] = float(np.percentile(lum[band], 10)) / ref
    med = cv2.medianBlur(np.clip(lum, 0, 255).astype(np.uint8), 7).astype(np.float32)
    corners = np.zeros((H, W), bool)
    for c in (lm[mu[0]], lm[mu[-1]]):
        corners |= np.hypot(xs - c[0], ys - c[1]) < 0.1 * w
    out["light"] = float((corners & (lum - med > SPECK_LEVELS)).sum())
    out["dark"] = float((corners & (med - lum > SPECK_LEVELS)).sum())
    return out


def measure(photo: Path, head, track, frames: int = 12) -> dict[str, float]:
    """Mean rim / speck figures (:func:`rim_figures`) of ``frames`` open-lipped frames of ``track`` on
    ``photo`` rendered at 512 px."""
    from emodiffhead.face.image import load_photo
    from emodiffhead.head.model import Joint
    from emodiffhead.render.warp_renderer import WarpRenderer

    jaw = track.pose[:, Joint.JAW, 0]
    order = np.argsort(jaw)
    picks = [int(order[int(q * (len(order) - 1))]) for q in np.linspace(0.3, 0.95, frames)]
    r = WarpRenderer()
    r.prepare(load_photo(photo), head)
    d = r.drive(track)
    sh = r.shading_weights(track)
    rows = []
    for k in picks:
        img = r.render_frame(d, k, sh)
        f = rim_figures(img, r.frame_landmarks(d.landmarks[k]))
        if f is not None:
            rows.append(f)
    if not rows:
        return {}
    return {key: float(np.mean([x[key] for x in rows])) for key in rows[0]} | {"frames": float(len(rows))}


def main(argv=None) -> int:
    from emodiffhead.animate import animate
    from emodiffhead.head import load_head

    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", default=str(SHARED / "photos"))
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--extra", nargs="*", default=[], help="more photo files (rows after the shared photos)")
    args = ap.parse_args(argv)
    head = load_head("builtin")
    track = animate(SHARED / "audio" / "arctic_a0009.wav", head)
    print("| photo | frames | upper rim med | upper rim p10 | lower rim med | lower rim p10 | corner specks light / dark per frame |")
    print("|---|---|---|---|---|---|---|")
    shared = [Path(args.photos) / p for p in PHOTOS if args.only is None or p in args.only]
    for path in shared + [Path(p) for p in args.extra]:
        name = path.name
        if not path.exists():
            continue
        m = measure(path, head, track, args.frames)
        if not m:
            print(f"| {name} | 0 | - | - | - | - | - |")
            continue
        print(f"| {name} | {int(m['frames'])} | {m['upper_med']:.2f} | {m['upper_p10']:.2f} | {m['lower_med']:.2f} | "
              f"{m['lower_p10']:.2f} | {m['light']:.1f} / {m['dark']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
