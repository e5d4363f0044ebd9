"""The refiner's training data: pairs (real crop, warp crop) of the refined region of every frame of a video.

``emodiffhead prepare VIDEO -o DIR --kind refiner [--region mouth] [--size 128]`` writes::

    refiner_dataset.json    format, region, size, margin, fps, frame count, train/val ranges, face signature
    real.npy                (T, S, S, 3) uint8 the video's frames cropped at the region box x ``MARGIN``, the
                            box placed by the landmarks detected on that real frame
    warp.npy                (T, S, S, 3) uint8 the warp renderer's frames (frame 0 driven by the extracted
                            track: exactly what inference does with a photo), cropped at the box placed by the
                            warp's own moved landmarks: the pair is aligned on the mouth (or face) even where
                            the warp places the head a little elsewhere, so the model learns appearance, not
                            head placement
    mask.npy                (T, S, S) uint8 the blending mask (0..255) in the same crops
    audio.npy               (T, W, M) float32 log-mel windows; track.npz the extracted track

``S = round(size * MARGIN)``: the margin lets training take shifted ("mixed") crops. The split is by time:
the last ``HOLDOUT`` of the frames are held out. Everything is written to ``DIR.partial`` and renamed at the
end, so an interrupted run leaves no half dataset.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from ..progress import CancelFn, ProgressFn, check_cancel, report, scaled
from . import refiner_region as rr

FORMAT = "emodiffhead.refiner_dataset"
VERSION = 1
MANIFEST = "refiner_dataset.json"
MARGIN = 1.25
HOLDOUT = 0.2
SIGNATURE_FRAMES = 7


@dataclass
class RefinerData:
    """A loaded refiner dataset. real, warp: (T, S, S, 3) uint8; mask: (T, S, S) uint8; audio: (T, W, M)
    float32; expression (T, E), pose (T, 18), emotion (T, K) float32; train/val: frame ranges [start, stop)."""

    # the per-frame condition fields repeat data.VideoData's on purpose (a record of another dataset kind, kept flat)
    real: np.ndarray
    warp: np.ndarray
    mask: np.ndarray
    audio: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    emotion: np.ndarray
    train: tuple[int, int]
    val: tuple[int, int]
    meta: dict[str, Any]


def store_size(size: int) -> int:
    """Stored crop side (pixels) for a model working at ``size`` px."""
    return int(round(size * MARGIN))


def warp_driven_frames(photo: np.ndarray, track, head, progress: ProgressFn | None = None,
                       cancel: CancelFn | None = None):
    """(warp renderer prepared on ``photo`` at its own size, iterator of (frame (H, W, 3) uint8,
    landmarks (478, 3), rigid (478, 3)) for every frame of ``track``), through the warp renderer's public
    ``drive`` / ``render_landmarks`` API."""
    from ..render.warp_renderer import WarpRenderer

    rend = WarpRenderer()
    rend.prepare(photo, head, size=min(photo.shape[:2]), cancel=cancel)
    if tuple(rend.output_size) != tuple(photo.shape[:2]):
        raise InputFileError(f"warp renderer output {rend.output_size} does not match the frame {photo.shape[:2]} "
                             "(odd frame size?)")
    return rend, _drive_frames(rend, track, progress, cancel)


def _drive_frames(rend, track, progress, cancel, chunk: int = 128):
    T = track.num_frames
    for s in range(0, T, chunk):
        part = track.slice(s, min(T, s + chunk))
        d, sh = rend.drive(part), rend.shading_weights(part)
        for k in range(d.num_frames):
            check_cancel(cancel)
            yield rend.render_frame(d, k, sh), d.landmarks[k], d.rigid[k]
            report(progress, (s + k + 1) / T, f"warp frame {s + k + 1}/{T}")


def prepare_refiner(video: str | Path, out_dir: str | Path, *, region: str = "mouth", size: int = 128,
                    head_spec: str = "builtin", progress: ProgressFn | None = None,
                    cancel: CancelFn | None = None) -> dict[str, Any]:
    """Prepare one talking-head video (10-60 s of one person) for refiner training; returns the manifest."""
    from ..audio.io import load_audio
    from ..face.extract import track_from_landmarks, video_landmarks
    from ..head import load_head
    from ..video import read_video_frames, video_fps
    from ..track import save_track
    from . import audio_features as af
    from .identity import face_signature, fit_signature
    from ..face.detect import detect_face

    if region not in rr.REGIONS:
        raise InputFileError(f"unknown region {region!r}: use one of {', '.join(rr.REGIONS)}")
    if not 32 <= int(size) <= 512:
        raise InputFileError(f"--size must be in 32..512, got {size}")
    src = Path(video)
    if not src.is_file():
        raise InputFileError(f"video not found: {src}")
    head = load_head(head_spec)
    report(progress, 0.0, "reading frames")
    frames = list(read_video_frames(src))
    if len(frames) < 10:
        raise InputFileError(f"{src.name}: {len(frames)} frames; the refiner needs a clip of 10 s or more")
    fps = video_fps(src)
    real_lm, _, vfps, hw = video_landmarks(src, progress=scaled(progress, 0.02, 0.35), cancel=cancel)
    track = track_from_landmarks(real_lm, head, hw, vfps, progress=scaled(progress, 0.35, 0.5), cancel=cancel)
    track.meta.update({"generator": "emodiffhead.extract", "extractor": "landmarks", "source": src.name})
    T = min(len(frames), track.num_frames)
    track = track.slice(0, T) if T < track.num_frames else track
    real_boxes = rr.region_boxes(real_lm[:T], region)
    check_cancel(cancel)
    clip = load_audio(src, require_sound=False)
    audio = af.frame_windows(clip.samples, fps, T)
    S = store_size(size)
    rend, it = warp_driven_frames(frames[0], track, head, scaled(progress, 0.5, 0.98), cancel)
    real = np.zeros((T, S, S, 3), np.uint8)
    warp = np.zeros((T, S, S, 3), np.uint8)
    mask = np.zeros((T, S, S), np.uint8)
    boxes = np.zeros((T, 3), np.float32)
    H, W = frames[0].shape[:2]
    for t, (wf, lm, rig) in enumerate(it):
        box = rr.region_boxes(lm[None], region)[0]
        big = box * np.array([1, 1, MARGIN], np.float32)
        boxes[t] = box
        real[t] = rr.crop(frames[t], real_boxes[t] * np.array([1, 1, MARGIN], np.float32), S)
        warp[t] = rr.crop(wf, big, S)
        rect = rr.box_bounds(box, (H, W))
        m = np.zeros((H, W), np.float32)
        m[rect[1]:rect[3], rect[0]:rect[2]] = rr.region_mask(lm, rig, box, rect, region)
        mask[t] = np.round(rr.crop(m, big, S) * 255).astype(np.uint8)
    cut = max(1, min(T - 1, int(round(T * (1 - HOLDOUT)))))
    signatures = []  # the face at a few more training frames (poses, expressions) for the identity guard
    for t in np.linspace(0, cut - 1, SIGNATURE_FRAMES + 1).round().astype(int)[1:]:
        try:
            signatures.append(face_signature(frames[t], detect_face(frames[t]).landmarks))
        except Exception:  # noqa: BLE001 - a frame without a detectable face just adds no signature
            pass
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, arr in (("real", real), ("warp", warp), ("mask", mask), ("audio", audio), ("boxes", boxes)):
        np.save(tmp / f"{name}.npy", arr)
    save_track(track, tmp / "track.npz")
    manifest = {"format": FORMAT, "version": VERSION, "source": str(src), "region": region, "size": int(size),
                "margin": MARGIN, "store_size": S, "fps": fps, "num_frames": T, "image_size": [H, W],
                "train": [0, cut], "val": [cut, T],
                "signature": [fit_signature(frames[0], rend.fit)] + signatures}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    report(progress, 1.0, f"{T} frames prepared")
    return manifest


def read_refiner_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of a refiner dataset; InputFileError when ``root`` is not one."""
    p = Path(root) / MANIFEST
    if not p.is_file():
        raise InputFileError(f"{root}: not a refiner dataset (no {MANIFEST}); run "
                             f"`emodiffhead prepare VIDEO -o {root} --kind refiner`")
    m = json.loads(p.read_text(encoding="utf-8"))
    if m.get("format") != FORMAT:
        raise InputFileError(f"{p}: not an emodiffhead refiner dataset")
    return m


