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


@dataclass
class RefinerRun:
    """The state of one refiner training run (built by :func:`setup_refiner_run`): config, data, model, EMA copy,
    optimiser, numpy RNG (patch sizes, batches), step, and the wall / CPU seconds of earlier sessions."""

    cfg: dict[str, Any]
    out: Path
    data: RefinerData
    model: RefinerNet
    ema: RefinerNet
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    say: Callable[[str], None]
    step: int = 0
    cpu_before: float = 0.0
    wall_before: float = 0.0
    t0: float = field(default_factory=time.monotonic)
    c0: float = field(default_factory=time.process_time)

    def wall(self) -> float:
        """Wall seconds of the whole run, resumes included."""
        return self.wall_before + time.monotonic() - self.t0

    def cpu(self) -> float:
        """Process CPU seconds of the whole run, resumes included."""
        return self.cpu_before + time.process_time() - self.c0

    @property
    def tcfg(self) -> dict[str, Any]:
        return self.cfg["train"]

    @property
    def checkpoint(self) -> Path:
        return self.out / CHECKPOINT

    def append_log(self, record: dict[str, Any]) -> None:
        """One JSON line in ``train_log.jsonl``."""
        with open(self.out / "train_log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _checked_config(cfg: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` when it is a refiner config for the dataset's region and its patch sizes fit the UNet."""
    if cfg.get("kind") != "refiner":
        raise InputFileError(f"config {cfg.get('name')!r} is not a refiner config "
                             "(use refine-mouth-128 or refine-face-256)")
    if cfg["region"] != manifest["region"]:
        raise InputFileError(f"the dataset was prepared for the {manifest['region']} region, the config refines "
                             f"the {cfg['region']}: prepare it again with --region {cfg['region']}")
    levels = 2 ** (len(cfg["model"]["block_out_channels"]) - 1)
    for p in cfg["train"].get("patches", [int(cfg["resolution"])]):
        if int(p) % levels:
            raise InputFileError(f"patch size {int(p)} is not a multiple of {levels} (the UNet's down-sampling)")
    return cfg


def setup_refiner_run(dataset_dir: str | Path, out_dir: str | Path, config: str | Path = "refine-mouth-128", *,
                      resume: bool = False, seed: int = 0, threads: int | None = None,
                      log: Callable[[str], None] | None = print) -> RefinerRun:
    """Config, data, seeded model, EMA, optimiser; restored from the checkpoint when ``resume`` and one exists."""
    out = Path(out_dir)
    say = log or (lambda s: None)
    manifest = read_refiner_manifest(dataset_dir)
    state = torch.load(out / CHECKPOINT, weights_only=False) if resume and (out / CHECKPOINT).is_file() else None
    cfg = _checked_config(state["config"] if state else load_config(config), manifest)
    tcfg = cfg["train"]
    torch.set_num_threads(int(threads or tcfg.get("threads", 2)))
    data = load_refiner_data(dataset_dir, int(cfg["resolution"]))
    if data.train[1] - data.train[0] < 4:
        raise InputFileError(f"{dataset_dir}: too few training frames ({data.train[1] - data.train[0]})")
    model = build_refiner_model(cfg, data, seed)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg["learning_rate"], weight_decay=tcfg.get("weight_decay", 0.0))
    run = RefinerRun(cfg, out, data, model, ema, opt, np.random.default_rng(seed), say)
    if state:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        run.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        run.step, run.cpu_before, run.wall_before = int(state["step"]), float(state["cpu_s"]), float(state["wall_s"])
        say(f"resumed from {run.checkpoint} at step {run.step} ({run.cpu_before:.0f} CPU s, "
            f"{run.wall_before:.0f} s wall so far)")
    cfg["signature"] = manifest.get("signature")
    cfg["dataset"] = {"source": manifest.get("source"), "train": list(data.train), "val": list(data.val)}
    out.mkdir(parents=True, exist_ok=True)
    run.t0, run.c0 = time.monotonic(), time.process_time()
    return run


