"""EmoDenoiser: the EMOdiffhead denoising network (a diffusers UNet2DConditionModel plus condition encoders).

Conditions and where they enter the UNet:

- noisy image or latent ``sample`` (B, C, H, W), concatenated along channels with
  the guidance image (B, C, H, W) (the head posed by the track, e.g. the warp renderer's frame),
  the reference image (B, C, H, W) when ``reference_mode`` is ``"concat"`` (the cheap identity path),
  and ``motion_frames`` previous generated frames (B, C * motion_frames, H, W) (temporal consistency);
- audio: a window of log-mel features (B, W, M) -> W cross-attention tokens;
- expression (B, E) and pose (B, P) -> ``expression_tokens`` cross-attention tokens;
- emotion intensities (B, K) (one column per ``emotion.EMOTIONS`` category) -> a vector added to the
  timestep embedding. The map is linear in the intensities (no bias), so scaling an intensity moves the
  embedding along a fixed direction by a proportional amount: continuous and monotonic by construction;
- identity, when ``reference_mode`` is ``"referencenet"``: a second UNet (the ReferenceNet) sees the
  reference image; its self-attention inputs are stored and appended to the keys/values of the
  denoiser's self-attention (mutual self-attention through diffusers attention processors).

Classifier-free guidance: ``audio_keep`` / ``emotion_keep`` (B,) masks replace dropped audio tokens with a
learned null window and dropped emotion with zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models import UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor2_0
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

__all__ = ["EmoDenoiser", "DenoiserOutput", "ReferenceBank", "ReferenceAttnProcessor", "AudioEncoder",
           "VectorTokens"]


@dataclass
class DenoiserOutput(BaseOutput):
    """sample: (B, out_channels, H, W) the model's prediction (epsilon, x0 or v, per the scheduler config)."""

    sample: torch.Tensor


class ReferenceBank:
    """Self-attention inputs of the ReferenceNet, keyed by layer name: ``{name: (B, N, C)}``."""

    def __init__(self) -> None:
        self.features: dict[str, torch.Tensor] = {}
        self.mode = "off"  # "write" (ReferenceNet pass), "read" (denoiser pass) or "off"


