"""Every metric of ``neurocine evaluate`` on one set of clips, with baselines, chance and intervals.

:func:`score_metrics` takes decoded and true clips (uint8 ``[N, F, H, W, 3]``, in time order,
with the run of each clip) and returns one row per metric and protocol:

- ``ssim`` in three protocols, ``psnr`` and ``pixcorr`` (:mod:`.pixel_metrics`);
- ``identification``: 2-way low-level identification by SSIM (``mindvideo-rgb``) and by PixCorr,
  chance exactly 0.5 (:mod:`.identification`), with ``ssim`` and with ``pixcorr``;
- ``frame_nway`` and ``clip_nway``, N-way top-1 classification of frames (an ImageNet ViT) and of
  clips (a Kinetics VideoMAE) in the peers' protocol and a strict one, for each N
  (:mod:`.nway`, :mod:`.classifiers`), each with its exact chance level;
- ``temporal_consistency``: CLIP cosine of consecutive frames (the CLIP named in the protocol),
  for the decoded clips and for the truth, and each clip's gap to its truth's, which is what is
  compared (:mod:`.temporal_consistency`).

Each row's value is the mean over clips (frame metrics: over each clip's frames first, which is
MinD-Video's mean per frame position then over positions when every clip has F frames) with a
95 % block-bootstrap interval over clips within runs (:mod:`.time_series_statistics`; none with
fewer than 2 blocks), beside the same metric for each baseline (:mod:`.baselines`: flat grey,
mean clip, shuffled, latent ridge, pixel ridge), the paired difference decoder − baseline with
its interval and a two-sided block sign-flip p-value and the least p those blocks allow, and
which of them scores best.
"""

import logging

import numpy as np

from .baselines import flat_clips, shuffled_partners
from .identification import CHANCE as IDENTIFICATION_CHANCE
from .identification import MAX_OTHERS, identification, other_clips
from .time_series_statistics import check_runs, paired_difference, summarise

log = logging.getLogger("neurocine")

METRICS = ("ssim", "psnr", "pixcorr", "frame_nway", "clip_nway", "temporal_consistency")
BASELINES = ("flat", "mean_clip", "shuffled", "ridge", "pixel_ridge", "vae_oracle")
#: Scored beside the baselines but not competing for ``best``: the truth through the run's VAE
#: is the most any decoder drawing with that VAE could score.
CEILINGS = ("vae_oracle",)
#: How tables name the baselines.
BASELINE_LABELS = {"flat": "flat grey", "mean_clip": "mean clip", "shuffled": "shuffled", "ridge": "latent ridge",
                   "pixel_ridge": "pixel ridge", "vae_oracle": "VAE oracle (ceiling)"}
NWAY_PROTOCOLS = ("peers", "strict")
TEMPORAL_PROTOCOL = "clip-consecutive-cosine"


def column_name(row, baseline=None):
    """The per-clip CSV column of a metric row (``ssim:mindvideo-rgb``, ``clip_nway:peers:50-way:top1@ridge``)."""
    parts = [row["name"], row["protocol"]]
    if row.get("n_way") is not None:
        parts.append(f"{row['n_way']}-way")
    if row.get("top_k") is not None:
        parts.append(f"top{row['top_k']}")
    return ":".join(parts) + (f"@{baseline}" if baseline else "")


class _Rows:
    """Collects metric rows and their per-clip values."""

    def __init__(self, runs, n_boot, n_null, seed):
        self.runs, self.n_boot, self.n_null, self.seed = runs, n_boot, n_null, seed
        self.rows, self.per_clip = [], {}

    def add(self, name, protocol, values, baselines, *, chance=None, n_way=None, top_k=None, higher_is_better=True,
            note=None):
        """One row: the decoded clips' ``values [N]`` and each baseline's (``None``: not scored).

        ``higher_is_better`` (True, False, or None for a row with no better direction) decides
        the ``best`` entry and whether paired differences are computed.
        """
        values = np.asarray(values, float)
        summary = summarise(values, self.runs, n_boot=self.n_boot, seed=self.seed)
        interval = summary["ci95"] or [None, None]
        row = {"name": name, "protocol": protocol, "n_way": n_way, "top_k": top_k,
               "value": summary["estimate"], "ci_low": interval[0], "ci_high": interval[1],
               "chance": chance, "higher_is_better": higher_is_better, "baselines": {}, "baselines_ci95": {},
               "versus_baselines": {}, "method": summary["method"]}
        if note:
            row["note"] = note
        self.per_clip[column_name(row)] = values
        for baseline in BASELINES:
            other = baselines.get(baseline)
            if other is None:
                row["baselines"][baseline] = row["baselines_ci95"][baseline] = None
                continue
            other = np.broadcast_to(np.asarray(other, float), values.shape)
            row["baselines"][baseline] = float(other.mean())
            # The baseline's own interval, by the same resampling: for comparing intervals side by side.
            row["baselines_ci95"][baseline] = summarise(other, self.runs, n_boot=self.n_boot, seed=self.seed)["ci95"]
            self.per_clip[column_name(row, baseline)] = np.array(other)
            if higher_is_better is None:
                continue
            difference = paired_difference(values, other, self.runs, n_boot=self.n_boot, n_null=self.n_null,
                                           seed=self.seed)
            row["versus_baselines"][baseline] = {
                "difference": difference["estimate"], "ci95": difference["ci95"], "p_value": difference["p_value"],
                "p_floor": difference["p_floor"], "n_sign_blocks": difference["n_sign_blocks"]}
        row["best"] = _best(row)
        self.rows.append(row)
        return row


