"""Held-out retrieval scores with their chance levels, intervals and p-values."""

import numpy as np
import pytest
import torch

from neurocine_toolbox.evaluation.retrieval import (format_retrieval, key_ranks, own_key_ranks, topk_from_scores,
                                                    topk_retrieval)

# Query i's own key is key i. Row 0: 0.9 beats the own 0.5, key 2 ties it; row 1: the own key ties
# two others at the top; row 2: three keys beat it; row 3: one beats it, two tie it.
SCORES = np.array([[0.5, 0.9, 0.5, 0.1],
                   [0.2, 0.8, 0.8, 0.8],
                   [0.9, 0.7, 0.3, 0.6],
                   [0.4, 0.4, 0.9, 0.4]])


def test_ranks_count_keys_that_beat_the_own_key():
    keys = torch.eye(4)
    queries = torch.tensor([[1.0, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 0, 0.2, 1.0], [0, 0, 0, 1.0]])
    assert own_key_ranks(queries, keys).tolist() == [0, 1, 1, 0]


def test_top_k_counts_strictly_better_keys_and_ties_go_to_the_own_key():
    assert np.diagonal(key_ranks(SCORES)).tolist() == [1, 0, 3, 1]
    result = topk_from_scores(SCORES, np.zeros(4, int), top_k=(1, 2, 3), n_boot=50)
    # rank < k. With rank <= k: 0.75, 0.75, 1.0; with ties counted against the own key
    # (ranks 2, 2, 3, 3): 0.0, 0.0, 0.5.
    assert [result[f"top{k}"]["accuracy"] for k in (1, 2, 3)] == [0.25, 0.75, 0.75]
    assert [result[f"top{k}"]["chance_nominal"] for k in (1, 2, 3)] == [0.25, 0.5, 0.75]
    assert result["top1"]["p_value"] is None and result["n_null"] == 0  # 4 windows: no shift 5 apart


def test_p_value_and_null_chance_by_hand_with_ties():
    # Two runs of 10 windows, own key the unique best, every other key 0. Shifts by multiples of 5
    # (the shortest): (5, 0), (0, 5), (5, 5). Top-1 under them: 0.5, 0.5, 0.0 (an unshifted run keeps
    # its hits; the chance level counts shifted windows only: 0); top-2 (the shifted key is second,
    # behind the own one): 1.0 each time, tying the true pairing's 1.0.
    result = topk_from_scores(np.eye(20), np.repeat([0, 1], 10), top_k=(1, 2), n_boot=50)
    assert result["n_null"] == 3 and result["min_shift"] == 5
    assert result["top1"]["accuracy"] == 1.0 and result["top1"]["ci95"] == [1.0, 1.0]
    assert result["top1"]["chance_null"] == 0.0
    assert result["top1"]["p_value"] == pytest.approx(1 / 4)  # (1 + 0) / (1 + 3)
    assert result["top2"]["chance_null"] == 1.0
    assert result["top2"]["p_value"] == 1.0  # (1 + 3) / (1 + 3): ties count against the true pairing


def test_measured_chance_sees_keys_that_repeat_later_in_the_run():
    # 40 windows, window i shows caption i mod 10: shifts by 10, 20, 30 land on the same caption.
    keys = torch.eye(10)[torch.arange(40) % 10]
    result = topk_retrieval(keys.clone(), keys, np.zeros(40, int), (1,), n_boot=50)
    top1 = result["top1"]
    assert result["n_null"] == 7  # shifts by 5, 10, …, 35
    assert top1["accuracy"] == 1.0 and top1["chance_nominal"] == pytest.approx(1 / 40)
    assert top1["chance_null"] == pytest.approx(3 / 7)
    assert top1["p_value"] == pytest.approx(4 / 8)


def test_perfect_pairing_scores_one_and_beats_chance():
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(60, 16, generator=g)
    result = topk_retrieval(keys + 0.01 * torch.randn(60, 16, generator=g), keys, np.repeat([0, 1], 30), (1, 5))
    assert result["top1"]["accuracy"] == 1.0 and result["top5"]["accuracy"] == 1.0
    assert result["top5"]["chance_nominal"] == pytest.approx(5 / 60)
    assert result["top5"]["chance_null"] == pytest.approx(5 / 60, abs=0.05)
    assert result["n_null"] == 35 and result["top1"]["p_value"] == pytest.approx(1 / 36)


def test_unrelated_queries_score_at_chance():
    g = torch.Generator().manual_seed(1)
    result = topk_retrieval(torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g),
                            np.repeat(np.arange(4), 100), (5,), n_null=200)
    top5 = result["top5"]
    assert top5["accuracy"] == pytest.approx(5 / 400, abs=0.015)
    lo, hi = top5["ci95"]
    assert lo <= top5["chance_null"] <= hi
    assert top5["p_value"] > 0.01


def test_format_names_protocol_chance_interval_and_method():
    g = torch.Generator().manual_seed(2)
    keys = torch.randn(20, 4, generator=g)
    result = topk_retrieval(keys, keys, np.repeat([5, 6], 10), (1, 5), n_boot=100)
    lines = format_retrieval("fMRI→image", result)
    assert lines[0].startswith("fMRI→image top-1: 1.000 [") and "chance 0.050 (circular-shift null 0." in lines[0]
    assert "p=0.25" in lines[0] and "N=20 windows in 2 runs" in lines[1]
    assert f"blocks of {result['block_length']} windows" in lines[1]
    short = format_retrieval("fMRI→image", topk_retrieval(keys[:4], keys[:4], np.zeros(4, int), (1,), n_boot=50))
    assert "p n/a" in short[0]
