"""Map a checkpoint's keys onto :class:`FMRIEncoder`'s, deciding what to do with each one.

Keys already follow the ViT/MAE names :class:`FMRIEncoder` uses, so the import is a matter of
deciding, key by key, what to do: load it, interpolate it (``pos_embed`` when the patch count
differs, :func:`interpolate_positions`), leave ours as initialised (a shape that cannot be mapped),
drop it (pre-training only, :data:`PRETRAINING_ONLY`) or ignore it. Every decision is recorded in
the :class:`ImportReport`, and the result is a completed state dict that loads with
``strict=True``.
"""

import torch
import torch.nn.functional as F

from ...errors import NeurocineError

#: Source keys that only pre-training uses (MAE decoders, distillation heads).
PRETRAINING_ONLY = ("decoder_", "mask_token", "nature_img_", "conv_up.", "linear_up.")


def interpolate_positions(table, n_patches):
    """Resample a position table ``[1, 1 + P, D]`` to ``[1, 1 + n_patches, D]``.

    The CLS row is kept; the patch rows are interpolated linearly with the first and last
    patches fixed (``align_corners``), so where old and new positions coincide the rows are equal.
    """
    cls, rows = table[:, :1], table[:, 1:]
    if rows.shape[1] == n_patches:
        return table.clone()
    rows = F.interpolate(rows.transpose(1, 2).float(), size=n_patches, mode="linear", align_corners=True)
    return torch.cat([cls, rows.transpose(1, 2).to(table.dtype)], dim=1)


def _rename(state, fmt, report):
    """Strip wrapper prefixes; set aside the keys only pre-training uses."""
    if state and all(k.startswith("module.") for k in state):
        report.notes.append("removed the 'module.' prefix (DistributedDataParallel) from every key")
        state = {k[len("module."):]: v for k, v in state.items()}
    renamed = {}
    for key, value in state.items():
        ours = key
        if fmt == "neurocine FMRIMaskedAutoencoder folder":
            if not key.startswith("encoder."):
                report.dropped.append(key)
                continue
            ours = key[len("encoder."):]
        elif key.startswith(PRETRAINING_ONLY):
            report.dropped.append(key)
            continue
        if ours != key:
            report.renamed[ours] = key
        renamed[ours] = value
    if "proj_head.layer_norm_in.weight" in renamed:
        report.notes.append("the checkpoint's projection head normalises its input (proj_head.layer_norm_in); "
                            "FMRIEncoder's does not, so that LayerNorm is ignored and the head computes differently")
    return renamed


def _complete_state(state, model, n_source_patches, path, report):
    """``model``'s state dict with every checkpoint key that maps onto it put in place; each key reported."""
    ours = model.state_dict()
    completed = dict(ours)
    for key, value in state.items():
        if key not in ours:
            report.unexpected.append(key)
        elif key == "pos_embed" and value.shape[::2] == ours[key].shape[::2] and value.shape[1] != ours[key].shape[1]:
            completed[key] = interpolate_positions(value, model.num_patches)
            report.interpolated[key] = (tuple(value.shape), tuple(ours[key].shape))
        elif key == "proj_head.channel_mapper.weight" and (
                value.shape != ours[key].shape or n_source_patches not in (None, model.num_patches)):
            report.mismatched[key] = (tuple(value.shape), tuple(ours[key].shape))
        elif value.shape != ours[key].shape:
            # The configuration was read from these shapes; a difference here is a malformed file.
            raise NeurocineError(f"{key} has shape {list(value.shape)}, inconsistent with the rest of the "
                                 f"checkpoint (expected {list(ours[key].shape)})", path)
        else:
            completed[key] = value
            report.loaded.append(key)
    provided = set(report.loaded) | set(report.interpolated)
    report.missing = [k for k in ours if k not in provided and k not in report.mismatched]
    report.loaded.sort(key=list(ours).index)
    return completed