def _best(row):
    """Which of the decoded clips and the baselines has the best mean (None for a row without a direction)."""
    if row["higher_is_better"] is None:
        return None
    scores = {"decoded": row["value"],
              **{b: v for b, v in row["baselines"].items() if v is not None and b not in CEILINGS}}
    pick = max if row["higher_is_better"] else min
    return pick(scores, key=scores.get)


def _candidates(decoded, runs, baselines):
    """Every prediction scored, as ``name: (clips [N or 1], truth index [N])``: clip i's
    prediction is ``clips[i]`` (``clips[0]`` for a constant one), scored against ``truth[index[i]]``."""
    n = len(decoded)
    own = np.arange(n)
    candidates = {"decoded": (decoded, own), "flat": (flat_clips(decoded.shape), own)}
    mean = baselines.get("mean_clip")
    if mean is not None:
        mean = np.asarray(mean)
        candidates["mean_clip"] = (mean[None] if mean.ndim == 4 else mean, own)
    candidates["shuffled"] = (decoded, shuffled_partners(runs))
    for name in ("ridge", "pixel_ridge", "vae_oracle"):
        if baselines.get(name) is not None:
            candidates[name] = (np.asarray(baselines[name]), own)
    for name, (clips, _) in candidates.items():
        if clips.shape[1:] != decoded.shape[1:] or len(clips) not in (1, n):
            raise ValueError(f"the {name} clips {clips.shape} do not match the decoded clips {decoded.shape}")
    return candidates


def _expanded(clips, n):
    """``[N, …]`` clips from one clip or N (a constant prediction repeated)."""
    return np.ascontiguousarray(np.broadcast_to(clips, (n, *clips.shape[1:]))) if len(clips) == 1 else clips


def score_metrics(decoded, truth, runs, *, metrics=METRICS, baselines=None, models=None, n_way=(2, 50),
                  n_trials=100, n_boot=2000, n_null=1000, seed=0, max_others=MAX_OTHERS):
    """Score decoded clips against their truth with every metric, beside the baselines.

    Parameters
    ----------
    decoded, truth : uint8 ``[N, F, H, W, 3]``
        In time order; ``decoded[i]`` is the reconstruction of ``truth[i]``.
    runs : array_like ``[N]``
        Run (or movie) of each clip; one value for clips of unknown origin.
    metrics : sequence of str
        A subset of :data:`METRICS`.
    baselines : dict, optional
        ``{"mean_clip": uint8 [F, H, W, 3] (one clip for all) or [N, F, H, W, 3] (one per clip),
        "ridge": uint8 [N, F, H, W, 3], "pixel_ridge": uint8 [N, F, H, W, 3]}``, each optional;
        the flat and shuffled baselines are always scored.
    models : EvaluationModels, optional
        The classifiers and CLIP (:class:`.evaluate.EvaluationModels`), needed for
        ``frame_nway``, ``clip_nway`` and ``temporal_consistency``.
    n_way : sequence of int
    n_trials, n_boot, seed : int
    n_null : int
        Sign patterns of the paired tests (every one when there are fewer).
    max_others : int
        Other clips each clip is compared with by identification (all when fewer).

    Returns
    -------
    dict
        ``{"n_clips", "rows": [...], "per_clip": {column: ndarray [N]}}``.
    """
    from . import pixel_metrics

    decoded, truth = np.asarray(decoded), np.asarray(truth)
    if decoded.shape != truth.shape:
        raise ValueError(f"decoded clips {decoded.shape} and true clips {truth.shape} differ in shape")
    runs = check_runs(runs, len(decoded))
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRICS)}")
    n = len(decoded)
    candidates = _candidates(decoded, runs, dict(baselines or {}))
    rows = _Rows(runs, n_boot, n_null, seed)

    def per_clip_scores(function, *args):
        """Per-clip means of a frame metric for every candidate: decoded, then ``{baseline: values}``."""
        scores = {name: function(_expanded(clips, n), truth[index], *args).mean(axis=1)
                  for name, (clips, index) in candidates.items()}
        return scores.pop("decoded"), scores

    others = other_clips(n, max_others, seed) if n >= 2 and {"ssim", "pixcorr"} & set(metrics) else None

    def identification_row(metric, protocol):
        scores = {}
        for clips in {id(c): c for c, _ in candidates.values()}.values():  # the decoded and shuffled share clips
            names = [name for name, (c, _) in candidates.items() if c is clips]
            values = identification(metric, clips, truth, own=np.stack([candidates[k][1] for k in names]),
                                    others=others)
            scores.update(zip(names, values))
        compared = others.shape[1]
        rows.add("identification", protocol, scores.pop("decoded"), scores, chance=IDENTIFICATION_CHANCE, n_way=2,
                 note=f"2-way identification by {protocol}: the share of {'all ' if compared == n - 1 else ''}"
                      f"{compared} other clips whose truth scores strictly lower against the decoded clip than its "
                      "own truth; chance 0.5 exactly, a constant output at or below it")

    if "ssim" in metrics:
        for protocol, description in pixel_metrics.SSIM_PROTOCOLS.items():
            own, other = per_clip_scores(pixel_metrics.ssim_per_frame, protocol)
            note = description if protocol == "neurons-columnwise" else None
            rows.add("ssim", protocol, own, other, note=note)
        if others is not None:
            identification_row("ssim", "ssim:mindvideo-rgb")
    if "psnr" in metrics:
        own, other = per_clip_scores(pixel_metrics.psnr_per_frame)
        rows.add("psnr", "rgb-255", own, other)
    if "pixcorr" in metrics:
        own, other = per_clip_scores(pixel_metrics.pixcorr_per_frame)
        rows.add("pixcorr", "rgb-pearson", own, other,
                 note="Pearson r of a frame's flattened RGB values with its truth's (MindEye's PixCorr, per frame); "
                      "a flat frame correlates 0")
        if others is not None:
            identification_row("pixcorr", "pixcorr:rgb-pearson")

    for metric, kind in (("frame_nway", "frame"), ("clip_nway", "clip")):
        if metric not in metrics:
            continue
        if models is None:
            raise ValueError(f"{metric} needs the classifiers (models=...)")
        _nway_rows(rows, metric, models.classifier(kind), truth, candidates, n_way, n_trials, seed)

    if "temporal_consistency" in metrics:
        if models is None:
            raise ValueError("temporal_consistency needs a CLIP model (models=...)")
        _temporal_rows(rows, models, truth, candidates)
    return {"n_clips": int(n), "rows": rows.rows, "per_clip": rows.per_clip}


