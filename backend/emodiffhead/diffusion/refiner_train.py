"""Training of a personal refiner on one prepared clip (CPU-first: plain torch, one process).

Stops at ``steps``, ``minutes`` of wall time or ``cpu_minutes`` of process CPU time, whichever comes first;
checkpoints (model, EMA, optimiser, RNG, step, CPU seconds so far) every ``checkpoint_every`` steps and at the
end, so ``resume=True`` continues where it stopped (the budgets then count the whole run, resumes included).
Progress reports steps/s and the ETA. Validation renders the held-out frames' region crops and logs PSNR /
SSIM of warp and refined against the real crops.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import CancelledError, InputFileError
from ..progress import CancelFn, ProgressFn, report
from .config import load_config
from .data import condition_stats
from .refiner import REFINER_CONFIG, Refiner, alphas_cumprod, save_refiner
from .refiner_data import RefinerData, centre_crops, load_refiner_data, read_refiner_manifest, sample_batch
from .refiner_model import RefinerNet

CHECKPOINT = "checkpoint.pt"


@dataclass
class RefinerTrainResult:
    """steps done in total, last mean loss, wall and CPU seconds of the whole run (resumes included),
    steps per wall second, the last validation dict (or None) and the weights folder."""

    steps: int
    last_loss: float
    wall_s: float
    cpu_s: float
    steps_per_s: float
    weights_dir: Path
    validation: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def build_refiner_model(cfg: dict[str, Any], data: RefinerData, seed: int = 0) -> RefinerNet:
    """A seeded RefinerNet sized for the dataset's conditions; sets ``cfg['model']`` sizes."""
    m = cfg["model"]
    m.update(expression_dim=int(data.expression.shape[1]), pose_dim=int(data.pose.shape[1]),
             num_emotions=int(data.emotion.shape[1]), audio_window=int(data.audio.shape[1]),
             audio_mels=int(data.audio.shape[2]))
    torch.manual_seed(seed)
    model = RefinerNet(**m)

    class _V:  # condition_stats wants objects with expression / pose / train
        expression, pose, train = data.expression, data.pose, data.train

    model.set_condition_stats(*condition_stats([_V()]))
    return model


def validate(refiner: Refiner, data: RefinerData, max_frames: int = 40, seed: int = 0,
             frames: tuple[int, int] | None = None) -> tuple[dict[str, float], np.ndarray]:
    """Refine the held-out region crops; ({"psnr_warp", "psnr_refined", "ssim_warp", "ssim_refined"} on the
    masked region (mask > 0.5), grid image real | warp | refined (uint8))."""
    from .metrics import psnr, ssim

    lo, hi = frames or data.val
    fr = range(lo, min(hi, lo + max_frames))
    real, warp, mask = centre_crops(data, fr, refiner.size)
    idx = list(fr)
    res = refiner.refine(warp, data.audio[idx], data.expression[idx], data.pose[idx], data.emotion[idx],
                         generator=torch.Generator().manual_seed(seed))
    m = (mask.astype(np.float32) / 255.0)[..., None]
    refined = np.clip(np.round(warp + m * res), 0, 255).astype(np.uint8)
    sel = mask > 127
    out = {"psnr_warp": psnr(real[sel], warp[sel]), "psnr_refined": psnr(real[sel], refined[sel]),
           "ssim_warp": ssim(real, warp), "ssim_refined": ssim(real, refined), "frames": len(idx)}
    n = min(8, len(idx))
    grid = np.concatenate([np.concatenate(list(a[:n]), 1) for a in (real, warp, refined)], 0)
    return out, grid


