"""EmoDiffHeadPipeline: frames of a talking head from a reference image and per-frame conditions.

Components (saved by ``save_pretrained`` in diffusers' layout, loaded by ``from_pretrained``):
``denoiser`` (:class:`EmoDenoiser`), ``scheduler`` (DDIM or DPM-Solver++ from diffusers, made with
``from_config`` from the training scheduler's config) and, for latent configs, ``vae`` (an ``AutoencoderKL``
the user supplies from a local path; none is downloaded).

Long clips are rendered in overlapping windows of ``window`` frames. Every window starts from the reference
(its first motion frame is the reference), so identity cannot drift across the clip; inside a window each frame
is conditioned on the previous generated frame(s) (motion frames); frames shared by two windows are cross-faded.
All windows advance in lock-step, so frame j of every window is denoised in one batch. ``__call__`` reads as
diffusers' pipelines do: ``check_inputs``, ``encode_conditions``, then per frame ``prepare_latents`` ->
``denoise`` -> ``blend_windows``, then ``decode_frames``.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler
from diffusers.utils import BaseOutput

from ..errors import CancelledError
from ..progress import CancelFn, ProgressFn, report
from .models import EmoDenoiser

__all__ = ["EmoDiffHeadPipeline", "EmoDiffHeadOutput", "SCHEDULERS", "make_scheduler", "window_starts",
           "window_weights", "blend_windows"]

#: Inference schedulers by the name configs use (``inference.scheduler``).
SCHEDULERS = {"ddim": DDIMScheduler, "dpmsolver++": DPMSolverMultistepScheduler,
              "dpmsolver": DPMSolverMultistepScheduler}

#: A step callback: (pipe, step, timestep, {"latents": (B, C, s, s)}) -> replacement tensors or None.
StepCallback = Callable[["EmoDiffHeadPipeline", int, Any, dict], "dict | None"]


@dataclass
class EmoDiffHeadOutput(BaseOutput):
    """frames: (T, H, W, 3) uint8 (output_type "np") or (T, 3, H, W) float in [-1, 1] (output_type "pt")."""

    frames: np.ndarray | torch.Tensor


def make_scheduler(kind: str, config: dict[str, Any]):
    """The inference scheduler ``kind`` (``"ddim"`` or ``"dpmsolver++"``) through diffusers' ``from_config``;
    ``config``: a scheduler config (a config's ``scheduler`` section or another scheduler's ``.config``)."""
    if kind not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {kind!r}: use 'ddim' or 'dpmsolver++'")
    extra = {"algorithm_type": "dpmsolver++"} if SCHEDULERS[kind] is DPMSolverMultistepScheduler else {}
    return SCHEDULERS[kind].from_config(config, **extra)


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


def blend_windows(out: torch.Tensor, frames: torch.Tensor, starts: list[int], j: int, weights: np.ndarray) -> None:
    """Add frame ``j`` of every window, ``frames`` (len(starts), C, s, s), into ``out`` (T, C, s, s) float32 with its
    cross-fade weight from :func:`window_weights` (the weights of each frame sum to 1)."""
    for k, st in enumerate(starts):
        out[st + j] += float(weights[k, j]) * frames[k].float()


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

    def __init__(self, denoiser: EmoDenoiser, scheduler, vae=None, num_inference_steps: int = 8,
                 guidance_scale: float = 1.0, window: int = 16, overlap: int = 4) -> None:
        super().__init__()
        self.register_modules(denoiser=denoiser, scheduler=scheduler, vae=vae)
        # the defaults of __call__, saved in model_index.json (the trainer sets its config's inference settings)
        self.register_to_config(num_inference_steps=int(num_inference_steps), guidance_scale=float(guidance_scale),
                                window=int(window), overlap=int(overlap))
        self._interrupt = False
        self._guidance_scale = 1.0

    # ---- properties ------------------------------------------------------------------------------
    @property
    def interrupt(self) -> bool:
        """Set ``pipe._interrupt = True`` (e.g. in ``callback_on_step_end``) to stop at the next step."""
        return self._interrupt

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        """Classifier-free guidance on audio + emotion is on when ``guidance_scale > 1`` (two passes per step)."""
        return self._guidance_scale > 1.0

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

    # ---- the steps of __call__ -------------------------------------------------------------------
    def check_inputs(self, audio: np.ndarray, expression: np.ndarray, pose: np.ndarray, emotion: np.ndarray,
                     guidance: np.ndarray | None) -> None:
        """ValueError unless every per-frame input has the audio's T frames (guidance too, when the model uses it)."""
        T = int(audio.shape[0])
        for name, arr in (("expression", expression), ("pose", pose), ("emotion", emotion)):
            if arr.shape[0] != T:
                raise ValueError(f"{name} has {arr.shape[0]} frames, audio has {T}")
        if self.denoiser.config.guidance_channels and (guidance is None or guidance.shape[0] != T):
            raise ValueError("this model needs one guidance image per frame")

    def encode_conditions(self, reference: np.ndarray, guidance: np.ndarray | None, audio: np.ndarray,
                          expression: np.ndarray, pose: np.ndarray, emotion: np.ndarray) -> dict[str, Any]:
        """Everything the denoiser is conditioned on, in model space: ``reference`` (1, C, s, s), ``guidance``
        (T, C, s, s) or None, ``audio`` / ``expression`` / ``pose`` / ``emotion`` (T, ...) tensors and
        ``reference_features`` (the ReferenceNet's, repeated for classifier-free guidance) or None."""
        dev, dt = self._execution_device, self.denoiser.dtype
        cfg = self.denoiser.config
        as_t = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=dev).to(dt)  # noqa: E731
        ref = self._encode(np.asarray(reference)[None])
        feats = self.denoiser.encode_reference(ref) if cfg.reference_mode == "referencenet" else None
        if feats is not None and self.do_classifier_free_guidance:
            feats = {k: v.repeat(2, 1, 1) for k, v in feats.items()}
        return dict(reference=ref, guidance=self._encode(guidance) if cfg.guidance_channels else None,
                    audio=as_t(audio), expression=as_t(expression), pose=as_t(pose), emotion=as_t(emotion),
                    reference_features=feats)

    def frame_conditions(self, cond: dict[str, Any], idx: torch.Tensor, motion: torch.Tensor) -> dict[str, Any]:
        """The denoiser's keyword arguments for frames ``idx`` (one per window), doubled (conditional, then
        audio and emotion dropped) under classifier-free guidance. motion: (B, C * m, s, s) previous frames."""
        B = len(idx)
        out = dict(reference=cond["reference"].expand(B, -1, -1, -1), audio=cond["audio"][idx],
                   expression=cond["expression"][idx], pose=cond["pose"][idx], emotion=cond["emotion"][idx],
                   guidance=None if cond["guidance"] is None else cond["guidance"][idx],
                   motion=motion if self.denoiser.config.motion_frames else None)
        if self.do_classifier_free_guidance:
            dev = self._execution_device
            out = {k: (None if v is None else torch.cat([v, v])) for k, v in out.items()}
            keep = torch.cat([torch.ones(B, device=dev), torch.zeros(B, device=dev)])
            out.update(audio_keep=keep, emotion_keep=keep)
        return out | {"reference_features": cond["reference_features"]}

    def prepare_latents(self, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
        """Initial noise (B, C, s, s) drawn on the generator's device (CPU without one), scaled by the scheduler's
        ``init_noise_sigma`` (call after ``set_timesteps``)."""
        cfg = self.denoiser.config
        shape = (batch_size, cfg.image_channels, cfg.sample_size, cfg.sample_size)
        x = torch.randn(shape, generator=generator, device="cpu" if generator is None else generator.device,
                        dtype=torch.float32).to(self._execution_device, self.denoiser.dtype)
        return x * self.scheduler.init_noise_sigma

    def prepare_extra_step_kwargs(self, generator: torch.Generator | None) -> dict[str, Any]:
        """``generator`` for schedulers whose ``step`` takes one."""
        return {"generator": generator} if "generator" in inspect.signature(self.scheduler.step).parameters else {}

    def denoise(self, latents: torch.Tensor, cond: dict[str, Any], *, generator: torch.Generator | None,
                first_step: int, callback_on_step_end: StepCallback | None, tensor_inputs: list[str] | None,
                on_step: Callable[[int], None], cancel: CancelFn | None) -> torch.Tensor:
        """Run the scheduler's timesteps on ``latents`` (B, C, s, s) with the conditions ``cond`` (from
        :meth:`frame_conditions`); ``first_step`` numbers the steps for the callback, ``on_step(i)`` follows
        each step."""
        extra = self.prepare_extra_step_kwargs(generator)
        dev = self._execution_device
        for i, t in enumerate(self.scheduler.timesteps):
            if self.interrupt or (cancel is not None and cancel()):
                raise CancelledError("diffusion rendering cancelled")
            xin = self.scheduler.scale_model_input(latents, t)
            xin = torch.cat([xin, xin]) if self.do_classifier_free_guidance else xin
            pred = self.denoiser(xin, t.to(dev).expand(xin.shape[0]), **cond).sample
            if self.do_classifier_free_guidance:
                pc, pu = pred.chunk(2)
                pred = pu + self.guidance_scale * (pc - pu)
            latents = self.scheduler.step(pred, t, latents, **extra).prev_sample
            if callback_on_step_end is not None:
                names = tensor_inputs or self._callback_tensor_inputs
                res = callback_on_step_end(self, first_step + i, t, {k: latents for k in names if k == "latents"})
                latents = res.get("latents", latents) if res else latents
            on_step(i)
        return latents

    def shift_motion(self, motion: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Motion frames (B, C * m, s, s) with the newest generated ``frames`` (B, C, s, s) shifted in."""
        m, C = self.denoiser.config.motion_frames, self.denoiser.config.image_channels
        return torch.cat([motion[:, C:], frames], dim=1) if m > 1 else frames

    def decode_frames(self, latents: torch.Tensor, output_type: str) -> np.ndarray | torch.Tensor:
        """Model space (T, C, s, s) -> (T, H, W, 3) uint8 ("np") or (T, 3, H, W) in [-1, 1] ("pt"), 16 at a time."""
        images = torch.cat([self._decode(latents[a:a + 16]) for a in range(0, len(latents), 16)])
        if output_type == "pt":
            return images
        return ((images.float().permute(0, 2, 3, 1).cpu().numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)

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
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        window: int | None = None,
        overlap: int | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        callback_on_step_end: StepCallback | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> EmoDiffHeadOutput:
        """Render T frames.

        reference: (H, W, 3) uint8 identity image (face crop). guidance: (T, H, W, 3) uint8 or None.
        audio: (T, W, M) float32 log-mel windows. expression: (T, E); pose: (T, P); emotion: (T, K) intensities.
        guidance_scale: classifier-free guidance on audio + emotion (1.0 = off, one pass per step).
        window / overlap: frames per window and frames shared by neighbouring windows.
        num_inference_steps, guidance_scale, window, overlap: None takes the pipeline's saved default
        (``self.config``).
        callback_on_step_end(pipe, step, timestep, {"latents": x}) runs after every denoising step (diffusers
        convention; ``latents`` is the only tensor input); setting ``pipe._interrupt = True`` there, or
        ``cancel()`` returning True, raises :class:`CancelledError` before the next step.
        progress(fraction, message) reports the whole job; ``self.progress_bar`` shows it (diffusers' tqdm).
        """
        c = self.config
        num_inference_steps = int(c.num_inference_steps if num_inference_steps is None else num_inference_steps)
        window, overlap = (c.window if window is None else window), (c.overlap if overlap is None else overlap)
        self._interrupt = False
        self._guidance_scale = float(c.guidance_scale if guidance_scale is None else guidance_scale)
        self.check_inputs(audio, expression, pose, emotion, guidance)
        cond = self.encode_conditions(reference, guidance, audio, expression, pose, emotion)
        T, dev = int(audio.shape[0]), self._execution_device
        starts = window_starts(T, window, overlap)
        win = min(window, T)
        weights = window_weights(T, starts, win)
        motion = cond["reference"].repeat(len(starts), max(self.denoiser.config.motion_frames, 1), 1, 1)
        out = torch.zeros((T, *cond["reference"].shape[1:]), device=dev, dtype=torch.float32)
        with self.progress_bar(total=win * num_inference_steps) as bar:

            def on_step(j: int, i: int) -> None:
                bar.update()
                report(progress, (j * num_inference_steps + i + 1) / (win * num_inference_steps),
                       f"frame {j + 1}/{win}, step {i + 1}/{num_inference_steps}")

            for j in range(win):
                self.scheduler.set_timesteps(num_inference_steps, device=dev)
                latents = self.prepare_latents(len(starts), generator)
                idx = torch.tensor([st + j for st in starts], device=dev)
                latents = self.denoise(latents, self.frame_conditions(cond, idx, motion), generator=generator,
                                       first_step=j * num_inference_steps, callback_on_step_end=callback_on_step_end,
                                       tensor_inputs=callback_on_step_end_tensor_inputs,
                                       on_step=functools.partial(on_step, j), cancel=cancel)
                if self.denoiser.config.motion_frames:
                    motion = self.shift_motion(motion, latents)
                blend_windows(out, latents, starts, j, weights)
        if cancel is not None and cancel():
            raise CancelledError("diffusion rendering cancelled")
        return EmoDiffHeadOutput(frames=self.decode_frames(out.to(self.denoiser.dtype), output_type))
