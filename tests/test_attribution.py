"""Voxel attribution, the deletion test that chooses the headline map, and left/right ratios."""

import numpy as np
import pytest
import torch

from neurocine_toolbox.interpretation.attribution import target_similarity, voxel_attribution, window_clip_targets
from neurocine_toolbox.interpretation.headline_choice import choose_headline
from neurocine_toolbox.interpretation.hemispheres import hemisphere_masks, hemisphere_ratio
from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

PATCH, PATCHES = 4, 6


def encoder_reading_patch(patch, seed=0):
    """A small random encoder whose patch embedding sees only the columns of one patch position."""
    torch.manual_seed(seed)
    encoder = FMRIEncoder(num_voxels=PATCH * PATCHES, patch_size=PATCH, embed_dim=16, depth=2, num_heads=2,
                          window_size=2, temporal_attention=False, out_tokens=3, out_dim=8, clip_dim=8)
    with torch.no_grad():
        # Every patch uses the same weights: zero the weights for all but the columns at one position
        # inside a patch, so a single column per patch reaches the output.
        encoder.patch_embed.proj.weight[..., [k for k in range(PATCH) if k != patch]] = 0.0
    return encoder.eval()


def windows_and_targets(n=12, seed=0):
    rng = np.random.default_rng(seed)
    windows = rng.normal(size=(n, 2, PATCH * PATCHES)).astype(np.float32)
    targets = rng.normal(size=(n, 8))
    return windows, (targets / np.linalg.norm(targets, axis=1, keepdims=True)).astype(np.float32)


def test_attribution_is_complete_and_zero_where_a_voxel_cannot_reach_the_output():
    encoder = encoder_reading_patch(1)
    windows, targets = windows_and_targets()
    attribution = voxel_attribution(encoder, windows, targets, steps=64, batch_size=5)
    assert attribution.shape == (12, PATCH * PATCHES)
    # Completeness: a window's attributions add up to its similarity minus the zero window's.
    gain = target_similarity(encoder, windows, targets) - target_similarity(encoder, np.zeros_like(windows), targets)
    np.testing.assert_allclose(attribution.sum(axis=1), gain, rtol=2e-2, atol=2e-3)
    reached = np.arange(PATCH * PATCHES) % PATCH == 1
    assert (attribution[:, ~reached] == 0).all() and (attribution[:, reached] != 0).all()


def test_the_targets_are_the_training_stages_unit_text_plus_image():
    rng = np.random.default_rng(2)

    class Store:
        clip_text_embeds = rng.normal(size=(10, 8)).astype(np.float32)
        clip_image_embeds = rng.normal(size=(10, 3, 8)).astype(np.float32)

    targets = window_clip_targets(Store, np.array([0, 4]), 2)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    text = unit(Store.clip_text_embeds[4:6]).mean(axis=0)
    image = unit(Store.clip_image_embeds[4:6]).mean(axis=(0, 1))
    np.testing.assert_allclose(targets[1], unit(text + image), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(targets, axis=1), 1.0, rtol=1e-5)


def test_the_deletion_test_chooses_the_map_that_names_the_columns_the_model_reads():
    encoder = encoder_reading_patch(2)
    windows, _ = windows_and_targets(n=24)
    with torch.no_grad():  # a model that matches its targets perfectly: any loss of input lowers the similarity
        targets = torch.nn.functional.normalize(encoder(torch.as_tensor(windows)).embeds, dim=-1).numpy()
    read = (np.arange(PATCH * PATCHES) % PATCH == 2).astype(float)
    scores = {"elsewhere": 1.0 - read, "reads": read + 0.01 * np.arange(PATCH * PATCHES)}
    runs = np.repeat([0, 1], 12)
    choice = choose_headline(encoder, windows, targets, runs, scores, share=0.25, n_boot=200)
    assert choice.chosen == "reads"
    table = choice.table.set_index("map")
    assert table.loc["elsewhere", "drop_top"] == pytest.approx(0.0, abs=1e-6)  # columns the model never reads
    assert table.loc["reads", "excess"] > 0 and table.loc["reads", "ci_low"] <= table.loc["reads", "excess"]
    assert choice.difference["first"] == "elsewhere" and choice.difference["mean"] < 0
    assert choice.difference["ci_low"] <= choice.difference["mean"] <= choice.difference["ci_high"]


def test_hemisphere_ratio_is_left_mean_over_right_mean():
    from neurocine_toolbox.data.grayordinates import hcp

    n_left = len(hcp().vertex_info.grayl)
    voxel_grayordinates = np.array([0, 1, n_left, n_left + 1, 59412, -1])
    left, right = hemisphere_masks(voxel_grayordinates)
    assert left.tolist() == [True, True, False, False, False, False]
    assert right.tolist() == [False, False, True, True, False, False]
    values = np.array([[1.0, 3.0, 1.0, 1.0, 50.0, 50.0], [3.0, 5.0, 2.0, 2.0, 50.0, 50.0]])
    found = hemisphere_ratio(values, voxel_grayordinates, runs=np.zeros(2, int), n_boot=50)
    assert found["left"] == pytest.approx(3.0) and found["right"] == pytest.approx(1.5)
    assert found["ratio"] == pytest.approx(2.0)
    assert found["ci_low"] <= found["ci_high"]
