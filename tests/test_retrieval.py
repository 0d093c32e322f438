"""Held-out retrieval scores with their chance levels."""

import pytest
import torch

from neurocine_toolbox.evaluation.retrieval import format_retrieval, own_key_ranks, topk_retrieval


def test_ranks_count_keys_that_beat_the_own_key():
    keys = torch.eye(4)
    queries = torch.tensor([[1.0, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 0, 0.2, 1.0], [0, 0, 0, 1.0]])
    assert own_key_ranks(queries, keys).tolist() == [0, 1, 1, 0]


def test_perfect_pairing_scores_one_and_beats_chance():
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(40, 16, generator=g)
    result = topk_retrieval(keys + 0.01 * torch.randn(40, 16, generator=g), keys, (1, 5), n_shuffles=200)
    assert result["top1"]["accuracy"] == 1.0 and result["top5"]["accuracy"] == 1.0
    assert result["top1"]["chance_nominal"] == pytest.approx(1 / 40)
    assert result["top5"]["chance_nominal"] == pytest.approx(5 / 40)
    assert result["top1"]["chance_shuffled"] == pytest.approx(1 / 40, abs=0.02)
    assert result["top1"]["p_value"] == pytest.approx(1 / 201)


def test_unrelated_queries_score_at_chance():
    g = torch.Generator().manual_seed(1)
    result = topk_retrieval(torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g), (5,),
                            n_shuffles=100)
    top5 = result["top5"]
    assert top5["accuracy"] == pytest.approx(5 / 400, abs=0.015)
    lo, hi = top5["ci95"]
    assert lo <= top5["chance_shuffled"] <= hi
    assert top5["p_value"] > 0.01


def test_shuffled_chance_sees_repeated_keys():
    # Ten keys, each repeated 4 times: a shuffled pairing still often finds an equal key on top.
    keys = torch.eye(10).repeat_interleave(4, dim=0)
    result = topk_retrieval(keys.clone(), keys, (1,), n_shuffles=300)
    assert result["top1"]["accuracy"] == 1.0
    assert result["top1"]["chance_shuffled"] == pytest.approx(4 / 40, abs=0.03)
    assert result["top1"]["chance_nominal"] == pytest.approx(1 / 40)


def test_format_names_protocol_chance_and_interval():
    g = torch.Generator().manual_seed(2)
    keys = torch.randn(20, 4, generator=g)
    lines = format_retrieval("fMRI→image", topk_retrieval(keys, keys, (1, 5), n_shuffles=50))
    assert lines[0].startswith("fMRI→image top-1: 1.000 [") and "chance 0.050" in lines[0]
    assert "N=20 test windows" in lines[1]
