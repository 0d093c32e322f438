"""Stable Diffusion 1.5's UNet inflated to video (Tune-A-Video style), as one diffusers model.

:class:`VideoUNet` holds a diffusers ``UNet2DConditionModel`` whose layers were adapted in place
(:mod:`.video_layers`): the resnets' convolutions become pseudo-3D, every transformer block gains
attention across frames, and spatial self-attention also looks at the two previous frames. The
UNet's own blocks, attention and processors do the rest. Input and output are clips of latents
``[B, C, F, H, W]``; one conditioning ``[B, 77, D]`` per clip.

Inflate a pretrained 2D model with :meth:`VideoUNet.from_unet_2d`; ``save_pretrained`` /
``from_pretrained`` round-trip the video model (its config holds the 2D UNet's config).
"""

import re
from dataclasses import dataclass

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.resnet import ResnetBlock2D
from diffusers.utils import BaseOutput
from einops import rearrange

from .video_layers import FrameContext, PseudoConv3d, SparseCausalAttnProcessor, TemporalAttention, VideoTransformerBlock

#: Name patterns (regular expressions searched in parameter names) of the module groups the
#: config's ``trainable`` lists may name.
MODULE_GROUPS = {
    "spatial_self_attention": r"\.block\.attn1\.",
    "cross_attention": r"\.block\.attn2\.",
    "temporal_attention": r"\.transformer_blocks\.\d+\.temporal\.",
    "temporal_conv": r"\.conv[12]\.temporal\.",
    "sparse_causal_gate": r"\.attn1\.processor\.gate$",
}


@dataclass
class VideoUNetOutput(BaseOutput):
    """``sample``: the predicted noise (or velocity) ``[B, C, F, H, W]``."""

    sample: torch.Tensor = None


def _clean_config(config):
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


