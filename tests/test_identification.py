"""PixCorr and 2-way low-level identification: what only content specific to the stimulus can win."""

import numpy as np
import pytest
from scipy.stats import pearsonr

from neurocine_toolbox.evaluation.identification import identification, other_clips, pair_scores, pixcorr_matrix
from neurocine_toolbox.evaluation.pixel_metrics import pixcorr_per_frame


def test_pixcorr_is_pearson_of_each_frames_flattened_rgb_values():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 256, (3, 2, 9, 7, 3), dtype=np.uint8)  # unequal sides on purpose
    truth = np.clip(pred.astype(int) // 2 + rng.integers(0, 128, pred.shape), 0, 255).astype(np.uint8)
    values = pixcorr_per_frame(pred, truth)
    assert values.shape == (3, 2)
    for n in range(3):
        for f in range(2):
            expected = pearsonr(pred[n, f].ravel().astype(float), truth[n, f].ravel().astype(float))[0]
            assert values[n, f] == pytest.approx(expected, abs=1e-6)
    flat = np.full_like(pred, 77)
    assert (pixcorr_per_frame(flat, truth) == 0).all() and (pixcorr_per_frame(truth, flat) == 0).all()
    np.testing.assert_allclose(pixcorr_matrix(pred, truth, chunk=2).diagonal(), values.mean(axis=1), atol=1e-6)


def test_identification_counts_the_other_truths_scoring_strictly_lower():
    """Three clips of flat colours, a prediction of each colour: the decisions counted by hand."""
    grey = [60, 120, 200]
    truth = np.stack([np.full((2, 8, 8, 3), g, np.uint8) for g in grey])
    truth[:, :, :4] = 0  # a dark top half: every frame has a pattern for PixCorr
    pred = truth.copy()
    ssim = pair_scores("ssim", pred, truth, [0, 0, 0], [0, 1, 2])
    assert ssim[0] > ssim[1] > ssim[2]  # nearer grey, higher SSIM
    np.testing.assert_array_equal(identification("ssim", pred, truth), [1.0, 1.0, 1.0])
    # Predict clip 1 (grey 120) for everything. SSIM's luminance term 2·μx·μy / (μx² + μy²) ranks
    # the truths 1 (120: 1) > 2 (200: 0.88) > 0 (60: 0.80), so clip 0's own truth beats none of
    # the others, clip 1's beats both, clip 2's beats truth 0 only.
    constant = pred[1:2]
    scores = identification("ssim", constant, truth)
    np.testing.assert_array_equal(scores, [0.0, 1.0, 0.5])
    assert scores.mean() == 0.5  # a constant output: chance on average, never above it
    # PixCorr: all three truths are the same pattern up to brightness → equal correlations: ties,
    # which count against the prediction.
    np.testing.assert_array_equal(identification("pixcorr", pred, truth), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("metric", ["ssim", "pixcorr"])
def test_identification_of_unrelated_predictions_is_at_chance(metric):
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 256, (60, 2, 8, 8, 3), dtype=np.uint8)
    accuracies = [identification(metric, rng.integers(0, 256, truth.shape, dtype=np.uint8), truth).mean()
                  for _ in range(10)]
    # Each clip's accuracy is uniform over 0, 1/59, …, 1 (sd ≈ 0.29); 10 × 60 clips: se ≈ 0.012.
    assert np.mean(accuracies) == pytest.approx(0.5, abs=0.04)


def test_a_constant_output_sits_at_or_below_chance():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 256, (40, 2, 8, 8, 3), dtype=np.uint8)
    for constant in (np.full((1, 2, 8, 8, 3), 128, np.uint8), truth.mean(axis=0, keepdims=True).astype(np.uint8)):
        for metric in ("ssim", "pixcorr"):
            assert identification(metric, constant, truth).mean() <= 0.5 + 1e-12


def test_other_clips_are_every_other_clip_or_a_seeded_draw_without_the_clip_itself():
    np.testing.assert_array_equal(other_clips(4), [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    drawn = other_clips(300, max_others=50, seed=3)
    assert drawn.shape == (300, 50)
    assert not (drawn == np.arange(300)[:, None]).any()
    assert all(len(set(row)) == 50 for row in drawn)
    np.testing.assert_array_equal(drawn, other_clips(300, max_others=50, seed=3))


@pytest.mark.parametrize("metric", ["ssim", "pixcorr"])
def test_several_pairings_of_the_same_predictions_score_as_each_alone(metric):
    """The decoded clips and their shuffled baseline share predictions: one call, the same numbers."""
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 256, (12, 2, 8, 8, 3), dtype=np.uint8)
    pred = np.clip(truth.astype(int) + rng.integers(-90, 90, truth.shape), 0, 255).astype(np.uint8)
    partners = np.roll(np.arange(12), 6)
    both = identification(metric, pred, truth, own=np.stack([np.arange(12), partners]))
    np.testing.assert_array_equal(both[0], identification(metric, pred, truth))
    np.testing.assert_array_equal(both[1], identification(metric, pred, truth, own=partners))
    constant = pred[:1]
    np.testing.assert_array_equal(identification(metric, constant, truth, own=np.arange(12)),
                                  identification(metric, np.repeat(constant, 12, axis=0), truth))
