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

Refiner on held-out frames (weights trained on the first 80 % of the clip; see docs/diffusion.md)::

    python benchmarks/bench_diffusion.py heldout --video ../shared/data/video/talking_head_real_a.mp4 \
        --weights /tmp/w_mouth128 --out /tmp/heldout --sheet docs/images/refiner_mouths.png

renders the held-out frames (the last 20 %) from the clip's extracted track with the warp renderer and with
the refiner (photo = the clip's first frame) and compares mouth crops (128 px) and face crops (256 px),
boxed on the REAL frames' landmarks, with the real frames: PSNR, SSIM, sharpness (variance of the Laplacian;
ratio to the real frames'), and the lip-sync r of ``../shared/tools/facemetrics.py`` (warp vs refined).

Refiner cost (random weights of each config, 8 frames; model time and whole frame)::

    python benchmarks/bench_diffusion.py refiner-cost --configs refine-mouth-128 refine-face-256
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


def _sharpness(images: np.ndarray) -> float:
    """Mean variance of the Laplacian of the grey images (N, H, W, 3) uint8."""
    import cv2

    return float(np.mean([cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for im in images]))


def _heldout_renders(args, head, frames: list, fps: float):
    """Real, warp and refined (one per ``--strength``) frames of the clip's last 20%: (results {name: (N, H, W, 3)},
    seconds per frame {name: s, "cpu NAME": CPU s}, the held-out audio, the first held-out frame, T)."""
    import torch

    from emodiffhead.audio.io import SAMPLE_RATE, AudioClip, load_audio
    from emodiffhead.diffusion.refiner_renderer import RefinerRenderer
    from emodiffhead.face.extract import extract_track
    from emodiffhead.render.warp_renderer import WarpRenderer
    from emodiffhead.track import load_track, save_track

    torch.set_num_threads(args.threads)
    cached = Path(args.out) / "track.npz"  # the extracted track of the whole clip (re-used by later runs)
    if cached.is_file():
        track = load_track(cached)
    else:
        track = extract_track(args.video, head)
        save_track(track, cached)
    T = min(len(frames), track.num_frames)
    cut = int(round(T * 0.8))
    val = track.slice(cut, T)
    clip = load_audio(args.video, require_sound=False)
    seg = AudioClip.from_array(clip.samples[int(round(cut / fps * SAMPLE_RATE)):], SAMPLE_RATE)
    warp_r = WarpRenderer()
    warp_r.prepare(frames[0], head, size=min(frames[0].shape[:2]))
    t = time.perf_counter()
    results = {"real": np.stack(frames[cut:T]), "warp": np.stack(list(warp_r.frames(val)))}
    timing = {"warp": (time.perf_counter() - t) / len(results["warp"])}
    for strength in args.strength:
        rend = RefinerRenderer(weights=args.weights, strength=strength, steps=args.steps, threads=args.threads)
        rend.prepare(frames[0], head, size=min(frames[0].shape[:2]))
        t, c = time.perf_counter(), time.process_time()
        results[f"refined s={strength:g}"] = np.stack(list(rend.frames(val, audio=seg)))
        timing[f"refined s={strength:g}"] = (time.perf_counter() - t) / val.num_frames
        timing[f"cpu refined s={strength:g}"] = (time.process_time() - c) / val.num_frames
    return results, timing, seg, cut, T


def _write_and_sync(args, results: dict, seg, fps: float) -> tuple[dict, dict]:
    """Write every output as an mp4 with the held-out audio; (paths {name: mp4}, lip sync {name: facemetrics
    lipsync record} against the real clip, when --facemetrics is given)."""
    from emodiffhead.video import write_mp4

    out = Path(args.out)
    sync, paths = {}, {}
    write_mp4(list(results["real"]), out / "real.mp4", fps, audio=seg)
    for k, v in results.items():
        if k == "real":
            continue
        path = paths[k] = out / (k.replace(" ", "_").replace("=", "") + ".mp4")
        write_mp4(list(v), path, fps, audio=seg)
        if args.facemetrics:
            r = subprocess.run([args.facemetrics_python, args.facemetrics, "lipsync", str(out / "real.mp4"), str(path)],
                               capture_output=True, text=True)
            try:
                sync[k] = json.loads(r.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                sync[k] = {"error": r.stderr[-200:]}
    return paths, sync


def _region_crops(args, results: dict, paths: dict, cut: int, T: int) -> dict:
    """{name: {region: crops}}: mouth (128 px) and face (256 px) crops boxed on the real frames' landmarks, and
    "aligned" ones boxed on the landmarks detected on each video's own frames (head placement, which the refiner
    does not change, left out; mouth appearance measured)."""
    from emodiffhead.diffusion import refiner_region as rr
    from emodiffhead.face.extract import video_landmarks

    lm_cache = Path(args.out) / "real_landmarks.npy"  # mediapipe face mesh over the video, as prepare uses
    if not lm_cache.is_file():
        np.save(lm_cache, video_landmarks(args.video)[0])
    lms = np.stack(np.load(lm_cache)[cut:T])
    crops = {}
    for k, v in results.items():
        own = lms if k == "real" else video_landmarks(paths[k])[0][:len(v)]
        crops[k] = {}
        for name, boxes_from in (("", lms), (" aligned", own)):
            for region, size in (("mouth", 128), ("face", 256)):
                boxes = rr.region_boxes(boxes_from, region)
                crops[k][region + name] = np.stack([rr.crop(f, b, size) for f, b in zip(v, boxes)])
    return crops


def _heldout_rows(crops: dict, sync: dict, timing: dict) -> list[dict]:
    """One row per output: PSNR / SSIM / sharpness against the real crops per region, lip sync, seconds per frame."""
    from emodiffhead.diffusion.metrics import psnr, ssim

    rows = []
    regions = ("mouth aligned", "face aligned", "mouth", "face")
    sharp_real = {reg: _sharpness(crops["real"][reg]) for reg in regions}
    for k in crops:
        row = {"output": k}
        for reg in regions:
            a, b = crops["real"][reg], crops[k][reg]
            row[f"{reg} PSNR"] = round(psnr(a, b), 2)
            row[f"{reg} SSIM"] = round(ssim(a, b), 4)
            row[f"{reg} sharp/real"] = round(_sharpness(b) / sharp_real[reg], 3)
        if k in sync:
            row["lip-sync r (lag0)"] = round(sync[k].get("r_at_lag0", float("nan")), 3)
            row["lip-sync best r"] = round(sync[k].get("best_r", float("nan")), 3)
        if k in timing:
            row["s/frame"] = round(timing[k], 3)
        if f"cpu {k}" in timing:
            row["CPU s/frame"] = round(timing[f"cpu {k}"], 3)
        rows.append(row)
    return rows


def _heldout_sheet(args, crops: dict, cut: int) -> None:
    """A contact sheet of aligned mouth crops: real / warp / the first refined output, evenly spread frames."""
    import cv2

    n = len(crops["real"]["mouth aligned"])
    pick = np.linspace(0, n - 1, min(args.sheet_columns, n)).round().astype(int)
    keys = ["real", "warp"] + [k for k in crops if k.startswith("refined")][:1]
    tile = 96
    sheet = np.concatenate([np.concatenate([cv2.resize(crops[k]["mouth aligned"][i], (tile, tile),
                                                       interpolation=cv2.INTER_AREA) for i in pick], 1)
                            for k in keys], 0)
    Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.sheet), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"contact sheet ({' / '.join(keys)}, frames {cut + pick[0]}..{cut + pick[-1]}): {args.sheet}")