class VideoUNet(ModelMixin, ConfigMixin):
    """A 2D conditional UNet run on clips, with temporal layers that start as the identity.

    Parameters
    ----------
    unet_config : dict
        The config of the 2D ``UNet2DConditionModel`` (e.g. Stable Diffusion 1.5's).
    temporal_conv : bool
        Pseudo-3D convolutions in the resnets.
    temporal_attention : bool
        Attention across frames after every transformer block.
    sparse_causal : bool
        Spatial self-attention also over the previous two frames (gated).
    max_frames : int
        Longest clip the temporal positions cover.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(self, unet_config=None, temporal_conv=True, temporal_attention=True, sparse_causal=True,
                 max_frames=32):
        super().__init__()
        self.unet = UNet2DConditionModel.from_config(_clean_config(unet_config or {}))
        self.frame_context = FrameContext()
        inflate(self.unet, self.frame_context, temporal_conv=temporal_conv,
                temporal_attention=temporal_attention, sparse_causal=sparse_causal, max_frames=max_frames)

    @classmethod
    def from_unet_2d(cls, unet, **options):
        """Inflate a 2D ``UNet2DConditionModel``: its weights kept, the new layers as identity.

        Parameters
        ----------
        unet : diffusers.UNet2DConditionModel
        **options
            ``temporal_conv``, ``temporal_attention``, ``sparse_causal``, ``max_frames``.

        Returns
        -------
        VideoUNet
        """
        model = cls(unet_config=_clean_config(unet.config), **options)
        own = model.unet.state_dict()
        mapped = {video_key(k, own): v for k, v in unet.state_dict().items()}
        unknown = sorted(k for k in mapped if k not in own)
        if unknown:
            raise ValueError(f"2D UNet keys with no place in the video UNet: {unknown[:5]}")
        new = [k for k in own if k not in mapped]
        if any(not is_video_layer(k) for k in new):
            raise ValueError(f"video UNet keys the 2D UNet lacks: {[k for k in new if not is_video_layer(k)][:5]}")
        model.unet.load_state_dict({**{k: own[k] for k in new}, **mapped})
        return model if unet.dtype == model.dtype else model.to(dtype=unet.dtype)

    @property
    def in_channels(self):
        return self.unet.config.in_channels

    def forward(self, sample, timestep, encoder_hidden_states, return_dict=True):
        """Predict the noise of clips of latents.

        Parameters
        ----------
        sample : Tensor ``[B, C, F, H, W]``
        timestep : Tensor ``[B]`` or scalar
        encoder_hidden_states : Tensor ``[B, L, D]``
            One conditioning per clip, shared by its frames.
        return_dict : bool

        Returns
        -------
        VideoUNetOutput
        """
        batch, _, frames = sample.shape[:3]
        timestep = torch.as_tensor(timestep, device=sample.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(batch)
        self.frame_context.frames = frames
        out = self.unet(
            rearrange(sample, "b c f h w -> (b f) c h w"),
            timestep.repeat_interleave(frames),
            encoder_hidden_states=encoder_hidden_states.repeat_interleave(frames, dim=0),
        ).sample
        out = rearrange(out, "(b f) c h w -> b c f h w", f=frames)
        return VideoUNetOutput(out) if return_dict else (out,)


def inflate(unet, context, temporal_conv=True, temporal_attention=True, sparse_causal=True, max_frames=32):
    """Adapt a ``UNet2DConditionModel`` to clips, in place (see :mod:`.video_layers`).

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
    context : FrameContext
    temporal_conv, temporal_attention, sparse_causal : bool
    max_frames : int
    """
    for module in list(unet.modules()):
        if temporal_conv and isinstance(module, ResnetBlock2D):
            module.conv1 = PseudoConv3d(module.conv1, context)
            module.conv2 = PseudoConv3d(module.conv2, context)
        blocks = getattr(module, "transformer_blocks", None)
        if blocks is None:
            continue
        for index, block in enumerate(blocks):
            if not isinstance(block, BasicTransformerBlock):
                continue
            if sparse_causal:
                attn = block.attn1
                if attn.is_cross_attention or attn.spatial_norm is not None or attn.group_norm is not None \
                        or attn.residual_connection or attn.norm_q is not None:
                    raise ValueError("only Stable-Diffusion-style self-attention can be made sparse-causal")
                attn.set_processor(SparseCausalAttnProcessor(context, attn.heads))
            if temporal_attention:
                dim = block.norm1.normalized_shape[0]
                heads = block.attn1.heads
                blocks[index] = VideoTransformerBlock(block, TemporalAttention(dim, heads, context, max_frames))
    return unet


_VIDEO_LAYER = re.compile(r"(\.temporal\.|\.processor\.gate$)")


def is_video_layer(name):
    """Whether a parameter of the video UNet belongs to a layer the 2D model does not have."""
    return bool(_VIDEO_LAYER.search(name))


def video_key(key, video_keys):
    """The name a 2D UNet parameter takes in the inflated UNet.

    Parameters
    ----------
    key : str
        A 2D ``UNet2DConditionModel`` state-dict key.
    video_keys : container of str
        The inflated UNet's keys (which adapters exist depends on the options).

    Returns
    -------
    str
    """
    candidates = [key,
                  re.sub(r"(\.conv[12])\.(weight|bias)$", r"\1.spatial.\2", key),
                  re.sub(r"(\.transformer_blocks\.\d+)\.", r"\1.block.", key)]
    candidates.append(re.sub(r"(\.transformer_blocks\.\d+)\.", r"\1.block.", candidates[1]))
    for candidate in candidates:
        if candidate in video_keys:
            return candidate
    return key


def select_parameters(model, patterns):
    """The parameters whose names match any pattern; the others are frozen.

    Parameters
    ----------
    model : torch.nn.Module
    patterns : list of str
        Group names of :data:`MODULE_GROUPS`, ``all``, or regular expressions searched in the
        parameter names.

    Returns
    -------
    list of (str, Parameter)
        The selected parameters (``requires_grad`` set to True; all others set to False).

    Raises
    ------
    ValueError
        A pattern that selects nothing.
    """
    regexes = [re.compile(".*" if p == "all" else MODULE_GROUPS.get(p, p)) for p in patterns]
    selected = []
    used = [False] * len(regexes)
    for name, parameter in model.named_parameters():
        hits = [bool(r.search(name)) for r in regexes]
        used = [u or h for u, h in zip(used, hits)]
        parameter.requires_grad_(any(hits))
        if any(hits):
            selected.append((name, parameter))
    unused = [p for p, u in zip(patterns, used) if not u]
    if unused:
        raise ValueError(f"trainable pattern(s) matching no parameter: {', '.join(unused)}")
    return selected
