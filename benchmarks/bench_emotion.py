"""Emotion legibility of the warp renderer, judged by an independent classifier, printed as tables.

    nice -n 10 .venv/bin/python benchmarks/bench_emotion.py [--photos DIR_OR_FILE ...] [--sizes 448,512,576]
        [--sheets docs/images]

For every photo in ../shared/data/photos (or ``--photos``) the face is fitted once (photos without a human face are
listed with the error they give) and one frame per (emotion, intensity) is rendered at the first of ``--sizes``
(default 512 px): neutral, then each of the
seven emotions at 0.5 / 1.0 / 1.5 (the expression is built as the animator builds it, without speech). The frames go, as PNG files, to the facial-expression classifier of
``../shared/tools/emotion_eval.py`` (FER2013 mini-Xception, run by its own Python as a separate process: the
product never imports it). Each render is compared with the neutral render of the same photo. ``--sizes
448,512,576`` renders the grid at each size and averages the classifier's probabilities over them (the issue's
targets are at 512 px; single cells move by up to 0.1 when a few pixels change, and the mean damps that).

Tables: (0) the face gate per photo, as given and as a close-up, and folded warp triangles (seams); (1) per photo and emotion the intended-class probability at 0 / 0.5 / 1.0 / 1.5 and the top class at
1.0; (2) the issue's figures: top-1 at 1.0, rise >= 0.05 over the neutral render, monotonic 0.5 < 1.0 < 1.5,
mean change per class; (3) the photo's own expression: classifier "happy" and mouth geometry (corner lift and
width per inter-ocular distance, mediapipe) of the photo vs its neutral render, and the neutral frame's SSIM
vs the photo. ``--sheets DIR`` also writes one contact sheet per emotion (face zoomed, rows = photos,
columns = neutral / 0.5 / 1.0 / 1.5) as ``DIR/emotion_<name>.jpg`` (``--sheet-format png``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EVAL_PYTHON = Path("/tmp/emo_eval/venv/bin/python")
EVAL_SCRIPT = SHARED / "tools" / "emotion_eval.py"
INTENSITIES = (0.5, 1.0, 1.5)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Our category -> the classifier's class (contempt has none).
CLASSIFIER_CLASS = {"happy": "happy", "sad": "sad", "angry": "angry", "surprised": "surprise",
                    "fearful": "fear", "disgusted": "disgust"}
#: The issue's monotonicity figure uses these four (the classifier barely knows fear and disgust).
MONOTONIC_SET = ("happy", "sad", "angry", "surprised")
#: Photos shown on the contact sheets (when present).
SHEET_PHOTOS = ("einstein_1921", "woman_portrait", "man_bw_portrait", "mona_lisa_painting")


def grid_track(head, emotions: tuple[str, ...]):
    """(labels [(emotion, intensity)], Track) with one frame per cell: neutral first, then each emotion at
    each of INTENSITIES. The expression goes through the animator's composition (no speech) and the head's
    limits, as ``emodiffhead animate/render --emotion`` builds it."""
    from emodiffhead.animate.compose import compose
    from emodiffhead.animate.emotion_vectors import emotion_above_arkit, emotion_basis_arkit
    from emodiffhead.animate.retarget import build_retarget
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.head.model import Joint
    from emodiffhead.track import Track

    labels = [("neutral", 0.0)] + [(e, a) for e in emotions for a in INTENSITIES]
    inten = np.zeros((len(labels), len(EMOTIONS)), np.float32)
    for k, (e, a) in enumerate(labels):
        inten[k, EMOTIONS.index(e)] = a
    basis = emotion_basis_arkit()
    comp = compose(np.zeros((len(labels), basis.shape[1]), np.float32), inten, basis, above_arkit=emotion_above_arkit())
    rt = build_retarget(head)
    expr = rt.expression(comp.final)
    if head.expression_limits is not None:
        lim = np.asarray(head.expression_limits, np.float32)
        expr = np.clip(expr, lim[:, 0], lim[:, 1])
    tr = Track.neutral(len(labels), 25.0, head.name, head.expression_names)
    tr.expression[:] = expr
    tr.emotion[:] = inten
    if not rt.has_jaw_blendshape:
        tr.pose[:, Joint.JAW, 0] = rt.jaw_angle(comp.emotion_jaw)
    return labels, tr


def mouth_geometry(img: np.ndarray) -> dict[str, float]:
    """Mouth-corner lift and mouth width per inter-ocular distance (image y down; lift > 0: corners above the
    lip midline) from mediapipe landmarks of an (H, W, 3) uint8 image."""
    from emodiffhead.face.detect import detect_face

    L = detect_face(img).landmarks[:, :2]
    iod = float(np.linalg.norm(L[263] - L[33]))
    mid = (L[0, 1] + L[17, 1]) / 2
    return {"lift": float((mid - (L[61, 1] + L[291, 1]) / 2) / iod),
            "width": float(np.linalg.norm(L[291] - L[61]) / iod)}


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two (H, W, 3) uint8 images on luma (Gaussian window, sigma 1.5)."""
    import cv2

    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def face_zoom(img: np.ndarray, landmarks: np.ndarray, side: int) -> np.ndarray:
    """(side, side, 3) crop around the face of (478, 2+) landmarks (brows to chin)."""
    import cv2

    lm = landmarks[:, :2]
    lo, hi = lm.min(0), lm.max(0)
    c = (lo + hi) / 2
    s = float(max(hi - lo)) * 1.15
    M = np.array([[side / s, 0, side / 2 - c[0] * side / s], [0, side / s, side / 2 - c[1] * side / s]])
    return cv2.warpAffine(img, M, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    img = img.copy()
    cv2.rectangle(img, (0, 0), (img.shape[1], 16), (0, 0, 0), -1)
    cv2.putText(img, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def folded_triangles(renderer, track) -> np.ndarray:
    """(T,) number of face triangles (lip lines excepted) whose moved landmarks flip their orientation in each
    frame, after the renderer's own fold repair when it has one: a flipped triangle draws a seam of specks."""
    from emodiffhead.face import facemesh_topology as topo
    from emodiffhead.render.unfold import signed_area

    lm = renderer.drive(track).landmarks
    fix = getattr(renderer, "frame_landmarks", None) or getattr(renderer, "_unfold", None)  # as the warp draws them
    tris = topo.triangles()
    lips = np.zeros(lm.shape[1], bool)
    lips[np.concatenate(topo.mouth_lines())] = True
    tris = tris[~lips[tris].any(1)]

    def area(p):
        return 2.0 * signed_area(p, tris)  # twice the area, as the thresholds below were set

    mesh = getattr(renderer, "mesh", None)  # the warp's source (an open mouth's closed re-map), else the photo
    a0 = area((mesh.points[:lm.shape[1]] if mesh is not None else renderer.fit.landmarks)[:, :2].astype(np.float64))
    ok = np.abs(a0) > 1.0
    out = []
    for k in range(len(lm)):
        p = (fix(lm[k]) if fix is not None else lm[k])[:, :2].astype(np.float64)
        out.append(int(((np.sign(area(p)) != np.sign(a0)) & ok).sum()))
    return np.array(out)


def gate_table(photos: list[Path]) -> None:
    """Print the face gate's answer per photo, as given and as a close-up (cropped to the detector's face
    box, the face filling the frame, scaled to 512 px)."""
    import cv2

    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.face.detect import detect_face
    from emodiffhead.face.image import load_photo

    print("\n| photo | face gate | close-up (face fills the frame) |\n|---|---|---|")
    for p in photos:
        img = load_photo(p)
        try:
            d = detect_face(img)
        except FaceNotFoundError as e:
            print(f"| {p.name} | refused: {e} | - |")
            continue
        x0, y0, x1, y1 = np.round(d.box).astype(int)
        crop = img[max(y0, 0):max(y1, 1), max(x0, 0):max(x1, 1)]
        close = cv2.resize(crop, (512, int(round(512 * crop.shape[0] / crop.shape[1]))), interpolation=cv2.INTER_CUBIC)
        try:
            detect_face(close)
            res = "accepted"
        except FaceNotFoundError as e:
            res = f"refused: {e}"
        print(f"| {p.name} | accepted (score {d.score:.2f}) | {res} |")


def run_classifier(paths: list[Path], python: Path, script: Path) -> dict[str, dict[str, float]]:
    """{path: {class: probability}} from emotion_eval.py run as a subprocess (JSON lines)."""
    res = subprocess.run([str(python), str(script), *map(str, paths)], capture_output=True, text=True)
    out = {}
    for line in res.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            if "mean_probs" in d:
                out[d["input"]] = d["mean_probs"]
    if not out:
        raise RuntimeError(f"emotion_eval.py gave no result (exit {res.returncode}): {res.stderr[-500:]}")
    return out


def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", nargs="+", default=[str(SHARED / "data" / "photos")],
                    help="folders of photos and/or photo files")
    ap.add_argument("--sizes", default="512",
                    help="render sizes (px, comma-separated): the first gives the frames, sheets and geometry "
                         "tables; the classifier figures are its probabilities averaged over all sizes (the "
                         "classifier's cells move by up to 0.1 on few-pixel changes: more sizes damp that)")
    ap.add_argument("--eval-python", default=str(EVAL_PYTHON))
    ap.add_argument("--eval-script", default=str(EVAL_SCRIPT))
    ap.add_argument("--sheets", help="write one contact sheet per emotion into this folder")
    ap.add_argument("--sheet-format", choices=("jpg", "png"), default="jpg")
    ap.add_argument("--tile", type=int, default=150, help="contact sheet tile side in pixels")
    ap.add_argument("--keep", help="keep the rendered PNGs in this folder")
    ap.add_argument("--sheets-only", action="store_true", help="render and write the sheets, no tables")
    ap.add_argument("--only", help="only photos whose name contains this")
    return ap.parse_args(argv)


def render_grid(photos: list[Path], head, labels, track, work: Path, size: int = 512,
                quiet: bool = False) -> dict[str, dict]:
    """Render the grid track on every photo at ``size`` px (PNG files in ``work``); stem -> photo, frames,
    landmarks, files, folds. Prints a row per photo (rendered or refused) unless ``quiet``."""
    import cv2

    from emodiffhead.errors import FaceNotFoundError
    from emodiffhead.face.image import load_photo
    from emodiffhead.render.warp_renderer import WarpRenderer

    say = (lambda *a: None) if quiet else print
    renders: dict[str, dict] = {}
    say("| photo | result |\n|---|---|")
    for p in photos:
        r = WarpRenderer()
        try:
            fit = r.prepare(load_photo(p), head, size=size)
        except FaceNotFoundError as e:
            say(f"| {p.name} | refused: {e} |")
            continue
        frames = list(r.frames(track))
        files = []
        cv2.imwrite(str(work / f"{p.stem}__photo.png"), r.photo[:, :, ::-1])
        for (e, a), f in zip(labels, frames):
            dst = work / f"{p.stem}__{e}_{a:.1f}.png"
            cv2.imwrite(str(dst), f[:, :, ::-1])
            files.append(dst)
        renders[p.stem] = {"photo": r.photo, "frames": dict(zip(labels, frames)), "landmarks": fit.landmarks,
                           "files": dict(zip(labels, files)), "folds": folded_triangles(r, track)}
        say(f"| {p.name} | rendered {len(frames)} frames |")
    return renders


def fold_and_identity_tables(renders: dict[str, dict], labels) -> None:
    """Folded face triangles per photo; the photo's own expression and identity (SSIM, mouth corners)."""
    from emodiffhead.errors import FaceNotFoundError

    print("\n| photo | frames with folded face triangles (of 21 expression frames) | most in one frame (emotion) |")
    print("|---|---|---|")
    for stem, d in renders.items():
        f = d["folds"]
        k = int(np.argmax(f))
        print(f"| {stem} | {int((f[1:] > 0).sum())} | {int(f[k])} ({labels[k][0]} {labels[k][1]:.1f}) |")
    print("\n| photo | SSIM neutral vs photo | corner lift photo -> neutral | width photo -> neutral |")
    print("|---|---|---|---|")
    for stem, d in renders.items():
        neutral = d["frames"][("neutral", 0.0)]
        try:
            gp, gn = mouth_geometry(d["photo"]), mouth_geometry(neutral)
            geo = (f"{gp['lift']:+.3f} -> {gn['lift']:+.3f} | {gp['width']:.3f} -> {gn['width']:.3f}")
        except FaceNotFoundError:
            geo = "n/a | n/a"
        print(f"| {stem} | {ssim(d['photo'], neutral):.3f} | {geo} |")


def classifier_tables(renders: dict[str, dict], probs: dict, work: Path) -> None:
    """Per (photo, emotion) classifier probabilities, the summary figures and the photo -> neutral table."""

    def prob(stem, e, a, cls):
        f = str(work / f"{stem}__photo.png") if e == "photo" else str(renders[stem]["files"][(e, a)])
        return probs.get(f, {}).get(cls, float("nan"))

    def top(stem, e, a):
        pr = probs.get(str(renders[stem]["files"][(e, a)]), {})
        return max(pr, key=pr.get) if pr else "-"

    print("\n| photo | emotion | intended p at 0 / 0.5 / 1.0 / 1.5 | top at 1.0 |")
    print("|---|---|---|---|")
    top1, up, mono, mono_all, n, n_mono = 0, 0, 0, 0, 0, 0
    change: dict[str, list[float]] = {e: [] for e in CLASSIFIER_CLASS}
    for stem in renders:
        for e, cls in CLASSIFIER_CLASS.items():
            p0 = prob(stem, "neutral", 0.0, cls)
            ps = [prob(stem, e, a, cls) for a in INTENSITIES]
            t = top(stem, e, 1.0)
            print(f"| {stem} | {e} | {p0:.2f} / " + " / ".join(f"{x:.2f}" for x in ps) + f" | {t} |")
            n += 1
            top1 += t == cls
            up += ps[1] >= p0 + 0.05
            change[e].append(ps[1] - p0)
            is_mono = ps[0] < ps[1] < ps[2]
            mono_all += is_mono
            if e in MONOTONIC_SET:
                n_mono += 1
                mono += is_mono
    print("\n| figure | value |\n|---|---|")
    print(f"| intended class is the top class at 1.0 | {top1} / {n} ({100 * top1 / max(n, 1):.0f} %) |")
    print(f"| intended p >= neutral render's + 0.05 at 1.0 | {up} / {n} ({100 * up / max(n, 1):.0f} %) |")
    print("| mean change of the intended class vs neutral | "
          + ", ".join(f"{e} {np.mean(v):+.2f}" for e, v in change.items()) + " |")
    print(f"| monotonic 0.5 < 1.0 < 1.5 ({', '.join(MONOTONIC_SET)}) | {mono} / {n_mono} "
          f"({100 * mono / max(n_mono, 1):.0f} %) |")
    print(f"| monotonic 0.5 < 1.0 < 1.5 (all six) | {mono_all} / {n} ({100 * mono_all / max(n, 1):.0f} %) |")
    print("\n| photo | classifier happy: photo -> neutral render | top class photo -> neutral render |")
    print("|---|---|---|")
    for stem in renders:
        pp = probs.get(str(work / f"{stem}__photo.png"), {})
        tp = max(pp, key=pp.get) if pp else "-"
        print(f"| {stem} | {prob(stem, 'photo', 0, 'happy'):.2f} -> {prob(stem, 'neutral', 0.0, 'happy'):.2f} "
              f"| {tp} -> {top(stem, 'neutral', 0.0)} |")


def main(argv=None) -> int:
    from emodiffhead.emotion import EMOTIONS
    from emodiffhead.head import load_head

    args = _parse_args(argv)
    head = load_head("builtin")
    emotions = tuple(e for e in EMOTIONS if e != "neutral")
    labels, track = grid_track(head, emotions)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_emotion_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        photos = [p for p in find_photos(args.photos) if not args.only or args.only in p.name]
        sizes = [int(v) for v in str(args.sizes).split(",") if v.strip()]
    except ValueError as e:
        print(f"bench_emotion: {e}", file=sys.stderr)
        return 2
    if not photos:
        print(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {' '.join(args.photos)}", file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 64:
        print(f"bench_emotion: --sizes needs one or more sizes of at least 64 px, got {args.sizes!r}",
              file=sys.stderr)
        return 2
    t0, c0 = time.perf_counter(), time.process_time()
    renders = render_grid(photos, head, labels, track, work, sizes[0])
    t_render, c_render = time.perf_counter() - t0, time.process_time() - c0
    gate_table(photos)
    print(f"\nrender: {t_render:.1f} s wall, {c_render:.1f} s CPU for {len(renders)} photos x {len(labels)} frames")
    if args.sheets:
        write_sheets(renders, emotions, Path(args.sheets), args.tile, args.sheet_format)
    if args.sheets_only:
        return 0
    fold_and_identity_tables(renders, labels)
    py, script = Path(args.eval_python), Path(args.eval_script)
    if not (py.exists() and script.exists()):
        print(f"\nclassifier not available ({py} / {script}): no classifier tables")
        return 0
    more = []  # the same grid at the other sizes: only their classifier probabilities are used
    for size in sizes[1:]:
        (work / f"size_{size}").mkdir(exist_ok=True)
        more.append(render_grid(photos, head, labels, track, work / f"size_{size}", size, quiet=True))
        for stem in renders:
            if stem not in more[-1]:
                print(f"note: {stem} is refused at {size} px: its figures average the other sizes")
    paths = [work / f"{s}__photo.png" for s in renders] + [f for d in [renders, *more] for r in d.values()
                                                           for f in r["files"].values()]
    probs = run_classifier(paths, py, script)
    if more:
        print(f"\nclassifier figures: probabilities averaged over {len(sizes)} render sizes "
              f"({', '.join(map(str, sizes))} px)")
        probs = mean_over_sizes(renders, more, probs)
    classifier_tables(renders, probs, work)
    return 0


def find_photos(sources: list[str]) -> list[Path]:
    """Photo files (``PHOTO_SUFFIXES``) named in ``sources`` or inside the folders named there, sorted per folder.
    ValueError for a path that does not exist, a named file that is not a photo, or two photos with the same name
    stem (the frames are filed by stem)."""
    out: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            out += [f for f in sorted(p.iterdir()) if f.suffix.lower() in PHOTO_SUFFIXES and f.is_file()]
        elif p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES:
            out.append(p)
        else:
            raise ValueError(f"{src}: not a folder or a photo ({', '.join(PHOTO_SUFFIXES)})")
    stems = [f.stem for f in out]
    twins = sorted({s for s in stems if stems.count(s) > 1})
    if twins:
        raise ValueError(f"several photos named {', '.join(twins)} (the frames are filed by name)")
    return out


def mean_over_sizes(renders: dict[str, dict], more: list[dict[str, dict]],
                    probs: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``probs`` ({file: {class: p}}) with each main-size frame's probabilities replaced by their mean over that
    frame at every size where the photo rendered and the classifier found the face (``more``: the other sizes'
    :func:`render_grid` results). A main-size frame without a result stays without one."""
    out = dict(probs)
    for stem, d in renders.items():
        for label, f in d["files"].items():
            if str(f) not in probs:
                continue
            rows = [probs[str(f)]] + [probs[str(m[stem]["files"][label])] for m in more
                                      if stem in m and str(m[stem]["files"][label]) in probs]
            out[str(f)] = {c: float(np.mean([r[c] for r in rows])) for c in rows[0]}
    return out


def write_sheets(renders: dict, emotions: tuple[str, ...], out: Path, tile: int = 150, fmt: str = "jpg") -> None:
    """One image (``fmt`` jpg or png) per emotion: rows = photos (SHEET_PHOTOS when present), columns = neutral, 0.5, 1.0, 1.5."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    stems = [s for s in SHEET_PHOTOS if s in renders] or list(renders)[:4]
    for e in emotions:
        rows = []
        for s in stems:
            d = renders[s]
            cells = [("neutral", 0.0)] + [(e, a) for a in INTENSITIES]
            row = [_label(face_zoom(d["frames"][c], d["landmarks"], tile), f"{c[0][:5]} {c[1]:.1f}" if c[1] else
                          "neutral") for c in cells]
            rows.append(np.concatenate(row, 1))
        sheet = np.concatenate(rows, 0)
        opts = [cv2.IMWRITE_JPEG_QUALITY, 90] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 9]
        cv2.imwrite(str(out / f"emotion_{e}.{fmt}"), sheet[:, :, ::-1], opts)


if __name__ == "__main__":
    sys.exit(main())