def heldout(args) -> list[dict]:
    """Warp vs refined vs real on the clip's held-out frames (see the module docstring)."""
    from emodiffhead.head import load_head
    from emodiffhead.video import read_video_frames, video_fps

    Path(args.out).mkdir(parents=True, exist_ok=True)
    frames = list(read_video_frames(args.video))
    fps = video_fps(args.video)
    results, timing, seg, cut, T = _heldout_renders(args, load_head("builtin"), frames, fps)
    paths, sync = _write_and_sync(args, results, seg, fps)
    crops = _region_crops(args, results, paths, cut, T)
    rows = _heldout_rows(crops, sync, timing)
    if args.sheet:
        _heldout_sheet(args, crops, cut)
    np.savez_compressed(Path(args.out) / "mouth_crops.npz", **{k.replace(" ", "_"): v["mouth"] for k, v in crops.items()})
    return rows


def _refiner_cost_case(config: str, frames: int, threads: int, steps: int | None) -> dict:
    import torch

    from emodiffhead.diffusion.config import load_config
    from emodiffhead.diffusion.refiner import Refiner
    from emodiffhead.diffusion.refiner_model import RefinerNet

    torch.set_num_threads(threads)
    cfg = load_config(config)
    torch.manual_seed(0)
    model = RefinerNet(**cfg["model"])
    for p in model.parameters():  # random, non-zero output layer: the cost of a trained model
        p.data.normal_(0, 0.02)
    ref = Refiner(model, cfg)
    S = cfg["resolution"]
    rng = np.random.default_rng(0)
    warp = rng.integers(0, 256, (frames, S, S, 3), dtype=np.uint8)
    cond = dict(audio=rng.normal(size=(frames, 16, 40)).astype(np.float32),
                expression=np.zeros((frames, 52), np.float32), pose=np.zeros((frames, 18), np.float32),
                emotion=np.zeros((frames, 8), np.float32))
    ref.refine(warp[:2], **{k: v[:2] for k, v in cond.items()}, steps=steps)  # warm-up
    t, c = time.perf_counter(), time.process_time()
    ref.refine(warp, **cond, steps=steps)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    n_par = sum(p.numel() for p in model.parameters())
    return {"config": config, "px": S, "steps": steps or cfg["inference"]["num_inference_steps"],
            "strength": cfg["inference"]["strength"], "params (M)": round(n_par / 1e6, 2),
            "model s/frame": round(wall / frames, 3), "model CPU s/frame": round(cpu / frames, 3),
            "threads": threads}


