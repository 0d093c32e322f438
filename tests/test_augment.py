"""NeuroCine's augmentations: spatial masking and temporal interpolation (eq. 1)."""

import pytest
import torch

from neurocine_toolbox.training.augment import interpolation_weights, spatial_mask, temporal_interpolate


def test_spatial_mask_same_positions_in_a_window_different_across_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 50) + 10  # no zeros by chance
    out = spatial_mask(x, 0.2, g)
    zero = out == 0
    assert (zero.sum(dim=2) == 10).all()  # round(0.2 * 50) per TR
    assert (zero == zero[:, :1]).all()  # the same positions in every TR of a window
    assert len({tuple(torch.nonzero(z[0]).flatten().tolist()) for z in zero}) > 1  # differ across windows
    assert torch.equal(out[~zero], x[~zero])  # the rest untouched
    assert torch.equal(spatial_mask(x, 0.0, g), x)


def test_spatial_mask_never_picks_padding_and_is_seeded():
    x = torch.ones(8, 2, 40)
    valid = torch.arange(40) < 30
    out = spatial_mask(x, 0.5, torch.Generator().manual_seed(1), valid)
    assert (out[..., 30:] == 1).all()
    assert ((out[..., :30] == 0).sum(dim=2) == 15).all()
    again = spatial_mask(x, 0.5, torch.Generator().manual_seed(1), valid)
    assert torch.equal(out, again)


def test_interpolation_weights_follow_eq1():
    w = interpolation_weights(4)
    assert w[0].tolist() == pytest.approx([0.0, 0.75, 0.5, 0.25])
    assert w[2].tolist() == pytest.approx([0.5, 0.75, 0.0, 0.75])
    assert torch.equal(w, w.T)


def test_temporal_interpolation_replaces_chosen_trs_by_eq1():
    x = torch.randn(2000, 3, 5)
    out = temporal_interpolate(x, 1 / 3, torch.Generator().manual_seed(2))
    changed = ~torch.isclose(out, x).all(dim=2)
    assert changed.float().mean().item() == pytest.approx(1 / 3, abs=0.02)
    b, i = map(int, torch.nonzero(changed)[0])
    expected = sum((1 - abs(i - j) / 3) * x[b, j] for j in range(3) if j != i)
    assert torch.allclose(out[b, i], expected, atol=1e-6)
    assert torch.equal(out[~changed], x[~changed])


def test_window_of_two_replaced_tr_is_half_its_neighbour():
    x = torch.tensor([[[2.0, 4.0], [6.0, 8.0]]])
    out = temporal_interpolate(x, 1.0, torch.Generator().manual_seed(0))
    assert out.tolist() == [[[3.0, 4.0], [1.0, 2.0]]]
