"""Token importance from the fMRI encoder's own attention weights.

The encoder returns every layer's spatial attention when asked
(``FMRIEncoder(..., output_attentions=True)``, computed by the same ``SelfAttention`` module that
trains; there is no second implementation here). From those weights, per window and layer:

- ``received``: the attention each patch token receives, averaged over heads and over all
  queries (CLS and patches);
- ``cls``: the CLS token's attention to each patch token, averaged over heads;
- ``rollout``: attention rollout (Abnar & Zuidema 2020): per layer the head-averaged weights
  plus the identity for the residual path, rows renormalised, multiplied from layer 1 up; the
  CLS row through layer ℓ.

Each is averaged over the window's TRs. The encoder's optional temporal attention mixes each
token position with the same position in the window's other TRs, never across positions, so
it does not move importance between patches and is left out of the rollout.
"""

import numpy as np
import torch

MEASURES = ("received", "cls", "rollout")


def resolve_layers(layers, depth):
    """Turn ``first``/``middle``/``last`` or 1-based numbers into sorted 1-based layer numbers.

    ``middle`` is ``depth // 2`` (12 of 24, the paper's choice).
    """
    named = {"first": 1, "middle": max(1, depth // 2), "last": depth}
    out = set()
    for layer in layers:
        value = named.get(layer, layer) if isinstance(layer, str) else layer
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"unknown layer {layer!r} (first, middle, last or 1..{depth})") from None
        if not 1 <= value <= depth:
            raise ValueError(f"layer {value} is outside the encoder's 1..{depth}")
        out.add(value)
    return sorted(out)


def _rollout(per_layer):
    """CLS rows of the attention rollout after each layer, from head-averaged weights ``[B, L, L]``."""
    eye = torch.eye(per_layer[0].shape[-1], dtype=per_layer[0].dtype, device=per_layer[0].device)
    joint, rows = None, []
    for weights in per_layer:
        step = 0.5 * weights + 0.5 * eye
        step = step / step.sum(dim=-1, keepdim=True)
        joint = step if joint is None else step @ joint
        rows.append(joint[:, 0, 1:])
    return rows


@torch.no_grad()
def token_importance(encoder, windows, layers, batch_size=8, progress=None):
    """Importance of every patch token of every window, per layer and measure.

    Parameters
    ----------
    encoder : FMRIEncoder
    windows : ndarray ``[N, w, n_voxels]``
        fMRI windows as the encoder reads them.
    layers : sequence of int
        1-based layers to report.
    batch_size : int
    progress : callable, optional
        Called with the number of windows done after each batch.

    Returns
    -------
    dict
        ``{(measure, layer): float32 [N, P]}`` for every measure of :data:`MEASURES`.
    """
    if not len(windows):
        raise ValueError("no fMRI windows to take attention from")
    encoder.eval()
    device = next(encoder.parameters()).device
    wanted = [layer - 1 for layer in layers]
    out = {(m, layer): [] for m in MEASURES for layer in layers}
    for start in range(0, len(windows), batch_size):
        batch = torch.as_tensor(np.asarray(windows[start:start + batch_size]), dtype=torch.float32, device=device)
        attentions = encoder(batch, output_attentions=True).attentions  # per layer [n, w, h, 1+P, 1+P]
        n, w = batch.shape[:2]
        heads = [a.float().mean(dim=2).flatten(0, 1) for a in attentions[:max(wanted) + 1]]  # [n·w, 1+P, 1+P]
        rollout = _rollout(heads)
        for index, layer in zip(wanted, layers):
            received = heads[index][:, :, 1:].mean(dim=1)
            cls = heads[index][:, 0, 1:]
            for measure, values in (("received", received), ("cls", cls), ("rollout", rollout[index])):
                out[(measure, layer)].append(values.reshape(n, w, -1).mean(dim=1).cpu().numpy())
        if progress is not None:
            progress(n)
    return {key: np.concatenate(parts).astype(np.float32) for key, parts in out.items()}
