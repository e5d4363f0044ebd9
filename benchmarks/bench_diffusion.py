"""Benchmark of the diffusion renderer: quality on held-out frames and cost per config.

Quality (needs a prepared dataset and trained weights)::

    python benchmarks/bench_diffusion.py quality --dataset out/avatar_a_ds --weights out/avatar_a_tiny

renders the held-out frames of every video (for one video: its last 20%) from their extracted tracks and
prints PSNR / SSIM against the real face crops (at the model's resolution) for: the untrained model (same
config, seeded random weights), the trained model, copying the reference photo (the first training frame) and
the default warp renderer (the guidance images: the first frame warped by the track).

Cost (random weights, synthetic inputs; each case in its own process for its peak memory)::

    python benchmarks/bench_diffusion.py cost --configs tiny small --steps 4 8 20 --frames 8

prints seconds per frame and peak resident memory (ru_maxrss) for each config and step count.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def quality(args) -> list[dict]:
    import torch

    from emodiffhead.diffusion.config import load_config
    from emodiffhead.diffusion.data import load_videos, read_manifest
    from emodiffhead.diffusion.loading import load_pipeline
    from emodiffhead.diffusion.metrics import psnr, ssim
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline, make_scheduler
    from emodiffhead.diffusion.train import build_denoiser, render_validation

    torch.set_num_threads(args.threads)
    pipe, cfg = load_pipeline(args.weights)
    if args.timestep_spacing:
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, timestep_spacing=args.timestep_spacing)
    res = cfg["resolution"]
    manifest = read_manifest(args.dataset)
    videos = load_videos(args.dataset, res, with_guidance=manifest.get("guidance", "none") != "none")
    n = args.max_frames
    rows = []

    def add(name, real, fake, sec=None):
        rows.append({"method": name, "frames": int(len(real)), "psnr_db": round(psnr(real, fake), 2),
                     "ssim": round(ssim(real, fake), 4), "s_per_frame": None if sec is None else round(sec, 3)})

    real = np.concatenate([v.frames[v.val[0]:min(v.val[1], v.val[0] + n)] for v in videos if v.val[1] > v.val[0]])
    ref = np.concatenate([np.repeat(v.frames[v.train[0] if v.train[1] > v.train[0] else v.val[0]][None],
                                    min(v.val[1], v.val[0] + n) - v.val[0], 0) for v in videos if v.val[1] > v.val[0]])
    add("copy reference photo", real, ref)
    if all(v.guidance is not None for v in videos):
        warp = np.concatenate([v.guidance[v.val[0]:min(v.val[1], v.val[0] + n)] for v in videos if v.val[1] > v.val[0]])
        add("warp renderer (default)", real, warp)
    cfg_u = load_config(Path(args.weights) / "emodiffhead_config.json")
    untrained = EmoDiffHeadPipeline(denoiser=build_denoiser(cfg_u, videos, seed=0).eval(),
                                    scheduler=make_scheduler(cfg_u["inference"]["scheduler"], cfg_u["scheduler"]))
    untrained.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    untrained.set_progress_bar_config(disable=True)
    for steps in args.steps:
        t = time.perf_counter()
        r, f = render_validation(untrained, videos, cfg, max_frames=n, seed=0, num_inference_steps=steps)
        add(f"diffusion untrained ({steps} steps)", r, f, (time.perf_counter() - t) / len(r))
        t = time.perf_counter()
        r, f = render_validation(pipe, videos, cfg, max_frames=n, seed=0, num_inference_steps=steps)
        add(f"diffusion trained {cfg['name']} ({steps} steps)", r, f, (time.perf_counter() - t) / len(r))
        if args.save_png:
            import cv2

            k = min(8, len(r))
            ur = render_validation(untrained, videos, cfg, max_frames=k, seed=0, num_inference_steps=steps)[1]
            grid = np.concatenate([np.concatenate(list(x[:k]), 1) for x in (r, f, ur, ref[:k], warp[:k])], 0)
            cv2.imwrite(str(Path(args.save_png).with_suffix(f".{steps}steps.png")), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return rows


def _cost_case(config: str, steps: int, frames: int, threads: int) -> dict:
    """One timing case (run in a subprocess): random weights, synthetic inputs."""
    import torch

    from emodiffhead.diffusion.config import load_config
    from emodiffhead.diffusion.models import EmoDenoiser
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline, make_scheduler

    torch.set_num_threads(threads)
    cfg = load_config(config)
    m = cfg["model"]
    torch.manual_seed(0)
    den = EmoDenoiser(**m).eval()
    rng = np.random.default_rng(0)
    res = cfg["resolution"]
    E, P, K = m.get("expression_dim", 52), m.get("pose_dim", 18), m.get("num_emotions", 8)
    if cfg.get("latent"):
        # no VAE is downloaded: time the denoiser alone at the latent size (the VAE adds its own cost)
        x = torch.randn(1, m["image_channels"], m["sample_size"], m["sample_size"])
        kw = dict(reference=x, guidance=x, motion=x.repeat(1, m["motion_frames"], 1, 1),
                  audio=torch.randn(1, m["audio_window"], m["audio_mels"]), expression=torch.randn(1, E),
                  pose=torch.randn(1, P), emotion=torch.rand(1, K))
        feats = den.encode_reference(x)
        with torch.no_grad():
            den(x, torch.tensor([500]), reference_features=feats, **kw)
            t, c = time.perf_counter(), time.process_time()
            den(x, torch.tensor([500]), reference_features=feats, **kw)
            per_step, cpu_step = time.perf_counter() - t, time.process_time() - c
        return {"config": config, "steps": steps, "frames": 1, "s_per_frame": round(per_step * steps, 3),
                "cpu_s_per_frame": round(cpu_step * steps, 3), "threads": threads, "note": "denoiser only (no VAE), 1 step timed x steps",
                "params_M": round(sum(p.numel() for p in den.parameters()) / 1e6, 1),
                "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    pipe = EmoDiffHeadPipeline(den, make_scheduler(cfg["inference"]["scheduler"], cfg["scheduler"]))
    pipe.set_progress_bar_config(disable=True)
    inputs = dict(reference=rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
                  guidance=rng.integers(0, 256, (frames, 256, 256, 3), dtype=np.uint8),
                  audio=rng.normal(size=(frames, m["audio_window"], m["audio_mels"])).astype(np.float32),
                  expression=rng.normal(size=(frames, E)).astype(np.float32),
                  pose=rng.normal(size=(frames, P)).astype(np.float32), emotion=rng.random((frames, K)).astype(np.float32))
    t, c = time.perf_counter(), time.process_time()
    pipe(**inputs, num_inference_steps=steps, window=cfg["inference"]["window"], overlap=cfg["inference"]["overlap"],
         guidance_scale=cfg["inference"].get("guidance_scale", 1.0), generator=torch.Generator().manual_seed(0))
    sec, cpu = time.perf_counter() - t, time.process_time() - c
    return {"config": config, "steps": steps, "frames": frames, "resolution": res, "threads": threads,
            "guidance_scale": cfg["inference"].get("guidance_scale", 1.0), "s_per_frame": round(sec / frames, 3),
            "cpu_s_per_frame": round(cpu / frames, 3),
            "params_M": round(sum(p.numel() for p in den.parameters()) / 1e6, 2),
            "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def cost(args) -> list[dict]:
    rows = []
    for c in args.configs:
        for s in args.steps:
            p = subprocess.run([sys.executable, __file__, "_case", c, str(s), str(args.frames), str(args.threads)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                rows.append({"config": c, "steps": s, "error": p.stderr.strip().splitlines()[-1:]})
                continue
            rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
    return rows


def _table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    w = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    lines = [" | ".join(k.ljust(w[k]) for k in keys), "-|-".join("-" * w[k] for k in keys)]
    lines += [" | ".join(str(r.get(k, "")).ljust(w[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_case":
        print(json.dumps(_cost_case(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--dataset", required=True)
    q.add_argument("--weights", required=True)
    q.add_argument("--steps", type=int, nargs="+", default=[8])
    q.add_argument("--max-frames", type=int, default=1000)
    q.add_argument("--threads", type=int, default=2)
    q.add_argument("--save-png", default=None, help="write real / trained / reference / warp grids here")
    q.add_argument("--timestep-spacing", choices=("leading", "trailing"), default=None,
                   help="override the saved scheduler's timestep spacing (inference only)")
    q.add_argument("--json", default=None)
    c = sub.add_parser("cost")
    c.add_argument("--configs", nargs="+", default=["tiny", "small"])
    c.add_argument("--steps", type=int, nargs="+", default=[4, 8, 20])
    c.add_argument("--frames", type=int, default=8)
    c.add_argument("--threads", type=int, default=1, help="torch threads (1: CPU time is robust to a shared machine)")
    c.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rows = quality(args) if args.mode == "quality" else cost(args)
    print(_table(rows))
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
