"""Time training steps of the paper-size fMRI encoder through neurocine's own training loop.

The encoder of the paper (depth 24, width 1024, 16 heads, patch 16) on 4,192 voxel columns
(262 patches, the MMP V1–V4 selection padded), windows of 2 TRs, with random data shaped like a
store with CLIP ViT-L/14 embeddings. Steps run through ``training.loop.run_training`` with the
real step functions (``contrastive`` = eq. 3 with both augmentations: three encoder passes per
step; ``pretrain`` = DC-MAE: two masked passes and the decoder), so the figures include
everything a real ``neurocine fit`` step does except reading the store.

Reports seconds per step and samples per second (median over the timed steps, after warm-up
steps), and peak memory: ``torch.cuda.max_memory_allocated`` on CUDA, the process's peak RSS on
the CPU. Mixed precision: bf16 on CUDA, fp32 on the CPU (``training.mixed_precision: auto``).

Usage::

    python benchmarks/encoder_training_step.py                         # CPU: batch 2
    python benchmarks/encoder_training_step.py --batch 24              # GPU: the paper's batch
    python benchmarks/encoder_training_step.py --stage pretrain --batch 64
"""

import argparse
import csv
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

from neurocine_toolbox.config import load_config
from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
from neurocine_toolbox.models.fmri_mae import FMRIMaskedAutoencoder
from neurocine_toolbox.training.encoder_stages import contrastive_step, encoder_kwargs, pretrain_step
from neurocine_toolbox.training.loop import StageSettings, run_training


class RandomWindows(Dataset):
    """Windows and CLIP targets of a store's shapes, random values."""

    def __init__(self, n, window, columns, clip_dim, frames_per_tr=6):
        g = torch.Generator().manual_seed(0)
        self.fmri = torch.randn(n, window, columns, generator=g)
        self.text = torch.randn(n, window, clip_dim, generator=g)
        self.image = torch.randn(n, window, frames_per_tr, clip_dim, generator=g)

    def __len__(self):
        return len(self.fmri)

    def __getitem__(self, i):
        return {"fmri": self.fmri[i], "text_embeds": self.text[i], "image_embeds": self.image[i]}


class RandomRows(Dataset):
    def __init__(self, n, columns):
        self.rows = torch.randn(n, columns, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=["contrastive", "pretrain"], default="contrastive")
    parser.add_argument("--batch", type=int, help="Batch size (default: 24 on CUDA, 2 on the CPU: a step of batch 2 peaks near 15 GiB).")
    parser.add_argument("--columns", type=int, default=4192, help="Voxel columns (262 patches of 16).")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed first steps.")
    parser.add_argument("--steps", type=int, default=5, help="Timed steps.")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--json", help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    batch = args.batch or (24 if cuda else 2)
    config = load_config()  # the paper's settings
    config["training"].update(checkpoint_every=10**9, log_every=1,
                              gradient_checkpointing=args.gradient_checkpointing)
    total = args.warmup + args.steps
    section = dict(config[args.stage], steps=total, batch_size=batch, warmup_steps=0)
    if args.stage == "contrastive":
        model = FMRIEncoder(**encoder_kwargs(config, args.columns))
        dataset = RandomWindows(batch * total, config["data"]["window"], args.columns, config["encoder"]["clip_dim"])
        step, parameters = contrastive_step(section), list(model.parameters())
    else:
        model = FMRIMaskedAutoencoder(encoder_config=encoder_kwargs(config, args.columns),
                                      decoder_embed_dim=section["decoder_embed_dim"],
                                      decoder_depth=section["decoder_depth"],
                                      decoder_num_heads=section["decoder_num_heads"],
                                      mask_ratio=section["mask_ratio"])
        dataset = RandomRows(batch * total, args.columns)
        step, parameters = pretrain_step(section, 16), model.pretrained_parameters()
    n_params = sum(p.numel() for p in model.parameters())
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run_training(stage_dir=Path(tmp), model=model, parameters=parameters, dataset=dataset, step_fn=step,
                     settings=StageSettings.from_config(section), training=config["training"],
                     seed=0, progress=False)
        wall = time.perf_counter() - started
        with open(Path(tmp) / "metrics.csv", newline="") as f:
            elapsed = [float(r["seconds"]) for r in csv.DictReader(f)]
    per_step = [b - a for a, b in zip(elapsed, elapsed[1:])][args.warmup - 1:]
    seconds = statistics.median(per_step)
    figures = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "precision": "bf16" if cuda else "fp32", "stage": args.stage, "batch": batch,
        "parameters_millions": n_params / 1e6, "columns": args.columns, "window": config["data"]["window"],
        "seconds_per_step_median": seconds, "seconds_per_step_min": min(per_step),
        "seconds_per_step_max": max(per_step), "samples_per_second": batch / seconds,
        "peak_memory_gib": (torch.cuda.max_memory_allocated() if cuda
                            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30,
        "wall_seconds": wall, "gradient_checkpointing": args.gradient_checkpointing,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }
    print(f"{args.stage} step, paper-size encoder ({n_params / 1e6:.0f} M parameters), batch {batch}, "
          f"{figures['device']} {figures['precision']}:")
    print(f"  {seconds:.3f} s/step (min {min(per_step):.3f}, max {max(per_step):.3f}, {len(per_step)} steps)"
          f" = {batch / seconds:.2f} samples/s; peak memory {figures['peak_memory_gib']:.2f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
