"""N-way top-K classification accuracy: is the decoded clip classified like its truth?

The protocol of MinD-Video's ``n_way_top_k_acc``, which later work copied (SCIENCE.md,
evaluation protocols), reimplemented from its description. A classifier (ViT on frames,
VideoMAE on clips) gives class probabilities for the truth and for the reconstruction. The
truth's "class" is the set of its top-3 classes (``peers``) or its top-1 class (``strict``).
Each trial draws N−1 distractor classes, without replacement, from the classes outside that
set; it succeeds if one of the truth's classes is within the top K of the N values that the
*reconstruction's* probabilities give to it and to the N−1 distractors. A sample's score is
its fraction of successful trials.

Chance is not 1/N under ``peers``: with three chances against N−1 distractors a random
prediction succeeds at top-1 with probability 3/(N+2) (0.75 at 2-way, ≈ 0.058 at 50-way);
under ``strict`` it is 1/N. :func:`nway_chance` gives it in closed form.
"""

import numpy as np

from ..errors import NeurocineError

#: How many of the truth's top classes count as its class, per protocol.
PROTOCOLS = {"peers": 3, "strict": 1}


def _check_inputs(pred_probs, truth_probs, n_way, top_k, protocol, n_trials):
    pred, truth = np.asarray(pred_probs), np.asarray(truth_probs)
    if protocol not in PROTOCOLS:
        raise NeurocineError(f"unknown N-way protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    if pred.ndim < 2 or pred.shape != truth.shape:
        raise NeurocineError(f"N-way accuracy needs prediction and truth probabilities of the same shape "
                             f"[..., classes]; got {pred.shape} and {truth.shape}")
    if not (np.issubdtype(pred.dtype, np.number) and np.issubdtype(truth.dtype, np.number)):
        raise NeurocineError(f"N-way accuracy needs numeric probabilities; got {pred.dtype} and {truth.dtype}")
    if not (np.isfinite(pred).all() and np.isfinite(truth).all()):
        raise NeurocineError("N-way accuracy: the probabilities contain NaN or infinite values")
    n_true = PROTOCOLS[protocol]
    pool = pred.shape[-1] - n_true
    if int(n_way) != n_way or n_way < 2 or n_way - 1 > pool:
        raise NeurocineError(f"{n_way}-way accuracy ({protocol}) needs 2 ≤ N and N−1 ≤ {pool} distractor "
                             f"classes ({pred.shape[-1]} classes minus the truth's {n_true})")
    if int(top_k) != top_k or not 1 <= top_k <= n_way:
        raise NeurocineError(f"top_k must be between 1 and N={n_way}; got {top_k}")
    if n_trials is not None and (int(n_trials) != n_trials or n_trials < 1):
        raise NeurocineError(f"n_trials must be a positive whole number (or None); got {n_trials}")
    return pred, truth, n_true, pool, int(n_way), int(top_k)


def _top_classes(values, m):
    """Indices ``[..., m]`` of the ``m`` largest values, the lower index first among equal ones."""
    # m argmax passes (argmax returns the first maximum) instead of a full sort of C classes.
    work = values.astype(np.float64, copy=True)
    chosen = []
    for _ in range(m):
        best = work.argmax(axis=-1)[..., None]
        chosen.append(best)
        np.put_along_axis(work, best, -np.inf, axis=-1)
    return np.concatenate(chosen, axis=-1)


def nway_topk(pred_probs, truth_probs, n_way, top_k=1, protocol="peers", n_trials=100, seed=0):
    """Per-sample N-way top-K accuracy of predicted class probabilities against the truth's.

    What is implemented, exactly:

    1. The truth's classes: the ``m`` largest of ``truth_probs`` (``m = 3`` for ``peers``,
       1 for ``strict``); among equal values the lower class index comes first.
    2. A trial draws N−1 distractors uniformly without replacement from the ``C − m`` other
       classes.
    3. A distractor *beats* a true class ``t`` when ``pred_probs[d] >= pred_probs[t]``:
       **ties count against the truth** (a prediction that gives many classes the same value,
       as float16 softmax underflow does, earns nothing from them; the peers' sort leaves the
       order of ties undefined). The trial succeeds when some true class is beaten by fewer
       than ``top_k`` of the distractors, i.e. is within the top K of the N values (itself and
       the N−1 distractors).

    Since fewer distractors beat the true class with the largest predicted value than any
    other, a trial succeeds exactly when fewer than ``top_k`` distractors reach that value.
    Their number is hypergeometric (N−1 draws from ``C − m`` classes, of which ``G`` reach
    it), so each trial draws that count directly: the same distribution as drawing the
    distractor indices, at a cost independent of C.

    Only the order of the values matters, so logits give the same result as their softmax,
    except where the softmax rounds distinct logits to equal values.

    Parameters
    ----------
    pred_probs, truth_probs : array_like ``[..., C]``
        Class probabilities (or logits) of the reconstruction and of the truth, e.g. ``[N, C]``
        per clip or ``[N, F, C]`` per frame.
    n_way : int
        N: the true class and N−1 distractors.
    top_k : int
        K, 1 ≤ K ≤ N.
    protocol : {"peers", "strict"}
        The truth's top-3 classes (MinD-Video's protocol) or its top-1 class.
    n_trials : int or None
        Trials per sample; ``None`` gives each sample's expected accuracy exactly (the limit
        of infinitely many trials).
    seed : int
        Seeds a numpy Generator; the same inputs and seed give the same result.

    Returns
    -------
    ndarray, float64 ``[...]``
        Fraction of successful trials per sample, in [0, 1] (the input's shape without C).

    Raises
    ------
    NeurocineError
        Shapes that differ or lack a class axis, non-finite values, an unknown protocol, N or
        K out of range (N−1 must not exceed the ``C − m`` distractor classes).
    """
    pred, truth, n_true, pool, n_way, top_k = _check_inputs(pred_probs, truth_probs, n_way, top_k, protocol,
                                                            n_trials)
    true_classes = _top_classes(truth, n_true)
    best = np.take_along_axis(pred, true_classes, axis=-1).max(axis=-1)
    # Classes other than the truth's that reach the best true value (the true ones are excluded
    # by counting them and subtracting: each true class reaches `best` only if it is `best`).
    reach_all = (pred >= best[..., None]).sum(axis=-1)
    reach_true = (np.take_along_axis(pred, true_classes, axis=-1) >= best[..., None]).sum(axis=-1)
    good = reach_all - reach_true
    draws = n_way - 1
    if n_trials is None:
        from scipy.stats import hypergeom

        return hypergeom.cdf(top_k - 1, pool, good, draws).astype(np.float64)
    rng = np.random.default_rng(seed)
    good = np.broadcast_to(good[..., None], good.shape + (int(n_trials),))
    beaten_by = rng.hypergeometric(good, pool - good, draws)
    return (beaten_by < top_k).mean(axis=-1)


def nway_chance(n_way, top_k=1, protocol="peers"):
    """Chance level of :func:`nway_topk`, exactly: what a prediction unrelated to the truth scores.

    With ``m`` true classes (3 for ``peers``, 1 for ``strict``) and N−1 distractors, a
    prediction unrelated to the truth orders these N−1+m classes at random; a trial fails only
    when the K highest of them are all distractors, so chance is
    ``1 − C(N−1, K) / C(N−1+m, K)``: ``3/(N+2)`` for ``peers`` at top-1 (0.75 at 2-way,
    3/52 ≈ 0.0577 at 50-way) and ``K/N`` for ``strict``. The classifier's number of classes
    does not enter (only which classes are drawn, not how many there are to draw from).

    Parameters
    ----------
    n_way, top_k : int
    protocol : {"peers", "strict"}

    Returns
    -------
    float
    """
    from math import comb

    if protocol not in PROTOCOLS:
        raise NeurocineError(f"unknown N-way protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    if int(n_way) != n_way or n_way < 2 or int(top_k) != top_k or not 1 <= top_k <= n_way:
        raise NeurocineError(f"N-way chance needs whole numbers 2 ≤ N and 1 ≤ K ≤ N; got N={n_way}, K={top_k}")
    distractors, true = int(n_way) - 1, PROTOCOLS[protocol]
    return 1.0 - comb(distractors, int(top_k)) / comb(distractors + true, int(top_k))
