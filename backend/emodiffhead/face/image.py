"""Reading photos and video frames as RGB uint8 arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError

#: Photos larger than this on the long side are scaled down on load (pixels).
MAX_PHOTO_SIDE = 4096
#: Transparent photos (PNG, WebP, TIFF with alpha) are composited on this background (RGB): a video has no
#: alpha, and the pixels under a transparent area are often garbage.
ALPHA_BACKGROUND = (255, 255, 255)
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}
#: Rec. 601 luma weights of R, G, B (``rgb @ LUMA``: the luma of RGB pixels, same units).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def load_photo(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (JPEG, PNG, ...; EXIF orientation applied; transparency composited on
    ALPHA_BACKGROUND) -> (H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"photo not found: {path}")
    if not path.is_file():
        raise InputFileError(f"photo path is not a file: {path}")
    return decode_photo(np.fromfile(str(path), dtype=np.uint8), path.name)


def decode_photo(data: bytes | np.ndarray, name: str = "photo") -> np.ndarray:
    """Decode an image file's bytes exactly as :func:`load_photo` reads the file (EXIF orientation, alpha
    composited on ALPHA_BACKGROUND, at most MAX_PHOTO_SIDE px) -> (H, W, 3) uint8 RGB. ``name`` is used in
    the error when the bytes are not an image."""
    import cv2

    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InputFileError(f"{name}: not an image OpenCV can read (JPEG, PNG, BMP, WebP, TIFF)")
    img = _composite_alpha(data, img)
    h, w = img.shape[:2]
    if max(h, w) > MAX_PHOTO_SIDE:
        s = MAX_PHOTO_SIDE / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img[:, :, ::-1])


def _composite_alpha(data: np.ndarray, bgr: np.ndarray) -> np.ndarray:
    """``bgr`` (as OpenCV decoded it, alpha dropped) with the file's alpha channel, if any, composited on
    ALPHA_BACKGROUND. data: the file's bytes."""
    import cv2

    if bytes(data[:4]) not in (b"\x89PNG", b"RIFF", b"II*\x00", b"MM\x00*"):  # formats that can hold alpha
        return bgr
    full = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if full is None or full.ndim != 3 or full.shape[2] not in (2, 4) or full.shape[:2] != bgr.shape[:2]:
        return bgr  # no alpha channel (grey + alpha has 2 channels, colour + alpha 4)
    scale = 65535.0 if full.dtype == np.uint16 else 1.0 if full.dtype.kind == "f" else 255.0
    a = full[:, :, -1:].astype(np.float32) / scale
    if a.min() >= 1.0:
        return bgr
    bg = np.array(ALPHA_BACKGROUND[::-1], np.float32)  # BGR
    out = bgr.astype(np.float32) * a + bg * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Check and normalise an image array: (H, W, 3) uint8 RGB (greyscale (H, W) is expanded)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputFileError(f"image must be (H, W, 3) RGB, got shape {a.shape}")
    if a.shape[2] == 4 and a.dtype == np.uint8:  # RGBA: composited like a transparent photo file
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        if alpha.min() < 1.0:
            rgb = a[:, :, :3].astype(np.float32) * alpha + np.array(ALPHA_BACKGROUND, np.float32) * (1 - alpha)
            a = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.dtype.kind == "f" and a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def is_video(path: str | os.PathLike) -> bool:
    """True when ``path`` names a video file by its suffix."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES
