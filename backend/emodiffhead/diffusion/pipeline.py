"""EmoDiffHeadPipeline: frames of a talking head from a reference image and per-frame conditions.

Components (saved by ``save_pretrained`` in diffusers' layout, loaded by ``from_pretrained``):
``denoiser`` (:class:`EmoDenoiser`), ``scheduler`` (DDIM or DPM-Solver++ from diffusers) and, for latent
configs, ``vae`` (an ``AutoencoderKL`` the user supplies from a local path; none is downloaded).

Long clips are rendered in overlapping windows of ``window`` frames. Every window starts from the reference
(its first motion frame is the reference), so identity cannot drift across the clip; inside a window each frame
is conditioned on the previous generated frame(s) (motion frames); frames shared by two windows are cross-faded.
All windows advance in lock-step, so frame j of every window is denoised in one batch.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler

from ..errors import CancelledError
from ..progress import CancelFn, ProgressFn, report
from .models import EmoDenoiser

__all__ = ["EmoDiffHeadPipeline", "EmoDiffHeadOutput", "make_scheduler", "window_starts", "window_weights"]


@dataclass
class EmoDiffHeadOutput:
    """frames: (T, H, W, 3) uint8 (output_type "np") or (T, 3, H, W) float in [-1, 1] (output_type "pt")."""

    frames: np.ndarray | torch.Tensor


def make_scheduler(kind: str, config: dict[str, Any]):
    """A diffusers scheduler: ``kind`` is ``"ddim"`` or ``"dpmsolver++"``; ``config`` its keyword arguments."""
    cfg = dict(config)
    if kind == "ddim":
        return DDIMScheduler(**cfg)
    if kind in ("dpmsolver++", "dpmsolver"):
        cfg.pop("clip_sample", None)
        return DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", **cfg)
    raise ValueError(f"unknown scheduler {kind!r}: use 'ddim' or 'dpmsolver++'")


def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    """First frame of each window so that windows of ``window`` frames cover all frames, neighbours sharing at
    least ``overlap`` frames; the starts are spread evenly, so the last window is no special case (it used to be
    pushed back onto its neighbour, overlapping it almost entirely)."""
    window = max(1, int(window))
    overlap = min(max(0, int(overlap)), window - 1)
    if num_frames <= window:
        return [0]
    n = int(np.ceil((num_frames - overlap) / (window - overlap)))
    n = max(n, 2)
    return sorted({int(round(v)) for v in np.linspace(0, num_frames - window, n)})


def window_weights(num_frames: int, starts: list[int], window: int) -> np.ndarray:
    """Cross-fade weights (len(starts), window) float64 of every window's frames: linear ramps over the frames
    each window actually shares with its neighbours, normalised so that the weights of every frame are
    positive and sum to 1 (``window`` = frames per window, at most ``num_frames``)."""
    n = len(starts)
    w = np.ones((n, window), np.float64)
    j = np.arange(window)
    for k, st in enumerate(starts):
        if k > 0:  # ramp in over the overlap with the previous window
            shared = starts[k - 1] + window - st
            if shared > 0:
                w[k] = np.minimum(w[k], np.where(j < shared, (j + 1) / (shared + 1), 1.0))
        if k < n - 1:  # ramp out over the overlap with the next window
            nxt = starts[k + 1]
            shared = st + window - nxt
            if shared > 0:
                w[k] = np.minimum(w[k], np.where(st + j >= nxt, 1.0 - (st + j - nxt + 1) / (shared + 1), 1.0))
    total = np.zeros(num_frames)
    for k, st in enumerate(starts):
        total[st:st + window] += w[k]
    for k, st in enumerate(starts):
        w[k] /= total[st:st + window]
    return w


def _images_to_tensor(images: np.ndarray, size: int, device, dtype) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) in [-1, 1]."""
    x = torch.as_tensor(np.array(images, copy=True)).to(device=device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear")
    return x.to(dtype)


class EmoDiffHeadPipeline(DiffusionPipeline):
    """Reference image + guidance images + audio features + expression + emotion -> video frames."""

    model_cpu_offload_seq = "denoiser->vae"
    _optional_components = ["vae"]
    _callback_tensor_inputs = ["latents"]

    def __init__(self, denoiser: EmoDenoiser, scheduler, vae=None) -> None:
        super().__init__()
        self.register_modules(denoiser=denoiser, scheduler=scheduler, vae=vae)
        self._interrupt = False

    # ---- properties ------------------------------------------------------------------------------
    @property
    def interrupt(self) -> bool:
        """Set ``pipe._interrupt = True`` (e.g. in ``callback_on_step_end``) to stop at the next step."""
        return self._interrupt

    @property
    def resolution(self) -> int:
        """Output frame size in pixels."""
        s = self.denoiser.config.sample_size
        return s * (2 ** (len(self.vae.config.block_out_channels) - 1)) if self.vae is not None else s

    # ---- image <-> model space --------------------------------------------------------------------
    def _encode(self, images: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) uint8 -> model space (N, C, s, s)."""
        dev, dt = self._execution_device, self.denoiser.dtype
        x = _images_to_tensor(images, self.resolution, dev, dt)
        if self.vae is None:
            return x
        lat = self.vae.encode(x.to(self.vae.dtype)).latent_dist.mode()
        return (lat * self.vae.config.scaling_factor).to(dt)

    def _decode(self, x: torch.Tensor) -> torch.Tensor:
        """Model space (N, C, s, s) -> images (N, 3, H, W) in [-1, 1]."""
        if self.vae is None:
            return x.clamp(-1, 1)
        return self.vae.decode(x.to(self.vae.dtype) / self.vae.config.scaling_factor).sample.clamp(-1, 1)

    # ---- main -------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        reference: np.ndarray,
        audio: np.ndarray,
        expression: np.ndarray,
        pose: np.ndarray,
        emotion: np.ndarray,
        guidance: np.ndarray | None = None,
        num_inference_steps: int = 8,
        guidance_scale: float = 1.0,
        window: int = 16,
        overlap: int = 4,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        callback_on_step_end: Callable[["EmoDiffHeadPipeline", int, Any, dict], dict | None] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> EmoDiffHeadOutput:
        """Render T frames.

        reference: (H, W, 3) uint8 identity image (face crop). guidance: (T, H, W, 3) uint8 or None.
        audio: (T, W, M) float32 log-mel windows. expression: (T, E); pose: (T, P); emotion: (T, K) intensities.
        guidance_scale: classifier-free guidance on audio + emotion (1.0 = off, one pass per step).
        window / overlap: frames per window and frames shared by neighbouring windows.
        callback_on_step_end(pipe, step, timestep, {"latents": x}) runs after every denoising step (diffusers
        convention); setting ``pipe._interrupt = True`` there, or ``cancel()`` returning True, raises
        :class:`CancelledError` before the next step. progress(fraction, message) reports the whole job.
        """
        self._interrupt = False
        dev, dt = self._execution_device, self.denoiser.dtype
        cfg = self.denoiser.config
        T = int(audio.shape[0])
        for name, arr in (("expression", expression), ("pose", pose), ("emotion", emotion)):
            if arr.shape[0] != T:
                raise ValueError(f"{name} has {arr.shape[0]} frames, audio has {T}")
        if cfg.guidance_channels and (guidance is None or guidance.shape[0] != T):
            raise ValueError("this model needs one guidance image per frame")
        t_ = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=dev).to(dt)  # noqa: E731
        audio_t, expr_t, pose_t, emo_t = t_(audio), t_(expression), t_(pose), t_(emotion)
        ref = self._encode(np.asarray(reference)[None])  # (1, C, s, s)
        guid = self._encode(guidance) if cfg.guidance_channels else None
        ref_feats = self.denoiser.encode_reference(ref) if cfg.reference_mode == "referencenet" else None
        if ref_feats is not None and guidance_scale > 1.0:
            ref_feats = {k: v.repeat(2, 1, 1) for k, v in ref_feats.items()}

        starts = window_starts(T, window, overlap)
        win = min(window, T)
        nwin = len(starts)
        C, s = cfg.image_channels, cfg.sample_size
        motion = ref.repeat(nwin, max(cfg.motion_frames, 1), 1, 1)  # (nwin, C * m, s, s)
        out = torch.zeros(T, C, s, s, device=dev, dtype=torch.float32)
        wts = window_weights(T, starts, win)
        total = win * num_inference_steps
        extra = {"generator": generator} if "generator" in inspect.signature(self.scheduler.step).parameters else {}
        done = 0
        for j in range(win):
            idx = torch.tensor([st + j for st in starts], device=dev)
            B = len(starts)
            x = torch.randn((B, C, s, s), generator=generator, device="cpu" if generator is None
                            else generator.device, dtype=torch.float32).to(dev, dt)
            self.scheduler.set_timesteps(num_inference_steps, device=dev)
            x = x * self.scheduler.init_noise_sigma
            cond = dict(reference=ref.expand(B, -1, -1, -1), audio=audio_t[idx], expression=expr_t[idx],
                        pose=pose_t[idx], emotion=emo_t[idx],
                        guidance=None if guid is None else guid[idx],
                        motion=motion if cfg.motion_frames else None)
            if guidance_scale > 1.0:
                cond = {k: (None if v is None else torch.cat([v, v])) for k, v in cond.items()}
                keep = torch.cat([torch.ones(B, device=dev), torch.zeros(B, device=dev)])
                cond.update(audio_keep=keep, emotion_keep=keep)
            for i, t in enumerate(self.scheduler.timesteps):
                if self._interrupt or (cancel is not None and cancel()):
                    raise CancelledError("diffusion rendering cancelled")
                xin = self.scheduler.scale_model_input(x, t)
                if guidance_scale > 1.0:
                    xin = torch.cat([xin, xin])
                tt = t.to(dev).expand(xin.shape[0])
                pred = self.denoiser(xin, tt, reference_features=ref_feats, **cond).sample
                if guidance_scale > 1.0:
                    pc, pu = pred.chunk(2)
                    pred = pu + guidance_scale * (pc - pu)
                x = self.scheduler.step(pred, t, x, **extra).prev_sample
                done += 1
                step_no = j * num_inference_steps + i
                if callback_on_step_end is not None:
                    names = callback_on_step_end_tensor_inputs or ["latents"]
                    res = callback_on_step_end(self, step_no, t, {k: x for k in names if k == "latents"})
                    if res and "latents" in res:
                        x = res["latents"]
                report(progress, done / total, f"frame {j + 1}/{win}, step {i + 1}/{num_inference_steps}")
            # motion frames: shift in the newest frame
            if cfg.motion_frames:
                motion = torch.cat([motion[:, C:], x], dim=1) if cfg.motion_frames > 1 else x
            # accumulate with cross-fade weights over the overlaps (they sum to 1 per frame)
            for k, st in enumerate(starts):
                out[st + j] += float(wts[k, j]) * x[k].float()
        if cancel is not None and cancel():
            raise CancelledError("diffusion rendering cancelled")
        x = out.to(dt)
        images = torch.cat([self._decode(x[a:a + 16]) for a in range(0, T, 16)])
        if output_type == "pt":
            return EmoDiffHeadOutput(frames=images)
        arr = ((images.float().permute(0, 2, 3, 1).cpu().numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
        return EmoDiffHeadOutput(frames=arr)
