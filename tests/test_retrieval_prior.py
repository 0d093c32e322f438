"""The retrieval prior: ridge per feature space, library windows scored by predicted features."""

import numpy as np
import pytest

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.training.retrieval_prior import (
    RetrievalPrior, caption_word_features, standardised_scores)
from neurocine_toolbox.training.ridge import WindowRidge


def _world(seed=0, n_movies=12, per_movie=10, voxels=40, noise=0.5):
    """Windows whose fMRI is a linear image of a one-hot scene (5 scenes) plus a smooth position."""
    rng = np.random.default_rng(seed)
    n = n_movies * per_movie
    scene = rng.integers(0, 5, n)
    position = rng.normal(size=(n, 2))
    features = {"scene": np.eye(5, dtype=np.float32)[scene], "position": position.astype(np.float32)}
    mixing = rng.normal(size=(7, 2 * voxels))
    fmri = np.concatenate([features["scene"], position], 1) @ mixing + noise * rng.normal(size=(n, 2 * voxels))
    return fmri.reshape(n, 2, voxels).astype(np.float32), features, np.repeat(np.arange(n_movies), per_movie), scene


def test_retrieval_finds_windows_of_the_same_scene_and_beats_chance_by_far():
    fmri, features, movies, scene = _world()
    fit = movies < 9  # the library; the last 3 movies are new windows
    prior = RetrievalPrior(top_k=3, n_folds=3).fit(fmri[fit], {k: v[fit] for k, v in features.items()}, movies[fit])
    top = prior.predict(fmri[~fit])
    assert top.shape == (int((~fit).sum()), 3)
    same_scene = (scene[fit][top[:, 0]] == scene[~fit]).mean()
    assert same_scene > 0.9  # chance 0.2
    scores = prior.scores(fmri[~fit])
    assert np.array_equal(top[:, 0], scores.argmax(axis=1))
    assert set(prior.cv_r2_) == {"scene", "position"} and prior.cv_r2_["scene"] > 0.5


def test_shuffled_fmri_retrieves_at_chance():
    fmri, features, movies, scene = _world(seed=1)
    fit = movies < 9
    prior = RetrievalPrior(n_folds=3).fit(fmri[fit], {"scene": features["scene"][fit]}, movies[fit])
    shuffled = np.random.default_rng(0).permutation(np.flatnonzero(~fit))
    same_scene = (scene[fit][prior.predict(fmri[shuffled])[:, 0]] == scene[~fit]).mean()
    assert same_scene < 0.5


def test_scores_are_standardised_per_space_and_summed():
    rng = np.random.default_rng(2)
    predicted, library = rng.normal(size=(4, 6)), rng.normal(size=(9, 6))
    z = standardised_scores(predicted, library)
    assert np.allclose(z.mean(axis=1), 0, atol=1e-6) and np.allclose(z.std(axis=1), 1, atol=1e-5)
    # a correlation: scaling or shifting a library row changes nothing
    assert np.allclose(standardised_scores(predicted, 3 * library + 1), z, atol=1e-5)


def test_caption_words_keep_shared_content_words_only():
    library = ["a red disc in front of a cat", "a blue ring in front of a cat", "a red ring in front of grass"]
    features, words = caption_word_features(["a red cat", "nothing known"], library)
    assert set(words) == {"red", "ring", "cat"}  # 'disc', 'blue', 'grass' appear once; 'a', 'in', 'of' are stop words
    assert features.shape == (2, 3) and not features[1].any()
    with pytest.raises(NeurocineError, match="2 different training captions"):
        caption_word_features(["x"], ["same", "same"])


def test_bad_inputs_are_refused_in_one_line():
    fmri, features, movies, _ = _world()
    with pytest.raises(NeurocineError, match="at least one feature space"):
        RetrievalPrior().fit(fmri, {}, movies)
    with pytest.raises(NeurocineError, match="rows for"):
        RetrievalPrior().fit(fmri, {"scene": features["scene"][:5]}, movies)
    with pytest.raises(NeurocineError, match="not fitted"):
        RetrievalPrior().predict(fmri)


def test_window_ridge_linear_map_reproduces_its_predictions():
    fmri, features, movies, _ = _world(seed=3)
    ridge = WindowRidge(n_folds=3).fit(fmri, features["position"], movies)
    coef, intercept = ridge.linear_map()
    assert coef.shape == (2, fmri[0].size) and intercept.shape == (2,)
    assert np.allclose(fmri.reshape(len(fmri), -1) @ coef.T + intercept, ridge.predict(fmri), atol=1e-4)


def test_reconstructor_equals_the_estimator_and_round_trips(tmp_path):
    import torch

    from neurocine_toolbox.models.retrieval_reconstructor import RetrievalReconstructor

    fmri, features, movies, _ = _world(seed=4)
    fit = movies < 9
    # continuous features only: one-hot scenes would tie library windows, and ties may break either way
    content = fmri.reshape(len(fmri), -1)[:, :6] + np.random.default_rng(6).normal(size=(len(fmri), 6))
    spaces = {"content": content[fit], "position": features["position"][fit]}
    estimator = RetrievalPrior(top_k=2, n_folds=3).fit(fmri[fit], spaces, movies[fit])
    latents = np.random.default_rng(5).normal(size=(int(fit.sum()), 4, 3, 2, 2)).astype(np.float32)
    model = RetrievalReconstructor.from_estimator(estimator, latents, window=2, num_columns=fmri.shape[2])
    new = torch.as_tensor(fmri[~fit])
    assert np.allclose(model.scores(new).numpy(), estimator.scores(fmri[~fit]), atol=1e-3)
    top = estimator.predict(fmri[~fit])
    assert np.array_equal(model.retrieve(new).numpy(), top)
    expected = latents[top].mean(axis=1)
    assert np.allclose(model(new).numpy(), expected, atol=1e-6)
    model.save_pretrained(tmp_path / "retrieval")
    loaded = RetrievalReconstructor.from_pretrained(tmp_path / "retrieval")
    assert np.allclose(loaded(new).numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="takes windows of 2"):
        loaded(new[:, :1])