def is_refiner_dataset(root: str | Path) -> bool:
    return (Path(root) / MANIFEST).is_file()


def load_refiner_data(root: str | Path, size: int | None = None) -> RefinerData:
    """Load a refiner dataset; ``size``: the model's working size (stored crops are rescaled when the
    dataset was prepared for another size)."""
    from ..track import load_track
    from .data import pose_vector, resize_images

    m = read_refiner_manifest(root)
    d = Path(root)
    S = store_size(size) if size else int(m["store_size"])
    real = resize_images(np.load(d / "real.npy"), S)
    warp = resize_images(np.load(d / "warp.npy"), S)
    mask = np.load(d / "mask.npy")
    if mask.shape[1] != S:
        mask = resize_images(np.repeat(mask[..., None], 3, -1), S)[..., 0]
    tr = load_track(d / "track.npz")
    return RefinerData(real=real, warp=warp, mask=mask, audio=np.load(d / "audio.npy").astype(np.float32),
                       expression=tr.expression.astype(np.float32), pose=pose_vector(tr.pose, tr.translation),
                       emotion=tr.emotion.astype(np.float32), train=tuple(m["train"]), val=tuple(m["val"]), meta=m)


def sample_batch(data: RefinerData, rng: np.random.Generator, batch: int, patch: int, size: int,
                 frames: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """A training batch of ``patch`` px windows at native scale from random training frames.

    The window is placed at a random offset within the stored crop (the "mixed crops": the model sees the
    region shifted and, for patch < size, in parts). Returns real, warp (B, 3, p, p) float32 in [-1, 1], mask
    (B, 1, p, p) float32 in 0..1, audio (B, W, M), expression (B, E), pose (B, 18), emotion (B, K).
    """
    lo, hi = frames or data.train
    idx = rng.integers(lo, hi, batch)
    S = data.real.shape[1]
    real = np.zeros((batch, patch, patch, 3), np.uint8)
    warp = np.zeros_like(real)
    mask = np.zeros((batch, patch, patch), np.uint8)
    for b, t in enumerate(idx):
        x, y = (int(v) for v in rng.integers(0, S - patch + 1, 2))
        real[b] = data.real[t, y:y + patch, x:x + patch]
        warp[b] = data.warp[t, y:y + patch, x:x + patch]
        mask[b] = data.mask[t, y:y + patch, x:x + patch]
    f = lambda a: (a.astype(np.float32).transpose(0, 3, 1, 2) / 127.5 - 1.0)  # noqa: E731
    return dict(real=f(real), warp=f(warp), mask=(mask.astype(np.float32) / 255.0)[:, None],
                audio=data.audio[idx], expression=data.expression[idx], pose=data.pose[idx],
                emotion=data.emotion[idx], frames=idx)


def centre_crops(data: RefinerData, frames: range, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(real, warp (N, size, size, 3) uint8, mask (N, size, size) uint8): the region crops of ``frames``."""
    S = data.real.shape[1]
    o = (S - size) // 2
    sl = (slice(None), slice(o, o + size), slice(o, o + size))
    fr = list(frames)
    return data.real[fr][sl], data.warp[fr][sl], data.mask[fr][sl]
