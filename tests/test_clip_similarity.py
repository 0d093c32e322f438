"""SSIM (MinD-Video protocol) of decoded clips against their own truth and other clips' truth."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from neurocine_toolbox.evaluation.clip_similarity import format_scores, other_offsets, score_clips
from neurocine_toolbox.evaluation.ssim import frame_ssim, pair_ssim
from neurocine_toolbox.evaluation.time_series_statistics import null_offsets, shift_partners


def _clips(n=6, frames=2, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)


def _noisy(clips, sd=20, seed=1):
    noise = np.random.default_rng(seed).normal(0, sd, clips.shape)
    return np.clip(clips + noise, 0, 255).astype(np.uint8)


def _movie_like(n, frames, height, width, seed):
    """Smooth frames: a drifting colour gradient, a bright disc, dark corners clipped at 0, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    out = np.empty((n, frames, height, width, 3), np.uint8)
    for i in range(n):
        for f in range(frames):
            t = i + f / frames
            cy, cx, r = 0.5 + 0.3 * np.sin(t), 0.5 + 0.3 * np.cos(0.7 * t), 0.15 + 0.05 * rng.random()
            disc = ((y - cy) ** 2 + (x - cx) ** 2 < r ** 2)[..., None] * np.array([200, 180, 60])
            ramp = np.stack([255 * x, 255 * y, 128 + 100 * np.sin(6 * x + t)], axis=-1)
            frame = 0.6 * ramp + disc - 60 * (x * y < 0.02)[..., None] + rng.normal(0, 6, (height, width, 3))
            out[i, f] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def _skimage_clip_ssim(a, b):
    return np.mean([structural_similarity(a[f], b[f], data_range=255, channel_axis=-1) for f in range(len(a))])


@pytest.mark.parametrize("shape", [(3, 2, 32, 48), (2, 3, 7, 9), (2, 1, 256, 256), (3, 2, 61, 37)])
def test_pair_ssim_equals_scikit_image_on_random_and_movie_like_frames(shape):
    n, frames, height, width = shape
    rng = np.random.default_rng(sum(shape))
    noise = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    movie = _movie_like(n, frames, height, width, seed=n)
    decoded = _noisy(movie, sd=25, seed=2)
    for a, b in ((noise, noise[::-1].copy()), (decoded, movie), (movie, movie)):
        first, second = np.array([0, 1, n - 1, 0]), np.array([0, 0, 1, n - 1])
        expected = [_skimage_clip_ssim(a[i], b[j]) for i, j in zip(first, second)]
        np.testing.assert_allclose(pair_ssim(a, b, first, second), expected, rtol=0, atol=1e-9)
    assert pair_ssim(movie, movie, [0], [0])[0] == pytest.approx(1.0, abs=1e-12)


def test_pair_ssim_checks_its_inputs():
    clips = _clips(n=2, frames=1, size=8)
    with pytest.raises(ValueError, match="uint8"):
        pair_ssim(clips.astype(float), clips, [0], [0])
    with pytest.raises(ValueError, match="7x7"):
        pair_ssim(clips[:, :, :6], clips[:, :, :6], [0], [0])
    with pytest.raises(ValueError, match="differ in shape"):
        pair_ssim(clips, clips[:, :, :7], [0], [0])
    with pytest.raises(ValueError, match="outside"):
        pair_ssim(clips, clips, [2], [0])


def test_frame_ssim_of_a_frame_with_itself_is_one_and_with_noise_is_low():
    a, b = _clips(n=2, frames=1)[:, 0]
    assert frame_ssim(a, a) == pytest.approx(1.0)
    assert frame_ssim(a, b) < 0.1


def test_other_clips_are_far_in_time_and_include_the_null_lattice():
    runs = np.repeat([0, 1], [40, 12])
    offsets = other_offsets(runs, min_shift=6, n_others=10, seed=0)
    assert offsets[0][:5].tolist() == [7, 13, 20, 27, 33]  # the lattice k · 40 / 6 (6 = 40 // 6), first
    assert len(offsets[0]) == 10 and len(set(offsets[0].tolist())) == 10
    assert all(6 <= o <= 34 for o in offsets[0])
    assert offsets[1].tolist() == [6]  # 12 windows: only the offset 6 is 6 away both ways
    assert np.array_equal(offsets[0], other_offsets(runs, 6, 10, seed=0)[0])


