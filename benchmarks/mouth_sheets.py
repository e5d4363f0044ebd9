"""Zoomed mouth contact sheets of the warp renderer (docs/images/mouth_*.png).

One row per photo in ../shared/data/photos (faces only): the photo's mouth, then frames of the ARCTIC clip
animated by the animator: rest, the /p/ of "sharply", the /b/ of "table", and three openings (quarter, median
and widest jaw of the clip). Each tile zooms on the mouth (1.6 mouth widths wide).

    .venv/bin/python benchmarks/mouth_sheets.py [--out docs/images/mouth_after.png] [--photos DIR]
        [--only man_open_mouth.jpg ...] [--extra PHOTO ...] [--emotions]

``--emotions`` adds the rest frame of the clip animated happy, sad and surprised at intensity 1.0. Run it with
another checkout's ``PYTHONPATH`` (it uses public APIs only) for a before sheet.
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
TILE = (176, 112)
EMOTIONS = ("happy", "sad", "surprised")


def _crop(img: np.ndarray, lm: np.ndarray, label: str) -> np.ndarray:
    import cv2

    c = lm[[61, 291, 0, 17]].mean(0)
    w = float(np.linalg.norm(lm[61] - lm[291])) * 0.8
    h = w * TILE[1] / TILE[0]
    M = np.array([[TILE[0] / (2 * w), 0, TILE[0] / 2 - c[0] * TILE[0] / (2 * w)],
                  [0, TILE[1] / (2 * h), TILE[1] / 2 - c[1] * TILE[1] / (2 * h)]])
    out = cv2.warpAffine(img, M, TILE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    cv2.putText(out, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 0), 1, cv2.LINE_AA)
    return out


def main(argv=None) -> int:
    from emodiffhead.animate import animate
    from emodiffhead.audio.phonemes import read_lab
    from emodiffhead.face.image import load_photo
    from emodiffhead.head import load_head
    from emodiffhead.head.model import Joint
    from emodiffhead.render.warp_renderer import WarpRenderer

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "images" / "mouth_after.png"))
    ap.add_argument("--photos", default=str(SHARED / "photos"))
    ap.add_argument("--extra", nargs="*", default=[], help="more photo files (rows after the shared photos)")
    ap.add_argument("--only", nargs="*", default=None, help="of the shared photos only these file names")
    ap.add_argument("--emotions", action="store_true", help="add happy / sad / surprised 1.0 at rest")
    args = ap.parse_args(argv)
    head = load_head("builtin")
    wav = SHARED / "audio" / "arctic_a0009.wav"
    track = animate(wav, head)
    emotions = []
    if args.emotions:
        from emodiffhead.animate.emotion_timeline import EmotionTimeline

        emotions = [(e, animate(wav, head, emotion=EmotionTimeline.constant(e, 1.0))) for e in EMOTIONS]
    lab = read_lab(SHARED / "audio" / "arctic_a0009_phone.lab")
    fr = lambda p: min(track.num_frames - 1, int(round(p.centre_s * track.fps)))  # noqa: E731
    bil = [p for p in lab if p.label in ("p", "b")]
    jaw = track.pose[:, Joint.JAW, 0]
    order = np.argsort(jaw)
    picks = [("rest", 0)] + [(f"/{p.label}/", fr(p)) for p in bil] + [
        ("open 1/4", int(order[len(order) * 3 // 4])), ("open 1/2", int(order[len(order) * 9 // 10])),
        ("widest", int(order[-1]))]
    rows = []
    shared = [p for p in PHOTOS if args.only is None or p in args.only]
    for path in [Path(args.photos) / p for p in shared] + [Path(p) for p in args.extra]:
        name = path.name
        if not path.exists():
            continue
        r = WarpRenderer()
        fit = r.prepare(load_photo(path), head)
        d = r.drive(track)
        lm = fit.landmarks[:, :2]
        tiles = [_crop(r.photo, lm, name.split("_")[0] + " photo")]
        for label, k in picks:
            tiles.append(_crop(r.render_landmarks(d.landmarks[k], d.rigid[k], d.jaw[k]), lm, label))
        for name_e, t in emotions:
            tiles.append(_crop(r.render_frame(r.drive(t), 0, r.shading_weights(t)), lm, f"{name_e} 1.0"))
        rows.append(np.concatenate(tiles, 1))
    sheet = np.concatenate(rows, 0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    # 256-colour palette keeps the sheet small (< 400 KB) for the docs
    Image.fromarray(sheet).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"{args.out}: {len(rows)} photos x {len(picks) + 1} tiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
