"""EmoDiffHeadPipeline: shapes, determinism, windows, CFG, callbacks, cancel, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import get_dummy_components, get_dummy_inputs


def _run(pipe, seed=0, **kw):
    args = get_dummy_inputs()
    args.update(kw)
    return pipe(**args, generator=torch.Generator().manual_seed(seed), output_type="pt").frames


def test_output_shape_and_range(dummy_pipe):
    out = dummy_pipe(**get_dummy_inputs(num_frames=5), generator=torch.Generator().manual_seed(0)).frames
    assert out.shape == (5, 32, 32, 3) and out.dtype == np.uint8
    assert out.std() > 0  # not a constant image


def test_deterministic_under_a_seed(dummy_pipe):
    a, b, c = _run(dummy_pipe, 0), _run(dummy_pipe, 0), _run(dummy_pipe, 1)
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-3


def test_window_starts_cover_every_frame():
    from emodiffhead.diffusion.pipeline import window_starts

    for T, w, o in [(1, 4, 1), (5, 4, 1), (16, 16, 4), (37, 8, 3), (100, 16, 4)]:
        st = window_starts(T, w, o)
        covered = np.zeros(T, int)
        for s in st:
            covered[s:s + w] += 1
        assert covered.min() >= 1 and st[-1] + min(w, T) == T
        assert all(b - a <= w - o for a, b in zip(st, st[1:]))


def test_classifier_free_guidance_changes_the_result(dummy_pipe):
    a = _run(dummy_pipe, 0, guidance_scale=1.0)
    b = _run(dummy_pipe, 0, guidance_scale=3.0)
    assert a.shape == b.shape and (a - b).abs().max() > 1e-4


def test_callback_on_step_end_interrupt_raises_cancelled_promptly(dummy_pipe):
    from emodiffhead.errors import CancelledError

    seen = []

    def cb(pipe, step, t, tensors):
        seen.append(step)
        assert tensors["latents"].shape[1:] == (3, 32, 32)
        if step == 2:
            pipe._interrupt = True
        return tensors

    with pytest.raises(CancelledError):
        _run(dummy_pipe, 0, callback_on_step_end=cb, num_inference_steps=3)
    assert seen == [0, 1, 2]  # stopped before the next denoising step


def test_progress_and_cancel_callbacks(dummy_pipe):
    from emodiffhead.errors import CancelledError

    fracs = []
    _run(dummy_pipe, 0, progress=lambda f, m: fracs.append(f))
    assert fracs == sorted(fracs) and fracs[-1] == pytest.approx(1.0)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(CancelledError):
        _run(dummy_pipe, 0, cancel=cancel)
    assert len(calls) == 4


def test_motion_frames_condition_later_frames():
    """Frame j > 0 of a window depends on the frame generated before it (the motion frame)."""
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline

    pipe = EmoDiffHeadPipeline(**get_dummy_components())
    pipe.set_progress_bar_config(disable=True)
    base = get_dummy_inputs(num_frames=3)
    base["window"] = 3
    a = pipe(**base, generator=torch.Generator().manual_seed(0), output_type="pt").frames
    alt = dict(base)
    alt["audio"] = base["audio"].copy()
    alt["audio"][0] += 3.0  # changes only frame 0's own conditions
    b = pipe(**alt, generator=torch.Generator().manual_seed(0), output_type="pt").frames
    assert (a[0] - b[0]).abs().max() > 1e-4
    assert (a[1] - b[1]).abs().max() > 1e-6  # frame 1 saw frame 0 as its motion frame


def test_dpm_solver_and_save_load_round_trip(tmp_path):
    from diffusers import DPMSolverMultistepScheduler

    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline

    pipe = EmoDiffHeadPipeline(**get_dummy_components("referencenet"))
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
    a = _run(pipe, 3)
    pipe.save_pretrained(tmp_path)
    assert (tmp_path / "model_index.json").is_file() and (tmp_path / "denoiser" / "config.json").is_file()
    back = EmoDiffHeadPipeline.from_pretrained(tmp_path)
    back.set_progress_bar_config(disable=True)
    assert type(back.scheduler).__name__ == "DPMSolverMultistepScheduler"
    torch.testing.assert_close(_run(back, 3), a)


def test_latent_space_with_a_local_autoencoder(tmp_path):
    """Latent configs: guidance, reference and motion frames go through the (user-supplied) AutoencoderKL."""
    from diffusers import AutoencoderKL

    from emodiffhead.diffusion.models import EmoDenoiser
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline, make_scheduler

    from .conftest import E, K, M, P, W

    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=4, sample_size=32).eval()
    den = EmoDenoiser(image_channels=4, guidance_channels=4, sample_size=16, block_out_channels=(8, 16),
                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                      up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16, attention_head_dim=4,
                      norm_num_groups=4, audio_mels=M, audio_window=W, expression_dim=E, pose_dim=P, num_emotions=K,
                      expression_tokens=2).eval()
    sched = make_scheduler("dpmsolver++", dict(num_train_timesteps=100, prediction_type="v_prediction"))
    pipe = EmoDiffHeadPipeline(den, sched, vae=vae)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.resolution == 32
    out = pipe(**get_dummy_inputs(num_frames=3), generator=torch.Generator().manual_seed(0)).frames
    assert out.shape == (3, 32, 32, 3)
    pipe.save_pretrained(tmp_path)
    back = EmoDiffHeadPipeline.from_pretrained(tmp_path)
    back.set_progress_bar_config(disable=True)
    again = back(**get_dummy_inputs(num_frames=3), generator=torch.Generator().manual_seed(0)).frames
    assert np.abs(again.astype(int) - out).max() <= 1
