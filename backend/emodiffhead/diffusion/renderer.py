"""The "diffusion" renderer (registered in :mod:`emodiffhead.render.registry`): trained EMOdiffhead weights.

``prepare`` fits the photo (through the warp renderer, which also draws the guidance images) and fixes the
face crop exactly as ``emodiffhead prepare`` does for training videos; ``frames(track, audio=...)`` renders
the face crops with :class:`EmoDiffHeadPipeline` (guidance = the warp frame of the track, audio log-mel
windows, expression, pose, emotion) and pastes them back into the warp frames under a soft mask that follows the
posed face oval (no square edge).

Without weights it raises :class:`NotAvailableError` saying how to train them; it never renders noise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import NotAvailableError, TrackError
from ..progress import CancelFn, ProgressFn, check_cancel, report, scaled

HOW_TO_TRAIN = (
    "the diffusion renderer needs trained weights: pass --weights DIR (renderer option weights=DIR), a folder "
    "written by `emodiffhead train`. To train them: `emodiffhead prepare VIDEOS_DIR -o DATASET_DIR` then "
    "`emodiffhead train DATASET_DIR --config tiny -o WEIGHTS_DIR --minutes 30` (see docs/diffusion.md)")


def _missing_packages() -> list[str]:
    return [m for m in ("torch", "diffusers", "accelerate") if importlib.util.find_spec(m) is None]


def check_weights(weights: str | Path | None) -> Path:
    """The weights folder, or NotAvailableError naming what is missing and how to train weights."""
    if weights is None or str(weights) == "":
        raise NotAvailableError(HOW_TO_TRAIN)
    p = Path(weights)
    if not p.is_dir():
        raise NotAvailableError(f"diffusion weights folder not found: {p}; {HOW_TO_TRAIN}")
    for f in ("model_index.json", "emodiffhead_config.json", "denoiser/config.json"):
        if not (p / f).is_file():
            raise NotAvailableError(f"{p} is not a diffusion weights folder (no {f}); {HOW_TO_TRAIN}")
    return p


class DiffusionRenderer:
    """Renders with trained weights. Options: ``weights`` (folder, required), ``steps`` (denoising steps),
    ``guidance_scale`` (classifier-free guidance on audio + emotion), ``seed``, ``scheduler``
    (``ddim`` / ``dpmsolver++``), ``paste`` (True: paste the face crop into the warp frame; False: output
    the crop, scaled to the output size), ``device`` (default: cuda when present)."""

    name = "diffusion"

    def __init__(self, weights: str | Path | None = None, steps: int | None = None,
                 guidance_scale: float | None = None, seed: int = 0, scheduler: str | None = None,
                 paste: bool = True, device: str | None = None, vae: str | None = None) -> None:
        missing = _missing_packages()
        if missing:
            raise NotAvailableError(f"the diffusion renderer needs {', '.join(missing)} (pip install emodiffhead)")
        self.weights = check_weights(weights)
        from .loading import load_pipeline

        self.pipe, self.config = load_pipeline(self.weights, device=device, scheduler=scheduler, vae=vae)
        inf = self.pipe.config  # the trained model's inference defaults (model_index.json)
        self.steps = int(steps or inf.num_inference_steps)
        self.guidance_scale = float(guidance_scale if guidance_scale is not None else inf.guidance_scale)
        self.window, self.overlap = int(inf.window), int(inf.overlap)
        self.seed, self.paste = int(seed), bool(paste)
        self.warp = None

    @classmethod  # twin of RefinerRenderer.available, kept (see the comment there)
    def available(cls) -> tuple[bool, str]:
        """Not usable without options: it needs a weights folder."""
        missing = _missing_packages()
        if missing:
            return False, f"needs {', '.join(missing)}"
        return False, "needs trained weights: run `emodiffhead train DATASET_DIR -o WEIGHTS_DIR` and pass --weights WEIGHTS_DIR"

    def prepare(self, photo: np.ndarray, head, *, size: int = 512, fit=None, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None):
        """Fit the photo (H, W, 3) uint8 scaled to ``size`` px on its short side; fixes the face crop."""
        from ..render.warp_renderer import WarpRenderer
        from .prepare import apply_crop, crop_box

        self.warp = WarpRenderer()
        fit = self.warp.prepare(photo, head, size=size, fit=fit, progress=progress, cancel=cancel)
        img = self.warp.photo
        if fit.detection is not None:
            box = np.asarray(fit.detection.box, np.float32)
        else:
            from ..face.detect import detect_face

            box = detect_face(img).box
        self.crop = crop_box(box, img.shape[:2])
        self.reference = apply_crop(img, self.crop, 256)
        self.head = head
        return fit

    @property
    def output_size(self) -> tuple[int, int]:
        return self.warp.output_size

    def render_crops(self, track, audio=None, progress: ProgressFn | None = None,
                     cancel: CancelFn | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """(crops (T, s, s, 3) uint8 from the model, warp frames [T x (H, W, 3)] used as guidance)."""
        import torch

        from . import audio_features as af
        from .data import pose_vector
        from .prepare import apply_crop

        if self.warp is None:
            raise RuntimeError("call prepare() first")
        cfg = self.pipe.denoiser.config
        if track.expression.shape[1] != cfg.expression_dim:
            raise TrackError(f"the track has {track.expression.shape[1]} expression components but the diffusion "
                             f"weights were trained with {cfg.expression_dim} (another head model?)")
        T = track.num_frames
        warp_frames = []
        for f in self.warp.frames(track, progress=scaled(progress, 0.0, 0.2), cancel=cancel):
            warp_frames.append(f)
        guid = np.stack([apply_crop(f, self.crop, 256) for f in warp_frames])
        samples = np.zeros(0, np.float32) if audio is None else np.asarray(getattr(audio, "samples", audio), np.float32)
        aud = af.frame_windows(samples, track.fps, T, window=cfg.audio_window, n_mels=cfg.audio_mels)
        check_cancel(cancel)
        out = self.pipe(reference=self.reference, guidance=guid if cfg.guidance_channels else None, audio=aud,
                        expression=track.expression, pose=pose_vector(track.pose, track.translation),
                        emotion=track.emotion, num_inference_steps=self.steps, guidance_scale=self.guidance_scale,
                        window=self.window, overlap=self.overlap,
                        generator=torch.Generator().manual_seed(self.seed),
                        progress=scaled(progress, 0.2, 1.0), cancel=cancel)
        return out.frames, warp_frames

    def frames(self, track, *, audio=None, progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> Iterator[np.ndarray]:
        """Yield the T frames (H, W, 3) uint8 of ``track``."""
        import cv2

        from . import refiner_region as rr

        crops, warp_frames = self.render_crops(track, audio, progress, cancel)
        H, W = self.output_size
        x0, y0, side = self.crop
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
        edge = np.minimum(np.minimum(xx, side - 1 - xx), np.minimum(yy, side - 1 - yy)) / max(side * 0.08, 1.0)
        square = np.clip(edge, 0, 1)
        drive = self.warp.drive(track) if self.paste else None
        for t, crop in enumerate(crops):
            if not self.paste:
                yield cv2.resize(crop, (W, H), interpolation=cv2.INTER_CUBIC)
                continue
            frame = warp_frames[t].copy()
            big = cv2.resize(crop, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
            # the part of the crop inside the frame
            ax0, ay0 = max(0, x0), max(0, y0)
            ax1, ay1 = min(W, x0 + side), min(H, y0 + side)
            if ax1 > ax0 and ay1 > ay0:
                sub = (slice(ay0 - y0, ay1 - y0), slice(ax0 - x0, ax1 - x0))
                region = frame[ay0:ay1, ax0:ax1].astype(np.float32)
                # a soft mask that follows the posed face oval (no square edge), inside the crop
                lm = drive.landmarks[t]
                face = rr.region_mask(lm, None, rr.region_boxes(lm[None], "face")[0], (ax0, ay0, ax1, ay1), "face")
                a = (square[sub] * face)[..., None]
                frame[ay0:ay1, ax0:ax1] = np.clip(a * big[sub] + (1 - a) * region, 0, 255).astype(np.uint8)
            yield frame
            report(progress, 1.0, f"frame {t + 1}/{len(crops)}")
