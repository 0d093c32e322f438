"""The fMRI encoder: a ViT over 1D patches of visual-cortex fMRI, one window of TRs at a time.

Input ``[N, w, n_voxels]`` (the store's columns in the store's order: L_V1, R_V1, … R_V4 for the
MMP selection, grayordinate order, left cortex first, for a reliability selection; padded to a
multiple of 16). Each TR is cut into
``P = ⌈n_voxels / patch_size⌉`` patches of consecutive columns (16 values each in the paper),
embedded, given fixed sin-cos positions over that order and a CLS token,
and passed through ``depth`` blocks of spatial self-attention (optionally followed by attention
across the window's TRs). The projection head maps the window's ``w·P`` patch tokens to
``[out_tokens, out_dim]`` = ``[77, 768]``, the shape of the text-encoder states that Stable
Diffusion 1.5 is conditioned on; the mean of those rows, through ``clip_head``, is the pooled
embedding compared with CLIP text and image embeddings in contrastive training.
"""

from dataclasses import dataclass
from functools import partial

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from einops import rearrange
from torch import nn

from .layers import Block, PatchEmbed1D, ProjectionHead, init_vit_weights, sincos_positions


@dataclass
class FMRIEncoderOutput(BaseOutput):
    """What :class:`FMRIEncoder` returns.

    Attributes
    ----------
    text_states : Tensor ``[N, out_tokens, out_dim]``
        Stands in for the text encoder's hidden states when conditioning the diffusion model.
    embeds : Tensor ``[N, clip_dim]``
        Pooled embedding for the contrastive losses (not normalised).
    hidden_states : Tensor ``[N, w, 1 + P, embed_dim]``
        Last-layer tokens (CLS first) of every TR of the window.
    attentions : tuple of Tensor, optional
        Per layer, spatial attention weights ``[N, w, heads, 1 + P, 1 + P]``.
    temporal_attentions : tuple of Tensor, optional
        Per layer, attention across TRs ``[N, 1 + P, heads, w, w]`` (when enabled).
    """

    text_states: torch.Tensor = None
    embeds: torch.Tensor = None
    hidden_states: torch.Tensor = None
    attentions: tuple = None
    temporal_attentions: tuple = None


