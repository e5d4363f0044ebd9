"""benchmarks/gpu_check.py: the CPU smoke run end to end, and the checks that make the GPU run fail loudly."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

import pytest
import torch

from .conftest import get_dummy_components, get_dummy_inputs


@pytest.fixture(scope="module")
def gpu_check(repo_root):
    spec = importlib.util.spec_from_file_location("gpu_check", repo_root / "benchmarks" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("gpu_check", None)


def _denoiser_passes(gpu_check, autocast_dtype=None):
    """One training-mode and one eval-mode forward of a tiny denoiser on the CPU, under a DeviceWatch."""
    den = get_dummy_components()["denoiser"]
    x = get_dummy_inputs(num_frames=2, size=32)
    f = {k: torch.as_tensor(x[k]) for k in ("audio", "expression", "pose", "emotion")}
    img = torch.zeros(2, 3, 32, 32)
    with gpu_check.DeviceWatch("cpu") as watch:
        for training in (True, False):
            den.train(training)
            with torch.autocast("cpu", dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                den(img, torch.tensor([3]), reference=img, guidance=img, motion=img, **f)
    return watch


def test_the_watch_sees_cpu_passes_and_refuses_them_when_a_gpu_is_expected(gpu_check):
    watch = _denoiser_passes(gpu_check)
    assert watch.passes == {"train": 1, "eval": 1}
    gpu_check.check_observations(watch, gpu_check.Expect("cpu", None))  # what really happened: passes
    with pytest.raises(gpu_check.GpuCheckError) as e:
        gpu_check.check_observations(watch, gpu_check.Expect("cuda", "bfloat16"))
    msg = str(e.value)
    assert "train pass of EmoDenoiser ran on ['cpu'], expected only 'cuda'" in msg
    assert "eval pass of EmoDenoiser ran on ['cpu']" in msg
    assert "training UNet pass under autocast None, expected bfloat16" in msg


def test_the_watch_reads_the_autocast_dtype_of_training_passes(gpu_check):
    watch = _denoiser_passes(gpu_check, torch.bfloat16)
    gpu_check.check_observations(watch, gpu_check.Expect("cpu", "bfloat16"))
    with pytest.raises(gpu_check.GpuCheckError, match="under autocast bfloat16, expected float16"):
        gpu_check.check_observations(watch, gpu_check.Expect("cpu", "float16"))
    with pytest.raises(gpu_check.GpuCheckError, match="under autocast bfloat16, expected None"):
        gpu_check.check_observations(watch, gpu_check.Expect("cpu", None))


def test_autocast_that_did_not_apply_nothing_seen_and_accelerate_elsewhere_all_fail(gpu_check):
    Ob = gpu_check.Observation
    watch = gpu_check.DeviceWatch("cuda")
    with pytest.raises(gpu_check.GpuCheckError, match="no train forward pass.*no eval forward pass"):
        gpu_check.check_observations(watch, gpu_check.Expect("cuda", "bfloat16"))
    watch.passes = {"train": 5, "eval": 5}
    watch.seen = {Ob("train", "UNet2DConditionModel", frozenset({"cuda"}), "bfloat16", "float32")}
    with pytest.raises(gpu_check.GpuCheckError, match="output is float32, expected bfloat16"):
        gpu_check.check_observations(watch, gpu_check.Expect("cuda", "bfloat16"))
    watch.seen = {Ob("train", "UNet2DConditionModel", frozenset({"cuda"}), "bfloat16", "bfloat16")}
    gpu_check.check_observations(watch, gpu_check.Expect("cuda", "bfloat16"),
                                 "training config 'small' on cuda x 1 process(es), mixed precision bf16")
    with pytest.raises(gpu_check.GpuCheckError, match="accelerate says"):
        gpu_check.check_observations(watch, gpu_check.Expect("cuda", "bfloat16"),
                                     "training config 'small' on cpu x 1 process(es), mixed precision no")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_the_full_check_fails_loudly_before_any_work(gpu_check, tmp_path, capsys):
    rc = gpu_check.main(["--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert rc == 1 and "GPU CHECK FAILED" in err and "torch.cuda.is_available() is False" in err
    assert not (tmp_path / "w").exists()


def test_a_work_folder_it_did_not_make_is_never_deleted(gpu_check, tmp_path):
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(gpu_check.GpuCheckError, match="did not make"):
        gpu_check.fresh_workdir(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_smoke_run_trains_renders_and_reports(repo_root, shared_data, tmp_path):
    """The CPU smoke mode end to end (prepare 12 frames, 2 training steps, render 3 frames) as a user runs it."""
    work = tmp_path / "work"
    video = shared_data / "video" / "talking_head_real_a.mp4"
    p = subprocess.run([sys.executable, str(repo_root / "benchmarks" / "gpu_check.py"), "--smoke",
                        "--video", str(video), "--workdir", str(work)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    assert "SMOKE CHECK PASSED" in p.stdout and "loss_start" in p.stdout and "steps_per_s" in p.stdout
    rows = json.loads((work / "gpu_check.json").read_text())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert rows["steps"] == 2 and rows["steps_per_s"] > 0
    assert math.isfinite(rows["loss_start"]) and math.isfinite(rows["loss_end"]) and rows["loss_start"] > 0
    assert rows["forward_passes"]["train"] == 2 and rows["forward_passes"]["eval"] >= 3 * 2  # 3 frames x 2 steps
    assert f"on {device} x 1 process(es)" in rows["accelerate"]
    assert rows["render_frames"] == 3 and (work / "render.mp4").is_file()
    assert (work / "weights" / "model_index.json").is_file()
