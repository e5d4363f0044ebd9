"""Command-line arguments of diffusion training, beside the training script and free of torch, so both
``emodiffhead train`` (:mod:`emodiffhead.commands.train`) and ``accelerate launch -m emodiffhead.diffusion.train``
take them from here."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``emodiffhead train`` and ``python -m emodiffhead.diffusion.train``."""
    p.add_argument("dataset", help="a dataset written by `emodiffhead prepare`")
    p.add_argument("--config", default=None,
                   help="tiny, small, base, refine-mouth-128, refine-face-256 or a config JSON file (default: tiny, "
                        "or refine-mouth-128 for a refiner dataset)")
    p.add_argument("-o", "--output", required=True, help="weights folder (diffusers save_pretrained layout)")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes")
    p.add_argument("--cpu-minutes", type=float, default=None,
                   help="refiner: stop after this many minutes of process CPU time (honest on a shared machine)")
    p.add_argument("--threads", type=int, default=None, help="refiner: torch threads (default from the config)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output folder")
    p.add_argument("--batch-size", type=int, default=None, help="per-process batch size (default from the config)")
    p.add_argument("--vae", default=None, help="local AutoencoderKL folder (latent configs such as base)")
    p.add_argument("--validate-every", type=int, default=None,
                   help="steps between validation renders (0: none; default from the config)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--seed", type=int, default=0)
