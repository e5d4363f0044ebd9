"""Zoomed eye contact sheets of the warp renderer (docs/images/eyes_*.png).

One row per photo in ../shared/data/photos (faces only), one tile per frame, each tile zoomed on both eyes and
brows (or on one eye with ``--eye right|left``). Sets of frames (``--set``):

* ``blink``: a blink closing 0 -> 1 (eyeBlink 0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0);
* ``gaze``: the photo, then the eyes turned 15 deg toward image right / left, up, down by the eye joints, half a blink
  looking down, sad 1.0 (eyes cast down by AU64) and a neutral still frame;
* ``emotions``: the eight emotions at 1.5 (seams and specks around eyes and brows).

    .venv/bin/python benchmarks/eye_sheets.py --set gaze [--out docs/images/eyes_gaze.png] [--size 512]
        [--only woman_portrait.jpg ...] [--eye right] [--no-gaze]

It uses public APIs only: run it with another checkout's ``PYTHONPATH`` for a before sheet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PHOTOS = ("einstein_1921.jpg", "man_bw_portrait.jpg", "man_open_mouth.jpg", "mona_lisa_painting.jpg",
          "woman_portrait.jpg")
#: Gaze of the gaze set, degrees.
GAZE_DEG = 15.0


def frames_of_set(name: str) -> list[tuple[str, dict]]:
    """(label, frame spec) per tile: spec keys ``blink`` 0..1, ``gaze`` (pitch, yaw) rad (+pitch looks down),
    ``emotion`` (name, intensity); the label ``photo`` is the photo itself."""
    g = np.radians(GAZE_DEG)
    if name == "blink":
        return [(f"blink {b:.1f}", {"blink": b}) for b in (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)]
    if name == "gaze":
        return [("photo", {}), ("to image right", {"gaze": (0.0, g)}), ("to image left", {"gaze": (0.0, -g)}),
                ("look up", {"gaze": (-g, 0.0)}), ("look down", {"gaze": (g, 0.0)}),
                ("down, blink .5", {"gaze": (g, 0.0), "blink": 0.5}), ("sad 1.0", {"emotion": ("sad", 1.0)}),
                ("still", {})]
    if name == "emotions":
        from emodiffhead.emotion import EMOTIONS

        return [(f"{e} 1.5", {"emotion": (e, 1.5)}) for e in EMOTIONS]
    raise ValueError(f"unknown set {name!r}")


def spec_track(head, specs: list[dict]):
    """A track with one frame per spec (see :func:`frames_of_set`)."""
    from emodiffhead.animate.emotion_vectors import emotion_above, emotion_basis, emotion_response
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.head.model import Joint
    from emodiffhead.track import Track

    tr = Track.neutral(len(specs), 25.0, head.name, list(head.expression_names))
    B, A = emotion_basis(head), emotion_above(head)
    for k, s in enumerate(specs):
        if "emotion" in s:
            e, a = s["emotion"]
            tr.emotion[k, EMOTIONS.index(e)] = a
            tr.expression[k] += emotion_response(tr.emotion[k:k + 1], B, A)[0]  # as the animator renders it
        if "blink" in s:
            for side in ("Left", "Right"):
                tr.expression[k, head.expression_index(f"eyeBlink{side}")] += s["blink"]
        if "gaze" in s:
            for j in (Joint.EYE_LEFT, Joint.EYE_RIGHT):
                tr.pose[k, j, :2] = s["gaze"]
    return tr


def eye_box(lm: np.ndarray, eye: str) -> tuple[np.ndarray, float, float]:
    """(centre (2,), half width, half height) in pixels of the region a tile shows."""
    iod = float(np.linalg.norm(lm[263, :2] - lm[33, :2]))
    if eye == "both":
        c = (lm[[33, 263, 105, 334], :2].mean(0) + lm[[33, 263], :2].mean(0)) / 2
        return c, 0.68 * iod, 0.3 * iod
    a, b = (33, 133) if eye == "right" else (362, 263)
    c = lm[[a, b], :2].mean(0) - (0, 0.04 * iod)
    return c, 0.26 * iod, 0.16 * iod


def tile(img: np.ndarray, centre: np.ndarray, hw: float, hh: float, width: int, label: str) -> np.ndarray:
    """The box around ``centre`` scaled (cubic) to ``width`` px wide, labelled."""
    import cv2

    s = width / (2 * hw)
    size = (width, int(round(2 * hh * s)))
    M = np.array([[s, 0, size[0] / 2 - centre[0] * s], [0, s, size[1] / 2 - centre[1] * s]])
    out = cv2.warpAffine(img, M, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    cv2.putText(out, label, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 0), 1, cv2.LINE_AA)
    return out


def main(argv=None) -> int:
    import cv2

    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.face.image import load_photo
    from emodiffhead.head import load_head
    from emodiffhead.render.warp_renderer import WarpRenderer

    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="gaze", choices=("blink", "gaze", "emotions"))
    ap.add_argument("--out", default=None, help="PNG path (default docs/images/eyes_<set>.png)")
    ap.add_argument("--photos", default=str(SHARED / "photos"))
    ap.add_argument("--only", nargs="*", default=None, help="of the shared photos only these file names")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--eye", default="both", choices=("both", "right", "left"))
    ap.add_argument("--tile", type=int, default=0, help="tile width in px (default 300 both eyes, 240 one eye)")
    ap.add_argument("--no-gaze", action="store_true", help="WarpRenderer(gaze=False) (where the option exists)")
    args = ap.parse_args(argv)
    width = args.tile or (300 if args.eye == "both" else 240)
    head = load_head("builtin")
    cols = frames_of_set(args.set)
    rows = []
    for name in args.only or PHOTOS:
        path = Path(args.photos) / name
        if not path.is_file():
            continue
        kw = {"gaze": False} if args.no_gaze else {}
        r = WarpRenderer(**kw)
        try:
            r.prepare(load_photo(path), head, size=args.size)
        except FaceNotFoundError as e:
            print(f"{name}: {e}", file=sys.stderr)
            continue
        lm = np.asarray(r.fit.landmarks)
        c, hw, hh = eye_box(lm, args.eye)
        frames = list(r.frames(spec_track(head, [s for _, s in cols])))
        tiles = [tile(r.photo if lab == "photo" else f, c, hw, hh, width, f"{Path(name).stem[:12]} {lab}")
                 for (lab, _), f in zip(cols, frames)]
        rows.append(np.concatenate(tiles, 1))
    if not rows:
        print("no photos rendered", file=sys.stderr)
        return 1
    w = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 2), (0, w - r.shape[1]), (0, 0))) for r in rows], 0)
    out = Path(args.out or REPO / "docs" / "images" / f"eyes_{args.set}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
