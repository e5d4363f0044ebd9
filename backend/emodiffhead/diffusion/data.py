"""The prepared training dataset (written by ``emodiffhead prepare``) and its torch Dataset.

Layout of DATASET_DIR::

    dataset.json                     format, crop size, fps, audio window, guidance kind, split, skipped files
    videos/<name>/frames.npy         (T, S, S, 3) uint8 face crops (fixed crop box from the first frame)
    videos/<name>/guidance.npy       (T, S, S, 3) uint8 guidance images (the warp renderer driven by the track)
    videos/<name>/audio.npy          (T, W, M) float32 log-mel windows (audio_features.frame_windows)
    videos/<name>/track.npz          the extracted track (emodiffhead.track format)
    videos/<name>/meta.json          source file, crop box, frame count; written last (marks the video done)

Each video entry in dataset.json has ``train`` and ``val`` frame ranges ``[start, stop)`` (one of them empty when
the split is by video; for a single video the last 20% of its frames are held out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from ..track import load_track

FORMAT = "emodiffhead.diffusion_dataset"
VERSION = 1
POSE_DIM = 18  # pose (5, 3) flattened + translation (3,)


def read_manifest(root: str | Path) -> dict[str, Any]:
    """dataset.json of a prepared dataset; raises InputFileError when missing or of another format."""
    p = Path(root) / "dataset.json"
    if not p.is_file():
        raise InputFileError(f"{root}: not a prepared dataset (no dataset.json); run `emodiffhead prepare VIDEOS_DIR -o {root}`")
    m = json.loads(p.read_text(encoding="utf-8"))
    if m.get("format") != FORMAT:
        raise InputFileError(f"{p}: not an emodiffhead diffusion dataset")
    if not m.get("videos"):
        raise InputFileError(f"{root}: the dataset has no usable videos")
    return m


def write_manifest(root: str | Path, manifest: dict[str, Any]) -> None:
    p = Path(root) / "dataset.json"
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    tmp.replace(p)


def pose_vector(pose: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(T, 5, 3) axis-angle + (T, 3) metres -> (T, 18) float32 pose condition."""
    return np.concatenate([np.asarray(pose, np.float32).reshape(len(pose), -1),
                           np.asarray(translation, np.float32)], axis=1)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, size, size, 3) uint8 (area averaging when shrinking)."""
    import cv2

    if images.shape[1] == size and images.shape[2] == size:
        return np.asarray(images)
    interp = cv2.INTER_AREA if images.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.asarray(im), (size, size), interpolation=interp) for im in images])


@dataclass
class VideoData:
    """One prepared video at model resolution.

    frames, guidance: (T, s, s, 3) uint8 (guidance None when the dataset has none); audio: (T, W, M) float32;
    expression: (T, E); pose: (T, 18); emotion: (T, K) float32; train / val: frame ranges [start, stop).
    """

    # per-frame condition fields shared with refiner_data.RefinerData on purpose (two flat records, kept)
    name: str
    frames: np.ndarray
    guidance: np.ndarray | None
    audio: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    emotion: np.ndarray
    train: tuple[int, int]
    val: tuple[int, int]


def load_video(root: str | Path, entry: dict[str, Any], size: int, with_guidance: bool = True) -> VideoData:
    """Load one video of the dataset at ``size`` px."""
    d = Path(root) / "videos" / entry["name"]
    track = load_track(d / "track.npz")
    guid = None
    if with_guidance and (d / "guidance.npy").is_file():
        guid = resize_images(np.load(d / "guidance.npy", mmap_mode="r"), size)
    return VideoData(
        name=entry["name"], frames=resize_images(np.load(d / "frames.npy", mmap_mode="r"), size), guidance=guid,
        audio=np.load(d / "audio.npy").astype(np.float32), expression=track.expression.astype(np.float32),
        pose=pose_vector(track.pose, track.translation), emotion=track.emotion.astype(np.float32),
        train=tuple(entry["train"]), val=tuple(entry["val"]))


def load_videos(root: str | Path, size: int, with_guidance: bool = True) -> list[VideoData]:
    """All videos of the dataset at ``size`` px."""
    return [load_video(root, e, size, with_guidance) for e in read_manifest(root)["videos"]]


def condition_stats(videos: list[VideoData]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (E + 18,) float32 of [expression, pose] over the training frames (std floored at 1e-3)."""
    rows = [np.concatenate([v.expression, v.pose], 1)[v.train[0]:v.train[1]] for v in videos if v.train[1] > v.train[0]]
    x = np.concatenate(rows) if rows else np.zeros((1, videos[0].expression.shape[1] + POSE_DIM), np.float32)
    return x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-3).astype(np.float32)


class FrameDataset:
    """A torch-style dataset of training samples (dicts of float32 arrays, images (3, s, s) in [-1, 1]).

    split: ``"train"`` or ``"val"``. motion_frames: previous frames returned as ``motion`` (3 * m, s, s); before
    the range start the reference stands in. reference_random: probability of a random training frame of the
    same video as reference instead of its first training frame (``train`` split only).
    """

    def __init__(self, videos: list[VideoData], split: str = "train", motion_frames: int = 1,
                 reference_random: float = 0.0, seed: int = 0) -> None:
        self.videos = videos
        self.split = split
        self.motion_frames = motion_frames
        self.reference_random = reference_random if split == "train" else 0.0
        self.rng = np.random.default_rng(seed)
        self.index = [(vi, t) for vi, v in enumerate(videos) for t in range(*getattr(v, split))]

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def _img(x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float32).transpose(2, 0, 1) / 127.5 - 1.0).astype(np.float32)

    def reference_frame(self, v: VideoData) -> int:
        """The frame used as the identity reference: the first training frame (or first frame of a val video)."""
        return v.train[0] if v.train[1] > v.train[0] else v.val[0]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        vi, t = self.index[i]
        v = self.videos[vi]
        lo, hi = getattr(v, self.split)
        r = self.reference_frame(v)
        if self.reference_random > 0 and v.train[1] > v.train[0] and self.rng.random() < self.reference_random:
            r = int(self.rng.integers(v.train[0], v.train[1]))
        ref = self._img(v.frames[r])
        motion = [self._img(v.frames[t - k]) if t - k >= lo else ref for k in range(self.motion_frames, 0, -1)]
        item = dict(target=self._img(v.frames[t]), reference=ref, audio=v.audio[t], expression=v.expression[t],
                    pose=v.pose[t], emotion=v.emotion[t])
        if motion:
            item["motion"] = np.concatenate(motion, 0)
        if v.guidance is not None:
            item["guidance"] = self._img(v.guidance[t])
        return item
