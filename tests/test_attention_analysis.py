"""Attention → tokens → voxels → grayordinates → surfaces, on an encoder whose attention is known."""

import numpy as np
import pytest
import torch

from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, hcp, mmp_visual_grayordinates
from neurocine_toolbox.interpretation.attention_analysis import analyse
from neurocine_toolbox.interpretation.attention_extraction import (
    control_windows, head_read_shares, resolve_layers, token_importance)
from neurocine_toolbox.interpretation.voxel_projection import (
    columns_to_grayordinates, grayordinates_to_fslr, tokens_to_columns)
from neurocine_toolbox.interpretation.window_categories import frequent_keywords, window_categories
from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

PATCH, PATCHES, WIDTH = 4, 6, 8
SCORE = 3.0  # the attention logit of an active patch (silent ones: 0)
SHARES = np.array([1.0, 2.0, 3.0, 4.0])  # the patch embedding's weights (any positive ones)


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


def random_encoder(seed, depth=2, heads=2, patches=PATCHES, width=WIDTH, sharpen=4.0, **kwargs):
    torch.manual_seed(seed)
    encoder = FMRIEncoder(num_voxels=PATCH * patches, patch_size=PATCH, embed_dim=width, depth=depth,
                          num_heads=heads, window_size=2, temporal_attention=False, out_tokens=3, out_dim=8,
                          clip_dim=8, **kwargs)
    with torch.no_grad():  # heads that differ, and a head reading patches unevenly
        for block in encoder.blocks:
            block.attn.qkv.weight.mul_(sharpen)
        encoder.proj_head.channel_mapper.weight.normal_()
    return encoder.eval()


def test_two_layers_and_two_heads_give_the_hand_computed_rollout_and_head_means():
    """Rollout multiplies later layers on the left (R₂ = Â₂Â₁), every measure averages heads, and
    'read' weights the patch rows of R by the head's shares of each TR's tokens."""
    encoder = random_encoder(3)
    windows = np.random.default_rng(0).normal(size=(3, 2, PATCH * PATCHES)).astype(np.float32)
    importance = token_importance(encoder, windows, layers=[1, 2], batch_size=2)
    with torch.no_grad():
        attentions = [a.numpy() for a in encoder(torch.as_tensor(windows), output_attentions=True).attentions]
    assert not np.allclose(attentions[0][:, :, 0], attentions[0][:, :, 1])  # the two heads differ
    shares = np.abs(encoder.proj_head.channel_mapper.weight.detach().numpy()).sum(axis=0)
    shares = (shares / shares.sum()).reshape(2, PATCHES)
    np.testing.assert_allclose(head_read_shares(encoder).numpy(), shares, rtol=1e-5)
    eye = np.eye(1 + PATCHES)
    for i in range(len(windows)):
        expected = {}
        per_tr = {"received": [], "cls": [], "rollout": [], "read": []}
        for t in range(2):
            a1, a2 = (attentions[layer][i, t].mean(axis=0) for layer in (0, 1))  # the mean of the two heads
            s1, s2 = (0.5 * a + 0.5 * eye for a in (a1, a2))
            s1, s2 = (s / s.sum(axis=1, keepdims=True) for s in (s1, s2))
            joint = s2 @ s1  # the later layer on the left
            per_tr["received"].append(a2[:, 1:].mean(axis=0))
            per_tr["cls"].append(a2[0, 1:])
            per_tr["rollout"].append(joint[0, 1:])
            per_tr["read"].append(shares[t] @ joint[1:, 1:])
        expected = {m: np.mean(v, axis=0) for m, v in per_tr.items() if m != "read"}
        expected["read"] = np.sum(per_tr["read"], axis=0)
        for measure, values in expected.items():
            np.testing.assert_allclose(importance[(measure, 2)][i], values, rtol=1e-4, atol=1e-6, err_msg=measure)
        np.testing.assert_allclose(importance[("rollout", 1)][i],
                                   np.mean([(0.5 * attentions[0][i, t].mean(axis=0) + 0.5 * eye)[0, 1:]
                                            for t in range(2)], axis=0), rtol=1e-4)