class _Sampler:
    """The training distribution of a run: noise schedule, timestep range, prediction target, patch sizes."""

    def __init__(self, run: RefinerRun) -> None:
        tcfg, size = run.tcfg, int(run.cfg["resolution"])
        self.ab = alphas_cumprod(run.cfg["scheduler"]).float()
        self.t_max = max(1, int(round(tcfg.get("max_strength", 1.0) * len(self.ab))))
        self.kind = run.cfg["scheduler"].get("prediction_type", "sample")
        self.scale = float(run.cfg.get("residual_scale", 1.0))
        self.patches = [int(p) for p in tcfg.get("patches", [size])]
        pw = np.asarray(tcfg.get("patch_weights", [1.0] * len(self.patches)), np.float64)
        self.pw = pw / pw.sum()


def refiner_step(run: RefinerRun, sampler: _Sampler) -> tuple[float, int]:
    """One optimiser step on a batch of random patches (and the EMA update); returns (loss, patch size)."""
    tcfg, size = run.tcfg, int(run.cfg["resolution"])
    p = int(run.rng.choice(sampler.patches, p=sampler.pw))
    b = max(1, int(round(int(tcfg["batch_size"]) * (sampler.patches[0] / p) ** 2)))
    batch = sample_batch(run.data, run.rng, b, p, size)
    real, warp = torch.from_numpy(batch["real"]), torch.from_numpy(batch["warp"])
    x0 = sampler.scale * (real - warp)
    t = torch.randint(0, sampler.t_max, (b,))
    a = sampler.ab[t].view(-1, 1, 1, 1)
    noise = torch.randn_like(x0)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    pred = run.model(xt, t, warp=warp, audio=torch.from_numpy(batch["audio"]),
                     expression=torch.from_numpy(batch["expression"]), pose=torch.from_numpy(batch["pose"]),
                     emotion=torch.from_numpy(batch["emotion"]))
    tgt = {"sample": x0, "epsilon": noise, "v_prediction": a.sqrt() * noise - (1 - a).sqrt() * x0}[sampler.kind]
    wgt = 1.0 + float(tcfg.get("mask_weight", 0.0)) * torch.from_numpy(batch["mask"])
    loss = (wgt * (pred - tgt) ** 2).mean() / wgt.mean()
    for g in run.opt.param_groups:
        g["lr"] = tcfg["learning_rate"] * min(1.0, (run.step + 1) / max(1, int(tcfg.get("warmup_steps", 1))))
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.opt.step()
    ema_decay = float(tcfg.get("ema", 0.0))
    if ema_decay > 0:
        d = min(ema_decay, (1 + run.step) / (10 + run.step))
        with torch.no_grad():
            for pe, pm in zip(run.ema.parameters(), run.model.parameters()):
                pe.lerp_(pm, 1 - d)
    run.step += 1
    return loss.item(), p


def save_refiner_run(run: RefinerRun, *, final: bool, validate_every: int, val_frames: int = 40,
                     seed: int = 0) -> dict[str, Any] | None:
    """Checkpoint (atomically), validate on validation steps and at the end, save the weights; returns the
    validation record or None."""
    run.cfg["training"] = {"steps": run.step, "wall_s": round(run.wall(), 1), "cpu_s": round(run.cpu(), 1),
                           "threads": torch.get_num_threads()}
    tmp = run.out / (CHECKPOINT + ".tmp")
    torch.save({"config": run.cfg, "model": run.model.state_dict(), "ema": run.ema.state_dict(),
                "opt": run.opt.state_dict(), "rng": run.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "step": run.step, "cpu_s": run.cpu(), "wall_s": run.wall()}, tmp)
    tmp.replace(run.checkpoint)
    v = None
    if (final or (validate_every and run.step % validate_every == 0)) and run.data.val[1] > run.data.val[0]:
        v, grid = validate(Refiner(run.ema, run.cfg), run.data, max_frames=val_frames, seed=seed)
        v["step"] = run.step
        run.cfg["validation"] = v
        _save_png(run.out / "validation" / f"step_{run.step}.png", grid)
        run.say(f"validation step {run.step}: region PSNR warp {v['psnr_warp']:.2f} -> refined "
                f"{v['psnr_refined']:.2f} dB; SSIM {v['ssim_warp']:.3f} -> {v['ssim_refined']:.3f}")
        run.append_log({"validation": v})
    save_refiner(run.ema if float(run.tcfg.get("ema", 0.0)) > 0 else run.model, run.cfg, run.out)
    return v