def refiner_cost(args) -> list[dict]:
    rows = []
    for cfg in args.configs:
        for st in args.steps or [None]:
            r = subprocess.run([sys.executable, __file__, "_rcase", cfg, str(args.frames), str(args.threads),
                                str(st or 0)], capture_output=True, text=True)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0
                        else {"config": cfg, "error": r.stderr[-300:]})
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
    if argv and argv[0] == "_rcase":
        print(json.dumps(_refiner_cost_case(argv[1], int(argv[2]), int(argv[3]), int(argv[4]) or None)))
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
    h = sub.add_parser("heldout")
    h.add_argument("--video", required=True)
    h.add_argument("--weights", required=True)
    h.add_argument("--out", required=True, help="folder for the mp4s and crops")
    h.add_argument("--strength", type=float, nargs="+", default=[0.5])
    h.add_argument("--steps", type=int, default=None)
    h.add_argument("--threads", type=int, default=1)
    h.add_argument("--sheet", default=None, help="PNG contact sheet of mouths: real / warp / refined")
    h.add_argument("--sheet-columns", type=int, default=8)
    h.add_argument("--facemetrics", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "tools"
                                                / "facemetrics.py"))
    h.add_argument("--facemetrics-python", default=sys.executable)
    h.add_argument("--json", default=None)
    rc = sub.add_parser("refiner-cost")
    rc.add_argument("--configs", nargs="+", default=["refine-mouth-128", "refine-face-256"])
    rc.add_argument("--steps", type=int, nargs="+", default=None)
    rc.add_argument("--frames", type=int, default=8)
    rc.add_argument("--threads", type=int, default=1)
    rc.add_argument("--json", default=None)
    args = p.parse_args(argv)
    modes = {"quality": quality, "cost": cost, "heldout": heldout, "refiner-cost": refiner_cost}
    rows = modes[args.mode](args)
    print(_table(rows))
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
