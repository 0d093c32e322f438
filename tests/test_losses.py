"""The losses of both encoder stages, checked against direct computations on tiny batches."""

import math

import pytest
import torch

from neurocine_toolbox.models.fmri_mae import MaskedReconstruction
from neurocine_toolbox.training.losses import (
    contrastive_ce, dc_mae_loss, encoder_contrastive_loss, masked_mse,
)


def _direct_ce(a, b, tau):
    """The symmetric InfoNCE written out with loops over the batch."""
    def unit(v):
        return [[c / math.sqrt(sum(c * c for c in x)) for c in x] for x in v]

    a, b = unit(a.tolist()), unit(b.tolist())
    n = len(a)
    sim = [[sum(p * q for p, q in zip(a[i], b[j])) / tau for j in range(n)] for i in range(n)]
    rows = -sum(sim[i][i] - math.log(sum(math.exp(s) for s in sim[i])) for i in range(n)) / n
    cols = -sum(sim[j][j] - math.log(sum(math.exp(sim[i][j]) for i in range(n))) for j in range(n)) / n
    return (rows + cols) / 2


def test_contrastive_ce_matches_direct_computation():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    for tau in (0.1, 0.5, 1.0):
        assert contrastive_ce(a, b, tau).item() == pytest.approx(_direct_ce(a, b, tau), rel=1e-5)


def test_contrastive_ce_is_scale_invariant_and_rewards_matching_pairs():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(8, 4, generator=g)
    assert contrastive_ce(a, 3 * a, 0.1) == pytest.approx(contrastive_ce(a, a, 0.1).item(), rel=1e-5)
    shuffled = a[torch.roll(torch.arange(8), 1)]
    assert contrastive_ce(a, a, 0.1) < contrastive_ce(a, shuffled, 0.1)
    # Perfect, well-separated pairs approach zero loss at a low temperature.
    eye = torch.eye(6)
    assert contrastive_ce(eye, eye, 0.01).item() < 1e-6


def test_masked_mse_counts_hidden_patches_only():
    target = torch.zeros(2, 8)
    rec = torch.zeros(2, 8)
    rec[0, :4] = 2.0  # patch 0 of sample 0 wrong, but visible
    rec[1, 4:] = 1.0  # patch 1 of sample 1 wrong, hidden
    mask = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert masked_mse(rec, target, mask, patch_size=4).item() == pytest.approx(0.5)


def test_dc_mae_loss_is_the_weighted_sum_of_its_parts():
    g = torch.Generator().manual_seed(2)
    target = torch.randn(4, 8, generator=g)
    first = MaskedReconstruction(torch.randn(4, 8, generator=g), torch.tensor([[1.0, 0.0]] * 4))
    second = MaskedReconstruction(torch.randn(4, 8, generator=g), torch.tensor([[0.0, 1.0]] * 4))
    total, parts = dc_mae_loss(target, first, second, 4, 0.1, weights=(1.0, 2.0, 3.0))
    rec = (masked_mse(first.reconstruction, target, first.mask, 4)
           + masked_mse(second.reconstruction, target, second.mask, 4)) / 2
    self_c = (contrastive_ce(first.reconstruction, target, 0.1) + contrastive_ce(second.reconstruction, target, 0.1)) / 2
    cross = contrastive_ce(first.reconstruction, second.reconstruction, 0.1)
    assert parts == pytest.approx({"reconstruction": rec.item(), "self_contrast": self_c.item(),
                                   "cross_contrast": cross.item()})
    assert total.item() == pytest.approx((rec + 2 * self_c + 3 * cross).item(), rel=1e-6)


