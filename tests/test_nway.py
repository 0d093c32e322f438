"""N-way top-K accuracy: exact cases, ties, the top-K boundary, chance levels and bad input."""

import itertools

import numpy as np
import pytest

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.evaluation.nway import nway_chance, nway_topk


def _brute_force(pred, truth, n_way, top_k, n_true):
    """Expected accuracy of one sample by enumerating every set of distractors (the definition)."""
    true_classes = sorted(range(len(truth)), key=lambda c: (-truth[c], c))[:n_true]
    others = [c for c in range(len(truth)) if c not in true_classes]
    wins = []
    for distractors in itertools.combinations(others, n_way - 1):
        wins.append(any(sum(pred[d] >= pred[t] for d in distractors) < top_k for t in true_classes))
    return np.mean(wins)


def test_success_is_certain_when_a_true_class_is_predicted_highest():
    truth = np.array([[0.5, 0.3, 0.1] + [0.01] * 10])
    pred = np.array([[0.0, 0.9, 0.0] + [0.01] * 10])  # the truth's second class: counts under peers
    assert nway_topk(pred, truth, n_way=11, protocol="peers").tolist() == [1.0]
    # strict: class 0 alone, predicted at 0.0, below every distractor
    assert nway_topk(pred, truth, n_way=11, protocol="strict").tolist() == [0.0]


def test_success_is_impossible_when_every_distractor_is_drawn_and_above():
    truth = np.array([[0.4, 0.3, 0.2, 0.05, 0.05]])
    pred = np.array([[0.0, 0.1, 0.1, 0.3, 0.5]])
    # C − 3 = 2 distractors, both drawn at N = 3, both above the best true value 0.1.
    assert nway_topk(pred, truth, n_way=3, top_k=1).tolist() == [0.0]
    assert nway_topk(pred, truth, n_way=3, top_k=2).tolist() == [0.0]
    assert nway_topk(pred, truth, n_way=3, top_k=3).tolist() == [1.0]  # K = N: always within the top N


def test_top_k_boundary_and_exact_expectation():
    # strict, truth class 0; two other classes above its predicted value, seven below.
    truth = np.eye(10)[[0]]
    pred = np.array([[0.3, 0.5, 0.4] + [0.1] * 7])
    assert nway_topk(pred, truth, n_way=10, top_k=2, protocol="strict").tolist() == [0.0]
    assert nway_topk(pred, truth, n_way=10, top_k=3, protocol="strict").tolist() == [1.0]
    # 2-way: one distractor out of 9, of which 2 beat the truth → 7/9 exactly.
    exact = nway_topk(pred, truth, n_way=2, protocol="strict", n_trials=None)
    assert exact == pytest.approx([7 / 9])
    sampled = nway_topk(pred, truth, n_way=2, protocol="strict", n_trials=20000, seed=3)
    assert sampled[0] == pytest.approx(7 / 9, abs=4 * np.sqrt(7 / 9 * 2 / 9 / 20000))


def test_ties_count_against_the_truth():
    truth = np.array([[0.9, 0.05, 0.03, 0.02, 0.0, 0.0]])
    flat = np.full((1, 6), 1 / 6)
    assert nway_topk(flat, truth, n_way=4, top_k=1).tolist() == [0.0]
    assert nway_topk(flat, truth, n_way=4, top_k=4).tolist() == [1.0]
    # Of the three distractors one ties the best true value (0.2), two are below: 2-way
    # succeeds unless the tying one is drawn.
    pred = np.array([[0.2, 0.1, 0.1, 0.0, 0.2, 0.1]])
    assert nway_topk(pred, truth, n_way=2, n_trials=None) == pytest.approx([2 / 3])


def test_the_truth_top_classes_break_ties_by_lower_index():
    truth = np.array([[0.25, 0.25, 0.25, 0.25, 0.0, 0.0]])  # top-3: classes 0, 1, 2; class 3 is a distractor
    pred = np.array([[0.0, 0.0, 0.0, 1.0, 0.5, 0.5]])
    assert nway_topk(pred, truth, n_way=2, n_trials=None) == pytest.approx([0.0])