class FMRIEncoder(ModelMixin, ConfigMixin):
    """ViT encoder of fMRI windows with a projection to Stable Diffusion's conditioning space.

    Parameters
    ----------
    num_voxels : int
        Columns per TR; when not a multiple of ``patch_size`` the last patch is zero-padded.
    patch_size : int
        Values per token (paper: 16).
    embed_dim, depth, num_heads, mlp_ratio
        Transformer size (paper: 1024, 24, 16, 4).
    window_size : int
        TRs per window (paper: w = 2).
    temporal_attention : bool
        Add attention across the window's TRs after every spatial attention.
    out_tokens, out_dim : int
        Shape of the conditioning output (SD 1.5: 77 × 768).
    clip_dim : int
        Width of the pooled embedding (CLIP ViT-L/14: 768).
    dropout : float
    head_norm : bool
        LayerNorm at the end of the projection head.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(self, num_voxels=4192, patch_size=16, embed_dim=1024, depth=24, num_heads=16,
                 mlp_ratio=4.0, window_size=2, temporal_attention=True, out_tokens=77,
                 out_dim=768, clip_dim=768, dropout=0.0, head_norm=True):
        super().__init__()
        self.num_patches = -(-num_voxels // patch_size)  # a last partial patch is zero-padded
        self.patch_embed = PatchEmbed1D(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.register_buffer("pos_embed", sincos_positions(embed_dim, self.num_patches)[None])
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, dropout, temporal=temporal_attention) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.proj_head = ProjectionHead(self.num_patches * window_size, out_tokens, embed_dim, out_dim,
                                        dropout, use_norm=head_norm)
        self.clip_head = nn.Sequential(nn.LayerNorm(out_dim), nn.Linear(out_dim, clip_dim))
        self.gradient_checkpointing = False
        init_vit_weights(self)
        nn.init.normal_(self.cls_token, std=0.02)
        for block in self.blocks:
            block.zero_init_temporal()

    def check_input(self, fmri):
        """Return ``fmri`` as ``[N, w, n_voxels]``, or raise a ValueError saying what is wrong."""
        given = list(fmri.shape)
        if fmri.ndim == 2:
            fmri = fmri[:, None]
        expected = (self.config.window_size, self.config.num_voxels)
        if fmri.ndim != 3 or tuple(fmri.shape[1:]) != expected:
            raise ValueError(f"the encoder takes fMRI windows [N, {expected[0]}, {expected[1]}], not {given}")
        return fmri

    def encode_tokens(self, frames, keep_index=None, window=1, use_temporal=True, return_weights=False,
                      token_mask=None):
        """Run the transformer on TRs ``[N·window, n_voxels]``.

        Parameters
        ----------
        frames : Tensor
            One row per TR; consecutive groups of ``window`` rows form a window.
        keep_index : LongTensor ``[N·window, K]``, optional
            Patches to keep (masked autoencoding); all when None.
        window : int
        use_temporal : bool
            Apply the temporal attention (when the model has it).
        return_weights : bool
        token_mask : Tensor ``[N·window, P, embed_dim]``, optional
            Multiplies the patch embeddings before positions are added (spatial masking in
            token space, :func:`~neurocine_toolbox.training.augment.token_mask`).

        Returns
        -------
        tokens : Tensor ``[N·window, 1 + K, embed_dim]`` (after the final norm)
        spatial, temporal : list of Tensor or None, per layer
        """
        x = self.patch_embed(frames.to(self.patch_embed.proj.weight.dtype))
        if token_mask is not None:
            x = x * token_mask.to(x)
        x = x + self.pos_embed[:, 1:]
        if keep_index is not None:
            x = torch.gather(x, 1, keep_index[..., None].expand(-1, -1, x.shape[-1]))
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        spatial, temporal = [], []
        for block in self.blocks:
            if self.gradient_checkpointing and self.training:
                # enable_gradient_checkpointing() installs diffusers' function or the caller's.
                checkpoint = self._gradient_checkpointing_func or partial(
                    torch.utils.checkpoint.checkpoint, use_reentrant=False)
                x, s, t = checkpoint(block, x, window, return_weights, use_temporal)
            else:
                x, s, t = block(x, window, return_weights, use_temporal)
            spatial.append(s)
            temporal.append(t)
        return self.norm(x), spatial, temporal

    def forward(self, fmri, output_attentions=False, return_dict=True, token_mask=None):
        """Encode fMRI windows.

        Parameters
        ----------
        fmri : Tensor ``[N, w, n_voxels]`` (or ``[N, n_voxels]`` when ``w`` is 1)
        output_attentions : bool
            Also return every layer's attention weights (for the attention report).
        return_dict : bool
        token_mask : Tensor ``[N, P, embed_dim]``, optional
            Multiplies the patch embeddings of every TR of a window (spatial masking in token
            space); ``P`` is :attr:`num_patches`.

        Returns
        -------
        FMRIEncoderOutput
        """
        fmri = self.check_input(fmri)
        n, window = fmri.shape[:2]
        if token_mask is not None:
            expected = (n, self.num_patches, self.config.embed_dim)
            if tuple(token_mask.shape) != expected:
                raise ValueError(f"token_mask must be {list(expected)}, not {list(token_mask.shape)}")
            token_mask = token_mask.repeat_interleave(window, dim=0)  # the same for every TR of a window
        tokens, spatial, temporal = self.encode_tokens(
            rearrange(fmri, "n w v -> (n w) v"), window=window, return_weights=output_attentions,
            token_mask=token_mask)
        tokens = rearrange(tokens, "(n w) l c -> n w l c", w=window)
        text_states = self.proj_head(rearrange(tokens[:, :, 1:], "n w p c -> n (w p) c"))
        embeds = self.clip_head(text_states.mean(dim=1))
        attentions = temporal_attentions = None
        if output_attentions:
            attentions = tuple(rearrange(a, "(n w) h i j -> n w h i j", w=window) for a in spatial)
            if self.config.temporal_attention:
                temporal_attentions = tuple(rearrange(a, "(n l) h i j -> n l h i j", n=n) for a in temporal)
        output = FMRIEncoderOutput(text_states, embeds, tokens, attentions, temporal_attentions)
        return output if return_dict else output.to_tuple()
