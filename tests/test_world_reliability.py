"""benchmarks/world_reliability.py: reliability between viewings, and the count MinD-Video's test would pass."""

import importlib.util
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "world_reliability.py"
spec = importlib.util.spec_from_file_location("world_reliability", SCRIPT)
wr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wr)


def test_pairwise_reliability_estimates_the_signals_share_of_variance():
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((4000, 3)) * np.sqrt([0.0, 1.0, 4.0])  # S / (S + N): 0, 0.5, 0.8
    views = [signal + rng.standard_normal(signal.shape) for _ in range(4)]
    np.testing.assert_allclose(wr.pairwise_reliability(views), [0.0, 0.5, 0.8], atol=0.03)


def test_detrend_removes_a_polynomial_and_keeps_the_rest():
    t = np.linspace(-1, 1, 50)
    wiggle = np.sin(12 * t)
    out = wr.detrend((3 + 2 * t - t**2)[:, None] + wiggle[:, None], 2)
    assert np.corrcoef(out[:, 0], wiggle)[0, 1] > 0.95 and abs(out.mean()) < 1e-9


def test_wen_size_count_passes_the_reliable_and_not_the_noise():
    reliability = np.r_[np.zeros(1000), np.full(300, 0.3)]
    assert wr.wen_size_count(reliability, rho=0.3) == 300
    assert wr.wen_size_count(np.full(100, 0.02), rho=0.3) == 0  # too weak for 18 movies at Bonferroni
