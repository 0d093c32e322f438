"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node 2`` (gloo, on CPUs).

Each process writes ``<out>/rank<r>.pt`` with:

- ``loop``: what the real training loop handed the step function at each step (rows, the
  generator's seed, the spatial mask the step drew);
- ``contrastive`` / ``pretrain``: one step of each encoder stage's real step function on this
  process's shard of a fixed global batch, through DDP: the loss and every parameter's gradient
  after ``accelerator.backward`` (DDP has averaged them over the processes).

The test recomputes the same steps in one process on the whole global batch and compares.
"""

import sys
from pathlib import Path

import torch
from torch.utils.data import Dataset

from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
from neurocine_toolbox.models.fmri_mae import FMRIMaskedAutoencoder
from neurocine_toolbox.training import encoder_stages
from neurocine_toolbox.training.loop import StageSettings, make_accelerator, run_training, step_generator
from neurocine_toolbox.utils.processes import end_processes

SEED = 11
N_GLOBAL, WINDOW, COLUMNS, FRAMES, CLIP = 8, 2, 48, 3, 8
ENCODER = {"num_voxels": COLUMNS, "patch_size": 16, "embed_dim": 16, "depth": 1, "num_heads": 2,
           "window_size": WINDOW, "out_tokens": 3, "out_dim": 8, "clip_dim": CLIP}
CONTRASTIVE = {"gamma_spa": 0.25, "gamma_tem": 0.5, "mu_spa": 1.0, "mu_tem": 1.0, "mu_text": 1.0,
               "mu_image": 0.5, "temperature": 0.1, "spatial_mask_space": "voxels"}
TOKENS = dict(CONTRASTIVE, spatial_mask_space="tokens")
PRETRAIN = {"weight_reconstruction": 1.0, "weight_self_contrast": 1.0, "weight_cross_contrast": 1.0,
            "temperature": 0.1}
TRAINING = {"mixed_precision": "no", "gradient_accumulation_steps": 1, "checkpoint_every": 100,
            "keep_checkpoints": 1, "log_every": 1, "logger": "csv", "num_workers": 0}
VALID = torch.arange(COLUMNS) < 40  # the last 8 columns are padding


def global_batch():
    """The same fixed batch in every process (windows, CLIP targets)."""
    g = torch.Generator().manual_seed(5)
    fmri = torch.randn(N_GLOBAL, WINDOW, COLUMNS, generator=g)
    fmri[..., ~VALID] = 0
    return {"fmri": fmri, "text_embeds": torch.randn(N_GLOBAL, WINDOW, CLIP, generator=g),
            "image_embeds": torch.randn(N_GLOBAL, WINDOW, FRAMES, CLIP, generator=g)}


def shard(batch, rank, world):
    """This process's rows, as the loop's sampler shares a batch (``rows[rank::world]``)."""
    return {k: v[rank::world] for k, v in batch.items()}


def new_encoder():
    torch.manual_seed(3)
    return FMRIEncoder(**ENCODER)


def new_mae():
    torch.manual_seed(4)
    return FMRIMaskedAutoencoder(encoder_config=ENCODER, decoder_embed_dim=8, decoder_depth=1,
                                 decoder_num_heads=2, mask_ratio=0.5)


class Windows(Dataset):
    def __init__(self, batch):
        self.batch = batch

    def __len__(self):
        return len(self.batch["fmri"])

    def __getitem__(self, i):
        return {"row": i, **{k: v[i] for k, v in self.batch.items()}}


def _grads(model):
    return {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


def main(out):
    accelerator = make_accelerator(TRAINING)
    rank, world = accelerator.process_index, accelerator.num_processes
    batch = global_batch()
    record = {"rank": rank, "world": world, "loop": []}

    # 1. The real loop: which rows and which random stream each process gets at each step.
    step_fn = encoder_stages.contrastive_step(CONTRASTIVE, VALID)

    def spy(model, rows, generator):
        seed = generator.initial_seed()
        mask = encoder_stages.spatial_mask(rows["fmri"], 0.25, torch.Generator().manual_seed(seed), VALID)
        record["loop"].append({"rows": rows["row"].tolist(), "seed": seed, "mask": mask == 0})
        return step_fn(model, rows, generator)

    encoder = new_encoder()
    run_training(stage_dir=Path(out) / "loop", model=encoder, parameters=list(encoder.parameters()),
                 dataset=Windows(batch), step_fn=spy,
                 settings=StageSettings(steps=2, batch_size=4, learning_rate=1e-3, weight_decay=0.0, warmup_steps=0),
                 training=TRAINING, seed=SEED, progress=False, accelerator=accelerator)

    # 2. One step of each stage's real step function on this process's shard, through DDP.
    mine = shard(batch, rank, world)
    for name, model, step, rows in (
        ("contrastive", new_encoder(), encoder_stages.contrastive_step(CONTRASTIVE, VALID), mine),
        ("contrastive-tokens", new_encoder(), encoder_stages.contrastive_step(TOKENS, VALID), mine),
        ("pretrain", new_mae(), encoder_stages.pretrain_step(PRETRAIN, 16), mine["fmri"][:, 0]),
    ):
        ddp = accelerator.prepare(model)
        loss, _ = step(ddp, rows, step_generator(SEED, 0, rank))
        accelerator.backward(loss)
        record[name] = {"loss": loss.item(), "grads": _grads(accelerator.unwrap_model(ddp))}
    torch.save(record, Path(out) / f"rank{rank}.pt")
    end_processes()


if __name__ == "__main__":
    main(sys.argv[1])
