"""The refiner: diffusion in residual space over the warp frame (SDEdit-style partial-noise start).

For a region crop the model works on ``x = residual_scale * (real - warp)`` (images in [-1, 1]). Sampling
starts from the warp frame itself, i.e. a zero residual, noised to the level of ``strength`` (0..1 of the
training schedule), and runs ``steps`` deterministic DDIM steps (eta 0) down to t = 0; the refined crop is
``warp + x / residual_scale``. Strength 0 returns the warp frame; small strengths keep more of it.

Weights folder (``emodiffhead train --config refine-mouth-128``)::

    emodiffhead_refiner.json   config actually used + face signature + training summary
    refiner/                   RefinerNet (diffusers save_pretrained: config.json + safetensors; EMA weights)
    checkpoint.pt              model, EMA, optimiser, step, CPU seconds (for --resume)
    train_log.jsonl            one JSON object per logged step; validation/step_N.png (real | warp | refined)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CancelledError, NotAvailableError
from ..progress import CancelFn
from .refiner_model import RefinerNet

REFINER_CONFIG = "emodiffhead_refiner.json"
MODEL_DIR = "refiner"


def alphas_cumprod(sched_cfg: dict[str, Any]) -> torch.Tensor:
    """(num_train_timesteps,) float64 cumulative alphas of the config's beta schedule (diffusers' DDPM)."""
    from diffusers import DDPMScheduler

    kw = {k: v for k, v in sched_cfg.items() if k in ("num_train_timesteps", "beta_schedule", "beta_start",
                                                        "beta_end", "rescale_betas_zero_snr")}
    return DDPMScheduler(**kw).alphas_cumprod.double()


def sdedit_timesteps(strength: float, steps: int, num_train: int) -> list[int]:
    """Descending integer timesteps from ``strength * num_train - 1`` towards 0, evenly spaced, ``steps`` of them
    (at most one per timestep); empty for strength 0."""
    t0 = int(round(float(np.clip(strength, 0.0, 1.0)) * num_train)) - 1
    if t0 < 0:
        return []
    steps = max(1, min(int(steps), t0 + 1))
    return [t0 - (k * (t0 + 1)) // steps for k in range(steps)]


def predict_x0(pred: torch.Tensor, x_t: torch.Tensor, ab: torch.Tensor, kind: str) -> torch.Tensor:
    """x0 from the model output ``pred`` for noisy ``x_t`` at cumulative alpha ``ab`` (broadcastable)."""
    if kind == "sample":
        return pred
    if kind == "epsilon":
        return (x_t - (1 - ab).sqrt() * pred) / ab.sqrt()
    if kind == "v_prediction":
        return ab.sqrt() * x_t - (1 - ab).sqrt() * pred
    raise ValueError(f"unknown prediction_type {kind!r}")


class Refiner:
    """A loaded refiner (model + config). ``refine(...)`` maps warp crops to refined residuals."""

    def __init__(self, model: RefinerNet, config: dict[str, Any]) -> None:
        self.model = model.eval()
        self.config = config
        self.ab = alphas_cumprod(config["scheduler"]).float()
        self.kind = config["scheduler"].get("prediction_type", "sample")
        self.scale = float(config.get("residual_scale", 1.0))

    @property
    def size(self) -> int:
        return int(self.config["resolution"])

    @property
    def region(self) -> str:
        return str(self.config["region"])

    @property
    def signature(self) -> dict[str, Any] | None:
        return self.config.get("signature")

    @torch.no_grad()
    def refine(self, warp: np.ndarray, audio: np.ndarray, expression: np.ndarray, pose: np.ndarray,
               emotion: np.ndarray, *, strength: float | None = None, steps: int | None = None,
               generator: torch.Generator | None = None, cancel: CancelFn | None = None) -> np.ndarray:
        """Residuals (N, S, S, 3) float32 in 0..255 units for warp crops (N, S, S, 3) uint8 (S = ``size``).

        audio (N, W, M), expression (N, E), pose (N, 18), emotion (N, K) float32: the frames' conditions.
        The refined crop is ``warp + residual``.
        """
        inf = self.config["inference"]
        strength = float(inf["strength"] if strength is None else strength)
        steps = int(inf["num_inference_steps"] if steps is None else steps)
        N = len(warp)
        w = torch.as_tensor(np.ascontiguousarray(warp)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        ts = sdedit_timesteps(strength, steps, len(self.ab))
        if not ts or N == 0:
            return np.zeros(warp.shape, np.float32)
        f = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
        cond = dict(warp=w, audio=f(audio), expression=f(expression), pose=f(pose), emotion=f(emotion))
        noise = torch.randn(w.shape, generator=generator)
        x = (1 - self.ab[ts[0]]).sqrt() * noise  # the zero residual (the warp frame) noised to strength
        for i, t in enumerate(ts):
            if cancel is not None and cancel():
                raise CancelledError("refiner rendering cancelled")
            ab = self.ab[t]
            pred = self.model(x, torch.full((N,), t, dtype=torch.long), **cond)
            x0 = predict_x0(pred, x, ab, self.kind).clamp(-2 * self.scale, 2 * self.scale)
            if i + 1 < len(ts):
                ab_prev = self.ab[ts[i + 1]]
                eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
                x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
            else:
                x = x0
        res = (x / self.scale).permute(0, 2, 3, 1).numpy() * 127.5
        return res.astype(np.float32)


def weights_files_ok(path: Path) -> str | None:
    """None when ``path`` is a refiner weights folder, else what is missing."""
    if not path.is_dir():
        return f"refiner weights folder not found: {path}"
    for f in (REFINER_CONFIG, f"{MODEL_DIR}/config.json"):
        if not (path / f).is_file():
            return f"{path} is not a refiner weights folder (no {f})"
    return None


def load_refiner(weights: str | Path) -> Refiner:
    """A :class:`Refiner` from a weights folder written by the trainer (CPU, float32)."""
    p = Path(weights)
    why = weights_files_ok(p)
    if why:
        raise NotAvailableError(why)
    cfg = json.loads((p / REFINER_CONFIG).read_text(encoding="utf-8"))
    model = RefinerNet.from_pretrained(str(p / MODEL_DIR), local_files_only=True)
    return Refiner(model, cfg)


def save_refiner(model: RefinerNet, config: dict[str, Any], out: str | Path) -> None:
    """Write the model (diffusers layout) and the config; the model folder is replaced atomically."""
    import shutil

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (MODEL_DIR + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    old = out / (MODEL_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if (out / MODEL_DIR).exists():
        (out / MODEL_DIR).replace(old)
    tmp.replace(out / MODEL_DIR)
    shutil.rmtree(old, ignore_errors=True)
    cfg_tmp = out / (REFINER_CONFIG + ".tmp")
    cfg_tmp.write_text(json.dumps(config, indent=1, default=_json_default), encoding="utf-8")
    cfg_tmp.replace(out / REFINER_CONFIG)


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, float) and math.isnan(o):
        return None
    raise TypeError(type(o).__name__)
