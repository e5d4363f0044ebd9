"""Tiny seeded components in diffusers' test style (a 2-level UNet at 32 px, 2 inference steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# one thread: on a shared, loaded CPU two threads spend most of their time waiting for each other (8x slower)
torch.set_num_threads(1)


E, P, K, W, M = 5, 18, 8, 4, 8


def get_dummy_components(reference_mode: str = "concat", seed: int = 0, motion_frames: int = 1):
    from emodiffhead.diffusion.models import EmoDenoiser
    from emodiffhead.diffusion.pipeline import make_scheduler

    torch.manual_seed(seed)
    denoiser = EmoDenoiser(
        sample_size=32, block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16, attention_head_dim=4,
        norm_num_groups=4, audio_mels=M, audio_window=W, expression_dim=E, pose_dim=P, num_emotions=K,
        expression_tokens=2, reference_mode=reference_mode, motion_frames=motion_frames)
    denoiser.eval()
    scheduler = make_scheduler("ddim", dict(num_train_timesteps=100, prediction_type="sample", clip_sample=False,
                                            beta_schedule="squaredcos_cap_v2"))
    return {"denoiser": denoiser, "scheduler": scheduler}


def get_dummy_inputs(num_frames: int = 5, seed: int = 0, size: int = 40) -> dict:
    r = np.random.default_rng(seed)
    return dict(reference=r.integers(0, 256, (size, size, 3), dtype=np.uint8),
                guidance=r.integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8),
                audio=r.normal(size=(num_frames, W, M)).astype(np.float32),
                expression=r.normal(size=(num_frames, E)).astype(np.float32),
                pose=r.normal(size=(num_frames, P)).astype(np.float32) * 0.1,
                emotion=r.random((num_frames, K)).astype(np.float32),
                num_inference_steps=2, window=4, overlap=1)


@pytest.fixture
def dummy_pipe():
    from emodiffhead.diffusion.pipeline import EmoDiffHeadPipeline

    pipe = EmoDiffHeadPipeline(**get_dummy_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe
