"""Per-frame SSIM under three protocols and PSNR, against scikit-image itself."""

import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.evaluation import pixel_metrics
from neurocine_toolbox.evaluation.pixel_metrics import SSIM_PROTOCOLS, psnr_per_frame, ssim_per_frame


def _reference_ssim(pred, gt, protocol):
    """The protocol's scikit-image call on one pair of uint8 RGB frames, spelled out."""
    if protocol == "mindvideo-rgb":
        return structural_similarity(pred, gt, data_range=255, channel_axis=-1)
    gray = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    if protocol == "gray-2d":
        return structural_similarity(rgb2gray(pred), rgb2gray(gt), **gray)
    return structural_similarity(rgb2gray(pred), rgb2gray(gt), channel_axis=-1, **gray)


def _reference(pred, truth, protocol):
    return np.array([[_reference_ssim(p, t, protocol) for p, t in zip(pc, tc)] for pc, tc in zip(pred, truth)])


def _structured(n, frames, height, width, seed):
    """Natural-ish truth (colour ramp, disc, edge, light noise) and a shifted, discoloured, noisy "decoding"."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    truth = np.empty((n, frames, height, width, 3), np.uint8)
    pred = np.empty_like(truth)
    for i in range(n):
        for f in range(frames):
            t = i + f / frames
            cy, cx = 0.5 + 0.3 * np.sin(t), 0.5 + 0.3 * np.cos(0.7 * t)
            disc = ((y - cy) ** 2 + (x - cx) ** 2 < 0.04)[..., None] * np.array([200, 160, 60])
            ramp = np.stack([200 * x, 200 * y, 128 + 90 * np.sin(9 * x + t)], axis=-1)
            frame = 0.6 * ramp + disc - 70 * (x + y < 0.3)[..., None]
            truth[i, f] = np.clip(frame + rng.normal(0, 5, frame.shape), 0, 255)
            # Structure a few rows off and colours half swapped, as decodings get them wrong.
            off = np.roll(frame, 3, axis=0)[..., ::-1]
            pred[i, f] = np.clip(0.5 * off + 0.5 * frame + rng.normal(0, 20, frame.shape), 0, 255)
    return pred, truth


def test_protocol_names_and_neurons_description():
    assert set(SSIM_PROTOCOLS) == {"mindvideo-rgb", "gray-2d", "neurons-columnwise"}
    assert "only for reproducing" in SSIM_PROTOCOLS["neurons-columnwise"]


@pytest.mark.parametrize("protocol", sorted(SSIM_PROTOCOLS))
@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 2, 23, 40), (2, 1, 37, 12), (1, 1, 11, 11)])
def test_every_protocol_equals_scikit_image(protocol, shape):
    rng = np.random.default_rng(sum(shape))
    random_pred, random_truth = (rng.integers(0, 256, shape + (3,), dtype=np.uint8) for _ in range(2))
    pred, truth = _structured(*shape, seed=1)
    for a, b in ((random_pred, random_truth), (pred, truth), (pred, random_truth)):
        got = ssim_per_frame(a, b, protocol)
        assert got.shape == shape[:2]
        np.testing.assert_allclose(got, _reference(a, b, protocol), rtol=0, atol=1e-9)


def test_many_chunks_and_progress(monkeypatch):
    monkeypatch.setattr(pixel_metrics, "_CHUNK_FRAMES", 4)  # 2 clips of 3 frames a chunk
    pred, truth = _structured(5, 3, 24, 20, seed=2)
    done = []
    for protocol in SSIM_PROTOCOLS:
        done.clear()
        got = ssim_per_frame(pred, truth, protocol, progress=done.append)
        assert done == [1, 1, 1, 1, 1]  # 4 frames a chunk hold one whole clip of 3
        np.testing.assert_allclose(got, _reference(pred, truth, protocol), rtol=0, atol=1e-9)
    monkeypatch.setattr(pixel_metrics, "_CHUNK_FRAMES", 6)
    done.clear()
    ssim_per_frame(pred, truth, "gray-2d", progress=done.append)
    assert done == [2, 2, 1]
    np.testing.assert_array_equal(psnr_per_frame(pred, truth),
                                  [[peak_signal_noise_ratio(t, p, data_range=255) for p, t in zip(pc, tc)]
                                   for pc, tc in zip(pred, truth)])


@pytest.mark.parametrize("protocol", sorted(SSIM_PROTOCOLS))
def test_identical_frames_score_one(protocol):
    _, truth = _structured(2, 2, 20, 30, seed=3)
    np.testing.assert_array_equal(ssim_per_frame(truth, truth.copy(), protocol), np.ones((2, 2)))


def test_protocols_disagree_as_on_published_clips():
    """On a wrongly coloured, noisy decoding of natural-ish frames: column-wise > 2-D gray > RGB (SCIENCE.md)."""
    pred, truth = _structured(2, 3, 64, 64, seed=4)
    rgb, gray, columns = (ssim_per_frame(pred, truth, p).mean()
                          for p in ("mindvideo-rgb", "gray-2d", "neurons-columnwise"))
    # Measured on this seed: rgb 0.259, gray-2d 0.344, column-wise 0.366.
    assert rgb < gray < columns
    assert gray - rgb > 0.05 and columns - gray > 0.01


def test_psnr_by_hand_and_cap():
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 256, (2, 3, 9, 14, 3), dtype=np.uint8)
    pred = np.clip(truth.astype(int) + rng.integers(-40, 41, truth.shape), 0, 255).astype(np.uint8)
    pred[1, 2] = truth[1, 2]  # one identical frame
    got = psnr_per_frame(pred, truth)
    mse = ((pred.astype(float) - truth) ** 2).mean(axis=(2, 3, 4))
    expected = 10 * np.log10(255.0 ** 2 / np.where(mse == 0, 1, mse))
    expected[1, 2] = 100.0
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[1, 2] == 100.0
    assert peak_signal_noise_ratio(truth[0, 0], pred[0, 0], data_range=255) == pytest.approx(got[0, 0], abs=1e-12)
    # One grey level off in a single channel of one pixel is MSE 1/378: not capped.
    pred = truth.copy()
    pred[0, 0, 0, 0, 0] ^= 1
    assert psnr_per_frame(pred, truth)[0, 0] == pytest.approx(10 * np.log10(255.0 ** 2 * 9 * 14 * 3), abs=1e-12)


@pytest.mark.parametrize("metric", [lambda a, b: ssim_per_frame(a, b, "gray-2d"), psnr_per_frame])
def test_bad_clips_are_refused(metric):
    clips = np.zeros((2, 2, 16, 16, 3), np.uint8)
    with pytest.raises(NeurocineError, match="differ in shape"):
        metric(clips, clips[:, :1])
    with pytest.raises(NeurocineError, match="uint8 RGB clips"):
        metric(clips.astype(np.float32), clips)
    with pytest.raises(NeurocineError, match="uint8 RGB clips"):
        metric(clips[..., :2], clips[..., :2])
    with pytest.raises(NeurocineError, match="uint8 RGB clips"):
        metric(clips[0], clips[0])


def test_small_frames_and_unknown_protocol_are_refused():
    clips = np.zeros((1, 1, 10, 40, 3), np.uint8)
    with pytest.raises(NeurocineError, match="smaller than the 11x11"):
        ssim_per_frame(clips, clips, "gray-2d")
    # The column-wise protocol filters columns only: 10 rows are too few, 3 columns are enough.
    with pytest.raises(NeurocineError, match="smaller than the 11x1"):
        ssim_per_frame(clips, clips, "neurons-columnwise")
    narrow = np.zeros((1, 1, 12, 3, 3), np.uint8)
    assert ssim_per_frame(narrow, narrow, "neurons-columnwise")[0, 0] == 1.0
    with pytest.raises(NeurocineError, match="unknown SSIM protocol 'rgb'"):
        ssim_per_frame(clips, clips, "rgb")