def test_encoder_loss_is_eq3_and_skips_zero_weight_terms():
    g = torch.Generator().manual_seed(3)
    e, spa, tem, txt, img = (torch.randn(6, 4, generator=g) for _ in range(5))
    settings = {"mu_spa": 0.5, "mu_tem": 2.0, "mu_text": 1.0, "mu_image": 1.0, "temperature": 0.2}
    total, parts = encoder_contrastive_loss(e, spa, tem, txt, img, settings)
    expected = (0.5 * contrastive_ce(e, spa, 0.2) + 2.0 * contrastive_ce(e, tem, 0.2)
                + contrastive_ce(e, txt, 0.2) + contrastive_ce(e, img, 0.2))
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert set(parts) == {"spatial", "temporal", "text", "image"}
    no_aug = dict(settings, mu_spa=0.0, mu_tem=0.0)
    total, parts = encoder_contrastive_loss(e, None, None, txt, img, no_aug)
    assert set(parts) == {"text", "image"}
    assert total.item() == pytest.approx((contrastive_ce(e, txt, 0.2) + contrastive_ce(e, img, 0.2)).item(), rel=1e-6)


def test_text_and_image_terms_have_their_own_weights():
    """μ_text weighs the caption term and μ_image the image term: swapping them changes the loss."""
    g = torch.Generator().manual_seed(4)
    e, txt, img = (torch.randn(6, 4, generator=g) for _ in range(3))
    settings = {"mu_spa": 0.0, "mu_tem": 0.0, "mu_text": 0.3, "mu_image": 2.0, "temperature": 0.2}
    total, parts = encoder_contrastive_loss(e, None, None, txt, img, settings)
    assert parts["text"] == pytest.approx(contrastive_ce(e, txt, 0.2).item())
    assert parts["image"] == pytest.approx(contrastive_ce(e, img, 0.2).item())
    assert total.item() == pytest.approx(0.3 * parts["text"] + 2.0 * parts["image"], rel=1e-6)
    assert total.item() != pytest.approx(2.0 * parts["text"] + 0.3 * parts["image"], rel=1e-3)


def test_window_targets_average_unit_embeddings_of_the_right_kind():
    from neurocine_toolbox.data.targets import window_targets

    text = torch.tensor([[[3.0, 0.0]], [[0.0, 2.0]]]).transpose(0, 1)  # [1 window, 2 TRs, d=2]
    image = torch.tensor([[[[0.0, 5.0], [4.0, 0.0]], [[0.0, 1.0], [0.0, 9.0]]]])  # [1, 2 TRs, 2 frames, 2]
    t, i = window_targets({"text_embeds": text, "image_embeds": image})
    assert t.tolist() == [[0.5, 0.5]]
    assert i.tolist() == [[0.25, 0.75]]


def test_contrastive_step_pairs_the_caption_term_with_text_and_the_image_term_with_images():
    from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
    from neurocine_toolbox.training.encoder_stages import contrastive_step

    torch.manual_seed(0)
    encoder = FMRIEncoder(num_voxels=32, patch_size=16, embed_dim=16, depth=1, num_heads=2, window_size=2,
                          out_tokens=2, out_dim=8, clip_dim=4)
    g = torch.Generator().manual_seed(1)
    batch = {"fmri": torch.randn(5, 2, 32, generator=g), "text_embeds": torch.randn(5, 2, 4, generator=g),
             "image_embeds": torch.randn(5, 2, 3, 4, generator=g)}
    section = {"mu_spa": 0.0, "mu_tem": 0.0, "mu_text": 1.0, "mu_image": 1.0, "temperature": 0.1,
               "gamma_spa": 0.2, "gamma_tem": 0.5, "spatial_mask_space": "voxels"}
    _, parts = contrastive_step(section)(encoder, batch, torch.Generator())
    with torch.no_grad():
        embeds = encoder(batch["fmri"]).embeds
    from neurocine_toolbox.data.targets import window_targets

    text, image = window_targets(batch)
    assert parts["text"] == pytest.approx(contrastive_ce(embeds, text, 0.1).item(), rel=1e-5)
    assert parts["image"] == pytest.approx(contrastive_ce(embeds, image, 0.1).item(), rel=1e-5)
    assert parts["text"] != pytest.approx(parts["image"], rel=1e-3)
