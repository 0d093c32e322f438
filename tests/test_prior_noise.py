"""Dependent prior noise (NeuroCine eq. 7): variance, frame correlation, seeding, bad input."""

import pytest
import torch

from neurocine_toolbox.models.prior_noise import dependent_noise

SHAPE = (2000, 2, 6, 4, 4)  # B, C, F, H, W: large enough for pooled moments to within ~0.01


def _corr(a, b):
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


@pytest.mark.parametrize("beta", [0.25, 0.75])
def test_unit_variance_and_frames_of_a_clip_correlate_by_beta(beta):
    x = dependent_noise(SHAPE, beta, torch.Generator().manual_seed(0))
    assert x.shape == SHAPE and x.dtype == torch.float32
    assert abs(float(x.var()) - 1.0) < 0.03
    assert abs(float(x.mean())) < 0.03
    assert abs(_corr(x[:, :, 0], x[:, :, 3]) - beta) < 0.03  # same clip, two frames
    assert abs(_corr(x[0::2, :, 0], x[1::2, :, 0])) < 0.03  # different clips, same frame
    assert abs(_corr(x[0::2, :, 1], x[1::2, :, 4])) < 0.03  # different clips, different frames


def test_beta_zero_is_plain_randn_of_the_same_generator():
    x = dependent_noise(SHAPE, 0.0, torch.Generator().manual_seed(7))
    assert torch.equal(x, torch.randn(SHAPE, generator=torch.Generator().manual_seed(7)))
    assert abs(_corr(x[:, :, 0], x[:, :, 3])) < 0.03


def test_per_clip_generators_make_noise_independent_of_the_batch():
    shape = (3, 4, 5, 8, 8)
    seeds = [11, 12, 13]
    batch = dependent_noise(shape, 0.25, [torch.Generator().manual_seed(s) for s in seeds])
    assert batch.shape == shape
    for k, seed in enumerate(seeds):
        alone = dependent_noise((1, *shape[1:]), 0.25, [torch.Generator().manual_seed(seed)])
        assert torch.equal(batch[k:k + 1], alone)
    assert not torch.equal(batch[0], batch[1])
    with pytest.raises(ValueError):
        dependent_noise(shape, 0.25, [torch.Generator().manual_seed(0)] * 2)


@pytest.mark.parametrize("shape, beta", [((2, 4, 8, 8), 0.25), ((2, 4, 3, 8, 8), -0.1), ((2, 4, 3, 8, 8), 1.5)])
def test_bad_shape_or_beta_raises(shape, beta):
    with pytest.raises(ValueError):
        dependent_noise(shape, beta)
