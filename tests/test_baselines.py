"""The baselines of neurocine evaluate: shuffled partners, the mean training clip, ridge to latents."""

import numpy as np
import pytest

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.evaluation.baselines import MeanClipBaseline, RidgeLatentBaseline, shuffled_partners


def test_shuffled_partners_are_half_a_run_away_within_the_run():
    runs = np.repeat([4, 1, 9], [10, 7, 1])
    partners = shuffled_partners(runs)
    np.testing.assert_array_equal(partners[:10], (np.arange(10) + 5) % 10)
    np.testing.assert_array_equal(partners[10:17], 10 + (np.arange(7) + 3) % 7)
    assert partners[17] == 17  # a run of one clip has nothing far in time
    assert (runs[partners] == runs).all()


def test_mean_clip_in_chunks_with_weights_equals_the_weighted_mean():
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (9, 2, 5, 4, 3), dtype=np.uint8)
    weights = rng.integers(0, 4, 9)
    whole = MeanClipBaseline().fit(np.repeat(clips, weights, axis=0))
    chunked = MeanClipBaseline()
    for start in range(0, 9, 4):
        chunked.partial_fit(clips[start:start + 4], weights[start:start + 4])
    expected = np.round(np.repeat(clips, weights, axis=0).astype(float).mean(axis=0)).astype(np.uint8)
    np.testing.assert_array_equal(whole.mean_clip_, expected)
    np.testing.assert_array_equal(chunked.mean_clip_, expected)
    predicted = chunked.predict(3)
    assert predicted.shape == (3, 2, 5, 4, 3) and (predicted == expected).all()
    assert chunked.n_clips_ == weights.sum()
    # fit starts again; partial_fit does not
    refit = chunked.fit(clips[:1])
    np.testing.assert_array_equal(refit.mean_clip_, clips[0])


def test_mean_clip_refuses_what_it_cannot_use():
    with pytest.raises(NeurocineError, match="not fitted"):
        MeanClipBaseline().predict(2)
    with pytest.raises(NeurocineError, match="uint8 RGB clips"):
        MeanClipBaseline().fit(np.zeros((2, 1, 4, 4, 3), np.float32))
    with pytest.raises(NeurocineError, match="sample_weight"):
        MeanClipBaseline().fit(np.zeros((2, 1, 4, 4, 3), np.uint8), [1, -1])
    baseline = MeanClipBaseline().fit(np.zeros((2, 1, 4, 4, 3), np.uint8))
    with pytest.raises(NeurocineError, match="after clips of"):
        baseline.partial_fit(np.zeros((2, 1, 5, 4, 3), np.uint8))


def test_ridge_recovers_a_linear_map_and_picks_alpha_by_runs():
    rng = np.random.default_rng(1)
    n, runs = 120, np.repeat(np.arange(6), 20)
    fmri = rng.standard_normal((n, 2, 30))
    weights = rng.standard_normal((60, 24))
    latents = (fmri.reshape(n, -1) @ weights).reshape(n, 4, 6) + 0.1 * rng.standard_normal((n, 4, 6))
    model = RidgeLatentBaseline(alphas=(1e-2, 1e2, 1e6)).fit(fmri, latents, runs)
    assert model.alpha_ == 1e-2  # little noise: the least shrinkage predicts held-out runs best
    assert set(model.cv_r2_) == {1e-2, 1e2, 1e6} and model.cv_r2_[1e-2] > 0.9 > model.cv_r2_[1e6]
    new = rng.standard_normal((10, 2, 30))
    predicted = model.predict(new)
    assert predicted.shape == (10, 4, 6)
    expected = (new.reshape(10, -1) @ weights).reshape(10, 4, 6)
    assert np.corrcoef(predicted.ravel(), expected.ravel())[0, 1] > 0.99


def test_ridge_needs_two_runs_finite_data_and_fitting():
    x, y = np.zeros((10, 3)), np.zeros((10, 2))
    with pytest.raises(NeurocineError, match="at least 2 training runs"):
        RidgeLatentBaseline().fit(x, y, np.zeros(10))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(NeurocineError, match="NaN"):
        RidgeLatentBaseline().fit(bad, y, np.repeat([0, 1], 5))
    with pytest.raises(NeurocineError, match="differ"):
        RidgeLatentBaseline().fit(x, y[:9], np.repeat([0, 1], 5))
    with pytest.raises(NeurocineError, match="not fitted"):
        RidgeLatentBaseline().predict(x)
