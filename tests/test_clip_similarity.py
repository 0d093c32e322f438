"""SSIM of decoded clips against their own truth and other clips' truth (MinD-Video protocol)."""

import numpy as np
import pytest

from neurocine_toolbox.evaluation.clip_similarity import (clip_ssim_matrix, format_own_vs_shuffled, frame_ssim,
                                                          own_vs_shuffled)


def _clips(n=6, frames=2, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)


def _noisy(clips, sd=20, seed=1):
    noise = np.random.default_rng(seed).normal(0, sd, clips.shape)
    return np.clip(clips + noise, 0, 255).astype(np.uint8)


def test_frame_ssim_of_a_frame_with_itself_is_one_and_with_noise_is_low():
    a, b = _clips(n=2, frames=1)[:, 0]
    assert frame_ssim(a, a) == pytest.approx(1.0)
    assert frame_ssim(a, b) < 0.1


def test_matrix_entries_are_frame_means_and_shapes_must_match():
    truth = _clips(n=3, frames=2)
    decoded = _noisy(truth)
    matrix = clip_ssim_matrix(decoded, truth)
    assert matrix.shape == (3, 3)
    expected = np.mean([frame_ssim(decoded[0, f], truth[2, f]) for f in range(2)])
    assert matrix[0, 2] == pytest.approx(expected)
    assert matrix[2, 0] != pytest.approx(matrix[0, 2])  # not symmetric: decoded vs truth order kept
    with pytest.raises(ValueError):
        clip_ssim_matrix(decoded[:, :1], truth)


def test_decoded_close_to_own_truth_beats_shuffled():
    truth = _clips()
    result = own_vs_shuffled(clip_ssim_matrix(_noisy(truth), truth), n_boot=500, n_perm=500, seed=0)
    assert result["n"] == 6
    assert result["own"]["mean"] > result["shuffled"]["mean"] + 0.3
    assert result["closer_to_own"] == 1.0
    assert result["difference"]["ci95"][0] > 0
    assert result["p_value"] < 0.05
    line = format_own_vs_shuffled(result)
    assert f"{result['own']['mean']:.3f}" in line
    assert f"{result['shuffled']['mean']:.3f}" in line
    assert "N=6" in line


def test_no_information_gives_large_p_and_zero_difference():
    result = own_vs_shuffled(np.full((5, 5), 0.3), n_boot=200, n_perm=200, seed=0)
    assert result["difference"]["mean"] == pytest.approx(0.0)
    assert result["difference"]["ci95"] == pytest.approx([0.0, 0.0])
    assert result["closer_to_own"] == 0.0
    assert result["p_value"] > 0.5


def test_own_vs_shuffled_needs_two_clips():
    with pytest.raises(ValueError):
        own_vs_shuffled(np.ones((1, 1)))
