"""Held-out retrieval: does a window's fMRI embedding pick out its own image or caption?

For each query (an fMRI window of the test split) the keys (the CLIP embeddings paired with every
test window) are ranked by cosine similarity; a hit at k means fewer than k keys score strictly
higher than the query's own key (rank < k; a key tied with the own one does not count against it).
Keys can repeat (windows inside one clip share a caption) and windows of a clip resemble each
other, so besides the nominal chance k/N the chance level is also *measured*: the same score
under the circular-shift null of :mod:`.time_series_statistics` (each run's queries paired with
the keys of the same run shifted by at least the autocorrelation length). The p-value compares
the real pairing with those shifted ones, and the interval is the block bootstrap over windows
within runs: consecutive windows overlap and BOLD is autocorrelated, so windows are not
independent samples.

After ``fit``, :func:`retrieval_by_subject` scores the run's encoder on each subject it trained on
(:func:`evaluate_encoder`, written to ``encoder/retrieval.json``, or ``retrieval-sub-XX.json`` for
each subject of a run on several) and :func:`retrieval_lines` prints a result.
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..utils.atomic import write_text_atomic
from .time_series_statistics import (block_length, check_runs, format_interval, format_p, method_line,
                                     null_offsets, shift_partners, shift_spacing, summarise)


def cosine_scores(queries, keys):
    """``S[i, j]``: cosine similarity of query i and key j, float64 ``[N, N]``."""
    return (F.normalize(queries.float(), dim=-1) @ F.normalize(keys.float(), dim=-1).T).double().cpu().numpy()


def key_ranks(scores):
    """``R[i, j]``: how many keys score strictly higher than key j for query i (0 = best).

    Parameters
    ----------
    scores : ndarray ``[N, M]``

    Returns
    -------
    ndarray of int ``[N, M]``
    """
    from scipy.stats import rankdata

    # rank "min" of −score: 1 + the number of strictly higher scores; ties share the best rank.
    return rankdata(-np.asarray(scores), method="min", axis=1).astype(np.int64) - 1


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
    return np.diagonal(key_ranks(cosine_scores(queries, keys))).copy()


def topk_from_scores(scores, runs, top_k=(1, 5), n_null=1000, n_boot=2000, seed=0):
    """Top-k retrieval from a score matrix, with its chance levels, interval and p-value.

    Parameters
    ----------
    scores : ndarray ``[N, N]``
        ``scores[i, j]``: query i against key j; key i belongs to query i.
    runs : array_like ``[N]``
        Run of each window, windows in time order.
    top_k : sequence of int
    n_null : int
        Circular-shift pairings in the null (all of them when there are fewer).
    n_boot : int
    seed : int

    Returns
    -------
    dict
        ``n``, ``n_runs``, ``block_length``, ``min_shift``, ``n_null``, ``n_boot``, ``method`` and,
        per k, ``"top{k}": {"accuracy", "ci95", "chance_nominal", "chance_null", "p_value", "p_floor"}``.
    """
    scores = np.asarray(scores, float)
    n = len(scores)
    runs = check_runs(runs, n)
    ranks = key_ranks(scores)
    rows = np.arange(n)
    # One block length and spacing for every k: from the own key's similarity, a continuous series.
    own_similarity = np.diagonal(scores)
    spacing = shift_spacing(own_similarity, runs)
    block = block_length(own_similarity, runs)
    offsets = null_offsets(runs, spacing, n_null, seed)
    partners = shift_partners(runs, offsets)
    null_ranks = ranks[rows, partners] if len(offsets) else None
    result = {"n": int(n), "n_runs": int(len(np.unique(runs))), "block_length": block, "min_shift": spacing,
              "n_null": int(len(offsets)), "n_boot": int(n_boot)}
    result["method"] = method_line(result)
    for k in top_k:
        hits = np.diagonal(ranks) < k
        summary = summarise(hits, runs, None if null_ranks is None else null_ranks < k, partners, block=block,
                            min_shift=spacing, n_boot=n_boot, seed=seed)
        result[f"top{k}"] = {"accuracy": summary["estimate"], "ci95": summary["ci95"],
                             "chance_nominal": min(1.0, k / n), "chance_null": summary["null_mean"],
                             "p_value": summary["p_value"], "p_floor": summary["p_floor"]}
    return result


def topk_retrieval(queries, keys, runs, top_k=(1, 5), n_null=1000, n_boot=2000, seed=0):
    """Top-k retrieval of keys by queries (cosine similarity): :func:`topk_from_scores`.

    Parameters
    ----------
    queries, keys : Tensor ``[N, d]``
        Row i of ``keys`` belongs to row i of ``queries``; windows in time order.
    runs : array_like ``[N]``
        Run of each window.
    top_k, n_null, n_boot, seed
        As in :func:`topk_from_scores`.

    Returns
    -------
    dict
    """
    return topk_from_scores(cosine_scores(queries, keys), runs, top_k, n_null, n_boot, seed)


def format_retrieval(name, result):
    """One line per k, e.g. ``fMRI→image top-5: 0.282 [0.154, 0.436]  chance 0.128 (circular-shift
    null 0.131)  p=0.04  (block bootstrap, blocks of 27 windows; …; N=78 windows in 2 runs)``."""
    lines = []
    for key, value in result.items():
        if not (key.startswith("top") and isinstance(value, dict)):
            continue
        null = f" (circular-shift null {value['chance_null']:.3f})" if value["chance_null"] is not None else ""
        p = format_p(value["p_value"], value.get("p_floor"), f"{result.get('n_null')} shifts")
        lines.append(f"{name} top-{key[3:]}: {value['accuracy']:.3f} {format_interval(value['ci95'])}  "
                     f"chance {value['chance_nominal']:.3f}{null}  {p}  "
                     f"({result['method']}; N={result['n']} windows in {result['n_runs']} runs)")
    return lines


@torch.no_grad()
def encoder_retrieval(encoder, test_store, window, lag=0, top_k=(1, 5), batch_size=64, device=None, seed=0,
                      split=None, fmri_map=None):
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
    split : {"test", "validation", "train"}, optional
        Which windows of the store (default: the store's own split).
    fmri_map : SubjectMap, optional
        The store's subject's map into the encoder's space (a run on several subjects).

    Returns
    -------
    dict
        ``{"fmri_to_image": topk_retrieval(...), "fmri_to_caption": …}``
    """
    from torch.utils.data import DataLoader

    from ..data.dataset import FMRIWindowDataset
    from ..data.targets import window_targets

    device = device or next(encoder.parameters()).device
    dataset = FMRIWindowDataset(test_store, window=window, lag=lag, with_frames=False, with_embeddings=True,
                                split=split, fmri_map=fmri_map)
    encoder.eval()
    embeds, texts, images, runs = [], [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size):  # in order: windows stay in time order
        embeds.append(encoder(batch["fmri"].to(device)).embeds.float().cpu())
        text, image = window_targets(batch)
        texts.append(text)
        images.append(image)
        runs.append(np.asarray(batch["run"]))
    embeds, runs = torch.cat(embeds), np.concatenate(runs)
    return {
        "fmri_to_image": topk_retrieval(embeds, torch.cat(images), runs, top_k, seed=seed),
        "fmri_to_caption": topk_retrieval(embeds, torch.cat(texts), runs, top_k, seed=seed),
    }


