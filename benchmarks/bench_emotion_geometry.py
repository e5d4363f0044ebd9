"""Does the expression in the pixels grow with intensity? Landmark geometry of emotion renders, no classifier.

    nice -n 10 .venv/bin/python benchmarks/bench_emotion_geometry.py [--photos DIR] [--only NAME]
        [--emotions happy,sad] [--sheets DIR] [--drawn]

For every photo in ../shared/data/photos one frame per (emotion, intensity) is rendered at 512 px, intensity
0, 0.25, .., 1.5 (built as ``bench_emotion.grid_track`` builds it: the animator's composition, no speech, the
head's limits). mediapipe's face mesh (the product's, on a crop around the neutral render's face box) measures
each frame: per Action Unit, a displacement from the neutral render in inter-ocular distances (IOD):

  inner / outer brow raise (AU1 / AU2, AU4 lowers them), brow gap (AU4 knits), eye opening (AU5 opens; AU7, 6,
  43 and a downcast gaze close), lip corner lift (AU12 up, AU15 down), mouth width (AU12, AU20; AU22/23
  narrow), lip gap (AU25/26), upper lip to nose (AU10 shortens it), nose tip to chin (AU26).

A measure *grows* for an emotion when its change at 1.0 exceeds ``MIN_CHANGE``; it is then *monotonic* when
each 0.25 step moves it further the same way (a step back of up to ``TOLERANCE`` IOD is the detector's
noise). The table lists every growing measure that is not monotonic, and the summary counts (photo, emotion)
pairs where all growing measures are. ``--drawn`` measures the landmarks the warp draws instead
(``WarpRenderer.frame_landmarks``: after the lid clamp, the fold repair and the lip clamp), which tells a
clamp from a pixel effect. ``--sheets DIR`` writes one zoomed sheet per photo and emotion (0..1.5 in 0.25).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_emotion import SHARED, face_zoom, _label  # noqa: E402

INTENSITIES = tuple(np.round(np.arange(0.0, 1.51, 0.25), 2))
#: A measure whose change at 1.0 is below this (IOD) is not counted as moved by the emotion.
MIN_CHANGE = 0.012
#: A step back smaller than this (IOD) is not a reversal: mediapipe's jitter on the rendered frames (about 0.01
#: IOD on brows and open mouths), rounding on the drawn landmarks.
TOLERANCE = {"pixels": 0.01, "drawn": 0.002}
#: Eye corners (outer, inner), upper / lower lid mid, inner / outer brow, per side (mediapipe face mesh).
EYES = {"right": (33, 133, 159, 145, 107, 70), "left": (263, 362, 386, 374, 336, 300)}


def measures(L: np.ndarray) -> dict[str, float]:
    """Emotion geometry of (478, 2+) landmarks, in IOD, along the face's own axes (eye line = x)."""
    L = np.asarray(L, np.float64)[:, :2]
    ex = L[263] - L[33]
    iod = float(np.hypot(*ex))
    ex = ex / iod
    up = np.array([ex[1], -ex[0]])  # perpendicular to the eye line, pointing up in the image (y down)

    def h(i, j):  # height of point i above point j along the face's up axis, IOD
        return float((L[i] - L[j]) @ up) / iod

    out = {"inner_brow": 0.0, "outer_brow": 0.0, "eye_open": 0.0}
    for oc, ic, top, bot, ib, ob in EYES.values():
        centre = (L[oc] + L[ic]) / 2
        out["inner_brow"] += 0.5 * float((L[ib] - centre) @ up) / iod
        out["outer_brow"] += 0.5 * float((L[ob] - centre) @ up) / iod
        out["eye_open"] += 0.5 * h(top, bot)
    out["brow_gap"] = float((L[336] - L[107]) @ ex) / iod
    out["corner_lift"] = 0.5 * (h(61, 0) + h(291, 0)) + 0.5 * (h(0, 17))  # corners vs the outer lips' middle
    out["mouth_width"] = float(np.hypot(*(L[291] - L[61]))) / iod
    out["lip_gap"] = h(13, 14)
    out["lip_to_nose"] = h(2, 0)
    out["nose_to_chin"] = h(1, 152)
    return out


