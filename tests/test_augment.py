"""NeuroCine's augmentations: spatial masking and temporal interpolation (eq. 1)."""

import pytest
import torch

from neurocine_toolbox.training.augment import (
    interpolation_choice, interpolation_weights, spatial_mask, temporal_interpolate, token_mask,
)


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
    # Each TR with probability 1/3, given at least one per window: E = (n·γ) / (1 − (1−γ)^n) per window.
    assert changed.sum(dim=1).float().mean().item() == pytest.approx(1 / (1 - (2 / 3) ** 3), abs=0.04)
    b, i = map(int, torch.nonzero(changed)[0])
    expected = sum((1 - abs(i - j) / 3) * x[b, j] for j in range(3) if j != i)
    assert torch.allclose(out[b, i], expected, atol=1e-6)
    assert torch.equal(out[~changed], x[~changed])


@pytest.mark.parametrize("gamma, one, both", [(1 / 3, 0.8, 0.2), (1 / 2, 2 / 3, 1 / 3)])
def test_every_interpolated_window_differs_and_gamma_keeps_its_meaning(gamma, one, both):
    """w = 2: no augmented window equals its original; γ 1/3 and 1/2 give different mixes."""
    n = 20000
    chosen = interpolation_choice(n, 2, gamma, torch.Generator().manual_seed(0))
    counts = chosen.sum(dim=1)
    assert (counts >= 1).all()
    assert (counts == 1).float().mean().item() == pytest.approx(one, abs=0.015)
    assert (counts == 2).float().mean().item() == pytest.approx(both, abs=0.015)
    assert chosen[:, 0].float().mean().item() == pytest.approx(chosen[:, 1].float().mean().item(), abs=0.02)
    x = torch.randn(500, 2, 7)
    out = temporal_interpolate(x, gamma, torch.Generator().manual_seed(1))
    assert not torch.isclose(out, x).all(dim=(1, 2)).any()


def test_interpolation_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="gamma_tem > 0"):
        temporal_interpolate(torch.randn(4, 2, 3), 0.0, torch.Generator())
    with pytest.raises(ValueError, match="at least 2 TRs"):
        temporal_interpolate(torch.randn(4, 1, 3), 0.5, torch.Generator())


def test_window_of_two_replaced_tr_is_half_its_neighbour():
    x = torch.tensor([[[2.0, 4.0], [6.0, 8.0]]])
    out = temporal_interpolate(x, 1.0, torch.Generator().manual_seed(0))
    assert out.tolist() == [[[3.0, 4.0], [1.0, 2.0]]]


def test_token_mask_zeroes_gamma_of_each_tokens_channels():
    mask = token_mask(6, 5, 40, 0.2, torch.Generator().manual_seed(3))
    assert mask.shape == (6, 5, 40)
    assert ((mask == 0).sum(dim=-1) == 8).all() and ((mask == 0) | (mask == 1)).all()
    patterns = {tuple(torch.nonzero(m == 0).flatten().tolist()) for m in mask.reshape(30, 40)}
    assert len(patterns) == 30  # different channels per token and per window
    assert torch.equal(mask, token_mask(6, 5, 40, 0.2, torch.Generator().manual_seed(3)))
    assert torch.equal(token_mask(2, 3, 8, 0.0, torch.Generator()), torch.ones(2, 3, 8))


def test_encoder_applies_the_token_mask_to_every_tr_of_a_window_before_positions():
    from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

    torch.manual_seed(0)
    encoder = FMRIEncoder(num_voxels=40, patch_size=8, embed_dim=16, depth=1, num_heads=2, window_size=2,
                          out_tokens=3, out_dim=8, clip_dim=8).eval()
    x = torch.randn(3, 2, 40)
    ones = torch.ones(3, encoder.num_patches, 16)
    with torch.no_grad():
        plain = encoder(x)
        same = encoder(x, token_mask=ones)
        zero = encoder(x, token_mask=torch.zeros_like(ones))
    assert torch.equal(plain.embeds, same.embeds)
    # With every channel masked the tokens are the position embeddings alone, for both TRs.
    tokens = zero.hidden_states
    assert torch.allclose(tokens[:, 0], tokens[:, 1], atol=1e-6)
    assert torch.allclose(tokens[0], tokens[1], atol=1e-6)
    assert not torch.allclose(plain.hidden_states[0], plain.hidden_states[1])
    with pytest.raises(ValueError, match="token_mask"):
        encoder(x, token_mask=ones[:2])


def test_interpolation_choice_is_bounded_work_for_tiny_gamma():
    chosen = interpolation_choice(5000, 2, 1e-6, torch.Generator().manual_seed(0))
    assert (chosen.sum(dim=1) == 1).all()  # at least one, and (almost surely) only one
    assert chosen[:, 0].float().mean().item() == pytest.approx(0.5, abs=0.03)
