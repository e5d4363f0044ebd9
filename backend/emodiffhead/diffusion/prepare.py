"""``emodiffhead prepare``: talking-head videos -> a training dataset (see :mod:`.data` for the layout).

Per video: the face box of the first frame (the detector) fixes one square crop for the whole clip; every
frame is cropped there and stored at ``crop_size`` px; the extractor gives the per-frame track; the audio
track gives log-mel windows per frame; the guidance image of each frame is the default warp renderer driven
by that track from the video's first frame (exactly what inference does with a photo), cropped the same way.

Split: by video (about 10% of the videos, at least one, held out) when there are several; a single video is
split by time (the last 20% of its frames held out). Videos already prepared (``meta.json`` present) are
skipped, so an interrupted run resumes; a file that fails is skipped and reported, never fatal.
"""

from __future__ import annotations

import json
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmodiffheadError, InputFileError
from ..progress import CancelFn, ProgressFn, check_cancel, report, scaled
from . import audio_features as af
from .data import FORMAT, VERSION, read_manifest, write_manifest

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
CROP_SCALE = 1.7  # crop side / detector face size
HOLDOUT = 0.2


@dataclass
class PrepareResult:
    """prepared: names of usable videos; skipped: [{"file", "reason"}]; root: the dataset folder."""

    root: Path
    prepared: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def crop_box(box: np.ndarray, image_size: tuple[int, int], scale: float = CROP_SCALE) -> tuple[int, int, int]:
    """Square crop ``(x0, y0, side)`` in pixels around a detector box (x0, y0, x1, y1), centred a little below
    the box centre (so the chin fits); it may extend past the image (padded when cropping)."""
    x0, y0, x1, y1 = [float(v) for v in box]
    side = scale * np.sqrt(max(x1 - x0, 1.0) * max(y1 - y0, 1.0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * side
    return int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))


