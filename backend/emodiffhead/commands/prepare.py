"""``emodiffhead prepare VIDEOS_DIR -o DATASET_DIR``: videos -> a diffusion training dataset;
``emodiffhead prepare CLIP.mp4 -o DATASET_DIR --kind refiner``: one person's clip -> a refiner dataset."""

from __future__ import annotations

import argparse
import sys

NAME = "prepare"
HELP = "prepare talking-head videos (face crops, tracks, audio features, guidance) for `emodiffhead train`"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", help="a folder of videos (.mp4 .mov .mkv .avi .webm) or one video file")
    p.add_argument("-o", "--output", required=True, help="dataset folder (re-running resumes)")
    p.add_argument("--crop-size", type=int, default=256, help="stored face crop size in pixels (default 256)")
    p.add_argument("--guidance", choices=("warp", "none"), default="warp",
                   help="guidance image per frame: the warp renderer driven by the track (default) or none")
    p.add_argument("--head", default="builtin", help="head model: builtin or a FLAME file")
    p.add_argument("--kind", choices=("denoiser", "refiner"), default="denoiser",
                   help="denoiser: face crops for the full diffusion renderer (default); refiner: region crops of "
                        "one person's 10-60 s clip for a personal refiner (`--config refine-mouth-128`)")
    p.add_argument("--region", choices=("mouth", "face"), default="mouth", help="refiner region (default mouth)")
    p.add_argument("--size", type=int, default=128, help="refiner working size in pixels (default 128)")


def run(args: argparse.Namespace) -> int:
    from ..diffusion.prepare import prepare
    from ..progress import ConsoleProgress

    if args.kind == "refiner":
        from ..diffusion.refiner_data import prepare_refiner

        with ConsoleProgress("prepare") as bar:
            m = prepare_refiner(args.videos, args.output, region=args.region, size=args.size, head_spec=args.head,
                                progress=bar)
        print(f"prepared {m['num_frames']} frames ({m['region']} at {m['size']} px) in {args.output}: "
              f"train frames {m['train'][0]}-{m['train'][1] - 1}, held out {m['val'][0]}-{m['val'][1] - 1}")
        return 0
    with ConsoleProgress("prepare") as bar:
        res = prepare(args.videos, args.output, crop_size=args.crop_size, guidance=args.guidance,
                      head_spec=args.head, progress=bar, log=lambda s: print(s, file=sys.stderr))
    print(f"prepared {len(res.prepared)} video(s) in {res.root}; skipped {len(res.skipped)}")
    for s in res.skipped:
        print(f"  skipped {s['file']}: {s['reason']}")
    return 0
