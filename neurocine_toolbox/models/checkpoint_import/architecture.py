"""Read the :class:`FMRIEncoder` architecture a checkpoint's weights imply.

Width, depth, patch size, MLP ratio and the projection head are read from the weights' shapes;
only the number of heads, which no shape shows, comes from the checkpoint's recorded config (else
``num_heads=``, else 64 channels per head). The recorded config and the caller's arguments fill in
the rest, and any of them that contradicts the weights is reported or refused.
"""

import inspect
import math
import re

from ...errors import NeurocineError
from ..fmri_encoder import FMRIEncoder

#: :class:`FMRIEncoder`'s arguments and their defaults.
_ENCODER_ARGS = {name: p.default for name, p in inspect.signature(FMRIEncoder.__init__).parameters.items()
                 if name != "self"}


def _resolve_config(state, source_config, fmt, num_voxels, window_size, overrides, report):
    """The FMRIEncoder arguments: the weights' shapes, then the recorded config, then the caller's."""
    proj = state.get("patch_embed.proj.weight")
    if proj is None:
        sample = ", ".join(list(state)[:5]) or "none"
        raise NeurocineError(f"has no patch_embed.proj.weight, so it is not an fMRI ViT encoder (keys: {sample} …)",
                             report.source)
    if proj.ndim != 3 or proj.shape[1] != 1:
        raise NeurocineError(f"patch_embed.proj.weight has shape {list(proj.shape)}: the checkpoint embeds "
                             f"{proj.shape[1] if proj.ndim == 3 else '?'} input channels per patch, FMRIEncoder "
                             "one (a Conv1d [embed_dim, 1, patch_size])", report.source)
    embed_dim, patch_size = int(proj.shape[0]), int(proj.shape[2])
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    if blocks != set(range(len(blocks))):
        raise NeurocineError(f"its blocks are numbered {sorted(blocks)}, not 0…n−1", report.source)
    fixed = {"embed_dim": embed_dim, "patch_size": patch_size, "depth": len(blocks)}
    if "blocks.0.mlp.fc1.weight" in state:
        fixed["mlp_ratio"] = state["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    if "proj_head.channel_mapper.weight" in state:
        fixed["out_tokens"] = int(state["proj_head.channel_mapper.weight"].shape[0])
        fixed["head_norm"] = "proj_head.layer_norm.weight" in state
    if "proj_head.projection.weight" in state:
        fixed["out_dim"] = int(state["proj_head.projection.weight"].shape[0])
    if "clip_head.1.weight" in state:
        fixed["clip_dim"] = int(state["clip_head.1.weight"].shape[0])

    n_source_patches = None
    if "pos_embed" in state:
        n_source_patches = int(state["pos_embed"].shape[1]) - 1
    source_window = None
    if "proj_head.channel_mapper.weight" in state and n_source_patches:
        in_tokens = int(state["proj_head.channel_mapper.weight"].shape[1])
        if in_tokens % n_source_patches == 0:
            source_window = in_tokens // n_source_patches

    for key, recorded in source_config.items():
        if key in fixed and not _same(recorded, fixed[key]):
            report.notes.append(f"the checkpoint's config says {key}={recorded}, its weights {fixed[key]}: "
                                "the weights are followed")
    config = {**_ENCODER_ARGS, **{k: v for k, v in source_config.items() if k in _ENCODER_ARGS}, **fixed}
    if any(".attn_temp." in k for k in state):
        config["temporal_attention"] = True

    recorded_heads = source_config.get("num_heads")
    for key, value in overrides.items():
        if key in fixed and not _same(value, fixed[key]):
            raise NeurocineError(f"the checkpoint's weights have {key}={fixed[key]}; {key}={value} was asked for",
                                 report.source)
        if key == "num_heads" and recorded_heads is not None and int(value) != int(recorded_heads):
            raise NeurocineError(f"the checkpoint was trained with num_heads={recorded_heads}; "
                                 f"num_heads={value} was asked for", report.source)
    config.update(overrides)
    if "num_heads" not in overrides and recorded_heads is None:
        if embed_dim % 64:
            raise NeurocineError(f"does not record its number of attention heads and its width {embed_dim} is not "
                                 "a multiple of 64: pass num_heads", report.source)
        config["num_heads"] = embed_dim // 64
        report.notes.append(f"the checkpoint does not record num_heads: assumed {config['num_heads']} "
                            "(64 channels per head, the ViT convention); pass num_heads if it was trained otherwise")

    config["num_voxels"] = num_voxels
    if window_size is not None:
        config["window_size"] = int(window_size)
    elif "window_size" in source_config:
        config["window_size"] = int(source_config["window_size"])
    elif source_window is not None:
        config["window_size"] = source_window
    if n_source_patches is not None and n_source_patches * patch_size != num_voxels:
        report.notes.append(f"the checkpoint has {n_source_patches} patches ({n_source_patches * patch_size} "
                            f"voxels), this encoder {-(-num_voxels // patch_size)} ({num_voxels} voxels)")
    if config["temporal_attention"] and not any(".attn_temp." in k for k in state):
        report.notes.append("the checkpoint has no temporal attention: it is added as a no-op "
                            "(zero output projection) until training changes it")
    if fmt.startswith("MinD-Video"):
        report.notes.append("MinD-Video's encoder does not prepend its CLS token; FMRIEncoder does, so outputs "
                            "differ from MinD-Video's until fine-tuned")
    return config, n_source_patches


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6)
    return a == b
