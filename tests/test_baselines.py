"""The baselines of neurocine evaluate: flat grey, shuffled partners, the mean clip (training or
leave-one-out), the latent and pixel ridges, and the cross-validation over movies they share."""

import numpy as np
import pytest

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.evaluation.baselines import (MeanClipBaseline, PixelRidgeBaseline, RidgeLatentBaseline,
                                                    flat_clips, leave_one_out_mean_clips, shuffled_partners)
from neurocine_toolbox.training.perception_ridge import PerceptionRidge
from neurocine_toolbox.training.ridge import movie_folds


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


def test_flat_and_leave_one_out_mean_clips():
    flat = flat_clips((5, 3, 8, 6, 3))
    assert flat.shape == (1, 3, 8, 6, 3) and flat.dtype == np.uint8 and (flat == 128).all()
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 256, (5, 2, 4, 3, 3), dtype=np.uint8)
    loo = leave_one_out_mean_clips(truth)
    for i in range(5):  # clip i never sees its own truth
        expected = np.round(np.delete(truth, i, axis=0).astype(float).mean(axis=0)).astype(np.uint8)
        np.testing.assert_array_equal(loo[i], expected)
    with pytest.raises(NeurocineError, match="at least 2 clips"):
        leave_one_out_mean_clips(truth[:1])


def _linear_data(rng, n_movies=6, per_movie=20, columns=30, targets=(4, 6), noise=0.1):
    n = n_movies * per_movie
    fmri = rng.standard_normal((n, 2, columns))
    weights = rng.standard_normal((2 * columns, int(np.prod(targets))))
    y = (fmri.reshape(n, -1) @ weights).reshape(n, *targets) + noise * rng.standard_normal((n, *targets))
    return fmri, y, weights, np.repeat(np.arange(n_movies), per_movie)


def test_latent_ridge_recovers_a_linear_map_with_penalties_chosen_over_movies():
    rng = np.random.default_rng(1)
    fmri, latents, weights, movies = _linear_data(rng)
    model = RidgeLatentBaseline(alphas=(1e-2, 1e2, 1e6)).fit(fmri, latents, movies)
    assert (model.alphas_ == 1e-2).all()  # little noise: the least shrinkage predicts held-out movies best
    assert model.cv_r2_.min() > 0.9
    new = rng.standard_normal((10, 2, 30))
    predicted = model.predict(new)
    assert predicted.shape == (10, 4, 6)
    expected = (new.reshape(10, -1) @ weights).reshape(10, 4, 6)
    assert np.corrcoef(predicted.ravel(), expected.ravel())[0, 1] > 0.99


def test_ridge_on_unrelated_targets_warns_at_the_top_of_its_grid(caplog):
    rng = np.random.default_rng(2)
    fmri, _, _, movies = _linear_data(rng)
    RidgeLatentBaseline(alphas=(1e-2, 1e0, 1e8)).fit(fmri, rng.standard_normal((len(fmri), 12)), movies)
    assert "chose the highest penalty of the grid, 1e+08" in caplog.text


def test_pixel_ridge_predicts_where_the_brightness_is():
    rng = np.random.default_rng(4)
    n, movies = 120, np.repeat(np.arange(6), 20)
    fmri = rng.standard_normal((n, 2, 40)).astype(np.float32)
    # The top-left quadrant's brightness follows one voxel; the rest is dark.
    level = np.interp(fmri[:, 0, 0], (fmri[:, 0, 0].min(), fmri[:, 0, 0].max()), (0, 255))
    clips = np.zeros((n, 3, 32, 32, 3), np.uint8)
    clips[:, :, :16, :16] = level[:, None, None, None, None].astype(np.uint8)
    model = PixelRidgeBaseline(size=8, n_components=10)
    model.fit(fmri[:100], model.low_resolution(clips[:100]), movies[:100])
    predicted = model.predict(fmri[100:], 32, 32)
    assert predicted.shape == (20, 3, 32, 32, 3) and predicted.dtype == np.uint8
    assert np.corrcoef(predicted[:, 0, 4, 4, 0].astype(float), clips[100:, 0, 4, 4, 0].astype(float))[0, 1] > 0.95
    assert predicted[:, :, 24:, 24:].max() <= 5  # the dark quadrant stays dark
    with pytest.raises(NeurocineError, match="not fitted"):
        PixelRidgeBaseline().predict(fmri, 32, 32)


def test_cross_validation_never_splits_a_movie_across_a_fold():
    """Viewings of one movie (with --train-repeats separate, two store runs each) stay on one side."""
    rng = np.random.default_rng(5)
    runs = np.repeat(np.arange(8), 15)          # 8 store runs ...
    movies = np.repeat([0, 1, 2, 3, 0, 1, 2, 3], 15)  # ... two viewings of each of 4 movies
    fmri, targets, _, _ = _linear_data(rng, n_movies=8, per_movie=15)
    estimators = [RidgeLatentBaseline(n_folds=3).fit(fmri, targets, movies).ridge_,
                  PerceptionRidge(rank=4, n_folds=3).fit(fmri, targets, movies)]
    pixel = PixelRidgeBaseline(size=4, n_components=4, n_folds=3)
    estimators.append(pixel.fit(fmri, rng.random((len(runs), 2, 4, 4, 3)), movies).ridge_)
    for folds in [movie_folds(movies, 3)] + [e.folds_ for e in estimators]:
        assert len(folds) == 3
        for fit_index, held_out in folds:
            assert not set(movies[fit_index]) & set(movies[held_out])
            assert set(runs[held_out]) & set(runs[fit_index]) == set()
            assert len(set(runs[held_out])) == 2 * len(set(movies[held_out]))  # both viewings held out together


def test_ridges_need_two_movies_finite_data_and_fitting():
    x, y = np.zeros((10, 3)), np.zeros((10, 2))
    with pytest.raises(NeurocineError, match="at least 2 training movies"):
        RidgeLatentBaseline().fit(x, y, np.zeros(10))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(NeurocineError, match="NaN"):
        RidgeLatentBaseline().fit(bad, y, np.repeat([0, 1], 5))
    with pytest.raises(NeurocineError, match="differ"):
        RidgeLatentBaseline().fit(x, y[:9], np.repeat([0, 1], 5))
    with pytest.raises(NeurocineError, match="not fitted"):
        RidgeLatentBaseline().predict(x)
