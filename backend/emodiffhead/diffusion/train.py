"""Training of the EMOdiffhead denoiser with Hugging Face ``accelerate``.

One script for one CPU, one GPU (mixed precision) or many GPUs / nodes (its arguments: :mod:`.train_args`)::

    emodiffhead train DATASET_DIR --config tiny -o WEIGHTS_DIR [--minutes N] [--steps N] [--resume]
    accelerate launch --multi_gpu --num_processes 8 -m emodiffhead.diffusion.train DATASET_DIR --config base -o W --vae VAE_DIR
    torchrun --standalone --nproc_per_node 2 -m emodiffhead.diffusion.train ...   # several CPU processes (gloo)

WEIGHTS_DIR receives the pipeline in diffusers' ``save_pretrained`` layout (``model_index.json`` with the
inference defaults, ``denoiser/``, ``scheduler/``) plus ``emodiffhead_config.json`` (the config actually used),
``train_log.jsonl`` (one JSON object per logged step: step, loss, lr, seconds), ``checkpoints/step_N/``
(accelerate state for ``--resume``) and ``validation/step_N.png`` (held-out frames: real | rendered).

:func:`train` is the loop; :func:`setup_training` builds a :class:`TrainingRun` (config, accelerator, model,
optimiser, data), :func:`training_step` does one optimiser step and :func:`save_training` writes the pipeline,
checkpoints and validation.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CancelledError, InputFileError
from ..progress import CancelFn, ProgressFn, report
from .config import CONFIG_FILE, inference_settings, load_config
from .data import FrameDataset, VideoData, condition_stats, load_videos, read_manifest
from .metrics import psnr, ssim
from .models import EmoDenoiser
from .pipeline import EmoDiffHeadPipeline, make_scheduler
from .train_args import add_arguments

__all__ = ["train", "TrainResult", "TrainingRun", "setup_training", "training_step", "save_training",
           "build_denoiser", "render_validation", "run_args", "main"]


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


@dataclass
class TrainingRun:
    """The state of one training run: the config actually used, the output folder, the accelerator and what it
    prepared (model, optimiser, data loader, learning-rate schedule), the noise scheduler, the VAE (latent configs)
    or None, the videos and the optimiser steps done so far."""

    cfg: dict[str, Any]
    out: Path
    accelerator: Any
    model: Any
    optimizer: Any
    loader: Any
    lr_scheduler: Any
    noise_scheduler: Any
    vae: Any
    videos: list[VideoData]
    seed: int
    say: Callable[[str], None]
    step: int = 0

    @property
    def log_file(self) -> Path:
        return self.out / "train_log.jsonl"

    def append_log(self, record: dict[str, Any]) -> None:
        """One JSON line in ``train_log.jsonl``."""
        with open(self.log_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, s, s) in [-1, 1] -> model space (a VAE latent sample for latent configs)."""
        if self.vae is None:
            return x
        with torch.no_grad():
            return self.vae.encode(x.to(self.vae.dtype)).latent_dist.sample() * self.vae.config.scaling_factor