def test_control_windows_carry_the_values_but_not_the_columns():
    windows = np.random.default_rng(1).normal(size=(4, 2, 24)).astype(np.float32)
    permuted = control_windows(windows, "permuted", seed=0)
    for w, p in zip(windows, permuted):
        np.testing.assert_array_equal(np.sort(w, axis=1), np.sort(p, axis=1))  # the same values
        order = [int(np.flatnonzero(w[0] == value)[0]) for value in p[0]]
        np.testing.assert_array_equal(p[1], w[1][order])  # one permutation for both TRs
    assert not np.array_equal(permuted[0], windows[0])
    assert not np.array_equal(permuted[0] - windows[0], permuted[1] - windows[1])
    assert not control_windows(windows, "zero").any()
    with pytest.raises(ValueError, match="unknown control"):
        control_windows(windows, "noise")


def test_tokens_become_patch_wide_voxels_then_grayordinates_and_vertices():
    tokens = np.arange(1.0, PATCHES + 1)
    columns = tokens_to_columns(tokens, PATCH, PATCH * PATCHES - 2)
    assert columns.shape == (22,)
    np.testing.assert_array_equal(columns[4:8], 2.0)  # patch 1: every voxel carries its token's value
    np.testing.assert_array_equal(columns[20:], 6.0)  # the last, partial patch
    with pytest.raises(ValueError, match="cover fewer"):
        tokens_to_columns(tokens, PATCH, PATCH * PATCHES + 1)

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
    section = {"layers": ["last"], "measure": "received", "batch_size": 4, "n_surrogates": 0, "n_permutations": 50,
               "min_voxels": 10, "n_boot": 200, "position_control": "none", "attribution_steps": 0}
    result = analyse({"encoder": known_encoder()}, windows_with(active), voxel_grayordinates, section,
                     categories={"first": (inside, ~inside)})
    headline = result.maps[0]
    assert (headline.stage, headline.layer, headline.measure, headline.category) == ("encoder", 1, "received", None)
    # Patches 1 and 3 are attended in half of the windows each: their voxels top the map.
    values = headline.grayordinates[voxel_grayordinates].reshape(PATCHES, PATCH)
    assert (values == values[:, :1]).all()  # patch resolution
    assert set(np.argsort(values[:, 0])[-2:]) == {1, 3}
    contrast = next(m for m in result.maps if m.category == "first")
    row_in, row_out = expected_row([1]), expected_row([3])
    per_token = contrast.grayordinates[voxel_grayordinates].reshape(PATCHES, PATCH)
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


def test_the_position_control_keeps_the_hemispheres_when_the_store_reverses_its_columns():
    """Symmetric data (the same noise model in both hemispheres): raw attention prefers whichever
    hemisphere the store puts first, the position-controlled map neither, in either column order."""
    from neurocine_toolbox.data.grayordinates import hcp

    patches = 16
    encoder = random_encoder(2, depth=2, heads=2, patches=patches, width=16, sharpen=1.0)  # as initialised
    n_left = len(hcp().vertex_info.grayl)
    half = PATCH * patches // 2
    left = np.arange(0, 40 * half, 40)  # spread over the left cortex, then the same count on the right
    order = np.concatenate([left, left + n_left])
    windows = np.random.default_rng(0).normal(size=(400, 2, PATCH * patches)).astype(np.float32)
    section = {"layers": ["last"], "measure": "received", "batch_size": 40, "n_surrogates": 0, "n_permutations": 0,
               "min_voxels": 10, "n_boot": 100, "position_control": "permuted", "attribution_steps": 0}
    ratios = {}
    for name, columns in (("store order", slice(None)), ("reversed", slice(None, None, -1))):
        result = analyse({"encoder": encoder}, windows[..., columns], order[columns], section,
                         runs=np.repeat(np.arange(4), 100))
        table = result.hemispheres.set_index("map")
        ratios[name] = (table.loc["encoder/layer-2/received/all", "ratio"],
                        table.loc["encoder/layer-2/received-vs-permuted/all", "ratio"])
    (raw, controlled), (raw_reversed, controlled_reversed) = ratios["store order"], ratios["reversed"]
    assert (raw - 1) * (raw_reversed - 1) < 0 and min(abs(raw - 1), abs(raw_reversed - 1)) > 0.015  # position flips it
    assert abs(controlled - 1) < 0.005 and abs(controlled_reversed - 1) < 0.005
