"""The "refiner" renderer (registered in :mod:`emodiffhead.render.registry`): the warp renderer's frame,
refined in the mouth (or face) region by a personal diffusion model.

Per frame: the warp renderer poses the head (its public ``drive`` / ``render_landmarks`` API), the region box
follows the moved landmarks, the model predicts a residual over the warp crop (SDEdit-style start from the warp
frame, see :mod:`.refiner`), and the residual is added to the full-resolution warp frame under a soft mask that
follows the lips (or the face oval). Outside the mask the frame is the warp frame, bit for bit.

Identity guard: the weights record the face they learned; ``prepare`` compares the photo's face with it and
warns when it looks like another face and refuses a clearly different one
(:class:`~.identity.IdentityMismatchError`, saying what differs) unless ``force_identity=True``, which renders
with the warning instead.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import NotAvailableError, TrackError
from ..progress import CancelFn, ProgressFn, check_cancel, report

WEIGHTS_ENV = "EMODIFFHEAD_REFINER_WEIGHTS"
HOW_TO_TRAIN = (
    "the refiner needs a personal model: `emodiffhead prepare CLIP.mp4 -o DATASET --kind refiner` then "
    "`emodiffhead train DATASET --config refine-mouth-128 -o WEIGHTS --minutes 30`, and pass --weights WEIGHTS "
    f"(or set {WEIGHTS_ENV}=WEIGHTS for the server and the Blender add-on); see docs/diffusion.md")


def _missing_packages() -> list[str]:
    return [m for m in ("torch", "diffusers") if importlib.util.find_spec(m) is None]


class RefinerRenderer:
    """Warp + personal diffusion refiner. Options: ``weights`` (folder; default ``$EMODIFFHEAD_REFINER_WEIGHTS``),
    ``strength`` (0..1 partial-noise start; 0 = the warp frame), ``steps`` (denoising steps), ``seed``,
    ``force_identity`` (render another person's photo anyway, with a warning), ``batch`` (frames per model call),
    ``threads`` (torch threads; default: torch's)."""

    name = "refiner"

    def __init__(self, weights: str | Path | None = None, strength: float | None = None, steps: int | None = None,
                 seed: int = 0, force_identity: bool = False, batch: int | None = None,
                 threads: int | None = None) -> None:
        missing = _missing_packages()
        if missing:
            raise NotAvailableError(f"the refiner needs {', '.join(missing)} (pip install emodiffhead)")
        weights = weights or os.environ.get(WEIGHTS_ENV) or None
        if not weights:
            raise NotAvailableError(HOW_TO_TRAIN)
        from .refiner import load_refiner, weights_files_ok

        why = weights_files_ok(Path(weights))
        if why:
            raise NotAvailableError(f"{why}; {HOW_TO_TRAIN}")
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        self.refiner = load_refiner(weights)
        self.weights = Path(weights)
        if strength is not None and not 0.0 <= float(strength) <= 1.0:
            raise NotAvailableError(f"refiner strength must be in 0..1, got {strength}")
        self.strength, self.steps, self.seed = strength, steps, int(seed)
        self.force_identity = bool(force_identity)
        self.batch = int(batch or self.refiner.config["inference"].get("batch", 8))
        self.warp = None
        self.identity = None

    # Same shape as DiffusionRenderer.available (the registry's protocol: packages first, then weights); kept: two
    # renderers with different packages and weights rules, a shared helper would be longer than the lines.
    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Usable without options when ``$EMODIFFHEAD_REFINER_WEIGHTS`` names a weights folder."""
        missing = _missing_packages()
        if missing:
            return False, f"needs {', '.join(missing)}"
        env = os.environ.get(WEIGHTS_ENV)
        if env:
            from .refiner import weights_files_ok

            why = weights_files_ok(Path(env))
            return (False, f"{WEIGHTS_ENV}: {why}") if why else (True, f"personal refiner from {env}")
        return False, ("needs a personal refiner: train one with `emodiffhead train DATASET --config refine-mouth-128 "
                       f"-o WEIGHTS` and pass --weights WEIGHTS (or set {WEIGHTS_ENV})")

    def prepare(self, photo: np.ndarray, head, *, size: int = 512, fit=None, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None):
        """Fit the photo (the warp renderer) and check it is the face the refiner learned."""
        from ..render.warp_renderer import WarpRenderer
        from .identity import IdentityMismatchError, check_identity, fit_signature

        self.warp = WarpRenderer()
        fit = self.warp.prepare(photo, head, size=size, fit=fit, progress=progress, cancel=cancel)
        sig = self.refiner.signature
        if isinstance(sig, dict):
            sig = [sig]
        if not sig or any("thumb" not in x for x in sig):
            note = "the refiner weights record no face signature: identity not checked"
            fit.warnings.append(note)
        else:
            v = check_identity(sig, fit_signature(self.warp.photo, fit))
            self.identity = v
            if not v.same:
                msg = (f"this photo does not look like the person the refiner in {self.weights} learned "
                       f"({v.reason})")
                if v.refuse and not self.force_identity:
                    raise IdentityMismatchError(f"{msg}; a personal model on another face gives a mix of both "
                                                "faces. Train one on this person, or pass force_identity=True "
                                                "(--force-identity) to render anyway")
                fit.warnings.append(f"{msg}; the result may mix both faces"
                                    + ("; rendering anyway (force_identity)" if v.refuse else ""))
        return fit

    @property
    def output_size(self) -> tuple[int, int]:
        return self.warp.output_size

    def frames(self, track, *, audio=None, progress: ProgressFn | None = None,
               cancel: CancelFn | None = None) -> Iterator[np.ndarray]:
        """Yield the T frames (H, W, 3) uint8 of ``track``."""
        import torch

        from . import audio_features as af
        from . import refiner_region as rr
        from .data import pose_vector

        if self.warp is None:
            raise RuntimeError("call prepare() first")
        cfg = self.refiner.model.config
        if track.expression.shape[1] != cfg.expression_dim:
            raise TrackError(f"the track has {track.expression.shape[1]} expression components but the refiner "
                             f"was trained with {cfg.expression_dim} (another head model?)")
        T = track.num_frames
        samples = np.zeros(0, np.float32) if audio is None else np.asarray(getattr(audio, "samples", audio), np.float32)
        aud = af.frame_windows(samples, track.fps, T, window=cfg.audio_window, n_mels=cfg.audio_mels)
        pose = pose_vector(track.pose, track.translation)
        gen = torch.Generator().manual_seed(self.seed)
        size, region = self.refiner.size, self.refiner.region
        H, W = self.output_size
        done = 0
        for s in range(0, T, self.batch):
            e = min(T, s + self.batch)
            check_cancel(cancel)
            part = track.slice(s, e)
            d, sh = self.warp.drive(part), self.warp.shading_weights(part)
            frames = [self.warp.render_frame(d, k, sh) for k in range(e - s)]
            boxes = rr.region_boxes(d.landmarks, region)
            crops = np.stack([rr.crop(f, b, size) for f, b in zip(frames, boxes)])
            res = self.refiner.refine(crops, aud[s:e], track.expression[s:e], pose[s:e], track.emotion[s:e],
                                      strength=self.strength, steps=self.steps, generator=gen, cancel=cancel)
            for k in range(e - s):
                rect = rr.box_bounds(boxes[k], (H, W))
                mask = rr.region_mask(d.landmarks[k], d.rigid[k], boxes[k], rect, region)
                yield rr.blend_residual(frames[k], res[k], boxes[k], mask, rect)
                done += 1
                report(progress, done / T, f"frame {done}/{T}")