def test_decoded_close_to_own_truth_beats_other_clips():
    truth = _clips(n=60, frames=1, size=12)
    runs = np.repeat([0, 1], 30)
    result = score_clips(_noisy(truth), truth, runs, n_others=8, n_boot=500, seed=0)
    assert result["n"] == 60 and result["n_runs"] == 2 and result["n_others"] == 8
    assert result["own"]["mean"] > result["others"]["mean"] + 0.3
    assert result["closer_to_own"] == 1.0 and result["difference"]["ci95"][0] > 0
    # 2 runs of 30 clips, shifts by multiples of 5: 6 · 6 − 1 = 35 null pairings, p = 1/36.
    assert result["min_shift"] == 5 and result["n_null"] == 35 and result["p_value"] == pytest.approx(1 / 36)
    lines = format_scores(result)
    assert "MinD-Video protocol" in lines[0]
    assert f"SSIM to own truth {result['own']['mean']:.3f}" in lines[1] and "p=0.0278" in lines[1]
    assert "N=60 clips in 2 runs" in lines[2] and f"blocks of {result['block_length']} windows" in lines[2]


def test_null_and_other_levels_are_the_ssim_of_the_shifted_pairings():
    truth = _movie_like(24, 1, 16, 16, seed=3)
    decoded = _noisy(truth, sd=60, seed=4)
    runs = np.repeat([0, 1], [14, 10])
    result = score_clips(decoded, truth, runs, n_others=50, n_null=1000, n_boot=200, seed=1)
    windows = np.arange(24)
    own = pair_ssim(decoded, truth, windows, windows)
    null = null_offsets(runs, result["min_shift"], 1000, seed=1)
    partners = shift_partners(runs, null)
    null_values = pair_ssim(decoded, truth, np.tile(windows, len(null)), partners.ravel()).reshape(len(null), 24)
    null_means = null_values.mean(axis=1)
    assert result["null_mean"] == pytest.approx(null_values[partners != windows].mean())
    assert result["p_value"] == pytest.approx((1 + np.sum(null_means >= own.mean())) / (1 + len(null)))
    offsets = other_offsets(runs, result["min_shift"], 50, seed=1)
    others = [pair_ssim(decoded, truth, np.full(len(o), i), a + (i - a + o) % (b - a)).mean()
              for (a, b), o in zip([(0, 14), (14, 24)], offsets) for i in range(a, b)]
    assert result["others"]["mean"] == pytest.approx(np.mean(others))
    assert result["difference"]["mean"] == pytest.approx(own.mean() - np.mean(others))


def test_no_information_gives_large_p_and_zero_difference():
    clips = np.full((20, 1, 8, 8, 3), 90, np.uint8)
    result = score_clips(clips, clips, np.zeros(20, int), n_boot=200, seed=0)
    assert result["difference"]["mean"] == pytest.approx(0.0)
    assert result["difference"]["ci95"] is None  # one run of 20 in blocks of 15: fewer than 2 blocks
    assert "[n/a: fewer than 2 blocks]" in format_scores(result)[1]
    two_runs = score_clips(np.concatenate([clips, clips]), np.concatenate([clips, clips]), np.repeat([0, 1], 20),
                           n_boot=200, seed=0)
    assert two_runs["difference"]["ci95"] == pytest.approx([0.0, 0.0])
    assert result["closer_to_own"] == 0.0
    assert result["p_value"] == 1.0  # every shifted pairing ties the true one


def test_score_clips_needs_two_clips_per_run_and_equal_shapes():
    clips = _clips(n=3, frames=1, size=8)
    with pytest.raises(ValueError, match="at least 2 clips"):
        score_clips(clips[:1], clips[:1], [0])
    with pytest.raises(ValueError, match="every run needs"):
        score_clips(clips, clips, [0, 0, 1])
    with pytest.raises(ValueError, match="differ in shape"):
        score_clips(clips, clips[:2], [0, 0, 0])