def evaluate_encoder(model_dir, test_store, config, out_dir, train_store=None, run_root=None,
                     file_name="retrieval.json", encoder=None):
    """Held-out retrieval of a trained encoder (:func:`encoder_retrieval`), written to ``out_dir/file_name``.

    Scored on the test split (to report) and, where ``train_store`` marks validation movies, on
    them too (to choose by: an encoder, a checkpoint, a setting).

    Parameters
    ----------
    model_dir : Path
        The encoder's ``save_pretrained`` folder.
    test_store : Path
        The test split's store, with embeddings.
    config : dict
        The run's resolved config (``data.window``, ``data.lag``, ``evaluation.top_k``, ``seed``).
    out_dir : Path
        Where ``retrieval.json`` goes (the encoder stage's folder).
    train_store : Path, optional
        The training store, whose validation movies (if any) are scored too.
    run_root : Path, optional
        The run folder: the stores' subject is read through its map into the run's space.
    file_name : str
        ``retrieval.json``; a run on several subjects writes ``retrieval-sub-XX.json`` for each.
    encoder : FMRIEncoder, optional
        ``model_dir``'s encoder, already loaded (scoring several subjects loads it once).

    Returns
    -------
    dict
        :func:`encoder_retrieval`'s result on the test split, with ``test_store``,
        ``test_fmri_in_training`` and ``validation`` (the same on the validation windows, or None).
    """
    from ..alignment.run_space import subject_map
    from ..data.store import open_store

    encoder = encoder if encoder is not None else _load_encoder(model_dir)
    device = next(encoder.parameters()).device
    window, lag, top_k = config["data"]["window"], config["data"]["lag"], tuple(config["evaluation"]["top_k"])
    fmri_map = None
    if run_root is not None:
        with open_store(test_store) as store:
            fmri_map = subject_map(run_root, store.subject, store.fmri.shape[1])
    result = encoder_retrieval(encoder, test_store, window, lag, top_k, device=device, seed=config["seed"],
                               fmri_map=fmri_map)
    result["test_store"] = str(test_store)
    result["test_fmri_in_training"] = bool(config["pretrain"]["include_test_fmri"])
    result["validation"] = None
    if train_store is not None:
        with open_store(train_store) as store:
            marked = bool(store.validation.any())
        if marked:
            result["validation"] = encoder_retrieval(encoder, train_store, window, lag, top_k, device=device,
                                                     seed=config["seed"], split="validation", fmri_map=fmri_map)
    write_text_atomic(Path(out_dir) / file_name, json.dumps(result, indent=2) + "\n")
    return result


