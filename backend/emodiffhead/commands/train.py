"""``emodiffhead train DATASET_DIR --config tiny -o WEIGHTS_DIR``: train the diffusion renderer (accelerate);
with a refiner dataset and ``--config refine-mouth-128``: train a personal refiner (CPU, resumable)."""

from __future__ import annotations

import argparse
import json

from ..diffusion.train_args import add_arguments  # noqa: F401  (the CLI calls commands.train.add_arguments)

NAME = "train"
HELP = "train the diffusion renderer on a prepared dataset (CPU or GPU; multi-GPU via `accelerate launch`)"


def run(args: argparse.Namespace) -> int:
    from ..diffusion.refiner_data import is_refiner_dataset

    if is_refiner_dataset(args.dataset):
        return run_refiner(args)
    if args.cpu_minutes is not None or args.threads is not None:
        print("note: --cpu-minutes and --threads apply to refiner training only")
    if args.config is None:
        args.config = "tiny"
    from ..diffusion.config import load_config
    from ..errors import InputFileError

    if load_config(args.config).get("kind") == "refiner":
        raise InputFileError(f"{args.dataset} is not a refiner dataset: prepare one with "
                             f"`emodiffhead prepare CLIP.mp4 -o DATASET --kind refiner` for --config {args.config}")
    from ..diffusion.train import run_args

    res = run_args(args)
    print(json.dumps({"steps": res.steps, "last_loss": round(res.last_loss, 5), "weights": str(res.weights_dir),
                      "validation": res.validation}))
    return 0


def run_refiner(args: argparse.Namespace) -> int:
    """Train a personal refiner (progress bar with steps/s and ETA; Ctrl-C saves, --resume continues)."""
    from ..diffusion.refiner_train import train_refiner
    from ..progress import ConsoleProgress

    with ConsoleProgress("train") as bar:
        res = train_refiner(args.dataset, args.output, args.config or "refine-mouth-128", steps=args.steps,
                            minutes=args.minutes, cpu_minutes=args.cpu_minutes, resume=args.resume, seed=args.seed,
                            threads=args.threads, checkpoint_every=args.checkpoint_every,
                            validate_every=args.validate_every, progress=bar, log=None)
    print(json.dumps({"steps": res.steps, "last_loss": round(res.last_loss, 5), "weights": str(res.weights_dir),
                      "wall_s": round(res.wall_s, 1), "cpu_s": round(res.cpu_s, 1),
                      "steps_per_s": round(res.steps_per_s, 3), "validation": res.validation}))
    return 0
