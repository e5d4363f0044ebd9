"""diffusers' idioms: BaseOutput results, a progress bar, the inference defaults and the scheduler saved with the
pipeline (folders saved before still load as they did), and diffusion never importing the CLI layer."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import torch

from .conftest import get_dummy_components, get_dummy_inputs

SCHED = dict(num_train_timesteps=100, prediction_type="sample", clip_sample=False, beta_schedule="squaredcos_cap_v2")


def test_outputs_are_diffusers_base_outputs(dummy_pipe):
    from diffusers.utils import BaseOutput

    out = dummy_pipe(**get_dummy_inputs(num_frames=3), generator=torch.Generator().manual_seed(0))
    assert isinstance(out, BaseOutput) and out[0] is out.frames and out["frames"].shape == (3, 32, 32, 3)
    den = dummy_pipe.denoiser
    x = torch.zeros(1, 3, 32, 32)
    a = get_dummy_inputs(num_frames=1)
    pred = den(x, torch.tensor([5]), reference=x, guidance=x, audio=torch.as_tensor(a["audio"]),
               expression=torch.as_tensor(a["expression"]), pose=torch.as_tensor(a["pose"]),
               emotion=torch.as_tensor(a["emotion"]))
    assert isinstance(pred, BaseOutput) and pred.to_tuple()[0].shape == (1, 3, 32, 32)


def test_the_progress_bar_counts_every_denoising_step(capsys):
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline

    pipe = EmoDiffHeadPipeline(**get_dummy_components())
    pipe(**get_dummy_inputs(num_frames=5), generator=torch.Generator().manual_seed(0))  # window 4 x 2 steps
    assert "8/8" in capsys.readouterr().err
    pipe.set_progress_bar_config(disable=True)
    pipe(**get_dummy_inputs(num_frames=5), generator=torch.Generator().manual_seed(0))
    assert "8/8" not in capsys.readouterr().err


def test_inference_defaults_travel_in_model_index_json(tmp_path):
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline

    pipe = EmoDiffHeadPipeline(**get_dummy_components(), num_inference_steps=3, guidance_scale=2.0, window=3,
                               overlap=1)
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert (index["num_inference_steps"], index["guidance_scale"], index["window"], index["overlap"]) == (3, 2.0, 3, 1)
    loaded = EmoDiffHeadPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    args = {k: v for k, v in get_dummy_inputs(num_frames=5).items()
            if k not in ("num_inference_steps", "window", "overlap")}
    seen = []
    loaded(**args, callback_on_step_end=lambda p, i, t, x: seen.append(i))  # the saved defaults: 3 frames x 3 steps
    assert seen == list(range(9)) and loaded.guidance_scale == 2.0


def test_a_folder_saved_before_takes_its_inference_settings_from_the_config_file(tmp_path):
    """Weights written by the old trainer: model_index.json without inference settings, a DPM-Solver scheduler
    saved without the training schedule's clip_sample; emodiffhead_config.json holds both."""
    from diffusers import DPMSolverMultistepScheduler

    from emodiffhead.diffusion.config import CONFIG_FILE
    from emodiffhead.diffusion.loading import load_pipeline
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline

    comp = get_dummy_components()
    sched = dict(SCHED)
    sched.pop("clip_sample")
    comp["scheduler"] = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", **sched)
    EmoDiffHeadPipeline(**comp).save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    for k in ("num_inference_steps", "guidance_scale", "window", "overlap"):
        index.pop(k)
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    inference = {"scheduler": "dpmsolver++", "num_inference_steps": 5, "guidance_scale": 1.5, "window": 6, "overlap": 2}
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"name": "old", "scheduler": SCHED, "inference": inference}))
    pipe, cfg = load_pipeline(tmp_path, device="cpu")
    assert cfg["name"] == "old"
    assert (pipe.config.num_inference_steps, pipe.config.guidance_scale, pipe.config.window, pipe.config.overlap) == (
        5, 1.5, 6, 2)
    ddim, _ = load_pipeline(tmp_path, device="cpu", scheduler="ddim")
    assert type(ddim.scheduler).__name__ == "DDIMScheduler" and ddim.scheduler.config.clip_sample is False


def test_scheduler_swaps_keep_the_training_schedule():
    """make_scheduler goes through from_config: DDIM -> DPM-Solver++ -> DDIM keeps clip_sample and the timesteps."""
    from diffusers import DDIMScheduler

    from emodiffhead.diffusion.pipeline import make_scheduler

    dpm = make_scheduler("dpmsolver++", SCHED)
    back = make_scheduler("ddim", dpm.config)
    direct = DDIMScheduler(**SCHED)
    assert dpm.config.algorithm_type == "dpmsolver++" and back.config.clip_sample is False
    back.set_timesteps(7)
    direct.set_timesteps(7)
    assert torch.equal(back.timesteps, direct.timesteps)
    assert np.allclose(back.alphas_cumprod.numpy(), direct.alphas_cumprod.numpy())


def test_the_diffusion_package_never_imports_the_cli_layer():
    """commands -> diffusion only: the training arguments live beside the training script (train_args.py)."""
    root = Path(__file__).resolve().parents[2] / "backend" / "emodiffhead" / "diffusion"
    bad = []
    for f in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                name = ("." * node.level) + (node.module or "")
                if name.startswith(("..commands", "..cli", "emodiffhead.commands", "emodiffhead.cli")):
                    bad.append(f"{f.name}: from {name}")
            elif isinstance(node, ast.Import):
                bad += [f"{f.name}: import {a.name}" for a in node.names if a.name.startswith("emodiffhead.c")]
    assert len(list(root.glob("*.py"))) > 5 and bad == []