def _nway_rows(rows, metric, classifier, truth, candidates, n_way, n_trials, seed):
    """N-way top-1 rows of one classifier: each protocol and N, with chance and baselines."""
    from .nway import nway_chance, nway_topk

    n = len(truth)
    truth_probs = classifier.probabilities(truth)          # frames: [N, F, C]; clips: [N, C]
    outputs, probs = {}, {}
    for name, (clips, index) in candidates.items():
        if id(clips) not in outputs:  # the shuffled baseline reuses the decoded clips' outputs
            outputs[id(clips)] = classifier.probabilities(clips)
        p = outputs[id(clips)]
        probs[name] = (np.broadcast_to(p, (n, *p.shape[1:])) if len(p) == 1 else p, truth_probs[index])
    n_classes = truth_probs.shape[-1]

    def per_clip(pred, target, n_way_, protocol):
        # Frames are scored one by one, then averaged over each clip's frames.
        flat = nway_topk(pred.reshape(-1, n_classes), target.reshape(-1, n_classes), n_way_, top_k=1,
                         protocol=protocol, n_trials=n_trials, seed=seed)
        return flat.reshape(len(pred), -1).mean(axis=1)

    for protocol in NWAY_PROTOCOLS:
        for n_way_ in n_way:
            reserved = 3 if protocol == "peers" else 1
            if n_way_ - 1 > n_classes - reserved:
                log.warning("%s: %d-way needs %d classes besides the truth's, the classifier has %d; left out",
                            metric, n_way_, n_way_ - 1, n_classes - reserved)
                continue
            scores = {name: per_clip(p, t, n_way_, protocol) for name, (p, t) in probs.items()}
            rows.add(metric, protocol, scores.pop("decoded"), scores,
                     chance=nway_chance(n_way_, top_k=1, protocol=protocol), n_way=int(n_way_), top_k=1)


def _temporal_rows(rows, models, truth, candidates):
    """Temporal consistency of the decoded clips and the baselines, the truth's, and each clip's gap to its truth's."""
    from .temporal_consistency import consecutive_cosine

    n = len(truth)
    protocol = f"{TEMPORAL_PROTOCOL} ({models.clip_model})"
    true = consecutive_cosine(models.clip_embeddings(truth))
    levels = {}
    for name, (clips, _) in candidates.items():
        if name != "shuffled":  # the decoded clips themselves: the same level
            levels[name] = np.broadcast_to(consecutive_cosine(models.clip_embeddings(clips)), (n,))
    gaps = {name: np.abs(levels["decoded" if name == "shuffled" else name] - true[index])
            for name, (_, index) in candidates.items()}
    decoded = levels.pop("decoded")
    rows.add("temporal_consistency", protocol, decoded, levels, higher_is_better=None,
             note="no better direction on its own: a still clip scores 1, a flickering one low; compare the gap")
    rows.add("temporal_consistency", protocol + ", gap to true clips", gaps.pop("decoded"), gaps,
             higher_is_better=False,
             note="per clip |consistency of the prediction − consistency of its true clip|: lower is better")
    rows.add("temporal_consistency", protocol + " (true clips)", true, {}, higher_is_better=None)