def _budget_fraction(run: RefinerRun, steps: int | None, minutes: float | None, cpu_minutes: float | None) -> float:
    """How much of the first exhausted budget (steps, wall minutes, CPU minutes) the run has used."""
    return max(run.step / steps if steps else 0.0, run.wall() / (60 * minutes) if minutes else 0.0,
               run.cpu() / (60 * cpu_minutes) if cpu_minutes else 0.0)


def train_refiner(dataset_dir: str | Path, out_dir: str | Path, config: str | Path = "refine-mouth-128", *,
                  steps: int | None = None, minutes: float | None = None, cpu_minutes: float | None = None,
                  resume: bool = False, seed: int = 0, threads: int | None = None,
                  checkpoint_every: int | None = None, validate_every: int | None = None, log_every: int = 10,
                  val_frames: int = 40, progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                  log: Callable[[str], None] | None = print) -> RefinerTrainResult:
    """Train (or resume) a personal refiner; see the module docstring for the budgets."""
    if steps is None and minutes is None and cpu_minutes is None:
        raise InputFileError("give --steps, --minutes or --cpu-minutes to bound training")
    run = setup_refiner_run(dataset_dir, out_dir, config, resume=resume, seed=seed, threads=threads, log=log)
    sampler = _Sampler(run)
    ck_every = int(checkpoint_every or run.tcfg.get("checkpoint_every", 100))
    val_every = int(validate_every if validate_every is not None else run.tcfg.get("validate_every", 0))
    saving = dict(validate_every=val_every, val_frames=val_frames, seed=seed)
    step0, losses, history, last_val = run.step, [], [], None
    run.model.train()
    while True:
        if _budget_fraction(run, steps, minutes, cpu_minutes) >= 1.0 or (cancel is not None and cancel()):
            break
        loss, patch = refiner_step(run, sampler)
        losses.append(loss)
        rate = (run.step - step0) / max(time.monotonic() - run.t0, 1e-6)
        frac = _budget_fraction(run, steps, minutes, cpu_minutes)
        el = time.monotonic() - run.t0
        eta = el * (1 - frac) / max(frac - (step0 / steps if steps else 0.0), 1e-6) if frac > 0 else 0.0
        report(progress, min(frac, 1.0), f"step {run.step}, loss {loss:.4f}, {rate:.2f} steps/s, ETA {_fmt_s(eta)}")
        if run.step % log_every == 0:
            history.append(_log_interval(run, losses[-log_every:], patch, rate, eta))
        if run.step % ck_every == 0:
            last_val = save_refiner_run(run, final=False, **saving) or last_val
    cancelled = cancel is not None and cancel()
    if losses and run.step % log_every:  # the last, partial interval
        run.append_log({"step": run.step, "loss": float(np.mean(losses[-(run.step % log_every):])),
                        "wall_s": round(run.wall(), 1), "cpu_s": round(run.cpu(), 1)})
    last_val = save_refiner_run(run, final=True, **saving) or last_val
    if cancelled:
        raise CancelledError(f"training cancelled at step {run.step}; resume with --resume "
                             f"(weights so far in {run.out})")
    rate = (run.step - step0) / max(time.monotonic() - run.t0, 1e-6)
    return RefinerTrainResult(steps=run.step, last_loss=float(np.mean(losses[-log_every:])) if losses else float("nan"),
                              wall_s=run.wall(), cpu_s=run.cpu(), steps_per_s=rate, weights_dir=run.out,
                              validation=last_val, history=history)


def _log_interval(run: RefinerRun, losses: list[float], patch: int, rate: float, eta: float) -> dict[str, Any]:
    """Log the mean loss of the last interval (train_log.jsonl and the log callback); returns the record."""
    rec = {"step": run.step, "loss": float(np.mean(losses)), "patch": patch, "wall_s": round(run.wall(), 1),
           "cpu_s": round(run.cpu(), 1), "steps_per_s": round(rate, 3)}
    run.append_log(rec)
    run.say(f"step {run.step}: loss {rec['loss']:.4f}, {rate:.2f} steps/s, {rec['cpu_s']:.0f} CPU s, "
            f"{rec['wall_s']:.0f} s wall, ETA {_fmt_s(eta)}")
    return rec


def is_refiner_weights(path: str | Path) -> bool:
    return (Path(path) / REFINER_CONFIG).is_file()

