"""The layers that turn a 2D Stable Diffusion UNet into a video UNet (explicit adapters).

The inflated UNet still runs diffusers' 2D blocks, on the frames of every clip stacked in the
batch dimension (``[(b f), c, h, w]``, as diffusers' own AnimateDiff does). The layers below
regroup those rows by clip where they need time, using the clip length held in a
:class:`FrameContext` that the video UNet sets before each call. Every new layer starts as the
identity, so at step 0 the inflated model gives, frame by frame, exactly what the 2D model gives:

- :class:`PseudoConv3d`: the 2D convolution, then a temporal convolution whose output is added
  to its input through a zero-initialised kernel;
- :class:`SparseCausalAttnProcessor`: spatial self-attention whose keys and values also come from
  the previous two frames (Tune-A-Video), blended in by a zero-initialised gate;
- :class:`TemporalAttention`: attention across the frames at each position, with a
  zero-initialised output projection (diffusers' ``Attention``);
- :class:`VideoTransformerBlock`: diffusers' ``BasicTransformerBlock`` followed by a
  :class:`TemporalAttention`.
"""

import math

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from einops import rearrange
from torch import nn


class FrameContext:
    """Frames per clip of the current forward pass, shared by every video layer of one UNet."""

    def __init__(self):
        self.frames = 1


class PseudoConv3d(nn.Module):
    """A 2D convolution per frame followed by a residual temporal convolution (kernel 3).

    Parameters
    ----------
    spatial : nn.Conv2d
        The 2D model's convolution (kept, weights and all).
    context : FrameContext
    """

    def __init__(self, spatial, context):
        super().__init__()
        self.spatial = spatial
        self.temporal = nn.Conv1d(spatial.out_channels, spatial.out_channels, 3, padding=1)
        nn.init.zeros_(self.temporal.weight)  # residual branch: identity at step 0
        nn.init.zeros_(self.temporal.bias)
        self.context = context

    def forward(self, x):
        x = self.spatial(x)
        frames = self.context.frames
        if frames == 1:
            return x
        h, w = x.shape[-2:]
        t = rearrange(x, "(b f) c h w -> (b h w) c f", f=frames)
        t = rearrange(self.temporal(t), "(b h w) c f -> (b f) c h w", h=h, w=w)
        return x + t


class SparseCausalAttnProcessor(nn.Module):
    """Self-attention over a frame's own tokens and, through a gate, those of the two frames before.

    With the gate at 0 (its initial value) the result is exactly diffusers' ``AttnProcessor2_0``:
    the same projections, the same ``scaled_dot_product_attention``. The sparse-causal
    attention (keys and values of frames ``i``, ``i−1``, ``i−2``; the first frames repeat frame 0)
    is blended in as ``self + gate · (sparse_causal − self)``.

    Parameters
    ----------
    context : FrameContext
    heads : int
        One gate per head.
    """

    def __init__(self, context, heads):
        super().__init__()
        self.context = context
        self.gate = nn.Parameter(torch.zeros(heads))

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None):
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("sparse-causal attention is self-attention without a mask")
        batch = hidden_states.shape[0]
        heads = attn.heads
        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        head_dim = key.shape[-1] // heads
        query, key, value = (t.view(batch, -1, heads, head_dim).transpose(1, 2) for t in (query, key, value))
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
        frames = self.context.frames
        if frames > 1:
            out = out + self.gate.to(out.dtype)[:, None, None] * (self._sparse_causal(query, key, value, frames) - out)
        out = out.transpose(1, 2).reshape(batch, -1, heads * head_dim).to(query.dtype)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)

    @staticmethod
    def _sparse_causal(query, key, value, frames):
        index = torch.arange(frames, device=query.device)
        previous = [index, (index - 1).clamp(min=0), (index - 2).clamp(min=0)]

        def gather(t):
            t = rearrange(t, "(b f) h l d -> b f h l d", f=frames)
            return rearrange(torch.cat([t[:, i] for i in previous], dim=-2), "b f h l d -> (b f) h l d")

        return F.scaled_dot_product_attention(query, gather(key), gather(value), dropout_p=0.0, is_causal=False)


def sincos_frame_positions(dim, length):
    """Fixed sin-cos positions ``[length, dim]`` of frames within a clip."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    scale = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * scale)
    table[:, 1::2] = torch.cos(position * scale[: dim // 2])
    return table


class TemporalAttention(nn.Module):
    """Attention across the frames of a clip at every spatial position (residual, zero-initialised).

    Parameters
    ----------
    dim : int
        Channels of the tokens.
    heads : int
    context : FrameContext
    max_frames : int
        Length of the fixed frame-position table.
    """

    def __init__(self, dim, heads, context, max_frames=32):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(query_dim=dim, heads=heads, dim_head=dim // heads, bias=False)
        nn.init.zeros_(self.attn.to_out[0].weight)
        nn.init.zeros_(self.attn.to_out[0].bias)
        self.register_buffer("positions", sincos_frame_positions(dim, max_frames), persistent=False)
        self.context = context

    def forward(self, x):
        frames = self.context.frames
        if frames == 1:
            return x
        if frames > len(self.positions):
            raise ValueError(f"clips of {frames} frames exceed the temporal layers' {len(self.positions)}")
        tokens = x.shape[1]
        t = rearrange(self.norm(x), "(b f) l c -> (b l) f c", f=frames)
        t = self.attn(t + self.positions[:frames].to(t.dtype))
        return x + rearrange(t, "(b l) f c -> (b f) l c", l=tokens)


class VideoTransformerBlock(nn.Module):
    """diffusers' ``BasicTransformerBlock`` (spatial self-attention, cross-attention, feed-forward),
    then attention across frames, as Tune-A-Video orders them.

    Parameters
    ----------
    block : diffusers.models.attention.BasicTransformerBlock
    temporal : TemporalAttention
    """

    def __init__(self, block, temporal):
        super().__init__()
        self.block = block
        self.temporal = temporal

    def forward(self, hidden_states, *args, **kwargs):
        return self.temporal(self.block(hidden_states, *args, **kwargs))
