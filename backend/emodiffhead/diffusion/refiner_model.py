"""RefinerNet: a small conditional UNet that predicts the residual ``real - warp`` of a region crop.

Input channels: the noisy residual (3) and the warp crop (3). Cross-attention tokens: the audio window and the
expression + pose vector (the encoders of :mod:`.models`); emotion intensities enter the timestep embedding
(linear, no bias, as in :class:`~.models.EmoDenoiser`). It is fully convolutional apart from attention at the
lowest resolution, so it trains on smaller patches ("mixed crops") and renders whole crops.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models import UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor2_0
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .models import AudioEncoder, VectorTokens


class RefinerNet(ModelMixin, ConfigMixin):
    """Residual denoiser; every ``__init__`` argument is saved in ``config.json`` by ``save_pretrained``.

    forward(sample (B, 3, H, W) noisy residual, timestep (B,), warp (B, 3, H, W) in [-1, 1], audio (B, W, M),
    expression (B, E), pose (B, P), emotion (B, K)) -> (B, 3, H, W) prediction (x0 of the residual, epsilon or
    v per the scheduler's ``prediction_type``). H, W: any multiple of 2 ** (levels - 1).
    """

    @register_to_config
    def __init__(self, audio_mels: int = 40, audio_window: int = 16, expression_dim: int = 52, pose_dim: int = 18,
                 num_emotions: int = 8, expression_tokens: int = 4, cross_attention_dim: int = 64,
                 block_out_channels: tuple = (32, 64, 96, 128),
                 down_block_types: tuple = ("DownBlock2D", "DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types: tuple = ("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
                 layers_per_block: int = 1, attention_head_dim: int = 8, norm_num_groups: int = 8,
                 use_audio: bool = True) -> None:
        super().__init__()
        self.unet = UNet2DConditionModel(
            sample_size=64, in_channels=6, out_channels=3, block_out_channels=tuple(block_out_channels),
            down_block_types=tuple(down_block_types), up_block_types=tuple(up_block_types),
            mid_block_type="UNetMidBlock2DCrossAttn", layers_per_block=layers_per_block,
            cross_attention_dim=cross_attention_dim, attention_head_dim=attention_head_dim,
            norm_num_groups=norm_num_groups, class_embed_type="identity")
        self.unet.set_attn_processor(AttnProcessor2_0())
        self.audio_encoder = AudioEncoder(audio_mels, audio_window, cross_attention_dim) if use_audio else None
        self.expression_encoder = VectorTokens(expression_dim + pose_dim, expression_tokens, cross_attention_dim)
        self.emotion_embedding = nn.Linear(num_emotions, block_out_channels[0] * 4, bias=False)
        nn.init.normal_(self.emotion_embedding.weight, std=0.1)
        self.register_buffer("cond_mean", torch.zeros(expression_dim + pose_dim))
        self.register_buffer("cond_std", torch.ones(expression_dim + pose_dim))
        # the last conv starts at zero: an untrained refiner predicts a zero residual (= the warp frame)
        nn.init.zeros_(self.unet.conv_out.weight)
        nn.init.zeros_(self.unet.conv_out.bias)

    @property
    def levels(self) -> int:
        return len(self.config.block_out_channels)

    def set_condition_stats(self, mean, std) -> None:
        """Normalisation (E + P,) of [expression, pose] (from the training frames; saved with the weights)."""
        self.cond_mean.copy_(torch.as_tensor(mean, dtype=self.cond_mean.dtype))
        self.cond_std.copy_(torch.as_tensor(std, dtype=self.cond_std.dtype))

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, *, warp: torch.Tensor, audio: torch.Tensor,
                expression: torch.Tensor, pose: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        dt = sample.dtype
        v = (torch.cat([expression, pose], -1).to(dt) - self.cond_mean.to(dt)) / self.cond_std.to(dt)
        tokens = [self.expression_encoder(v)]
        if self.audio_encoder is not None:
            tokens.insert(0, self.audio_encoder(audio.to(dt), None))
        emo = self.emotion_embedding(emotion.to(dt))
        if timestep.numel() == 1:
            timestep = timestep.reshape(1).expand(sample.shape[0])
        x = torch.cat([sample, warp.to(dt)], 1)
        return self.unet(x, timestep, encoder_hidden_states=torch.cat(tokens, 1), class_labels=emo).sample