def _save_png(path: Path, img: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def _fmt_s(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 60}:{s % 60:02d}"


def train_refiner(dataset_dir: str | Path, out_dir: str | Path, config: str | Path = "refine-mouth-128", *,
                  steps: int | None = None, minutes: float | None = None, cpu_minutes: float | None = None,
                  resume: bool = False, seed: int = 0, threads: int | None = None,
                  checkpoint_every: int | None = None, validate_every: int | None = None, log_every: int = 10,
                  val_frames: int = 40, progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                  log: Callable[[str], None] | None = print) -> RefinerTrainResult:
    """Train (or resume) a personal refiner; see the module docstring for the budgets."""
    if steps is None and minutes is None and cpu_minutes is None:
        raise InputFileError("give --steps, --minutes or --cpu-minutes to bound training")
    out = Path(out_dir)
    say = log or (lambda s: None)
    manifest = read_refiner_manifest(dataset_dir)
    ck_path = out / CHECKPOINT
    state = torch.load(ck_path, weights_only=False) if resume and ck_path.is_file() else None
    cfg = state["config"] if state else load_config(config)
    if cfg.get("kind") != "refiner":
        raise InputFileError(f"config {cfg.get('name')!r} is not a refiner config (use refine-mouth-128 or refine-face-256)")
    if cfg["region"] != manifest["region"]:
        raise InputFileError(f"the dataset was prepared for the {manifest['region']} region, the config refines "
                             f"the {cfg['region']}: prepare it again with --region {cfg['region']}")
    tcfg = cfg["train"]
    torch.set_num_threads(int(threads or tcfg.get("threads", 2)))
    size = int(cfg["resolution"])
    data = load_refiner_data(dataset_dir, size)
    if data.train[1] - data.train[0] < 4:
        raise InputFileError(f"{dataset_dir}: too few training frames ({data.train[1] - data.train[0]})")
    model = build_refiner_model(cfg, data, seed)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg["learning_rate"], weight_decay=tcfg.get("weight_decay", 0.0))
    rng = np.random.default_rng(seed)
    step, cpu_before, wall_before = 0, 0.0, 0.0
    if state:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        step, cpu_before, wall_before = int(state["step"]), float(state["cpu_s"]), float(state["wall_s"])
        say(f"resumed from {ck_path} at step {step} ({cpu_before:.0f} CPU s, {wall_before:.0f} s wall so far)")
    cfg["signature"] = manifest.get("signature")
    cfg["dataset"] = {"source": manifest.get("source"), "train": list(data.train), "val": list(data.val)}
    ab = alphas_cumprod(cfg["scheduler"]).float()
    t_max = max(1, int(round(tcfg.get("max_strength", 1.0) * len(ab))))
    kind = cfg["scheduler"].get("prediction_type", "sample")
    scale = float(cfg.get("residual_scale", 1.0))
    patches = [int(p) for p in tcfg.get("patches", [size])]
    pw = np.asarray(tcfg.get("patch_weights", [1.0] * len(patches)), np.float64)
    pw = pw / pw.sum()
    bs = int(tcfg["batch_size"])
    ema_decay = float(tcfg.get("ema", 0.0))
    mask_w = float(tcfg.get("mask_weight", 0.0))
    warm = max(1, int(tcfg.get("warmup_steps", 1)))
    ck_every = int(checkpoint_every or tcfg.get("checkpoint_every", 100))
    val_every = int(validate_every if validate_every is not None else tcfg.get("validate_every", 0))
    levels = 2 ** (len(cfg["model"]["block_out_channels"]) - 1)
    for p in patches:
        if p % levels:
            raise InputFileError(f"patch size {p} is not a multiple of {levels} (the UNet's down-sampling)")
    logf = out / "train_log.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.monotonic(), time.process_time()
    wall = lambda: wall_before + time.monotonic() - t0  # noqa: E731
    cpu = lambda: cpu_before + time.process_time() - c0  # noqa: E731
    step0, losses, history, last_val = step, [], [], None

    def save(final: bool) -> None:
        nonlocal last_val
        cfg["training"] = {"steps": step, "wall_s": round(wall(), 1), "cpu_s": round(cpu(), 1),
                           "threads": torch.get_num_threads()}
        tmp = out / (CHECKPOINT + ".tmp")
        torch.save({"config": cfg, "model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
                    "cpu_s": cpu(), "wall_s": wall()}, tmp)
        tmp.replace(ck_path)
        if final or (val_every and step % val_every == 0):
            if data.val[1] > data.val[0]:
                v, grid = validate(Refiner(ema, cfg), data, max_frames=val_frames, seed=seed)
                v["step"] = step
                last_val = v
                cfg["validation"] = v
                _save_png(out / "validation" / f"step_{step}.png", grid)
                say(f"validation step {step}: region PSNR warp {v['psnr_warp']:.2f} -> refined "
                    f"{v['psnr_refined']:.2f} dB; SSIM {v['ssim_warp']:.3f} -> {v['ssim_refined']:.3f}")
                with open(logf, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"validation": v}) + "\n")
        save_refiner(ema if ema_decay > 0 else model, cfg, out)

    model.train()
    while True:
        frac = max(step / steps if steps else 0.0, wall() / (60 * minutes) if minutes else 0.0,
                   cpu() / (60 * cpu_minutes) if cpu_minutes else 0.0)
        if frac >= 1.0 or (cancel is not None and cancel()):
            break
        p = int(rng.choice(patches, p=pw))
        b = max(1, int(round(bs * (patches[0] / p) ** 2)))
        batch = sample_batch(data, rng, b, p, size)
        real, warp = torch.from_numpy(batch["real"]), torch.from_numpy(batch["warp"])
        x0 = scale * (real - warp)
        t = torch.randint(0, t_max, (b,))
        a = ab[t].view(-1, 1, 1, 1)
        noise = torch.randn_like(x0)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        pred = model(xt, t, warp=warp, audio=torch.from_numpy(batch["audio"]),
                     expression=torch.from_numpy(batch["expression"]), pose=torch.from_numpy(batch["pose"]),
                     emotion=torch.from_numpy(batch["emotion"]))
        tgt = {"sample": x0, "epsilon": noise, "v_prediction": a.sqrt() * noise - (1 - a).sqrt() * x0}[kind]
        wgt = 1.0 + mask_w * torch.from_numpy(batch["mask"])
        loss = (wgt * (pred - tgt) ** 2).mean() / wgt.mean()
        for g in opt.param_groups:
            g["lr"] = tcfg["learning_rate"] * min(1.0, (step + 1) / warm)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if ema_decay > 0:
            d = min(ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - d)
        step += 1
        losses.append(loss.item())
        rate = (step - step0) / max(time.monotonic() - t0, 1e-6)
        frac = max(step / steps if steps else 0.0, wall() / (60 * minutes) if minutes else 0.0,
                   cpu() / (60 * cpu_minutes) if cpu_minutes else 0.0)
        el = time.monotonic() - t0
        eta = el * (1 - frac) / max(frac - (step0 / steps if steps else 0.0), 1e-6) if frac > 0 else 0.0
        report(progress, min(frac, 1.0), f"step {step}, loss {losses[-1]:.4f}, {rate:.2f} steps/s, ETA {_fmt_s(eta)}")
        if step % log_every == 0:
            rec = {"step": step, "loss": float(np.mean(losses[-log_every:])), "patch": p, "wall_s": round(wall(), 1),
                   "cpu_s": round(cpu(), 1), "steps_per_s": round(rate, 3)}
            history.append(rec)
            with open(logf, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
            say(f"step {step}: loss {rec['loss']:.4f}, {rate:.2f} steps/s, {rec['cpu_s']:.0f} CPU s, "
                f"{rec['wall_s']:.0f} s wall, ETA {_fmt_s(eta)}")
        if step % ck_every == 0:
            save(final=False)
    cancelled = cancel is not None and cancel()
    if losses and step % log_every:
        with open(logf, "a", encoding="utf-8") as f:  # the last, partial interval
            f.write(json.dumps({"step": step, "loss": float(np.mean(losses[-(step % log_every):])),
                                "wall_s": round(wall(), 1), "cpu_s": round(cpu(), 1)}) + "\n")
    save(final=True)
    if cancelled:
        raise CancelledError(f"training cancelled at step {step}; resume with --resume (weights so far in {out})")
    rate = (step - step0) / max(time.monotonic() - t0, 1e-6)
    return RefinerTrainResult(steps=step, last_loss=float(np.mean(losses[-log_every:])) if losses else float("nan"),
                              wall_s=wall(), cpu_s=cpu(), steps_per_s=rate, weights_dir=out, validation=last_val,
                              history=history)


def is_refiner_weights(path: str | Path) -> bool:
    return (Path(path) / REFINER_CONFIG).is_file()

