"""The perception reconstructor: reduced-rank ridge, its torch form, and the pipeline starting from it."""

import numpy as np
import pytest
import torch

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.models.perception_reconstructor import PerceptionReconstructor
from neurocine_toolbox.training.perception_ridge import PerceptionRidge

WINDOW, COLUMNS, LATENT = 2, 30, (4, 3, 2, 3)  # unequal on purpose


def _data(n_runs=4, per_run=40, rank=3, noise=0.1, seed=0):
    """fMRI windows and latents made from them through a rank-``rank`` linear map, plus noise."""
    rng = np.random.default_rng(seed)
    n = n_runs * per_run
    fmri = rng.standard_normal((n, WINDOW, COLUMNS)).astype(np.float32)
    mixing = rng.standard_normal((WINDOW * COLUMNS, rank)) @ rng.standard_normal((rank, np.prod(LATENT)))
    latents = fmri.reshape(n, -1) @ mixing / 5 + 0.7 + noise * rng.standard_normal((n, np.prod(LATENT)))
    return fmri, latents.reshape(n, *LATENT).astype(np.float32), np.repeat(np.arange(n_runs), per_run)


def test_ridge_recovers_a_low_rank_map_on_held_out_windows():
    fmri, latents, runs = _data()
    train = runs < 3
    model = PerceptionRidge(rank=5, alphas=(1e-1, 1e1, 1e5)).fit(fmri[train], latents[train], runs[train])
    predicted = model.predict(fmri[~train])
    assert predicted.shape == (int((~train).sum()), *LATENT) and predicted.dtype == np.float32
    truth = latents[~train]
    r2 = 1 - ((predicted - truth) ** 2).sum() / ((truth - truth.mean(axis=0)) ** 2).sum()
    assert r2 > 0.9
    assert model.alpha_ in (1e-1, 1e1)  # the huge penalty predicts the mean only
    assert model.cv_r2_[1e5] < 0.1 < 0.8 < model.cv_r2_[model.alpha_]


def test_ridge_on_unrelated_latents_chooses_the_largest_penalty():
    fmri, _, runs = _data()
    noise = np.random.default_rng(1).standard_normal((len(fmri), *LATENT)).astype(np.float32)
    model = PerceptionRidge(rank=8, alphas=(1e-2, 1e0, 1e6)).fit(fmri, noise, runs)
    assert model.alpha_ == 1e6 and model.cv_r2_[1e-2] < 0


def test_ridge_refuses_bad_training_data():
    fmri, latents, runs = _data()
    with pytest.raises(NeurocineError, match="at least 2 training movies"):
        PerceptionRidge().fit(fmri, latents, np.zeros(len(fmri)))
    bad = fmri.copy()
    bad[3, 1, 2] = np.nan
    with pytest.raises(NeurocineError, match="NaN"):
        PerceptionRidge().fit(bad, latents, runs)
    with pytest.raises(NeurocineError, match="differ"):
        PerceptionRidge().fit(fmri[:-1], latents, runs)
    with pytest.raises(NeurocineError, match="not fitted"):
        PerceptionRidge().predict(fmri)


def test_reconstructor_equals_the_estimator_and_round_trips(tmp_path):
    fmri, latents, runs = _data()
    estimator = PerceptionRidge(rank=4, alphas=(1.0,)).fit(fmri, latents, runs)
    model = PerceptionReconstructor.from_estimator(estimator, window=WINDOW, num_columns=COLUMNS)
    with torch.no_grad():
        out = model(torch.from_numpy(fmri[:7]))
    np.testing.assert_allclose(out.numpy(), estimator.predict(fmri[:7]), rtol=1e-4, atol=1e-4)
    model.save_pretrained(tmp_path / "reconstructor")
    loaded = PerceptionReconstructor.from_pretrained(tmp_path / "reconstructor")
    with torch.no_grad():
        assert torch.equal(loaded(torch.from_numpy(fmri[:7])), out)
        # Whatever the dtype the pipeline casts it to, the map runs in float32.
        half = loaded.to(torch.bfloat16)(torch.from_numpy(fmri[:7]))
    assert half.dtype == torch.float32 and torch.allclose(half, out, atol=0.05, rtol=0.02)
    with pytest.raises(ValueError, match="takes windows of 2 × 30"):
        loaded(torch.zeros(1, WINDOW, COLUMNS + 1))


def test_a_perception_stage_of_an_unknown_class_is_one_clear_error(tmp_path):
    import json

    from neurocine_toolbox.training.decoder_stages import _perception_reconstructor

    assert _perception_reconstructor(tmp_path) is None  # no perception stage: the paper's pipeline
    folder = tmp_path / "perception" / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"_class_name": "SomethingElse"}))
    with pytest.raises(NeurocineError, match="holds a SomethingElse, not one of PerceptionReconstructor, "
                                             "RetrievalReconstructor"):
        _perception_reconstructor(tmp_path)
