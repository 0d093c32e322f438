"""Attention → tokens → voxels → grayordinates → surfaces, on an encoder whose attention is known."""

import numpy as np
import pytest
import torch

from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, hcp, mmp_visual_grayordinates
from neurocine_toolbox.interpretation.attention_analysis import analyse
from neurocine_toolbox.interpretation.attention_extraction import resolve_layers, token_importance
from neurocine_toolbox.interpretation.voxel_projection import (
    columns_to_grayordinates, grayordinates_to_fslr, patch_column_shares, tokens_to_columns)
from neurocine_toolbox.interpretation.window_categories import frequent_keywords, window_categories
from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

PATCH, PATCHES, WIDTH = 4, 6, 8
SCORE = 3.0  # the attention logit of an active patch (silent ones: 0)
SHARES = np.array([1.0, 2.0, 3.0, 4.0])  # the patch embedding's column norms


def known_encoder():
    """One layer whose every query attends to the patches with positive input, by logit SCORE.

    Each token is ``(Σ_k c_k x_k)·e₀`` (no positions, zero CLS), so after the LayerNorm an active
    token is one fixed vector ``n`` and a silent one is 0. Queries are a constant (bias only), keys
    ``W_k n``, arranged so that ``q·k = SCORE`` for active tokens.
    """
    encoder = FMRIEncoder(num_voxels=PATCH * PATCHES, patch_size=PATCH, embed_dim=WIDTH, depth=1, num_heads=1,
                          window_size=2, temporal_attention=False, out_tokens=3, out_dim=8, clip_dim=8)
    with torch.no_grad():
        for p in encoder.parameters():
            p.zero_()
        encoder.pos_embed.zero_()
        encoder.blocks[0].norm1.weight.fill_(1.0)
        encoder.patch_embed.proj.weight[0, 0] = torch.tensor(SHARES)
        n = torch.nn.functional.layer_norm(torch.eye(WIDTH)[0], (WIDTH,))
        qkv = encoder.blocks[0].attn.qkv
        qkv.bias[:WIDTH] = torch.eye(WIDTH)[1]  # q = e₁ for every token
        # k = e₁ · SCORE·√d · (n·x)/(n·n): SCORE·√d for x = n, 0 for x = 0 (scores are scaled by 1/√d);
        # LayerNorm's eps makes n depend on the input's size by ~1e-5, hence the tests' tolerance.
        qkv.weight[WIDTH:2 * WIDTH] = torch.outer(torch.eye(WIDTH)[1], n) * SCORE * WIDTH ** 0.5 / (n @ n)
    return encoder.eval()


def windows_with(active):
    """Windows ``[N, 2, 24]``: patch ``p`` positive in window ``i`` iff ``p in active[i]``."""
    out = np.zeros((len(active), 2, PATCH * PATCHES), np.float32)
    for i, patches in enumerate(active):
        for p in patches:
            out[i, :, p * PATCH:(p + 1) * PATCH] = 1.0 + i  # any positive value
    return out


def expected_row(active):
    """The softmax row over [CLS, patches]: logit SCORE on active patches, 0 elsewhere."""
    logits = np.zeros(1 + PATCHES)
    logits[1 + np.asarray(active, int)] = SCORE
    e = np.exp(logits)
    return e / e.sum()


def test_token_importance_is_the_encoders_own_attention():
    active = [[1], [2, 4], []]
    importance = token_importance(known_encoder(), windows_with(active), layers=[1], batch_size=2)
    for i, patches in enumerate(active):
        row = expected_row(patches)
        np.testing.assert_allclose(importance[("received", 1)][i], row[1:], atol=1e-4)
        np.testing.assert_allclose(importance[("cls", 1)][i], row[1:], atol=1e-4)
        # rollout of one layer: ½A + ½I, rows still sum to 1; the identity adds nothing off CLS.
        np.testing.assert_allclose(importance[("rollout", 1)][i], 0.5 * row[1:], atol=1e-4)


def test_tokens_become_voxels_by_the_patch_embedding_weights_then_grayordinates_and_vertices():
    encoder = known_encoder()
    np.testing.assert_allclose(patch_column_shares(encoder), SHARES / SHARES.sum())
    tokens = np.arange(1.0, PATCHES + 1)
    columns = tokens_to_columns(tokens, patch_column_shares(encoder), PATCH * PATCHES - 2)
    assert columns.shape == (22,)
    np.testing.assert_allclose(columns[4:8], 2.0 * SHARES / SHARES.sum())  # patch 1, importance 2
    assert columns[:PATCH * (PATCHES - 1)].sum() == pytest.approx(tokens[:-1].sum())

    visual, _ = mmp_visual_grayordinates()
    voxel_grayordinates = np.concatenate([visual[:20], [-1, -1]])  # two padding columns
    grayordinates = columns_to_grayordinates(columns, voxel_grayordinates)
    assert grayordinates.shape == (N_GRAYORDINATES,)
    np.testing.assert_allclose(grayordinates[visual[:20]], columns[:20])
    assert np.isnan(np.delete(grayordinates, visual[:20])).all()

    left, right = grayordinates_to_fslr(grayordinates)
    h = hcp()
    for g in visual[:20]:
        if g < len(h.vertex_info.grayl):
            assert left[h.vertex_info.grayl[g]] == grayordinates[g]
        else:
            assert right[h.vertex_info.grayr[g - len(h.vertex_info.grayl)]] == grayordinates[g]
    assert np.isfinite(left).sum() + np.isfinite(right).sum() == 20


