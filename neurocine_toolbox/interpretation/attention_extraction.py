"""Token importance from the fMRI encoder's own attention weights, and inputs that carry no stimulus.

The encoder returns every layer's spatial attention when asked
(``FMRIEncoder(..., output_attentions=True)``, computed by the same ``SelfAttention`` module that
trains; there is no second implementation here). From those weights, per window and layer:

- ``read``: what the model reads. The projection head, the only reader of the encoder's output,
  mixes the window's patch tokens through ``channel_mapper`` (``[out_tokens, w·P]``); the share
  of output position ``j`` is ``Σ_o |C[o, j]|`` over the total. Those shares weight the patch
  rows of the attention rollout through layer ℓ, giving how much each input patch reaches what
  the head reads. The CLS token's own output is never read by the head.
- ``received``: the attention each patch token receives, averaged over heads and over all
  queries (CLS and patches);
- ``cls``: the CLS token's attention to each patch token, averaged over heads;
- ``rollout``: attention rollout (Abnar & Zuidema 2020): per layer the head-averaged weights
  plus the identity for the residual path, rows renormalised, multiplied from layer 1 up
  (``R_ℓ = Â_ℓ · R_{ℓ−1}``); the CLS row through layer ℓ.

``received``, ``cls`` and ``rollout`` are averaged over the window's TRs; ``read`` sums over
them (its shares already cover every TR's tokens). The encoder's optional temporal attention
mixes each token position with the same position in the window's other TRs, never across
positions, so it does not move importance between patches and is left out of the rollout.

Every one of these also depends on where a token sits (fixed sin-cos positions over the store's
column order) whatever the input: :func:`control_windows` builds inputs that carry no stimulus
(each window's columns shuffled, or zeros), whose importance is the position-only baseline the
report divides by.
"""

import numpy as np
import torch

MEASURES = ("read", "received", "cls", "rollout")
#: Inputs without a stimulus, for the position control.
CONTROLS = ("permuted", "zero")


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


def rollout(per_layer):
    """Attention rollout after each layer, from head-averaged weights ``[B, L, L]`` per layer.

    Returns the list of ``R_ℓ = Â_ℓ R_{ℓ−1}`` with ``Â = ½A + ½I`` rows renormalised: row ``i``
    of ``R_ℓ`` says how much each input token reaches token ``i`` after layer ℓ.
    """
    eye = torch.eye(per_layer[0].shape[-1], dtype=per_layer[0].dtype, device=per_layer[0].device)
    joint, out = None, []
    for weights in per_layer:
        step = 0.5 * weights + 0.5 * eye
        step = step / step.sum(dim=-1, keepdim=True)
        joint = step if joint is None else step @ joint
        out.append(joint)
    return out


def head_read_shares(encoder):
    """Share of each of a window's patch tokens in what the projection head reads: ``[w, P]``, summing to 1."""
    weight = encoder.proj_head.channel_mapper.weight.detach().abs().double().sum(dim=0)  # [w·P]
    shares = (weight / weight.sum()).reshape(encoder.config.window_size, encoder.num_patches)
    return shares.float()


def control_windows(windows, kind, seed=0):
    """Inputs that carry no stimulus, shaped like ``windows`` ``[N, w, V]``.

    ``permuted``: each window's columns shuffled (one permutation for all its TRs, another for
    every window), so values and their distribution are real but no column holds its own voxel;
    ``zero``: all zeros (the mean of z-scored data).
    """
    if kind == "zero":
        return np.zeros_like(windows)
    if kind != "permuted":
        raise ValueError(f"unknown control input {kind!r} (one of {', '.join(CONTROLS)})")
    rng = np.random.default_rng(seed)
    return np.stack([w[:, rng.permutation(w.shape[-1])] for w in np.asarray(windows)])


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
    shares = head_read_shares(encoder).to(device)  # [w, P]
    wanted = [layer - 1 for layer in layers]
    out = {(m, layer): [] for m in MEASURES for layer in layers}
    for start in range(0, len(windows), batch_size):
        batch = torch.as_tensor(np.ascontiguousarray(windows[start:start + batch_size]), dtype=torch.float32,
                                device=device)
        attentions = encoder(batch, output_attentions=True).attentions  # per layer [n, w, h, 1+P, 1+P]
        n, w = batch.shape[:2]
        heads = [a.float().mean(dim=2).flatten(0, 1) for a in attentions[:max(wanted) + 1]]  # [n·w, 1+P, 1+P]
        rolled = rollout(heads)
        for index, layer in zip(wanted, layers):
            received = heads[index][:, :, 1:].mean(dim=1)
            cls = heads[index][:, 0, 1:]
            patch_rows = rolled[index][:, 1:, 1:].reshape(n, w, -1, shares.shape[1])  # [n, w, P (reader), P (input)]
            read = torch.einsum("twp,twpq->tq", shares.expand(n, -1, -1), patch_rows)
            for measure, values in (("received", received), ("cls", cls), ("rollout", rolled[index][:, 0, 1:])):
                out[(measure, layer)].append(values.reshape(n, w, -1).mean(dim=1).cpu().numpy())
            out[("read", layer)].append(read.cpu().numpy())
        if progress is not None:
            progress(n)
    return {key: np.concatenate(parts).astype(np.float32) for key, parts in out.items()}