def is_monotonic(series: np.ndarray, sign: float, tol: float) -> bool:
    """True when ``series`` (N,) never steps back against ``sign`` by more than ``tol`` and ends beyond its
    value at the step before the last (1.5 stronger than 1.25 stronger than ... ; the end is strict)."""
    s = np.asarray(series, np.float64) * sign
    return bool(np.all(np.diff(s) > -tol) and s[-1] > s[-2] - tol and s[-1] > s[len(s) // 2 + 1] - 1e-9)


def grid(head, emotions):
    """(labels, Track) as bench_emotion.grid_track, at INTENSITIES."""
    import bench_emotion as be

    old = be.INTENSITIES
    be.INTENSITIES = tuple(a for a in INTENSITIES if a > 0)
    try:
        return be.grid_track(head, emotions)
    finally:
        be.INTENSITIES = old


def main(argv=None) -> int:
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.face.detect import detect_face, mesh_in_box
    from emodiffhead.face.image import load_photo
    from emodiffhead.head import load_head
    from emodiffhead.render.warp_renderer import WarpRenderer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(SHARED / "data" / "photos"))
    ap.add_argument("--only", help="only photos whose name contains this")
    ap.add_argument("--emotions", help="comma-separated (default: all but neutral)")
    ap.add_argument("--sheets", help="write zoomed sheets (one per photo and emotion) into this folder")
    ap.add_argument("--tile", type=int, default=220)
    ap.add_argument("--drawn", action="store_true", help="measure the warp's drawn landmarks, not the pixels")
    ap.add_argument("--verbose", action="store_true", help="print every growing measure's series")
    args = ap.parse_args(argv)
    import cv2

    head = load_head("builtin")
    emotions = tuple(args.emotions.split(",")) if args.emotions else tuple(e for e in EMOTIONS if e != "neutral")
    labels, track = grid(head, emotions)
    photos = [p for p in sorted(Path(args.photos).glob("*.jpg"))
              if (not args.only or args.only in p.name) and "no_human" not in p.name]
    t0, c0 = time.perf_counter(), time.process_time()
    bad_rows, pairs, ok_pairs, grow_n, grow_ok = [], 0, 0, 0, 0
    for p in photos:
        r = WarpRenderer()
        fit = r.prepare(load_photo(p), head, size=512)
        frames = list(r.frames(track))
        if args.drawn:
            drv = r.drive(track).landmarks
            lms = [r.frame_landmarks(drv[k]) for k in range(len(labels))]
        else:
            box = detect_face(frames[0]).box
            lms = [mesh_in_box(f, box) for f in frames]
        m = [measures(L) if L is not None else None for L in lms]
        for e in emotions:
            idx = [0] + [k for k, (le, a) in enumerate(labels) if le == e]
            if any(m[k] is None for k in idx):
                bad_rows.append((p.stem, e, "face not found in a frame", ""))
                continue
            pairs += 1
            pair_ok = True
            for key in m[0]:
                s = np.array([m[k][key] - m[0][key] for k in idx])
                c1 = s[INTENSITIES.index(1.0)]
                if abs(c1) < MIN_CHANGE:
                    continue
                grow_n += 1
                ok = is_monotonic(s, np.sign(c1), TOLERANCE["drawn" if args.drawn else "pixels"])
                grow_ok += ok
                pair_ok &= ok
                if not ok or args.verbose:
                    bad_rows.append((p.stem, e, key + ("" if ok else " (NOT monotonic)"),
                                     " ".join(f"{x:+.3f}" for x in s)))
            ok_pairs += pair_ok
            if args.sheets:
                out = Path(args.sheets)
                out.mkdir(parents=True, exist_ok=True)
                row = [_label(face_zoom(frames[k], fit.landmarks, args.tile),
                              f"{e[:5]} {INTENSITIES[i]:.2f}") for i, k in enumerate(idx)]
                cv2.imwrite(str(out / f"{p.stem}__{e}.png"), np.concatenate(row, 1)[:, :, ::-1])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    src = "drawn landmarks" if args.drawn else "mediapipe on the rendered frames"
    print(f"\n{src}; intensities {', '.join(f'{a:g}' for a in INTENSITIES)}; change vs neutral render, IOD\n")
    print("| photo | emotion | measure | 0 .. 1.5 |\n|---|---|---|---|")
    for row in bad_rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n| figure | value |\n|---|---|")
    print(f"| growing measures monotonic over 0..1.5 | {grow_ok} / {grow_n} |")
    print(f"| (photo, emotion) pairs with every growing measure monotonic | {ok_pairs} / {pairs} |")
    print(f"\n{wall:.1f} s wall, {cpu:.1f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