def test_analyse_puts_the_attended_patch_on_the_cortex_and_contrasts_categories():
    visual, _ = mmp_visual_grayordinates()
    voxel_grayordinates = visual[:PATCH * PATCHES]
    active = [[1]] * 6 + [[3]] * 6
    inside = np.arange(12) < 6
    section = {"layers": ["last"], "measure": "received", "batch_size": 4, "n_spins": 0, "n_permutations": 50,
               "min_voxels": 10, "n_boot": 200}
    result = analyse({"encoder": known_encoder()}, windows_with(active), voxel_grayordinates, section,
                     categories={"first": (inside, ~inside)})
    headline = result.maps[0]
    assert (headline.stage, headline.layer, headline.measure, headline.category) == ("encoder", 1, "received", None)
    # Patches 1 and 3 are attended in half of the windows each: their voxels top the map.
    values = headline.grayordinates[voxel_grayordinates].reshape(PATCHES, PATCH) / (SHARES / SHARES.sum())
    assert set(np.argsort(values[:, 0])[-2:]) == {1, 3}
    contrast = next(m for m in result.maps if m.category == "first")
    row_in, row_out = expected_row([1]), expected_row([3])
    per_token = contrast.grayordinates[voxel_grayordinates].reshape(PATCHES, PATCH) / (SHARES / SHARES.sum())
    np.testing.assert_allclose(per_token[:, 0], row_in[1:] - row_out[1:], atol=1e-4)
    assert contrast.n_windows == 6 and contrast.is_contrast
    assert result.token_importance["encoder/received/layer-1"].shape == (12, PATCHES)
    assert {t.atlas for t in result.roi_tables} == {"HCP-MMP1.0", "Yeo 7", "Yeo 17", "Cole-Anticevic networks"}
    assert all(len(surface) == 10242 for surface in headline.fsaverage5)


def test_layer_names_follow_the_paper():
    assert resolve_layers(["first", "middle", "last"], 24) == [1, 12, 24]
    assert resolve_layers(["first", "middle", "last"], 2) == [1, 2]
    with pytest.raises(ValueError, match="outside"):
        resolve_layers([25], 24)
    with pytest.raises(ValueError, match="unknown layer"):
        resolve_layers(["top"], 24)


def test_windows_are_grouped_by_simulated_class_or_caption_keyword():
    from neurocine_toolbox.simulate.classes import CLASSES

    red, green = CLASSES[0].caption(), CLASSES[1].caption()
    captions = [red] * 8 + [green] * 8
    starts = np.arange(15)  # windows of 2 TRs; window 7 straddles red and green
    members, kind = window_categories(captions, starts, 2, min_windows=3)
    assert kind == "class" and list(members) == ["green_square", "red_disc"]
    inside, rest = members["red_disc"]
    assert inside.tolist() == [True] * 7 + [False] * 8
    assert rest.tolist() == [False] * 8 + [True] * 7  # the straddling window is in neither

    wen_like = ["a man riding a horse", "a man walking a dog", "a dog on the grass", "a plane in the sky"] * 5
    assert frequent_keywords(wen_like, n=3) == ["dog", "man", "grass"]  # by count, then alphabetically
    assert frequent_keywords(wen_like, n=3, max_share=0.4) == ["grass", "horse", "plane"]  # too common: out
    members, kind = window_categories(wen_like, np.arange(19), 1, categories=["dog"], min_windows=2)
    assert kind == "keyword" and members["dog"][0].sum() == 10
    assert window_categories(wen_like, np.arange(19), 1, categories="none") == ({}, "none")


def test_natural_world_windows_are_grouped_by_their_shots_first_shape():
    from neurocine_toolbox.simulate.classes import CLASSES
    from neurocine_toolbox.simulate.drawing import Clip
    from neurocine_toolbox.simulate.natural_stimuli import Shot

    def caption(classes):
        objects = tuple(Clip(0, 10, c, 5.0, 0.0, 0.0, 0.1, 0.0) for c in classes)
        return Shot(0, 10, 1, objects, (50, 50, 40), (50, 50, 40), "still").caption()

    captions = [caption([2, 0])] * 6 + [caption([0])] * 6  # a blue triangle and a red disc; a red disc alone
    members, kind = window_categories(captions, np.arange(11), 2, min_windows=3)
    assert kind == "class" and set(members) == {"blue_triangle", "red_disc"}
    assert members["blue_triangle"][0].sum() == 5  # the first shape is the shot's class, not every shape
    assert window_categories([CLASSES[0].caption() + " and more"] * 4, np.arange(3), 1)[1] != "class"
