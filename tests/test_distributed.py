"""Several processes train like one: global-batch contrastive losses, per-rank random streams.

Two CPU processes (gloo) run tests/distributed_worker.py under ``torchrun``; this module
recomputes the same steps in one process on the whole global batch.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neurocine_toolbox.training import encoder_stages
from neurocine_toolbox.training.augment import spatial_mask, temporal_interpolate
from neurocine_toolbox.training.distributed import gather_batch
from neurocine_toolbox.training.loop import batch_for_step, step_generator

sys.path.insert(0, str(Path(__file__).parent))
import distributed_worker as worker  # noqa: E402

WORLD = 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("two-processes")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD),
               str(Path(worker.__file__)), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def _single_process_contrastive(space="voxels"):
    """The contrastive step on the whole batch, each shard augmented with its process's stream."""
    from neurocine_toolbox.data.targets import window_targets
    from neurocine_toolbox.training.augment import token_mask
    from neurocine_toolbox.training.losses import encoder_contrastive_loss

    batch = worker.global_batch()
    shards = [worker.shard(batch, r, WORLD) for r in range(WORLD)]
    encoder = worker.new_encoder()
    spa, tem = [], []
    for rank, rows in enumerate(shards):
        g = step_generator(worker.SEED, 0, rank)  # the draws each process made, in its order
        if space == "voxels":
            spa.append(spatial_mask(rows["fmri"], worker.CONTRASTIVE["gamma_spa"], g, worker.VALID))
        else:
            spa.append(token_mask(len(rows["fmri"]), encoder.num_patches, encoder.config.embed_dim,
                                  worker.CONTRASTIVE["gamma_spa"], g))
        tem.append(temporal_interpolate(rows["fmri"], worker.CONTRASTIVE["gamma_tem"], g))
    whole = {k: torch.cat([s[k] for s in shards]) for k in batch}
    embeds = encoder(whole["fmri"]).embeds
    masked = (encoder(torch.cat(spa)) if space == "voxels" else encoder(whole["fmri"], token_mask=torch.cat(spa))).embeds
    text, image = window_targets(whole)
    loss, _ = encoder_contrastive_loss(embeds, masked, encoder(torch.cat(tem)).embeds, text, image,
                                       worker.CONTRASTIVE)
    loss.backward()
    return loss.item(), worker._grads(encoder)


def _single_process_pretrain():
    """DC-MAE on the whole batch: each shard masked by its process's stream, twice."""
    from neurocine_toolbox.models.fmri_mae import MaskedReconstruction
    from neurocine_toolbox.training.losses import dc_mae_loss

    rows = worker.global_batch()["fmri"][:, 0]
    shards = [rows[r::WORLD] for r in range(WORLD)]
    mae = worker.new_mae()
    firsts, seconds = [], []
    for rank, part in enumerate(shards):
        g = step_generator(worker.SEED, 0, rank)
        firsts.append(mae(part, generator=g))
        seconds.append(mae(part, generator=g))
    first, second = (MaskedReconstruction(torch.cat([o.reconstruction for o in outs]), torch.cat([o.mask for o in outs]))
                     for outs in (firsts, seconds))
    loss, _ = dc_mae_loss(torch.cat(shards), first, second, 16, 0.1)
    loss.backward()
    return loss.item(), worker._grads(mae)


@pytest.mark.parametrize("stage, reference", [("contrastive", _single_process_contrastive),
                                              ("contrastive-tokens", lambda: _single_process_contrastive("tokens")),
                                              ("pretrain", _single_process_pretrain)])
def test_loss_and_gradients_equal_the_single_process_ones(ranks, stage, reference):
    loss, grads = reference()
    for record in ranks:
        assert record[stage]["loss"] == pytest.approx(loss, rel=1e-5)
        assert set(record[stage]["grads"]) == set(grads)
        for name, grad in grads.items():
            assert torch.allclose(record[stage]["grads"][name], grad, rtol=1e-4, atol=1e-6), name


def test_each_process_gets_its_own_rows_and_its_own_random_stream(ranks):
    for step in range(2):
        rows = [r["loop"][step]["rows"] for r in ranks]
        assert sorted(rows[0] + rows[1]) == sorted(batch_for_step(step, worker.N_GLOBAL, 4, worker.SEED))
        assert not set(rows[0]) & set(rows[1])
        seeds = [r["loop"][step]["seed"] for r in ranks]
        assert seeds[0] != seeds[1]
        assert seeds == [step_generator(worker.SEED, step, rank).initial_seed() for rank in range(WORLD)]
        masks = [r["loop"][step]["mask"] for r in ranks]
        assert not torch.equal(masks[0], masks[1])  # the two processes mask different positions


def test_rank_zero_keeps_the_single_process_stream():
    """A single process draws what it drew before several processes were supported (resume)."""
    assert step_generator(3, 7, 0).initial_seed() == step_generator(3, 7).initial_seed()
    assert step_generator(3, 7, 1).initial_seed() != step_generator(3, 7, 0).initial_seed()


def test_gather_is_the_identity_in_one_process():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_batch(x) is x


def test_contrastive_step_uses_the_configured_mask_space(monkeypatch):
    calls = []
    monkeypatch.setattr(encoder_stages, "spatial_mask", lambda *a, **k: calls.append("voxels") or a[0])
    original = encoder_stages.token_mask
    monkeypatch.setattr(encoder_stages, "token_mask", lambda *a, **k: calls.append("tokens") or original(*a, **k))
    batch = worker.global_batch()
    encoder = worker.new_encoder()
    for space in ("voxels", "tokens"):
        section = dict(worker.CONTRASTIVE, spatial_mask_space=space, mu_tem=0.0)
        encoder_stages.contrastive_step(section, worker.VALID)(encoder, batch, torch.Generator().manual_seed(0))
        assert calls[-1] == space