def apply_crop(image: np.ndarray, crop: tuple[int, int, int], size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8 crop (border pixels replicated outside the image)."""
    import cv2

    x0, y0, side = crop
    H, W = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - W, y0 + side - H)
    img = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else image
    sub = img[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(sub, (size, size), interpolation=interp)


def warp_guidance(photo: np.ndarray, track, head, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> list[np.ndarray]:
    """T frames (H, W, 3) uint8 of the default warp renderer: ``photo`` (H, W, 3) driven by ``track``, at the
    photo's own size (so a crop box of the photo applies to them)."""
    from ..render.warp_renderer import WarpRenderer

    rend = WarpRenderer()
    rend.prepare(photo, head, size=min(photo.shape[:2]), cancel=cancel)
    if tuple(rend.output_size) != tuple(photo.shape[:2]):
        raise InputFileError(f"warp renderer output {rend.output_size} does not match the frame {photo.shape[:2]} "
                             "(odd frame size?)")
    return list(rend.frames(track, progress=progress, cancel=cancel))


def prepare_video(path: Path, out: Path, head, crop_size: int = 256, guidance: str = "warp",
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> dict[str, Any]:
    """Prepare one video into ``out`` (a folder); returns its meta dict. Raises EmodiffheadError on bad input."""
    from ..audio.io import load_audio
    from ..face.detect import detect_face
    from ..face.extract import extract_track
    from ..video import read_video_frames, video_fps
    from ..track import save_track

    frames = list(read_video_frames(path))
    if len(frames) < 2:
        raise InputFileError(f"{path.name}: fewer than 2 frames")
    fps = video_fps(path)
    check_cancel(cancel)
    det = detect_face(frames[0])
    crop = crop_box(det.box, frames[0].shape[:2])
    report(progress, 0.05, "tracking")
    track = extract_track(path, head)
    T = min(len(frames), track.num_frames)
    if T < track.num_frames:
        track = track.slice(0, T)
    check_cancel(cancel)
    report(progress, 0.4, "audio")
    clip = load_audio(path, require_sound=False)
    audio = af.frame_windows(clip.samples, fps, T)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "frames.npy", np.stack([apply_crop(f, crop, crop_size) for f in frames[:T]]))
    np.save(tmp / "audio.npy", audio)
    save_track(track, tmp / "track.npz")
    if guidance == "warp":
        report(progress, 0.5, "guidance (warp renderer)")
        g = warp_guidance(frames[0], track, head, progress=scaled(progress, 0.5, 0.95), cancel=cancel)
        np.save(tmp / "guidance.npy", np.stack([apply_crop(np.asarray(f), crop, crop_size) for f in g][:T]))
    meta = {"source": str(path), "num_frames": T, "fps": fps, "crop": list(crop), "crop_size": crop_size,
            "image_size": list(frames[0].shape[:2]), "guidance": guidance}
    (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return meta


def split_entries(names: list[str], frames: dict[str, int], holdout: float = HOLDOUT) -> list[dict[str, Any]]:
    """Train/val ranges per video: one video -> split by time; several -> whole videos held out (>= 1)."""
    if len(names) == 1:
        T = frames[names[0]]
        cut = max(1, min(T - 1, int(round(T * (1 - holdout)))))
        return [{"name": names[0], "train": [0, cut], "val": [cut, T]}]
    n_val = max(1, int(round(len(names) * holdout / 2)))
    val = set(sorted(names)[-n_val:])
    return [{"name": n, "train": [0, 0] if n in val else [0, frames[n]],
             "val": [0, frames[n]] if n in val else [0, 0]} for n in sorted(names)]


def prepare(videos_dir: str | Path, out_dir: str | Path, *, crop_size: int = 256, guidance: str = "warp",
            head_spec: str = "builtin", progress: ProgressFn | None = None, cancel: CancelFn | None = None,
            log=print) -> PrepareResult:
    """Prepare every video in ``videos_dir`` (or one video file) into ``out_dir``; resumable."""
    from ..head import load_head

    src = Path(videos_dir)
    if src.is_file():
        files = [src]
    elif src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    else:
        raise InputFileError(f"videos folder not found: {src}")
    if not files:
        raise InputFileError(f"{src}: no videos ({', '.join(VIDEO_EXTENSIONS)})")
    if guidance not in ("warp", "none"):
        raise InputFileError(f"unknown guidance {guidance!r}: use 'warp' or 'none'")
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    head = load_head(head_spec)
    res = PrepareResult(root=out)
    frames: dict[str, int] = {}
    for i, f in enumerate(files):
        name = f.stem
        d = out / "videos" / name
        sub = scaled(progress, i / len(files), (i + 1) / len(files))
        meta_p = d / "meta.json"
        if meta_p.is_file():
            meta = json.loads(meta_p.read_text(encoding="utf-8"))
            if meta.get("guidance") == guidance and meta.get("crop_size") == crop_size:
                frames[name] = int(meta["num_frames"])
                res.prepared.append(name)
                if log:
                    log(f"{f.name}: already prepared")
                continue
        check_cancel(cancel)
        try:
            meta = prepare_video(f, d, head, crop_size, guidance, sub, cancel)
        except EmodiffheadError as e:
            if type(e).__name__ == "CancelledError":
                raise
            res.skipped.append({"file": str(f), "reason": str(e)})
            if log:
                log(f"{f.name}: skipped ({e})")
            continue
        except Exception as e:  # a broken file must not stop the batch
            res.skipped.append({"file": str(f), "reason": f"{type(e).__name__}: {e}"})
            if log:
                log(f"{f.name}: skipped ({type(e).__name__}: {e})\n{traceback.format_exc(limit=3)}")
            continue
        frames[name] = meta["num_frames"]
        res.prepared.append(name)
        if log:
            log(f"{f.name}: {meta['num_frames']} frames")
        report(progress, (i + 1) / len(files), f"{i + 1}/{len(files)} videos")
    if not res.prepared:
        raise InputFileError(f"no video could be prepared: {res.skipped}")
    from ..emotion import EMOTIONS

    manifest = {"format": FORMAT, "version": VERSION, "crop_size": crop_size, "guidance": guidance,
                "audio": {"mels": af.N_MELS, "window": af.WINDOW, "hop_s": af.HOP / af.SAMPLE_RATE},
                "emotion_names": list(EMOTIONS), "videos": split_entries(res.prepared, frames),
                "skipped": res.skipped}
    write_manifest(out, manifest)
    read_manifest(out)
    return res