def _load_encoder(model_dir):
    """A saved encoder on the GPU when there is one."""
    from ..models.fmri_encoder import FMRIEncoder

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return FMRIEncoder.from_pretrained(model_dir).to(device)


def retrieval_by_subject(fitted):
    """Held-out retrieval of the encoder a ``fit`` left, for each subject it trained on: scored if it just
    trained, read back if finished earlier.

    A one-subject run's is ``encoder/retrieval.json``; a run on several subjects scores each one's
    test split (and validation movies) through its map, into ``encoder/retrieval-sub-XX.json``.

    Parameters
    ----------
    fitted : dict
        What :func:`neurocine_toolbox.training.fit.fit` returned.

    Returns
    -------
    dict
        Subject label → as :func:`evaluate_encoder`. Empty when the encoder stage was not asked for, a
        finished encoder has no scores, or this is not the main process (only it scores and writes).
    """
    if not fitted["main_process"]:
        return {}
    stage_dir = Path(fitted["root"]) / "encoder"
    by_subject = fitted["subject_stores"]
    several = len(by_subject) > 1
    encoder = _load_encoder(stage_dir / "model") if "encoder" in fitted["ran"] else None
    scores = {}
    for subject, stores in by_subject.items():
        file_name = f"retrieval-sub-{subject}.json" if several else "retrieval.json"
        if encoder is not None:
            scores[subject] = evaluate_encoder(stage_dir / "model", stores["test"], fitted["config"], stage_dir,
                                               stores["train"], run_root=fitted["root"], file_name=file_name,
                                               encoder=encoder)
        elif "encoder" in fitted["skipped"] and (stage_dir / file_name).is_file():
            scores[subject] = json.loads((stage_dir / file_name).read_text())
    return scores


def retrieval_lines(result):
    """The retrieval scores as printed lines (split, protocol, accuracy, interval, chance, p)."""
    lines = []
    for split, scores in (("test", result), ("validation", result.get("validation"))):
        if scores is None:
            continue
        for key, label in (("fmri_to_image", "fMRI→image"), ("fmri_to_caption", "fMRI→caption")):
            lines += [f"{split}: {line}" for line in format_retrieval(label, scores[key])]
    if result.get("test_fmri_in_training"):
        lines.append("note: the test split's fMRI was used in pre-training (--include-test-fmri-in-pretraining)")
    return lines
