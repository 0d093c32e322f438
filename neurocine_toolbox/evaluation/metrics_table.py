"""Every metric of ``neurocine evaluate`` on one set of clips, with baselines, chance and intervals.

:func:`score_metrics` takes decoded and true clips (uint8 ``[N, F, H, W, 3]``, in time order,
with the run of each clip) and returns one row per metric and protocol:

- ``ssim`` in three protocols and ``psnr`` (:mod:`.pixel_metrics`);
- ``frame_nway`` and ``clip_nway``, N-way top-1 classification of frames (an ImageNet ViT) and of
  clips (a Kinetics VideoMAE) in the peers' protocol and a strict one, for each N
  (:mod:`.nway`, :mod:`.classifiers`), each with its chance level simulated with random
  predictions;
- ``temporal_consistency``: CLIP cosine of consecutive frames, for the decoded clips and for the
  truth (:mod:`.temporal_consistency`).

Each row's value is the mean over clips (frame metrics: over each clip's frames first, which is
MinD-Video's mean per frame position then over positions when every clip has F frames) with a
95 % block-bootstrap interval over clips within runs (:mod:`.time_series_statistics`), beside the
same metric for each baseline (:mod:`.baselines`) and the paired difference decoder − baseline,
with its interval and a two-sided block sign-flip p-value.
"""

import logging

import numpy as np

from .baselines import shuffled_partners
from .time_series_statistics import check_runs, paired_difference, summarise

log = logging.getLogger("neurocine")

METRICS = ("ssim", "psnr", "frame_nway", "clip_nway", "temporal_consistency")
BASELINES = ("shuffled", "mean_clip", "ridge")
NWAY_PROTOCOLS = ("peers", "strict")
TEMPORAL_PROTOCOL = "clip-consecutive-cosine"


def column_name(row, baseline=None):
    """The per-clip CSV column of a metric row (``ssim:mindvideo-rgb``, ``clip_nway:peers:50-way:top1@ridge``)."""
    parts = [row["name"], row["protocol"]]
    if row.get("n_way") is not None:
        parts += [f"{row['n_way']}-way", f"top{row['top_k']}"]
    return ":".join(parts) + (f"@{baseline}" if baseline else "")


class _Rows:
    """Collects metric rows and their per-clip values."""

    def __init__(self, runs, n_boot, seed):
        self.runs, self.n_boot, self.seed = runs, n_boot, seed
        self.rows, self.per_clip = [], {}

    def add(self, name, protocol, values, baselines, *, chance=None, n_way=None, top_k=None, note=None):
        values = np.asarray(values, float)
        summary = summarise(values, self.runs, n_boot=self.n_boot, seed=self.seed)
        row = {"name": name, "protocol": protocol, "n_way": n_way, "top_k": top_k,
               "value": summary["estimate"], "ci_low": summary["ci95"][0], "ci_high": summary["ci95"][1],
               "chance": chance, "baselines": {}, "baselines_ci95": {}, "versus_baselines": {},
               "method": summary["method"]}
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
            difference = paired_difference(values, other, self.runs, n_boot=self.n_boot, seed=self.seed)
            row["versus_baselines"][baseline] = {"difference": difference["estimate"], "ci95": difference["ci95"],
                                                 "p_value": difference["p_value"]}
        self.rows.append(row)
        return row


