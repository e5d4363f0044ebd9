"""Load trained weights (a ``save_pretrained`` folder written by the trainer) into a ready pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import NotAvailableError
from .config import CONFIG_FILE, inference_settings
from .pipeline import EmoDiffHeadPipeline, make_scheduler


def load_pipeline(weights: str | Path, device: str | None = None, scheduler: str | None = None,
                  vae: str | None = None) -> tuple[EmoDiffHeadPipeline, dict[str, Any]]:
    """(pipeline on ``device`` (default cuda when present), config dict) from a weights folder.

    scheduler: replace the saved scheduler (``ddim`` or ``dpmsolver++``). vae: a local AutoencoderKL folder for
    latent configs when the weights folder has none.
    """
    p = Path(weights)
    cfg = json.loads((p / CONFIG_FILE).read_text(encoding="utf-8"))
    pipe = EmoDiffHeadPipeline.from_pretrained(str(p), local_files_only=True)
    if "num_inference_steps" not in json.loads((p / "model_index.json").read_text(encoding="utf-8")):
        pipe.register_to_config(**inference_settings(cfg))  # saved before model_index.json carried them
    if cfg.get("latent") and pipe.vae is None:
        if not vae:
            raise NotAvailableError(f"{p}: this latent model needs its AutoencoderKL: pass vae=LOCAL_VAE_DIR")
        from diffusers import AutoencoderKL

        pipe.register_modules(vae=AutoencoderKL.from_pretrained(vae, local_files_only=True))
    if scheduler:
        # from the saved scheduler's config; folders saved before it was made with from_config lack the training
        # scheduler's keys that the saved kind does not take (DPM-Solver has no clip_sample): the config has them
        pipe.scheduler = make_scheduler(scheduler, {**cfg.get("scheduler", {}), **pipe.scheduler.config})
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe.to(dev)
    pipe.denoiser.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe, cfg
