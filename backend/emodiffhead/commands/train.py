"""``emodiffhead train DATASET_DIR --config tiny -o WEIGHTS_DIR``: train the diffusion renderer (accelerate)."""

from __future__ import annotations

import argparse
import json

NAME = "train"
HELP = "train the diffusion renderer on a prepared dataset (CPU or GPU; multi-GPU via `accelerate launch`)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``emodiffhead train`` (also used by ``accelerate launch -m emodiffhead.diffusion.train``)."""
    p.add_argument("dataset", help="a dataset written by `emodiffhead prepare`")
    p.add_argument("--config", default="tiny", help="tiny, small, base or a config JSON file (default tiny)")
    p.add_argument("-o", "--output", required=True, help="weights folder (diffusers save_pretrained layout)")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes")
    p.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output folder")
    p.add_argument("--batch-size", type=int, default=None, help="per-process batch size (default from the config)")
    p.add_argument("--vae", default=None, help="local AutoencoderKL folder (latent configs such as base)")
    p.add_argument("--validate-every", type=int, default=None,
                   help="steps between validation renders (0: none; default from the config)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from ..diffusion.train import run_args

    res = run_args(args)
    print(json.dumps({"steps": res.steps, "last_loss": round(res.last_loss, 5), "weights": str(res.weights_dir),
                      "validation": res.validation}))
    return 0
