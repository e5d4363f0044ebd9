"""Contact sheets of the warp renderer: one PNG per photo in ../shared/data/photos (docs/images/contact_*.png).

Tiles: the photo, a neutral track frame, four speech frames (animator on the shipped ARCTIC clip),
a blink, head turns (yaw +-20 deg, pitch), and happy / sad / angry / surprised at intensity 1; the lower
row zooms on the face. Photos without a human face are listed with the error they give.

    .venv/bin/python benchmarks/contact_sheets.py [--photos DIR] [--out docs/images]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    img = img.copy()
    cv2.rectangle(img, (0, 0), (img.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(img, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def sheet_tracks(head, speech):
    """(names, Track) of the tiles (one frame each)."""
    from emodiffhead.animate.emotion_vectors import emotion_basis
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.head.model import Joint
    from emodiffhead.track import Track

    E = head.expression_names
    jaw = speech.expression[:, E.index("jawOpen")] if "jawOpen" in E else speech.pose[:, Joint.JAW, 0]
    order = np.argsort(jaw)
    picks = [order[len(order) // 4], order[len(order) // 2], order[int(len(order) * 0.85)], order[-1]]
    basis = emotion_basis(head)
    rows, names = [], []

    def add(name, expr=None, pose=None, src=None):
        names.append(name)
        if src is not None:
            rows.append((speech.expression[src], speech.pose[src], speech.translation[src]))
        else:
            rows.append((np.zeros(len(E), np.float32) if expr is None else expr,
                         np.zeros((5, 3), np.float32) if pose is None else pose, np.zeros(3, np.float32)))

    add("neutral")
    for k, i in enumerate(picks):
        add(f"speech t={i / speech.fps:.2f}s", src=i)
    blink = np.zeros(len(E), np.float32)
    for n in ("eyeBlinkLeft", "eyeBlinkRight"):
        if n in E:
            blink[E.index(n)] = 1.0
    add("blink", expr=blink)
    for name, rv in (("yaw +20", [0, 0.35, 0]), ("yaw -20", [0, -0.35, 0]), ("pitch +12", [0.2, 0, 0])):
        p = np.zeros((5, 3), np.float32)
        p[0] = rv
        add(name, pose=p)
    for emo in ("happy", "sad", "angry", "surprised"):
        add(f"{emo} 1.0", expr=basis[EMOTIONS.index(emo)])
    T = len(rows)
    tr = Track.neutral(T, 25.0, head.name, E)
    tr.expression[:] = np.stack([r[0] for r in rows])
    tr.pose[:] = np.stack([r[1] for r in rows])
    tr.translation[:] = np.stack([r[2] for r in rows])
    return names, tr


def contact_sheet(photo_path: Path, head, speech) -> np.ndarray:
    """(H, W, 3) uint8 RGB sheet for one photo (raises FaceNotFoundError for no face)."""
    import cv2

    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    r = WarpRenderer()
    fit = r.prepare(load_photo(photo_path), head, size=512)
    names, tr = sheet_tracks(head, speech)
    frames = list(r.frames(tr))
    lm = fit.landmarks[:, :2]
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    s = max(x1 - x0, y1 - y0) * 1.35
    H, W = r.output_size
    th = 180
    tiles_full, tiles_zoom = [], []
    for name, f in [("photo", r.photo)] + list(zip(names, frames)):
        full = cv2.resize(f, (int(round(W * th / H)), th), interpolation=cv2.INTER_AREA)
        a, b = (c - s / 2).astype(int), (c + s / 2).astype(int)
        pad = int(s)
        big = np.pad(f, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        zoom = big[a[1] + pad:b[1] + pad, a[0] + pad:b[0] + pad]
        zoom = cv2.resize(zoom, (th, th), interpolation=cv2.INTER_AREA)
        tiles_full.append(_label(full, name))
        tiles_zoom.append(zoom)
    wfull = tiles_full[0].shape[1]
    tiles_zoom = [np.pad(z, ((0, 0), (0, max(0, wfull - th)), (0, 0)), constant_values=255)[:, :max(wfull, th)]
                  for z in tiles_zoom]
    tiles_full = [np.pad(t, ((0, 0), (0, max(0, th - wfull)), (0, 0)), constant_values=255) for t in tiles_full]
    n = len(tiles_full)
    half = (n + 1) // 2
    blank = np.full_like(tiles_full[0], 255)
    rows = []
    for part in (slice(0, half), slice(half, n)):
        tf, tz = tiles_full[part], tiles_zoom[part]
        while len(tf) < half:
            tf.append(blank)
            tz.append(np.full_like(tiles_zoom[0], 255))
        rows += [np.concatenate(tf, 1), np.concatenate(tz, 1)]
    return np.concatenate(rows, 0)


def main(argv=None) -> int:
    import cv2

    from emodiffhead.animate import animate
    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.head import load_head

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "photos"))
    ap.add_argument("--out", default=str(REPO / "docs" / "images"))
    ap.add_argument("--only", help="only photos whose name contains this")
    args = ap.parse_args(argv)
    head = load_head("builtin")
    audio = REPO / "backend" / "emodiffhead" / "assets" / "examples" / "arctic_a0009.wav"
    speech = animate(audio, head, seed=0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| photo | result |\n|---|---|")
    for p in sorted(Path(args.photos).glob("*.jpg")):
        if args.only and args.only not in p.name:
            continue
        try:
            sheet = contact_sheet(p, head, speech)
        except FaceNotFoundError as e:
            print(f"| {p.name} | refused: {e} |")
            continue
        dst = out / f"contact_{p.stem}.png"
        cv2.imwrite(str(dst), sheet[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"| {p.name} | {dst.relative_to(REPO) if dst.is_relative_to(REPO) else dst} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