def score_metrics(decoded, truth, runs, *, metrics=METRICS, baselines=None, models=None, n_way=(2, 50),
                  n_trials=100, n_boot=2000, seed=0):
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
        ``{"mean_clip": uint8 [F, H, W, 3], "ridge": uint8 [N, F, H, W, 3]}``, either optional;
        the shuffled baseline is always scored.
    models : EvaluationModels, optional
        The classifiers and CLIP (:func:`.classifiers.load_evaluation_models`), needed for
        ``frame_nway``, ``clip_nway`` and ``temporal_consistency``.
    n_way : sequence of int
    n_trials, n_boot, seed : int

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
    baselines = dict(baselines or {})
    partners = shuffled_partners(runs)
    candidates = {"shuffled": (decoded, partners)}
    if baselines.get("mean_clip") is not None:
        candidates["mean_clip"] = (np.asarray(baselines["mean_clip"])[None], np.zeros(len(decoded), int))
    if baselines.get("ridge") is not None:
        candidates["ridge"] = (np.asarray(baselines["ridge"]), np.arange(len(decoded)))
    rows = _Rows(runs, n_boot, seed)

    def pixel_scores(function, *args):
        """Per-clip values of the decoder and of each baseline (prediction index, truth index)."""
        own = function(decoded, truth, *args).mean(axis=1)
        other = {}
        for name, (clips, index) in candidates.items():
            if name == "shuffled":
                other[name] = function(decoded, truth[partners], *args).mean(axis=1)
            elif name == "mean_clip":
                other[name] = function(np.repeat(clips, len(truth), axis=0), truth, *args).mean(axis=1)
            else:
                other[name] = function(clips, truth, *args).mean(axis=1)
        return own, other

    if "ssim" in metrics:
        for protocol, description in pixel_metrics.SSIM_PROTOCOLS.items():
            own, other = pixel_scores(pixel_metrics.ssim_per_frame, protocol)
            note = description if protocol == "neurons-columnwise" else None
            rows.add("ssim", protocol, own, other, note=note)
    if "psnr" in metrics:
        own, other = pixel_scores(pixel_metrics.psnr_per_frame)
        rows.add("psnr", "rgb-255", own, other)

    for metric, kind in (("frame_nway", "frame"), ("clip_nway", "clip")):
        if metric not in metrics:
            continue
        if models is None:
            raise ValueError(f"{metric} needs the classifiers (models=...)")
        _nway_rows(rows, metric, models.classifier(kind), decoded, truth, candidates, partners, n_way, n_trials,
                   seed)

    if "temporal_consistency" in metrics:
        if models is None:
            raise ValueError("temporal_consistency needs a CLIP model (models=...)")
        from .temporal_consistency import consecutive_cosine

        own = consecutive_cosine(models.clip_embeddings(decoded))
        other = {"shuffled": None}
        if "mean_clip" in candidates:
            other["mean_clip"] = consecutive_cosine(models.clip_embeddings(candidates["mean_clip"][0]))
        if "ridge" in candidates:
            other["ridge"] = consecutive_cosine(models.clip_embeddings(candidates["ridge"][0]))
        rows.add("temporal_consistency", TEMPORAL_PROTOCOL, own, other)
        rows.add("temporal_consistency", TEMPORAL_PROTOCOL + " (true clips)",
                 consecutive_cosine(models.clip_embeddings(truth)), {})
    return {"n_clips": int(len(decoded)), "rows": rows.rows, "per_clip": rows.per_clip}


def _nway_rows(rows, metric, classifier, decoded, truth, candidates, partners, n_way, n_trials, seed):
    """N-way top-1 rows of one classifier: each protocol and N, with chance and baselines."""
    from .nway import nway_chance, nway_topk

    truth_probs = classifier.probabilities(truth)          # frames: [N, F, C]; clips: [N, C]
    own_probs = classifier.probabilities(decoded)
    probs = {"shuffled": (own_probs, truth_probs[partners])}
    if "mean_clip" in candidates:
        mean_probs = classifier.probabilities(candidates["mean_clip"][0])
        probs["mean_clip"] = (np.repeat(mean_probs, len(truth_probs), axis=0), truth_probs)
    if "ridge" in candidates:
        probs["ridge"] = (classifier.probabilities(candidates["ridge"][0]), truth_probs)
    n_classes = truth_probs.shape[-1]

    def per_clip(pred, target, n, protocol):
        # Frames are scored one by one, then averaged over each clip's frames.
        flat = nway_topk(pred.reshape(-1, n_classes), target.reshape(-1, n_classes), n, top_k=1,
                         protocol=protocol, n_trials=n_trials, seed=seed)
        return flat.reshape(len(pred), -1).mean(axis=1)

    for protocol in NWAY_PROTOCOLS:
        for n in n_way:
            reserved = 3 if protocol == "peers" else 1
            if n - 1 > n_classes - reserved:
                log.warning("%s: %d-way needs %d classes besides the truth's, the classifier has %d; left out",
                            metric, n, n - 1, n_classes - reserved)
                continue
            own = per_clip(own_probs, truth_probs, n, protocol)
            other = {name: per_clip(p, t, n, protocol) for name, (p, t) in probs.items()}
            chance = nway_chance(n, top_k=1, protocol=protocol, n_classes=n_classes, n_trials=n_trials, seed=seed)
            rows.add(metric, protocol, own, other, chance=chance, n_way=int(n), top_k=1)
