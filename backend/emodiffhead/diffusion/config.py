"""Configs as data: ``configs/{tiny,small,base}.json`` (the full denoiser) and
``configs/refine-{mouth-128,face-256}.json`` (the refiner, ``"kind": "refiner"``).

A config is a plain dict::

    {"name", "description", "latent": bool, "resolution": px, "model": EmoDenoiser kwargs,
     "scheduler": diffusers scheduler kwargs, "train": {...}, "inference": {...}}

It is saved as ``emodiffhead_config.json`` beside the weights by the trainer.
"""

from __future__ import annotations

import copy
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


def merged(cfg: dict[str, Any], **model_overrides: Any) -> dict[str, Any]:
    """A deep copy of ``cfg`` with ``model`` keys replaced by ``model_overrides``."""
    out = copy.deepcopy(cfg)
    out["model"].update(model_overrides)
    return out
