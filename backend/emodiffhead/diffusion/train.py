"""Training of the EMOdiffhead denoiser with Hugging Face ``accelerate``.

One script for one CPU, one GPU (mixed precision) or many GPUs / nodes::

    emodiffhead train DATASET_DIR --config tiny -o WEIGHTS_DIR [--minutes N] [--steps N] [--resume]
    accelerate launch --multi_gpu --num_processes 8 -m emodiffhead.diffusion.train DATASET_DIR --config base -o W --vae VAE_DIR
    torchrun --standalone --nproc_per_node 2 -m emodiffhead.diffusion.train ...   # several CPU processes (gloo)

WEIGHTS_DIR receives the pipeline in diffusers' ``save_pretrained`` layout (``model_index.json``,
``denoiser/``, ``scheduler/``) plus ``emodiffhead_config.json`` (the config actually used),
``train_log.jsonl`` (one JSON object per logged step: step, loss, lr, seconds), ``checkpoints/step_N/``
(accelerate state for ``--resume``) and ``validation/step_N.png`` (held-out frames: real | rendered).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CancelledError, InputFileError
from ..progress import CancelFn, ProgressFn, report
from .config import CONFIG_FILE, load_config
from .data import FrameDataset, VideoData, condition_stats, load_videos, read_manifest
from .metrics import psnr, ssim
from .models import EmoDenoiser
from .pipeline import EmoDiffHeadPipeline, make_scheduler

__all__ = ["train", "TrainResult", "build_denoiser", "render_validation", "run_args", "main"]


@dataclass
class TrainResult:
    """steps: optimiser steps done in total; last_loss: mean loss of the last logged interval;
    weights_dir: where the pipeline was saved; validation: the last {"step", "psnr", "ssim"} or None."""

    steps: int
    last_loss: float
    weights_dir: Path
    validation: dict[str, Any] | None = None
    processes: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)


def build_denoiser(cfg: dict[str, Any], videos: list[VideoData], seed: int = 0) -> EmoDenoiser:
    """A freshly initialised (seeded) denoiser whose condition sizes match the dataset; sets ``cfg['model']``."""
    v = videos[0]
    m = cfg["model"]
    m.update(expression_dim=int(v.expression.shape[1]), pose_dim=int(v.pose.shape[1]),
             num_emotions=int(v.emotion.shape[1]), audio_window=int(v.audio.shape[1]),
             audio_mels=int(v.audio.shape[2]))
    if v.guidance is None:
        m["guidance_channels"] = 0
    torch.manual_seed(seed)
    model = EmoDenoiser(**m)
    model.set_condition_stats(*condition_stats(videos))
    return model


def _load_vae(path: str | None, device):
    if not path:
        return None
    from diffusers import AutoencoderKL

    if not Path(path).is_dir():
        raise InputFileError(f"VAE folder not found: {path} (give a local AutoencoderKL folder; nothing is downloaded)")
    vae = AutoencoderKL.from_pretrained(path, local_files_only=True).to(device)
    vae.requires_grad_(False)
    vae.eval()
    return vae


def render_validation(pipe: EmoDiffHeadPipeline, videos: list[VideoData], cfg: dict[str, Any],
                      max_frames: int = 16, seed: int = 0, num_inference_steps: int | None = None,
                      progress: ProgressFn | None = None, cancel: CancelFn | None = None):
    """Render the first ``max_frames`` held-out frames of each video from their tracks.

    Returns (real (N, s, s, 3) uint8, rendered (N, s, s, 3) uint8) over all videos with held-out frames.
    """
    inf = cfg["inference"]
    real, fake = [], []
    for v in videos:
        lo, hi = v.val
        if hi <= lo:
            continue
        hi = min(hi, lo + max_frames)
        ref_i = v.train[0] if v.train[1] > v.train[0] else v.val[0]
        sl = slice(lo, hi)
        out = pipe(reference=v.frames[ref_i], guidance=None if v.guidance is None else v.guidance[sl],
                   audio=v.audio[sl], expression=v.expression[sl], pose=v.pose[sl], emotion=v.emotion[sl],
                   num_inference_steps=num_inference_steps or inf["num_inference_steps"],
                   guidance_scale=inf.get("guidance_scale", 1.0), window=inf.get("window", 16),
                   overlap=inf.get("overlap", 4), generator=torch.Generator().manual_seed(seed),
                   progress=progress, cancel=cancel).frames
        real.append(np.asarray(v.frames[sl]))
        fake.append(out)
    if not real:
        return np.zeros((0, 1, 1, 3), np.uint8), np.zeros((0, 1, 1, 3), np.uint8)
    return np.concatenate(real), np.concatenate(fake)


def _save_grid(path: Path, real: np.ndarray, fake: np.ndarray, n: int = 8) -> None:
    import cv2

    n = min(n, len(real))
    if n == 0:
        return
    grid = np.concatenate([np.concatenate(list(real[:n]), 1), np.concatenate(list(fake[:n]), 1)], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def _latest_checkpoint(out: Path) -> Path | None:
    cks = sorted((out / "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    return cks[-1] if cks else None


def train(
    dataset_dir: str | Path,
    out_dir: str | Path,
    config: str | Path = "tiny",
    *,
    minutes: float | None = None,
    steps: int | None = None,
    resume: bool = False,
    batch_size: int | None = None,
    seed: int = 0,
    vae: str | None = None,
    validate_every: int | None = None,
    checkpoint_every: int | None = None,
    log_every: int = 10,
    val_frames: int = 16,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    log: Callable[[str], None] | None = print,
) -> TrainResult:
    """Train (or resume) a denoiser on a prepared dataset; stops after ``steps`` steps or ``minutes`` minutes.

    Runs on every process of an ``accelerate launch``; only the main process writes files.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers import DDPMScheduler

    if steps is None and minutes is None:
        raise InputFileError("give --steps or --minutes (or both) to bound training")
    out = Path(out_dir)
    manifest = read_manifest(dataset_dir)
    saved_cfg = out / CONFIG_FILE
    cfg = load_config(saved_cfg if (resume and saved_cfg.is_file()) else config)
    tcfg = cfg["train"]
    cuda = torch.cuda.is_available()
    accelerator = Accelerator(cpu=not cuda, mixed_precision=tcfg.get("mixed_precision", "no") if cuda else "no")
    set_seed(seed + accelerator.process_index)
    say = (lambda s: log(s)) if (log and accelerator.is_main_process) else (lambda s: None)
    say(f"training config {cfg['name']!r} on {accelerator.device} x {accelerator.num_processes} process(es), "
        f"mixed precision {accelerator.mixed_precision}")

    videos = load_videos(dataset_dir, cfg["resolution"], with_guidance=manifest.get("guidance", "none") != "none")
    model = build_denoiser(cfg, videos, seed)
    if cfg.get("latent"):
        cfg["model"]["guidance_channels"] = 0 if videos[0].guidance is None else cfg["model"]["image_channels"]
    vae_model = _load_vae(vae or cfg.get("vae"), accelerator.device) if cfg.get("latent") else None
    if cfg.get("latent") and vae_model is None:
        raise InputFileError(f"config {cfg['name']!r} works in a VAE latent space: give --vae LOCAL_AUTOENCODERKL_DIR")
    noise_sched = DDPMScheduler(**cfg["scheduler"])
    bs = int(batch_size or tcfg["batch_size"])
    ds = FrameDataset(videos, "train", cfg["model"]["motion_frames"], tcfg.get("reference_random", 0.0),
                      seed=seed + accelerator.process_index)
    if len(ds) == 0:
        raise InputFileError(f"{dataset_dir}: no training frames")
    loader = torch.utils.data.DataLoader(ds, batch_size=min(bs, len(ds)), shuffle=True, drop_last=True,
                                         num_workers=0)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg["learning_rate"], weight_decay=tcfg.get("weight_decay", 0.0))
    warm = max(1, int(tcfg.get("warmup_steps", 0)))
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    model, opt, loader, lr_sched = accelerator.prepare(model, opt, loader, lr_sched)

    step = 0
    if resume:
        ck = _latest_checkpoint(out)
        if ck is not None:
            accelerator.load_state(str(ck))
            step = int(ck.name.split("_")[1])
            say(f"resumed from {ck} (step {step})")
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        saved_cfg.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    ck_every = int(checkpoint_every or tcfg.get("checkpoint_every", 200))
    val_every = int(validate_every if validate_every is not None else tcfg.get("validate_every", 200))
    pred_type = cfg["scheduler"].get("prediction_type", "epsilon")
    m_frames = cfg["model"]["motion_frames"]
    t0 = time.monotonic()
    limit_s = None if minutes is None else float(minutes) * 60.0
    target_steps = None if steps is None else step + int(steps) if resume else int(steps)
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    last_val = None
    logf = out / "train_log.jsonl"

    def encode(x: torch.Tensor) -> torch.Tensor:
        if vae_model is None:
            return x
        with torch.no_grad():
            return vae_model.encode(x.to(vae_model.dtype)).latent_dist.sample() * vae_model.config.scaling_factor

    def save(step_no: int, final: bool = False) -> None:
        nonlocal last_val
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            den = accelerator.unwrap_model(model)
            sched = make_scheduler(cfg["inference"]["scheduler"], cfg["scheduler"])
            pipe = EmoDiffHeadPipeline(denoiser=den, scheduler=sched, vae=vae_model)
            pipe.save_pretrained(str(out))
            (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=1), encoding="utf-8")
            if (final or step_no % ck_every == 0) and not (out / "checkpoints" / f"step_{step_no}").is_dir():
                accelerator.save_state(str(out / "checkpoints" / f"step_{step_no}"))
                for old in sorted((out / "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1]))[:-2]:
                    shutil.rmtree(old, ignore_errors=True)
            if val_every and (final or step_no % val_every == 0):
                den.eval()
                real, fake = render_validation(pipe, videos, cfg, max_frames=val_frames, seed=seed)
                den.train()
                if len(real):
                    last_val = {"step": step_no, "psnr": psnr(real, fake), "ssim": ssim(real, fake)}
                    _save_grid(out / "validation" / f"step_{step_no}.png", real, fake)
                    say(f"validation step {step_no}: PSNR {last_val['psnr']:.2f} dB, SSIM {last_val['ssim']:.3f}")
                    with open(logf, "a", encoding="utf-8") as f:
                        f.write(json.dumps({"validation": last_val}) + "\n")
        accelerator.wait_for_everyone()

    model.train()
    stop = False
    while not stop:
        for batch in loader:
            with accelerator.accumulate(model):
                x0 = encode(batch["target"])
                ref = encode(batch["reference"])
                B = x0.shape[0]
                guid = encode(batch["guidance"]) if "guidance" in batch else None
                motion = None
                if m_frames:
                    motion = torch.cat([encode(batch["motion"][:, k * 3:(k + 1) * 3]) for k in range(m_frames)], 1)
                    drop = (torch.rand(B, device=x0.device) < tcfg.get("motion_drop", 0.0)).view(-1, 1, 1, 1)
                    motion = torch.where(drop, ref.repeat(1, m_frames, 1, 1), motion)
                    motion = motion + tcfg.get("motion_noise", 0.0) * torch.randn_like(motion)
                noise = torch.randn_like(x0)
                t = torch.randint(0, noise_sched.config.num_train_timesteps, (B,), device=x0.device)
                noisy = noise_sched.add_noise(x0, noise, t)
                audio_keep = (torch.rand(B, device=x0.device) >= tcfg.get("audio_drop", 0.0)).float()
                emo_keep = (torch.rand(B, device=x0.device) >= tcfg.get("emotion_drop", 0.0)).float()
                with accelerator.autocast():
                    pred = model(noisy, t, reference=ref, audio=batch["audio"], expression=batch["expression"],
                                 pose=batch["pose"], emotion=batch["emotion"], guidance=guid, motion=motion,
                                 audio_keep=audio_keep, emotion_keep=emo_keep).sample
                if pred_type == "epsilon":
                    tgt = noise
                elif pred_type == "sample":
                    tgt = x0
                else:
                    tgt = noise_sched.get_velocity(x0, noise, t)
                loss = F.mse_loss(pred.float(), tgt.float())
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                lr_sched.step()
                opt.zero_grad(set_to_none=True)
            step += 1
            losses.append(float(loss.detach()))
            elapsed = time.monotonic() - t0
            if step % log_every == 0 and accelerator.is_main_process:
                rec = {"step": step, "loss": float(np.mean(losses[-log_every:])), "lr": lr_sched.get_last_lr()[0],
                       "seconds": round(elapsed, 1)}
                history.append(rec)
                with open(logf, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
                say(f"step {step}: loss {rec['loss']:.4f} ({elapsed:.0f} s)")
            frac = max(step / target_steps if target_steps else 0.0, elapsed / limit_s if limit_s else 0.0)
            report(progress, frac, f"step {step}, loss {losses[-1]:.4f}")
            flag = torch.tensor([float(frac >= 1.0 or (cancel is not None and cancel()))], device=accelerator.device)
            flag = accelerator.reduce(flag, reduction="sum") if accelerator.num_processes > 1 else flag
            if float(flag) > 0:
                stop = True
            if not stop and (step % ck_every == 0 or (val_every and step % val_every == 0)):
                save(step)
            if stop:
                break
    cancelled = cancel is not None and cancel()
    save(step, final=True)
    accelerator.wait_for_everyone()
    if cancelled:
        raise CancelledError(f"training cancelled at step {step}; weights so far saved in {out}")
    last = float(np.mean(losses[-log_every:])) if losses else math.nan
    return TrainResult(steps=step, last_loss=last, weights_dir=out, validation=last_val, history=history,
                       processes=accelerator.num_processes)


def run_args(args: argparse.Namespace) -> TrainResult:
    return train(args.dataset, args.output, args.config or "tiny", minutes=args.minutes, steps=args.steps,
                 resume=args.resume, batch_size=args.batch_size, seed=args.seed, vae=args.vae,
                 validate_every=args.validate_every, checkpoint_every=args.checkpoint_every)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``accelerate launch -m emodiffhead.diffusion.train ...``."""
    from ..commands.train import add_arguments

    p = argparse.ArgumentParser(prog="emodiffhead.diffusion.train", description=__doc__.split("\n")[0])
    add_arguments(p)
    res = run_args(p.parse_args(argv))
    print(json.dumps({"steps": res.steps, "last_loss": res.last_loss, "weights": str(res.weights_dir),
                      "validation": res.validation, "processes": res.processes}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
