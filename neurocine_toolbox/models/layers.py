"""Transformer layers of the fMRI encoder: 1D patch embedding, attention, blocks, sin-cos positions.

Parameter names follow the ViT/MAE convention that peers' fMRI checkpoints use
(``patch_embed.proj``, ``blocks.{i}.attn.qkv`` …), so importing them is a matter of mapping a few
keys, not of reshaping weights.
"""

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def sincos_positions(dim, n_positions, cls_token=True):
    """Fixed 1D sine-cosine position embeddings ``[n_positions (+1), dim]`` (MAE's recipe).

    Position ``p`` gets ``sin(p·ω_k)`` in the first half and ``cos(p·ω_k)`` in the second, with
    ``ω_k = 10000^(−k/(dim/2))``; the CLS row, when asked for, is all zeros.
    """
    if dim % 2:
        raise ValueError(f"embedding width must be even for sin-cos positions, not {dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angles = np.arange(n_positions, dtype=np.float64)[:, None] * omega[None, :]
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float()


class PatchEmbed1D(nn.Module):
    """Cut ``[N, n_voxels]`` into patches of ``patch_size`` values and embed each as a token.

    A last, incomplete patch is completed with zeros (the store's own padding is zeros too).
    """

    def __init__(self, patch_size, embed_dim):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv1d(1, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        missing = (-x.shape[-1]) % self.patch_size
        if missing:
            x = F.pad(x, (0, missing))
        return self.proj(x[:, None, :]).transpose(1, 2)  # [N, n_patches, embed_dim]


class SelfAttention(nn.Module):
    """Multi-head self-attention over the second axis of ``[N, L, dim]``.

    One implementation for training and interpretation: the fast path is PyTorch's
    ``scaled_dot_product_attention``; with ``return_weights=True`` the same projections give the
    softmax weights ``[N, heads, L, L]`` explicitly, and the output is computed from them.
    """

    def __init__(self, dim, num_heads):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, return_weights=False):
        q, k, v = rearrange(self.qkv(x), "n l (three h d) -> three n h l d", three=3, h=self.num_heads)
        if return_weights:
            weights = torch.softmax((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1)
            out = weights @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(rearrange(out, "n h l d -> n l (h d)")), weights


class Mlp(nn.Module):
    """Two-layer GELU MLP (``fc1``, ``fc2``)."""

    def __init__(self, dim, hidden, dropout=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block; with ``temporal=True`` also attention across a window's TRs.

    The temporal attention (``norm_temp``, ``attn_temp``) follows the spatial one: each token
    position attends to the same position in the other TRs of its window. Its output projection
    starts at zero, so a block loaded from a single-TR (pre-trained) encoder computes exactly what
    it computed before until training changes it.
    """

    def __init__(self, dim, num_heads, mlp_ratio=4.0, dropout=0.0, temporal=False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        self.temporal = temporal
        if temporal:
            self.norm_temp = nn.LayerNorm(dim)
            self.attn_temp = SelfAttention(dim, num_heads)

    def zero_init_temporal(self):
        """Make the temporal attention a no-op (used at construction, before any training)."""
        if self.temporal:
            nn.init.zeros_(self.attn_temp.proj.weight)
            nn.init.zeros_(self.attn_temp.proj.bias)

    def forward(self, x, window=1, return_weights=False, use_temporal=True):
        """``x``: ``[N·window, L, dim]``; returns ``(x, spatial_weights, temporal_weights)``."""
        out, spatial = self.attn(self.norm1(x), return_weights)
        x = x + out
        temporal = None
        if self.temporal and use_temporal:
            seq = rearrange(x, "(n w) l c -> (n l) w c", w=window)
            out, temporal = self.attn_temp(self.norm_temp(seq), return_weights)
            x = rearrange(seq + out, "(n l) w c -> (n w) l c", l=x.shape[1])
        x = x + self.mlp(self.norm2(x))
        return x, spatial, temporal


class ProjectionHead(nn.Module):
    """Map a window's patch tokens ``[N, w·P, D]`` to ``[N, out_tokens, out_dim]``.

    ``channel_mapper`` mixes token positions into ``out_tokens`` rows (the 77 rows of SD 1.5's
    text states); ``projection`` and a residual ``fc`` map the width ``D`` to ``out_dim``.
    """

    def __init__(self, in_tokens, out_tokens, in_dim, out_dim, dropout=0.0, use_norm=True):
        super().__init__()
        self.channel_mapper = nn.Linear(in_tokens, out_tokens, bias=False)
        self.projection = nn.Linear(in_dim, out_dim, bias=False)
        self.fc = nn.Linear(out_dim, out_dim, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(out_dim) if use_norm else nn.Identity()

    def forward(self, tokens):
        x = self.channel_mapper(tokens.transpose(1, 2)).transpose(1, 2)
        projected = self.projection(x)
        x = projected + self.dropout(self.fc(F.gelu(projected)))
        return self.layer_norm(x)


def init_vit_weights(module):
    """ViT/MAE initialisation: xavier-uniform linears, unit LayerNorms, patch conv like a linear."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv1d):
            nn.init.xavier_uniform_(m.weight.view(m.weight.shape[0], -1))
            nn.init.zeros_(m.bias)