def setup_training(dataset_dir: str | Path, out_dir: str | Path, config: str | Path = "tiny", *,
                   resume: bool = False, batch_size: int | None = None, seed: int = 0, vae: str | None = None,
                   log: Callable[[str], None] | None = print) -> TrainingRun:
    """Config, accelerator, seeded denoiser, data, optimiser; resumed from the latest checkpoint when asked.
    Writes the config actually used to the output folder (main process)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers import DDPMScheduler

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
    vae_model = _latent_setup(cfg, videos, vae, accelerator.device)
    noise_sched = DDPMScheduler.from_config(cfg["scheduler"])
    loader = _data_loader(videos, cfg, batch_size, seed + accelerator.process_index, dataset_dir)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg["learning_rate"], weight_decay=tcfg.get("weight_decay", 0.0))
    warm = max(1, int(tcfg.get("warmup_steps", 0)))
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
    model, opt, loader, lr_sched = accelerator.prepare(model, opt, loader, lr_sched)
    run = TrainingRun(cfg, out, accelerator, model, opt, loader, lr_sched, noise_sched, vae_model, videos, seed, say)
    ck = _latest_checkpoint(out) if resume else None
    if ck is not None:
        accelerator.load_state(str(ck))
        run.step = int(ck.name.split("_")[1])
        say(f"resumed from {ck} (step {run.step})")
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        saved_cfg.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return run


def _latent_setup(cfg: dict[str, Any], videos: list[VideoData], vae: str | None, device):
    """The VAE of a latent config (None in pixel space); sets the latent guidance channels."""
    if not cfg.get("latent"):
        return None
    cfg["model"]["guidance_channels"] = 0 if videos[0].guidance is None else cfg["model"]["image_channels"]
    vae_model = _load_vae(vae or cfg.get("vae"), device)
    if vae_model is None:
        raise InputFileError(f"config {cfg['name']!r} works in a VAE latent space: give --vae LOCAL_AUTOENCODERKL_DIR")
    return vae_model


def _data_loader(videos: list[VideoData], cfg: dict[str, Any], batch_size: int | None, seed: int, dataset_dir):
    """Shuffled batches of training frames (``batch_size`` or the config's, at most the frame count)."""
    tcfg = cfg["train"]
    bs = int(batch_size or tcfg["batch_size"])
    ds = FrameDataset(videos, "train", cfg["model"]["motion_frames"], tcfg.get("reference_random", 0.0), seed=seed)
    if len(ds) == 0:
        raise InputFileError(f"{dataset_dir}: no training frames")
    return torch.utils.data.DataLoader(ds, batch_size=min(bs, len(ds)), shuffle=True, drop_last=True, num_workers=0)


def _model_inputs(run: TrainingRun, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
    """(x0 (B, C, s, s) in model space, the denoiser's condition keyword arguments) of a batch, with the
    config's motion-frame drop and noise and audio / emotion dropout (for classifier-free guidance)."""
    tcfg, m_frames = run.cfg["train"], run.cfg["model"]["motion_frames"]
    x0, ref = run.encode(batch["target"]), run.encode(batch["reference"])
    B = x0.shape[0]
    guid = run.encode(batch["guidance"]) if "guidance" in batch else None
    motion = None
    if m_frames:
        motion = torch.cat([run.encode(batch["motion"][:, k * 3:(k + 1) * 3]) for k in range(m_frames)], 1)
        drop = (torch.rand(B, device=x0.device) < tcfg.get("motion_drop", 0.0)).view(-1, 1, 1, 1)
        motion = torch.where(drop, ref.repeat(1, m_frames, 1, 1), motion)
        motion = motion + tcfg.get("motion_noise", 0.0) * torch.randn_like(motion)
    return x0, dict(reference=ref, audio=batch["audio"], expression=batch["expression"], pose=batch["pose"],
                    emotion=batch["emotion"], guidance=guid, motion=motion)


def training_step(run: TrainingRun, batch: dict[str, torch.Tensor]) -> float:
    """One optimiser step on ``batch`` (a dict of (B, ...) tensors from :class:`FrameDataset`); returns the loss."""
    acc, tcfg, sched = run.accelerator, run.cfg["train"], run.noise_scheduler
    with acc.accumulate(run.model):
        x0, cond = _model_inputs(run, batch)
        B = x0.shape[0]
        noise = torch.randn_like(x0)
        t = torch.randint(0, sched.config.num_train_timesteps, (B,), device=x0.device)
        noisy = sched.add_noise(x0, noise, t)
        cond["audio_keep"] = (torch.rand(B, device=x0.device) >= tcfg.get("audio_drop", 0.0)).float()
        cond["emotion_keep"] = (torch.rand(B, device=x0.device) >= tcfg.get("emotion_drop", 0.0)).float()
        with acc.autocast():
            pred = run.model(noisy, t, **cond).sample
        pred_type = run.cfg["scheduler"].get("prediction_type", "epsilon")
        target = {"epsilon": noise, "sample": x0}.get(pred_type)
        target = sched.get_velocity(x0, noise, t) if target is None else target
        loss = F.mse_loss(pred.float(), target.float())
        acc.backward(loss)
        if acc.sync_gradients:
            acc.clip_grad_norm_(run.model.parameters(), 1.0)
        run.optimizer.step()
        run.lr_scheduler.step()
        run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    return float(loss.detach())


def save_pipeline(run: TrainingRun) -> EmoDiffHeadPipeline:
    """Write the pipeline (denoiser, the inference scheduler made with ``from_config``, VAE) and the config."""
    den = run.accelerator.unwrap_model(run.model)
    sched = make_scheduler(run.cfg["inference"]["scheduler"], run.cfg["scheduler"])
    pipe = EmoDiffHeadPipeline(denoiser=den, scheduler=sched, vae=run.vae, **inference_settings(run.cfg))
    pipe.set_progress_bar_config(disable=True)  # the validation renders: training logs its own progress
    pipe.save_pretrained(str(run.out))
    (run.out / CONFIG_FILE).write_text(json.dumps(run.cfg, indent=1), encoding="utf-8")
    return pipe


def save_training(run: TrainingRun, *, final: bool = False, checkpoint_every: int, validate_every: int,
                  val_frames: int = 16) -> dict[str, Any] | None:
    """Save the pipeline; on checkpoint steps (and ``final``) the accelerate state (the last 2 kept); on
    validation steps (and ``final``) render the held-out frames. Returns the validation record or None."""
    acc, out, step = run.accelerator, run.out, run.step
    validation = None
    acc.wait_for_everyone()
    if acc.is_main_process:
        pipe = save_pipeline(run)
        if (final or step % checkpoint_every == 0) and not (out / "checkpoints" / f"step_{step}").is_dir():
            acc.save_state(str(out / "checkpoints" / f"step_{step}"))
            for old in sorted((out / "checkpoints").glob("step_*"), key=lambda p: int(p.name.split("_")[1]))[:-2]:
                shutil.rmtree(old, ignore_errors=True)
        if validate_every and (final or step % validate_every == 0):
            validation = _validate(run, pipe, val_frames)
    acc.wait_for_everyone()
    return validation


def _validate(run: TrainingRun, pipe: EmoDiffHeadPipeline, val_frames: int) -> dict[str, Any] | None:
    """Render the held-out frames; log and return {"step", "psnr", "ssim"} (None without held-out frames)."""
    pipe.denoiser.eval()
    real, fake = render_validation(pipe, run.videos, run.cfg, max_frames=val_frames, seed=run.seed)
    pipe.denoiser.train()
    if not len(real):
        return None
    val = {"step": run.step, "psnr": psnr(real, fake), "ssim": ssim(real, fake)}
    _save_grid(run.out / "validation" / f"step_{run.step}.png", real, fake)
    run.say(f"validation step {run.step}: PSNR {val['psnr']:.2f} dB, SSIM {val['ssim']:.3f}")
    run.append_log({"validation": val})
    return val


def _stop_requested(run: TrainingRun, fraction: float, cancel: CancelFn | None) -> bool:
    """True on every process once any process reached its budget (``fraction`` >= 1) or was cancelled."""
    acc = run.accelerator
    flag = torch.tensor([float(fraction >= 1.0 or (cancel is not None and cancel()))], device=acc.device)
    flag = acc.reduce(flag, reduction="sum") if acc.num_processes > 1 else flag
    return float(flag) > 0


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
    if steps is None and minutes is None:
        raise InputFileError("give --steps or --minutes (or both) to bound training")
    run = setup_training(dataset_dir, out_dir, config, resume=resume, batch_size=batch_size, seed=seed, vae=vae,
                         log=log)
    tcfg = run.cfg["train"]
    ck_every = int(checkpoint_every or tcfg.get("checkpoint_every", 200))
    val_every = int(validate_every if validate_every is not None else tcfg.get("validate_every", 200))
    saving = dict(checkpoint_every=ck_every, validate_every=val_every, val_frames=val_frames)
    t0, limit_s = time.monotonic(), None if minutes is None else float(minutes) * 60.0
    target_steps = None if steps is None else run.step + int(steps) if resume else int(steps)
    history, losses, last_val = [], [], None
    run.model.train()
    stop = False
    while not stop:
        for batch in run.loader:
            losses.append(training_step(run, batch))
            elapsed = time.monotonic() - t0
            if run.step % log_every == 0 and run.accelerator.is_main_process:
                history.append(_log_interval(run, losses[-log_every:], elapsed))
            frac = max(run.step / target_steps if target_steps else 0.0, elapsed / limit_s if limit_s else 0.0)
            report(progress, frac, f"step {run.step}, loss {losses[-1]:.4f}")
            stop = _stop_requested(run, frac, cancel)
            if not stop and (run.step % ck_every == 0 or (val_every and run.step % val_every == 0)):
                last_val = save_training(run, **saving) or last_val
            if stop:
                break
    cancelled = cancel is not None and cancel()
    last_val = save_training(run, final=True, **saving) or last_val
    run.accelerator.wait_for_everyone()
    if cancelled:
        raise CancelledError(f"training cancelled at step {run.step}; weights so far saved in {run.out}")
    last = float(np.mean(losses[-log_every:])) if losses else math.nan
    return TrainResult(steps=run.step, last_loss=last, weights_dir=run.out, validation=last_val, history=history,
                       processes=run.accelerator.num_processes)


def _log_interval(run: TrainingRun, losses: list[float], elapsed: float) -> dict[str, Any]:
    """Log the mean loss of the last interval (train_log.jsonl and the log callback); returns the record."""
    rec = {"step": run.step, "loss": float(np.mean(losses)), "lr": run.lr_scheduler.get_last_lr()[0],
           "seconds": round(elapsed, 1)}
    run.append_log(rec)
    run.say(f"step {run.step}: loss {rec['loss']:.4f} ({elapsed:.0f} s)")
    return rec


def run_args(args: argparse.Namespace) -> TrainResult:
    """:func:`train` with the arguments of :func:`.train_args.add_arguments`."""
    return train(args.dataset, args.output, args.config or "tiny", minutes=args.minutes, steps=args.steps,
                 resume=args.resume, batch_size=args.batch_size, seed=args.seed, vae=args.vae,
                 validate_every=args.validate_every, checkpoint_every=args.checkpoint_every)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``accelerate launch -m emodiffhead.diffusion.train ...``."""
    p = argparse.ArgumentParser(prog="emodiffhead.diffusion.train", description=__doc__.split("\n")[0])
    add_arguments(p)
    res = run_args(p.parse_args(argv))
    line = json.dumps({"steps": res.steps, "last_loss": res.last_loss, "weights": str(res.weights_dir),
                       "validation": res.validation, "processes": res.processes})
    # one write per process: print() writes the text and the newline apart, and unbuffered (PYTHONUNBUFFERED)
    # processes sharing a pipe then interleave their lines
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
