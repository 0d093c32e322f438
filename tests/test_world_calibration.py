"""benchmarks/world_calibration.py's statistics on inputs whose answers are known."""

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "world_calibration.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("world_calibration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wc = _load_script()


def _flat_clip(value=128, frames=2, size=64):
    return np.full((frames, size, size, 3), value, dtype=np.uint8)


def _one_over_f(size=256, seed=0):
    """Grey image with amplitude spectrum 1/f and random phases."""
    rng = np.random.default_rng(seed)
    fy, fx = np.meshgrid(np.fft.fftfreq(size) * size, np.fft.fftfreq(size) * size, indexing="ij")
    f = np.hypot(fy, fx)
    f[0, 0] = 1
    spectrum = np.exp(2j * np.pi * rng.random((size, size))) / f
    return np.real(np.fft.ifft2(spectrum))


def test_flat_frames():
    flat = _flat_clip()
    assert wc.flat_window_share(flat) == 1.0
    assert wc.flat_grey_ssim(flat) == pytest.approx(1.0)
    assert wc.rms_contrast(flat) == 0.0
    assert np.isnan(wc.frame_to_frame_correlation(flat))


def test_noise_is_not_flat():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert wc.flat_window_share(noise) == 0.0
    assert wc.flat_grey_ssim(noise) < 0.1
    assert wc.rms_contrast(noise) == pytest.approx(np.std(wc.luma(noise)) / 255, rel=0.05)


def test_frame_to_frame_correlation():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert wc.frame_to_frame_correlation(np.stack([frame, frame, frame])) == pytest.approx(1.0)
    assert wc.frame_to_frame_correlation(np.stack([frame, 255 - frame])) == pytest.approx(-1.0)
    independent = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert abs(wc.frame_to_frame_correlation(independent)) < 0.03


def test_spectral_slope():
    rng = np.random.default_rng(2)
    assert wc.spectral_slope(rng.normal(size=(256, 256))) == pytest.approx(0.0, abs=0.05)
    assert wc.spectral_slope(_one_over_f()) == pytest.approx(-1.0, abs=0.05)
    image = _one_over_f(seed=3)
    rgb = np.repeat(np.clip(128 + 40 * image / image.std(), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    assert wc.spectral_slope(rgb) == pytest.approx(-1.0, abs=0.1)


def test_mean_clip_ssim():
    clips = np.stack([_flat_clip(100), _flat_clip(100), _flat_clip(100)])
    assert np.allclose(wc.mean_clip_ssim(clips), 1.0)
    rng = np.random.default_rng(4)
    noise = rng.integers(0, 256, (4, 2, 32, 32, 3), dtype=np.uint8)
    assert np.all(wc.mean_clip_ssim(noise) < 0.2)


def test_bootstrap_interval_brackets_the_mean_and_drops_nan():
    mean, low, high = wc.bootstrap_interval([0.0, 1.0, 2.0, np.nan, 3.0], n_boot=500)
    assert mean == 1.5 and low <= mean <= high and 0 <= low and high <= 3


def test_parse_world():
    assert wc.parse_world("small=/tmp/x") == ("small", Path("/tmp/x"))
    with pytest.raises(argparse.ArgumentTypeError):
        wc.parse_world("/tmp/x")
