"""Held-out retrieval: does a window's fMRI embedding pick out its own image or caption?

For each query (an fMRI window of the test split) the keys (the CLIP embeddings paired with every
test window) are ranked by cosine similarity; a hit at k means the query's own key is among the
k best. Keys can repeat (windows inside one clip share a caption) and windows of a clip resemble
each other, so besides the nominal chance k/N the chance level is also *measured*: the same
score with the queries shuffled against the keys, over many shuffles. The p-value is the share
of shuffles that score at least as well as the real pairing.
"""

import numpy as np
import torch
import torch.nn.functional as F


def own_key_ranks(queries, keys):
    """0-based rank of each query's own key: how many keys score strictly higher than it.

    Parameters
    ----------
    queries, keys : Tensor ``[N, d]``
        Row i of ``keys`` belongs to row i of ``queries``.

    Returns
    -------
    ndarray of int ``[N]``
    """
    scores = F.normalize(queries.float(), dim=-1) @ F.normalize(keys.float(), dim=-1).T
    own = scores.diagonal()[:, None]
    return (scores > own).sum(dim=1).cpu().numpy()


def topk_retrieval(queries, keys, top_k=(1, 5), n_shuffles=1000, n_boot=1000, seed=0):
    """Top-k retrieval accuracy with its chance level, interval and p-value.

    Parameters
    ----------
    queries, keys : Tensor ``[N, d]``
    top_k : sequence of int
    n_shuffles : int
        Shuffles of the pairing for the measured chance level and the p-value.
    n_boot : int
        Bootstrap resamples of the queries for the 95 % interval.
    seed : int

    Returns
    -------
    dict
        ``{"n": N, "top1": {"accuracy", "ci95", "chance_nominal", "chance_shuffled", "p_value"}, …}``
    """
    n = len(queries)
    rng = np.random.default_rng(seed)
    ranks = own_key_ranks(queries, keys)
    scores = F.normalize(queries.float(), dim=-1) @ F.normalize(keys.float(), dim=-1).T
    shuffled_ranks = []
    for _ in range(n_shuffles):
        perm = torch.from_numpy(rng.permutation(n))
        permuted = scores[:, perm]  # query i is now paired with key perm[i]
        own = permuted.diagonal()[:, None]
        shuffled_ranks.append((scores > own).sum(dim=1).cpu().numpy())
    shuffled_ranks = np.stack(shuffled_ranks)
    boot = rng.integers(0, n, size=(n_boot, n))
    result = {"n": int(n)}
    for k in top_k:
        hits = ranks < k
        null = (shuffled_ranks < k).mean(axis=1)
        accuracy = float(hits.mean())
        result[f"top{k}"] = {
            "accuracy": accuracy,
            "ci95": [float(v) for v in np.percentile(hits[boot].mean(axis=1), [2.5, 97.5])],
            "chance_nominal": min(1.0, k / n),
            "chance_shuffled": float(null.mean()),
            "p_value": float((1 + (null >= accuracy).sum()) / (1 + n_shuffles)),
        }
    return result


def format_retrieval(name, result):
    """One line per k: ``fMRI→image top-1: 0.250 [0.18, 0.32]  chance 0.021 (shuffled 0.022)  p=0.001``."""
    lines = []
    for key, value in result.items():
        if not key.startswith("top"):
            continue
        lo, hi = value["ci95"]
        lines.append(f"{name} {key[:3]}-{key[3:]}: {value['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]  "
                     f"chance {value['chance_nominal']:.3f} (shuffled {value['chance_shuffled']:.3f})  "
                     f"p={value['p_value']:.3g}  (N={result['n']} test windows)")
    return lines


@torch.no_grad()
def encoder_retrieval(encoder, test_store, window, lag=0, top_k=(1, 5), batch_size=64, device=None, seed=0):
    """fMRI→image and fMRI→caption retrieval of an encoder on a store's windows.

    Parameters
    ----------
    encoder : FMRIEncoder
    test_store : Path
        A store with embeddings (normally the test split).
    window, lag : int
        As in training (``data.window``, ``data.lag``).
    top_k : sequence of int
    batch_size : int
    device : torch.device, optional
    seed : int

    Returns
    -------
    dict
        ``{"fmri_to_image": topk_retrieval(...), "fmri_to_caption": …}``
    """
    from torch.utils.data import DataLoader

    from ..data.dataset import FMRIWindowDataset
    from ..data.targets import window_targets

    device = device or next(encoder.parameters()).device
    dataset = FMRIWindowDataset(test_store, window=window, lag=lag, with_frames=False, with_embeddings=True)
    encoder.eval()
    embeds, texts, images = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size):
        embeds.append(encoder(batch["fmri"].to(device)).embeds.float().cpu())
        text, image = window_targets(batch)
        texts.append(text)
        images.append(image)
    embeds = torch.cat(embeds)
    return {
        "fmri_to_image": topk_retrieval(embeds, torch.cat(images), top_k, seed=seed),
        "fmri_to_caption": topk_retrieval(embeds, torch.cat(texts), top_k, seed=seed),
    }
