"""Voxel-level attribution: what each voxel of a window contributes to what the encoder is trained for.

The contrastive stage trains the encoder's pooled embedding (``FMRIEncoder(...).embeds``) to
point at the CLIP embedding of the window's stimulus. The attribution of a window's voxel is its
integrated gradient (Sundararajan et al. 2017; captum's ``IntegratedGradients``) of the cosine
similarity between the embedding and that target, from an all-zero window (the mean of
z-scored data) to the window, summed over the window's TRs. By completeness, a window's
attributions add up to its similarity minus that of the zero window. A voxel pushes the embedding
towards its own stimulus when its attribution is positive; averaged over windows, what is left
is what the voxels contribute consistently, at the resolution of columns (no patch-to-voxel
split, no token positions).

The pre-training (DC-MAE) stage's head is not trained for CLIP: its attribution would describe an
untrained head, so it is left out (:data:`ATTRIBUTED_STAGES`).
"""

import numpy as np
import torch
import torch.nn.functional as F

#: Stages whose encoder's pooled embedding is trained against CLIP.
ATTRIBUTED_STAGES = ("encoder", "decoder-fmri")


def window_clip_targets(store, starts, window):
    """Each window's CLIP target: the unit mean of its TRs' unit text and image embeddings ``[N, d]``.

    The same target the contrastive stage uses (:func:`~neurocine_toolbox.data.targets.window_targets`:
    text and image, each averaged over TRs and frames), the two added and normalised.
    """
    from ..data.targets import window_targets

    rows = np.asarray(starts, int)[:, None] + np.arange(window)
    text = torch.as_tensor(np.stack([np.asarray(store.clip_text_embeds[r], np.float32) for r in rows]))
    image = torch.as_tensor(np.stack([np.asarray(store.clip_image_embeds[r], np.float32) for r in rows]))
    text, image = window_targets({"text_embeds": text, "image_embeds": image})
    return F.normalize(text + image, dim=-1).numpy()


def _similarity(encoder):
    def forward(fmri, target):
        return F.cosine_similarity(encoder(fmri).embeds.float(), target, dim=-1)
    return forward


def target_similarity(encoder, windows, targets, batch_size=8):
    """Cosine similarity of each window's pooled embedding with its target: float64 ``[N]``."""
    forward = _similarity(encoder.eval())
    device = next(encoder.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = torch.as_tensor(np.ascontiguousarray(windows[start:start + batch_size]), dtype=torch.float32,
                                device=device)
            target = torch.as_tensor(targets[start:start + batch_size], dtype=torch.float32, device=device)
            out.append(forward(batch, target).double().cpu().numpy())
    return np.concatenate(out)


def voxel_attribution(encoder, windows, targets, steps=16, batch_size=8, progress=None):
    """Integrated gradients of the target similarity for every window and column.

    Parameters
    ----------
    encoder : FMRIEncoder
    windows : ndarray ``[N, w, n_columns]``
    targets : ndarray ``[N, d]``
        Unit CLIP targets (:func:`window_clip_targets`).
    steps : int
        Points on the path from the zero window (captum's ``n_steps``, Gauss–Legendre).
    batch_size : int
    progress : callable, optional
        Called with the number of windows done after each batch.

    Returns
    -------
    ndarray float32 ``[N, n_columns]``
        Summed over the window's TRs.
    """
    from captum.attr import IntegratedGradients

    encoder.eval()
    device = next(encoder.parameters()).device
    explainer = IntegratedGradients(_similarity(encoder))
    out = []
    for start in range(0, len(windows), batch_size):
        batch = torch.as_tensor(np.ascontiguousarray(windows[start:start + batch_size]), dtype=torch.float32,
                                device=device)
        target = torch.as_tensor(targets[start:start + batch_size], dtype=torch.float32, device=device)
        # internal_batch_size: path points per forward/backward pass (the paper-size encoder's
        # backward through 16 windows at once peaked at 19 GiB on the CPU).
        attributions = explainer.attribute(batch, baselines=torch.zeros_like(batch), additional_forward_args=(target,),
                                           n_steps=steps, internal_batch_size=batch_size)
        out.append(attributions.sum(dim=1).detach().float().cpu().numpy())
        if progress is not None:
            progress(len(batch))
    return np.concatenate(out)
