"""Optional DECA extractor (``extract --extractor deca``), for users who installed ``decalib`` and its weights.

DECA (Feng et al. 2021) regresses FLAME shape, expression (50) and pose (jaw) from a face crop. Its code
and weights have their own licence and are never bundled or downloaded here. DECA's coefficients are
FLAME's, so this extractor needs a FLAME head model (``--model path/to/generic_model.pkl``); the track
gets DECA's expression in the model's first components and DECA's head and jaw rotations.

Without ``decalib`` every call raises :class:`NotAvailableError` saying that DECA is not installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from ..emotion import EMOTIONS
from ..errors import NotAvailableError
from ..head.model import NUM_JOINTS, HeadModel, Joint
from ..progress import CancelFn, ProgressFn, check_cancel, report
from ..track import DEFAULT_FPS, Track

#: DECA's input crop size (pixels) and the scale of its crop around the landmark box.
CROP = 224
CROP_SCALE = 1.25


def deca_available() -> tuple[bool, str]:
    """(ok, reason): whether ``decalib`` can be imported."""
    if importlib.util.find_spec("decalib") is None:
        return False, ("DECA is not installed (pip install the decalib package from "
                       "https://github.com/yfeng95/DECA and download its weights under their licence)")
    return True, "decalib found"


def _load_deca():
    """A DECA model on the CPU, configured from decalib's own default config (weights where the user put them)."""
    import torch  # noqa: F401  decalib is torch code
    from decalib.deca import DECA
    from decalib.utils.config import cfg

    cfg.model.use_tex = False
    cfg.rasterizer_type = getattr(cfg, "rasterizer_type", "pytorch3d")
    try:
        return DECA(config=cfg, device="cpu")
    except (FileNotFoundError, OSError) as e:
        raise NotAvailableError(f"DECA is installed but its weights were not found ({e}); "
                                "put deca_model.tar and FLAME files where decalib's config expects them") from None


def _crop(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(CROP, CROP, 3) float32 0..1 square crop around the landmarks, as DECA's datasets make it."""
    import cv2

    x0, y0 = landmarks[:, :2].min(0)
    x1, y1 = landmarks[:, :2].max(0)
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    s = max(x1 - x0, y1 - y0) * CROP_SCALE
    src = np.float32([[c[0] - s / 2, c[1] - s / 2], [c[0] + s / 2, c[1] - s / 2], [c[0] - s / 2, c[1] + s / 2]])
    dst = np.float32([[0, 0], [CROP - 1, 0], [0, CROP - 1]])
    M = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(frame, M, (CROP, CROP), flags=cv2.INTER_LINEAR).astype(np.float32) / 255.0


def extract_track_deca(path: Path, head: HeadModel, *, fps: float | None = None, progress: ProgressFn | None = None,
                       cancel: CancelFn | None = None) -> Track:
    """Per-frame DECA expression and pose -> Track for a FLAME ``head`` (see module docstring)."""
    ok, reason = deca_available()
    if not ok:
        raise NotAvailableError(reason)
    if not head.name.lower().startswith("flame"):
        raise NotAvailableError("the DECA extractor gives FLAME coefficients; use a FLAME head model "
                                "(--model path/to/generic_model.pkl), or --extractor landmarks for the built-in head")
    import torch

    from ..video import read_video_frames, video_fps
    from .detect import detect_face
    from .smoothing import SMOOTH_EXPRESSION, SMOOTH_POSE, smooth_track_arrays
    from .image import is_video, load_photo

    deca = _load_deca()
    if is_video(path):
        frames = read_video_frames(path)
        rate = video_fps(path)
    else:
        frames = iter([load_photo(path)])
        rate = fps or DEFAULT_FPS
    exps, poses = [], []
    for i, frame in enumerate(frames):
        check_cancel(cancel)
        det = detect_face(frame)
        img = torch.from_numpy(_crop(frame, det.landmarks)).permute(2, 0, 1)[None]
        with torch.no_grad():
            code = deca.encode(img)
        exps.append(code["exp"][0].cpu().numpy())
        poses.append(code["pose"][0].cpu().numpy())  # (6,): global rotation, jaw rotation
        report(progress, min(0.99, 0.01 * (i + 1)), f"DECA frame {i + 1}")
    T = len(exps)
    E = head.num_expression
    expr = np.zeros((T, E), np.float32)
    k = min(E, len(exps[0]))
    expr[:, :k] = np.stack(exps)[:, :k]
    pose = np.zeros((T, NUM_JOINTS, 3), np.float32)
    p = np.stack(poses).astype(np.float32)
    pose[:, Joint.ROOT] = p[:, :3] - p[:1, :3]  # head rotation relative to the first frame
    pose[:, Joint.JAW] = p[:, 3:6]
    if T > 3:
        expr = smooth_track_arrays(expr, rate, SMOOTH_EXPRESSION)
        pose = smooth_track_arrays(pose, rate, SMOOTH_POSE)
    report(progress, 1.0, "done")
    return Track(fps=float(rate), head_model=head.name, expression_names=list(head.expression_names),
                 expression=expr, pose=pose, translation=np.zeros((T, 3), np.float32),
                 emotion_names=list(EMOTIONS), emotion=np.zeros((T, len(EMOTIONS)), np.float32),
                 meta={"generator": "emodiffhead.extract", "extractor": "deca", "source": Path(path).name,
                       "deca_version": os.environ.get("DECA_VERSION", "")}).validate()