class ReferenceAttnProcessor:
    """Self-attention processor for mutual self-attention with reference features.

    In ``write`` mode (on the ReferenceNet) it stores its input tokens (B, N, C) in the bank under ``name``;
    in ``read`` mode (on the denoiser) keys and values are computed from ``[own tokens, reference tokens]``.
    """

    def __init__(self, bank: ReferenceBank, name: str) -> None:
        self.bank = bank
        self.name = name
        self.inner = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kw):
        if encoder_hidden_states is None and hidden_states.ndim == 3:
            if self.bank.mode == "write":
                self.bank.features[self.name] = hidden_states
            elif self.bank.mode == "read" and self.name in self.bank.features:
                ref = self.bank.features[self.name].to(hidden_states.dtype)
                if ref.shape[0] != hidden_states.shape[0]:
                    ref = ref.repeat_interleave(hidden_states.shape[0] // ref.shape[0], dim=0)
                encoder_hidden_states = torch.cat([hidden_states, ref], dim=1)
        return self.inner(attn, hidden_states, encoder_hidden_states=encoder_hidden_states,
                          attention_mask=attention_mask, temb=temb)


class AudioEncoder(nn.Module):
    """(B, W, M) log-mel window -> (B, W, D) tokens."""

    def __init__(self, mels: int, window: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(mels, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.pos = nn.Parameter(torch.randn(window, dim) * 0.02)
        self.null = nn.Parameter(torch.zeros(window, dim))

    def forward(self, audio: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        tok = self.proj(audio) + self.pos
        if keep is not None:
            k = keep.to(tok.dtype).view(-1, 1, 1)
            tok = k * tok + (1 - k) * self.null.unsqueeze(0)
        return tok


class VectorTokens(nn.Module):
    """(B, N) vector -> (B, n_tokens, D) tokens through a small MLP."""

    def __init__(self, dim_in: int, n_tokens: int, dim: int) -> None:
        super().__init__()
        self.n_tokens, self.dim = n_tokens, dim
        self.mlp = nn.Sequential(nn.Linear(dim_in, dim * 2), nn.SiLU(), nn.Linear(dim * 2, n_tokens * dim))
        self.pos = nn.Parameter(torch.randn(n_tokens, dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x).view(x.shape[0], self.n_tokens, self.dim) + self.pos


class EmoDenoiser(ModelMixin, ConfigMixin):
    """The EMOdiffhead denoiser; every ``__init__`` argument is saved in ``config.json`` by ``save_pretrained``.

    image_channels: channels of the generated space (3 in pixel space, 4 for an AutoencoderKL latent).
    sample_size: spatial size H = W of that space. guidance_channels: channels of the guidance image (0: none).
    reference_mode: ``"concat"`` or ``"referencenet"``. motion_frames: previous frames given as input.
    audio_mels, audio_window: log-mel bands and window length (frames) per video frame.
    expression_dim, pose_dim, num_emotions: sizes of the per-frame vectors. cross_attention_dim: token size.
    block_out_channels, down_block_types, up_block_types, layers_per_block, attention_head_dim,
    norm_num_groups: the UNet2DConditionModel layout (put attention only at low resolution on a CPU).
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        image_channels: int = 3,
        sample_size: int = 64,
        guidance_channels: int = 3,
        reference_mode: str = "concat",
        motion_frames: int = 1,
        audio_mels: int = 40,
        audio_window: int = 16,
        expression_dim: int = 52,
        pose_dim: int = 18,
        num_emotions: int = 8,
        expression_tokens: int = 4,
        cross_attention_dim: int = 64,
        block_out_channels: tuple = (32, 64, 64),
        down_block_types: tuple = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types: tuple = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block: int = 1,
        attention_head_dim: int = 8,
        norm_num_groups: int = 8,
    ) -> None:
        super().__init__()
        if reference_mode not in ("concat", "referencenet"):
            raise ValueError(f"reference_mode must be 'concat' or 'referencenet', got {reference_mode!r}")
        in_ch = image_channels * (1 + motion_frames + (reference_mode == "concat")) + guidance_channels
        unet_kw = dict(
            sample_size=sample_size, out_channels=image_channels, block_out_channels=tuple(block_out_channels),
            down_block_types=tuple(down_block_types), up_block_types=tuple(up_block_types),
            mid_block_type="UNetMidBlock2DCrossAttn", layers_per_block=layers_per_block,
            cross_attention_dim=cross_attention_dim, attention_head_dim=attention_head_dim,
            norm_num_groups=norm_num_groups,
        )
        self.unet = UNet2DConditionModel(in_channels=in_ch, class_embed_type="identity", **unet_kw)
        time_dim = block_out_channels[0] * 4
        self.audio_encoder = AudioEncoder(audio_mels, audio_window, cross_attention_dim)
        self.expression_encoder = VectorTokens(expression_dim + pose_dim, expression_tokens, cross_attention_dim)
        # linear, no bias: emotion embedding = sum_k intensity_k * e_k (continuous, monotonic in intensity)
        self.emotion_embedding = nn.Linear(num_emotions, time_dim, bias=False)
        nn.init.normal_(self.emotion_embedding.weight, std=0.5)
        # normalisation of [expression, pose] (set from the training data; saved with the weights)
        self.register_buffer("cond_mean", torch.zeros(expression_dim + pose_dim))
        self.register_buffer("cond_std", torch.ones(expression_dim + pose_dim))
        self.bank = ReferenceBank()
        if reference_mode == "referencenet":
            self.reference_net = UNet2DConditionModel(in_channels=image_channels, **unet_kw)
            self.reference_token = nn.Parameter(torch.zeros(1, 1, cross_attention_dim))
            self._install_reference_processors()
        else:
            self.reference_net = None

    # ---- ReferenceNet ---------------------------------------------------------------------------
    def _install_reference_processors(self) -> None:
        for net in (self.unet, self.reference_net):
            procs = {}
            for name in net.attn_processors:
                procs[name] = (ReferenceAttnProcessor(self.bank, name.replace(".processor", ""))
                               if name.endswith("attn1.processor") else AttnProcessor2_0())
            net.set_attn_processor(procs)

    def encode_reference(self, reference: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the ReferenceNet on ``reference`` (B, C, H, W) and return its features (cache them across steps)."""
        if self.reference_net is None:
            return {}
        self.bank.features = {}
        self.bank.mode = "write"
        try:
            t = torch.zeros(reference.shape[0], device=reference.device, dtype=torch.long)
            tok = self.reference_token.expand(reference.shape[0], 1, -1).to(reference.dtype)
            self.reference_net(reference, t, encoder_hidden_states=tok)
        finally:
            self.bank.mode = "off"
        return dict(self.bank.features)

    # ---- forward --------------------------------------------------------------------------------
    def set_condition_stats(self, mean, std) -> None:
        """Set the normalisation (E + P,) of [expression, pose] (from :func:`data.condition_stats`)."""
        self.cond_mean.copy_(torch.as_tensor(mean, dtype=self.cond_mean.dtype))
        self.cond_std.copy_(torch.as_tensor(std, dtype=self.cond_std.dtype))

    def encode_conditions(self, audio: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor,
                          audio_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-attention tokens (B, W + expression_tokens, D) from audio (B, W, M), expression (B, E), pose (B, P)."""
        a = self.audio_encoder(audio, audio_keep)
        v = (torch.cat([expression, pose], dim=-1) - self.cond_mean.to(audio.dtype)) / self.cond_std.to(audio.dtype)
        e = self.expression_encoder(v)
        return torch.cat([a, e], dim=1)

    def emotion_vector(self, emotion: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Emotion intensities (B, K) -> (B, time_embed_dim) added to the timestep embedding (0 when dropped)."""
        if keep is not None:
            emotion = emotion * keep.to(emotion.dtype).view(-1, 1)
        return self.emotion_embedding(emotion)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        *,
        reference: torch.Tensor,
        audio: torch.Tensor,
        expression: torch.Tensor,
        pose: torch.Tensor,
        emotion: torch.Tensor,
        guidance: torch.Tensor | None = None,
        motion: torch.Tensor | None = None,
        audio_keep: torch.Tensor | None = None,
        emotion_keep: torch.Tensor | None = None,
        reference_features: dict[str, torch.Tensor] | None = None,
    ) -> DenoiserOutput:
        """Predict from a noisy ``sample`` (B, C, H, W) at ``timestep``; shapes as in the module docstring.

        motion: (B, C * motion_frames, H, W); None uses the reference in every motion slot.
        reference_features: the output of :meth:`encode_reference` (computed here when None).
        """
        cfg = self.config
        B = sample.shape[0]
        parts = [sample]
        if cfg.guidance_channels:
            if guidance is None:
                raise ValueError("this model needs a guidance image")
            parts.append(guidance)
        if cfg.reference_mode == "concat":
            parts.append(reference)
        if cfg.motion_frames:
            parts.append(motion if motion is not None else reference.repeat(1, cfg.motion_frames, 1, 1))
        x = torch.cat(parts, dim=1)
        tokens = self.encode_conditions(audio, expression, pose, audio_keep)
        emo = self.emotion_vector(emotion, emotion_keep)
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], device=sample.device)
        timestep = timestep.expand(B) if timestep.numel() == 1 else timestep
        if self.reference_net is not None:
            feats = reference_features if reference_features is not None else self.encode_reference(reference)
            self.bank.features = feats
            self.bank.mode = "read"
        try:
            out = self.unet(x, timestep, encoder_hidden_states=tokens, class_labels=emo.to(x.dtype)).sample
        finally:
            self.bank.mode = "off"
        return DenoiserOutput(sample=out)