@pytest.mark.parametrize("protocol,n_true", [("peers", 3), ("strict", 1)])
@pytest.mark.parametrize("n_way,top_k", [(2, 1), (5, 1), (5, 2), (7, 3)])
def test_matches_enumeration_of_every_distractor_set(protocol, n_true, n_way, top_k):
    rng = np.random.default_rng(n_way * 10 + top_k)
    # Small integer values: many ties, in the truth and in the prediction.
    truth = rng.integers(0, 4, size=(12, 11)).astype(float)
    pred = rng.integers(0, 4, size=(12, 11)).astype(float)
    expected = [_brute_force(p, t, n_way, top_k, n_true) for p, t in zip(pred, truth)]
    exact = nway_topk(pred, truth, n_way, top_k, protocol, n_trials=None)
    np.testing.assert_allclose(exact, expected, atol=1e-12)
    sampled = nway_topk(pred, truth, n_way, top_k, protocol, n_trials=4000, seed=1)
    np.testing.assert_allclose(sampled, expected, atol=4 * 0.5 / np.sqrt(4000))


def test_trials_are_seeded_fractions_and_keep_leading_axes():
    rng = np.random.default_rng(0)
    pred, truth = rng.random((4, 6, 50)), rng.random((4, 6, 50))
    a = nway_topk(pred, truth, n_way=10, n_trials=40, seed=5)
    assert a.shape == (4, 6)
    np.testing.assert_array_equal(a, nway_topk(pred, truth, n_way=10, n_trials=40, seed=5))
    np.testing.assert_allclose(a * 40, np.round(a * 40))  # fractions of 40 trials
    flat = nway_topk(pred.reshape(24, 50), truth.reshape(24, 50), n_way=10, n_trials=None)
    np.testing.assert_allclose(nway_topk(pred, truth, n_way=10, n_trials=None).ravel(), flat)


def test_chance_is_exact():
    assert nway_chance(50, protocol="peers") == pytest.approx(3 / 52, abs=1e-15)
    assert nway_chance(2, protocol="peers") == pytest.approx(0.75, abs=1e-15)
    assert nway_chance(50, protocol="strict") == pytest.approx(1 / 50, abs=1e-15)
    assert nway_chance(10, top_k=3, protocol="strict") == pytest.approx(3 / 10, abs=1e-15)
    # peers, top-2 of 5: fails only when both of the top 2 of 4 distractors + 3 true are distractors.
    assert nway_chance(5, top_k=2, protocol="peers") == pytest.approx(1 - 6 / 21, abs=1e-15)


@pytest.mark.parametrize("n_way,top_k", [(2, 1), (50, 1), (10, 3)])
def test_closed_form_chance_is_what_random_logits_score(n_way, top_k):
    """The exact chance agrees with nway_topk itself on unrelated predictions (four standard errors)."""
    rng = np.random.default_rng(0)
    n_samples = 20000
    truth, pred = rng.standard_normal((n_samples, 100)), rng.standard_normal((n_samples, 100))
    for protocol in ("peers", "strict"):
        measured = nway_topk(pred, truth, n_way, top_k=top_k, protocol=protocol, n_trials=None).mean()
        expected = nway_chance(n_way, top_k, protocol)
        assert measured == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / n_samples))


@pytest.mark.parametrize("kwargs,message", [
    ({"pred_probs": np.zeros((3, 10)), "truth_probs": np.zeros((3, 9))}, "same shape"),
    ({"pred_probs": np.zeros(10), "truth_probs": np.zeros(10)}, "same shape"),
    ({"n_way": 9}, "N−1 ≤ 7 distractor classes"),
    ({"n_way": 1}, "needs 2 ≤ N"),
    ({"n_way": 4, "top_k": 5}, "top_k must be between 1 and N=4"),
    ({"protocol": "mindvideo"}, "unknown N-way protocol 'mindvideo'"),
    ({"n_trials": 0}, "n_trials must be a positive"),
    ({"pred_probs": np.full((3, 10), np.nan)}, "NaN"),
])
def test_bad_input_is_one_clear_line(kwargs, message):
    args = {"pred_probs": np.zeros((3, 10)), "truth_probs": np.zeros((3, 10)), "n_way": 2, **kwargs}
    with pytest.raises(NeurocineError, match=message) as caught:
        nway_topk(**args)
    assert "\n" not in str(caught.value)
    nway_topk(np.zeros((3, 10)), np.zeros((3, 10)), n_way=8)  # 7 distractors: the most there are
