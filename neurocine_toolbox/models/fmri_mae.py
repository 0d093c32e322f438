"""Masked autoencoder around the fMRI encoder, for DC-MAE pre-training (Sun et al. 2023b).

Each TR is cut into patches; a random ``mask_ratio`` of them is hidden, the encoder sees the
rest (its spatial layers only: pre-training treats TRs independently), and a light transformer
decoder fills the hidden patches back in. The DC-MAE losses (``training.losses``) compare the
reconstructions with the input and with each other.
"""

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

from ..utils.device_random import rand
from .fmri_encoder import FMRIEncoder
from .layers import Block, init_vit_weights, sincos_positions


@dataclass
class MaskedReconstruction(BaseOutput):
    """Output of :class:`FMRIMaskedAutoencoder`.

    Attributes
    ----------
    reconstruction : Tensor ``[N, n_patches · patch_size]``
        The decoder's prediction of every value (visible patches included; ``n_voxels`` rounded
        up to whole patches, the extra values being the encoder's zero padding).
    mask : Tensor ``[N, n_patches]``
        1 where the patch was hidden from the encoder.
    """

    reconstruction: torch.Tensor = None
    mask: torch.Tensor = None


class FMRIMaskedAutoencoder(ModelMixin, ConfigMixin):
    """An :class:`FMRIEncoder` plus a masked-patch decoder.

    Parameters
    ----------
    encoder_config : dict
        Keyword arguments of :class:`FMRIEncoder`.
    decoder_embed_dim, decoder_depth, decoder_num_heads : int
        Decoder size (MAE for fMRI: 512, 8, 16).
    mask_ratio : float
        Fraction of patches hidden (paper: 0.75).
    """

    # Lets enable_gradient_checkpointing() reach the encoder's blocks (the decoder is small).
    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(self, encoder_config=None, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16,
                 mask_ratio=0.75):
        super().__init__()
        self.encoder = FMRIEncoder(**(encoder_config or {}))
        enc = self.encoder.config
        n_patches = self.encoder.num_patches
        self.decoder_embed = nn.Linear(enc.embed_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.register_buffer("decoder_pos_embed", sincos_positions(decoder_embed_dim, n_patches)[None])
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_embed_dim, decoder_num_heads, enc.mlp_ratio) for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim)
        self.decoder_pred = nn.Linear(decoder_embed_dim, enc.patch_size)
        for part in (self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred):
            init_vit_weights(part)
        nn.init.normal_(self.mask_token, std=0.02)

    def pretrained_parameters(self):
        """Parameters pre-training updates: the encoder's spatial part and the decoder.

        The projection heads and temporal attention play no part in reconstructing single TRs;
        they are left as initialised (and out of the optimiser, which multi-process training needs).
        """
        skip = ("encoder.proj_head.", "encoder.clip_head.", ".attn_temp.", ".norm_temp.")
        return [p for name, p in self.named_parameters() if not any(s in f".{name}" for s in skip)]

    def random_mask(self, n, generator=None, device=None):
        """Patches to keep ``[n, K]`` (sorted) and the mask ``[n, n_patches]`` (1 = hidden)."""
        n_patches = self.encoder.num_patches
        n_keep = max(1, int(round(n_patches * (1 - self.config.mask_ratio))))
        noise = rand((n, n_patches), generator, device)  # drawn on the generator's device, then moved
        keep = torch.sort(torch.argsort(noise, dim=1)[:, :n_keep], dim=1).values
        mask = torch.ones(n, n_patches, device=device)
        mask.scatter_(1, keep, 0.0)
        return keep, mask

    def forward(self, frames, keep_index=None, generator=None, return_dict=True):
        """Reconstruct TRs ``[N, n_voxels]`` from a random subset of their patches.

        Parameters
        ----------
        frames : Tensor ``[N, n_voxels]``
        keep_index : LongTensor ``[N, K]``, optional
            Visible patches (sorted); drawn with ``generator`` when None.
        generator : torch.Generator, optional
        """
        n = frames.shape[0]
        if keep_index is None:
            keep_index, mask = self.random_mask(n, generator, frames.device)
        else:
            mask = torch.ones(n, self.encoder.num_patches, device=frames.device)
            mask.scatter_(1, keep_index, 0.0)
        tokens, _, _ = self.encoder.encode_tokens(frames, keep_index=keep_index, use_temporal=False)
        x = self.decoder_embed(tokens)
        # Put the visible tokens back in place and fill the hidden ones with the mask token.
        full = self.mask_token.to(x.dtype).expand(n, self.encoder.num_patches, -1).clone()
        full.scatter_(1, keep_index[..., None].expand(-1, -1, x.shape[-1]), x[:, 1:])
        x = torch.cat([x[:, :1], full], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x, _, _ = block(x)
        patches = self.decoder_pred(self.decoder_norm(x)[:, 1:])
        output = MaskedReconstruction(patches.flatten(1), mask)
        return output if return_dict else output.to_tuple()
