"""A tiny synthetic prepared dataset: a disc whose position and size follow the track (for training tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emodiffhead.diffusion.data import FORMAT, VERSION, write_manifest
from emodiffhead.emotion import EMOTIONS
from emodiffhead.track import Track, save_track


def disc_frames(expression: np.ndarray, size: int) -> np.ndarray:
    """(T, size, size, 3) uint8: a light disc on a dark gradient, centre x from expression[:, 0], radius from [:, 1]."""
    T = len(expression)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    frames = np.zeros((T, size, size, 3), np.uint8)
    for t in range(T):
        cx = 0.5 + 0.25 * expression[t, 0]
        r = 0.15 + 0.1 * expression[t, 1]
        inside = (xx - cx) ** 2 + (yy - 0.5) ** 2 < r * r
        img = np.stack([40 + 60 * yy, 40 + 40 * xx, np.full_like(xx, 60)], -1)
        img[inside] = (230, 200, 120)
        frames[t] = img.astype(np.uint8)
    return frames


def make_dataset(root: Path, num_frames: int = 24, size: int = 32, expr_dim: int = 4, window: int = 4,
                 mels: int = 8, seed: int = 0, guidance: bool = True) -> Path:
    """Write a one-video dataset (last 20% held out) under ``root``; returns root."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    d = root / "videos" / "synthetic"
    d.mkdir(parents=True, exist_ok=True)
    t = np.arange(num_frames)
    expr = np.zeros((num_frames, expr_dim), np.float32)
    expr[:, 0] = np.sin(t * 0.5)
    expr[:, 1] = np.cos(t * 0.3)
    frames = disc_frames(expr, size)
    np.save(d / "frames.npy", frames)
    if guidance:
        np.save(d / "guidance.npy", frames[:, :, ::-1].copy())
    np.save(d / "audio.npy", rng.normal(size=(num_frames, window, mels)).astype(np.float32))
    track = Track.neutral(num_frames, 25.0, "synthetic", [f"e{i}" for i in range(expr_dim)])
    track.expression = expr
    save_track(track, d / "track.npz")
    split = int(round(num_frames * 0.8))
    (d / "meta.json").write_text(json.dumps({"source": "synthetic", "num_frames": num_frames}))
    write_manifest(root, {"format": FORMAT, "version": VERSION, "crop_size": size, "fps": 25.0,
                          "guidance": "synthetic" if guidance else "none", "emotion_names": list(EMOTIONS),
                          "videos": [{"name": "synthetic", "train": [0, split], "val": [split, num_frames]}],
                          "skipped": []})
    return root
