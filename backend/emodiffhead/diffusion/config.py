"""Configs as data: ``configs/{tiny,small,base}.json`` (the full denoiser) and
``configs/refine-{mouth-128,face-256}.json`` (the refiner, ``"kind": "refiner"``).

A config is a plain dict::

    {"name", "description", "latent": bool, "resolution": px, "model": EmoDenoiser kwargs,
     "scheduler": diffusers scheduler kwargs, "train": {...}, "inference": {...}}

The trainer saves it as ``emodiffhead_config.json`` beside the weights (the record of the training run, read by
``--resume``); what inference needs travels in the pipeline's own configs (``model_index.json`` carries
:func:`inference_settings`, ``scheduler/`` the scheduler, ``denoiser/`` the model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputFileError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
CONFIG_NAMES = ("tiny", "small", "base", "refine-mouth-128", "refine-face-256")
CONFIG_FILE = "emodiffhead_config.json"


def load_config(spec: str | Path) -> dict[str, Any]:
    """A config by name (``tiny``, ``small``, ``base``) or from a JSON file path."""
    path = CONFIG_DIR / f"{spec}.json" if str(spec) in CONFIG_NAMES else Path(spec)
    if not path.is_file():
        raise InputFileError(f"unknown diffusion config {spec!r}: use one of {', '.join(CONFIG_NAMES)} or a JSON file")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputFileError(f"{path}: not valid JSON ({e})") from None
    for key in ("model", "scheduler", "train", "inference"):
        if key not in cfg:
            raise InputFileError(f"{path}: config has no {key!r} section")
    return cfg


def inference_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's saved inference defaults from a config's ``inference`` section: ``num_inference_steps``,
    ``guidance_scale``, ``window``, ``overlap`` (frames)."""
    inf = cfg["inference"]
    return {"num_inference_steps": int(inf["num_inference_steps"]),
            "guidance_scale": float(inf.get("guidance_scale", 1.0)),
            "window": int(inf.get("window", 16)), "overlap": int(inf.get("overlap", 4))}
