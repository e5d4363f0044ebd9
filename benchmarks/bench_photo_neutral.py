"""The photo's own expression under a neutral track, measured by a round trip, printed as a table.

    nice -n 10 .venv/bin/python benchmarks/bench_photo_neutral.py [--photos DIR] [--intensities 1.0,1.5]
        [--sheet docs/images/photo_neutral_roundtrip.jpg] [--classifier]

For every human photo in ../shared/data/photos the warp renderer (512 px) renders the photo's neutral frame
and, per variant and intensity, one posed frame: ``angry_brows`` / ``surprised_brows`` (the FACS prototype's
brows, lids and cheeks, no mouth), ``sad`` (the whole prototype but the downcast gaze, which no photo fit can
read) and ``sad_mouth`` (its lip-corner depressor and chin raiser only). That frame becomes a new photo:
it is fitted and rendered with a neutral track. Geometry by mediapipe (the product's face mesh) on the
pixels, per inter-ocular distance, as ``../shared/tools/facemetrics.py signature`` defines it: brow raise
(105/334 above the upper lids), inner brow raise (107/336), inner-brow distance, mouth-corner lift.

Table: per variant, intensity and measure, the posed photo's change vs the photo's own neutral frame, and
what is left of it in the neutral frame of the posed photo (mean over photos, then per photo); and the
neutral frame's SSIM vs the photo for the photos themselves. Compare two versions of the code by running
it with each one's ``PYTHONPATH``. ``--classifier`` adds the independent classifier's intended-class
probability (posed photo -> its neutral frame; ``../shared/tools/emotion_eval.py`` in its own Python).
``--sheet`` writes zoomed faces: photo's neutral frame | posed photo | its neutral frame.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VARIANTS = {"angry_brows": ("angry", "brow"), "surprised_brows": ("surprised", "brow"), "sad": ("sad", "all"),
            "sad_mouth": ("sad", "mouth")}
#: Which measures each variant moves (the table lists these).
MEASURES = {"angry_brows": ("brow", "inner_brow", "brow_distance"), "surprised_brows": ("brow", "inner_brow"),
            "sad": ("inner_brow", "corner_lift"), "sad_mouth": ("corner_lift",)}
CLASSIFIER_CLASS = {"angry": "angry", "surprised": "surprise", "sad": "sad"}


def posed_expression(head, variant: str, intensity: float) -> np.ndarray:
    """(E,) the variant's expression weights in ``head``'s order."""
    from emodiffhead.facs import ARKIT_BLENDSHAPES, prototype_arkit

    emotion, part = VARIANTS[variant]
    w = prototype_arkit(emotion) * intensity
    names = list(head.expression_names)
    e = np.zeros(len(names), np.float32)
    for i, n in enumerate(ARKIT_BLENDSHAPES):
        if n.startswith("eyeLook"):
            continue
        if part == "brow" and n.startswith(("mouth", "jaw", "tongue", "cheekPuff")):
            continue
        if part == "mouth" and not n.startswith("mouth"):
            continue
        if n in names:
            e[names.index(n)] = w[i]
    return e


def geometry(img: np.ndarray) -> dict[str, float]:
    """Brow / mouth measures per inter-ocular distance of one RGB image (image y down)."""
    from emodiffhead.face.detect import detect_face

    L = detect_face(img).landmarks[:, :2].astype(np.float64)
    d = np.linalg.norm(L[33] - L[263])
    return {"brow": ((L[159, 1] - L[105, 1]) + (L[386, 1] - L[334, 1])) / 2 / d,
            "inner_brow": ((L[159, 1] - L[107, 1]) + (L[386, 1] - L[336, 1])) / 2 / d,
            "brow_distance": float(np.linalg.norm(L[107] - L[336]) / d),
            "corner_lift": ((L[0, 1] + L[17, 1]) / 2 - (L[61, 1] + L[291, 1]) / 2) / d}


def still_frame(renderer, head, expression: np.ndarray | None = None) -> np.ndarray:
    from emodiffhead.track import Track

    tr = Track.neutral(1, 25.0, head.name, list(head.expression_names))
    if expression is not None:
        tr.expression[0] = expression
    return next(iter(renderer.frames(tr)))


def classify(paths: list[Path]) -> dict[str, dict[str, float]]:
    res = subprocess.run(["/tmp/emo_eval/venv/bin/python", str(SHARED / "tools" / "emotion_eval.py"),
                          *map(str, paths)], capture_output=True, text=True)
    out = {}
    for line in res.stdout.splitlines():
        if line.strip().startswith("{"):
            d = json.loads(line)
            if "mean_probs" in d:
                out[d["input"]] = d["mean_probs"]
    return out


def face_box(img: np.ndarray) -> tuple[int, int, int, int]:
    """Square box from just above the brows to below the lower lip."""
    from emodiffhead.face.detect import detect_face

    L = detect_face(img).landmarks[:, :2]
    w = float(L[:, 0].max() - L[:, 0].min())
    cx, top = float(L[:, 0].mean()), float(L[:, 1].min()) - 0.05 * w
    s = max(w, float(L[17, 1]) + 0.1 * w - top)
    return int(cx - s / 2), int(top), int(cx + s / 2), int(top + s)


def main() -> int:
    import cv2

    from emodiffhead.diffusion.metrics import ssim
    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.face.image import load_photo
    from emodiffhead.head import load_head
    from emodiffhead.render.warp_renderer import WarpRenderer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(SHARED / "data" / "photos"))
    ap.add_argument("--intensities", default="1.0,1.5")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--sheet", help="write a zoomed contact sheet (jpg/png) of the round trips")
    ap.add_argument("--sheet-intensity", type=float, default=1.5)
    ap.add_argument("--tile", type=int, default=150)
    ap.add_argument("--classifier", action="store_true")
    a = ap.parse_args()
    head = load_head("builtin")
    levels = [float(x) for x in a.intensities.split(",")]
    rows: dict = {}
    tiles = []
    tmp = Path(tempfile.mkdtemp(prefix="photo_neutral_"))
    for path in sorted(Path(a.photos).glob("*.jpg")):
        r = WarpRenderer()
        try:
            r.prepare(load_photo(path), head, size=a.size)
        except FaceNotFoundError:
            continue
        n = path.stem
        neutral = still_frame(r, head)
        g0 = geometry(neutral)
        rows[n] = {"ssim": float(ssim(neutral, r.photo))}
        box = face_box(neutral)
        crop = lambda im: cv2.resize(im[max(0, box[1]):box[3], max(0, box[0]):box[2]], (a.tile, a.tile),
                                     interpolation=cv2.INTER_AREA)
        for v in VARIANTS:
            for k in levels:
                posed = still_frame(r, head, posed_expression(head, v, k))
                again = WarpRenderer()
                again.prepare(posed, head, size=a.size)
                back = still_frame(again, head)
                gp, gb = geometry(posed), geometry(back)
                rows[n][(v, k)] = {m: (gp[m] - g0[m], gb[m] - g0[m]) for m in g0}
                if a.classifier:
                    for tag, im in (("posed", posed), ("back", back), ("neutral", neutral)):
                        cv2.imwrite(str(tmp / f"{n}__{v}__{k}__{tag}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
                if a.sheet and k == a.sheet_intensity and v != "sad_mouth":
                    row = np.concatenate([crop(neutral), crop(posed), crop(back)], 1)
                    cv2.putText(row, f"{n[:12]} {v}", (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 0), 1)
                    tiles.append(row)
        print(f"{n}: done", file=sys.stderr)
    print("| variant | intensity | measure | posed photo - neutral frame (mean) | left in its neutral frame (mean) "
          "| per photo: posed -> left |")
    print("|---|---|---|---|---|---|")
    for v in VARIANTS:
        for k in levels:
            for m in MEASURES[v]:
                cells = [rows[n][(v, k)][m] for n in rows]
                per = ", ".join(f"{p:+.3f} -> {b:+.3f}" for p, b in cells)
                print(f"| {v} | {k:.1f} | {m} | {np.mean([c[0] for c in cells]):+.3f} | "
                      f"{np.mean([c[1] for c in cells]):+.3f} | {per} |")
    print("\nneutral frame SSIM vs photo: " + ", ".join(f"{n} {d['ssim']:.4f}" for n, d in rows.items()))
    if a.classifier:
        probs = classify(sorted(tmp.glob("*.png")))
        print("\n| variant | intensity | classifier p(intended): photo's neutral frame / posed photo / its neutral "
              "frame, per photo |\n|---|---|---|")
        for v in VARIANTS:
            cls = CLASSIFIER_CLASS[VARIANTS[v][0]]
            for k in levels:
                cells = []
                for n in rows:
                    p = [probs.get(str(tmp / f"{n}__{v}__{k}__{t}.png"), {}).get(cls, float("nan"))
                         for t in ("neutral", "posed", "back")]
                    cells.append("/".join(f"{x:.2f}" for x in p))
                print(f"| {v} | {k:.1f} | {', '.join(cells)} |")
    if a.sheet and tiles:
        head_row = np.zeros((16, tiles[0].shape[1], 3), np.uint8)
        for i, t in enumerate(("photo: neutral frame", "posed photo", "its neutral frame")):
            cv2.putText(head_row, t, (i * a.tile + 3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1)
        sheet = np.concatenate([head_row] + tiles, 0)
        cv2.imwrite(a.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"\nsheet: {a.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
