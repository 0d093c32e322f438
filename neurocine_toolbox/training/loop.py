"""The one accelerate training loop every stage uses.

``prepare`` → ``accumulate`` → ``backward``; only the main process logs and renames checkpoints.
What makes ``--resume`` continue bit for bit on the CPU:

- the batches of step ``s`` are a function of ``(seed, s)`` alone (:class:`StepBatchSampler`);
- each step's randomness (masks, augmentations, timesteps, noise, dropout) is seeded from
  ``(seed, s, rank)`` (:mod:`..utils.seeds`): a CPU generator whose draws are moved to the device
  (:mod:`..utils.device_random`), so the numbers do not depend on the device, and several
  processes draw different masks and noise for their different rows;
- checkpoints hold the model, the optimiser and the step; the learning-rate schedule is rebuilt
  by stepping it to the resumed step.

Checkpoints (``checkpoints/step-0000100``) are written under a temporary name and renamed into
place, so an interrupted run never leaves one that looks complete.
"""

import csv
import logging
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs
from diffusers.optimization import get_scheduler
from torch.utils.data import DataLoader, Sampler

from ..errors import NeurocineError
from ..utils.device_random import randperm
from ..utils.processes import process_state
from ..utils.progress import progress_bar
from ..utils.seeds import step_seed

log = logging.getLogger("neurocine")

CHECKPOINT_PREFIX = "step-"


@dataclass
class StageSettings:
    """Optimisation settings of one stage (a config section such as ``pretrain``)."""

    steps: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_steps: int

    @classmethod
    def from_config(cls, section):
        return cls(int(section["steps"]), int(section["batch_size"]), float(section["learning_rate"]),
                   float(section["weight_decay"]), int(section["warmup_steps"]))


def step_generator(seed, micro_step, rank=0):
    """The CPU generator of one micro-step's draws in process ``rank`` (masks, noise, timesteps)."""
    return torch.Generator().manual_seed(step_seed(seed, micro_step, 4, rank))


def batch_for_step(step, n_items, batch_size, seed):
    """Indices of the batch of ``step``: epoch-wise seeded permutations, the last partial batch dropped."""
    batch_size = min(batch_size, n_items)
    per_epoch = n_items // batch_size
    epoch, position = divmod(step, per_epoch)
    order = randperm(n_items, torch.Generator().manual_seed(step_seed(seed, epoch, 1)))
    return order[position * batch_size:(position + 1) * batch_size].tolist()


def check_equal_shards(batch_size, world, setting=None):
    """Refuse a global batch that ``world`` processes cannot share equally (one line naming ``setting``)."""
    if world > 1 and batch_size % world:
        where = f"{setting} " if setting else "a batch of "
        raise NeurocineError(f"{where}{batch_size} cannot be shared equally by {world} processes (the contrastive "
                             f"losses gather equal shards): choose a multiple of {world}")


class StepBatchSampler(Sampler):
    """Yields the batches of steps ``first … last − 1``, this process's share of each.

    Parameters
    ----------
    n_items, batch_size, seed : int
        ``batch_size`` is the global batch, shared among ``world`` processes.
    first, last : int
        Micro-steps to yield.
    rank, world : int
        This process and the number of processes.
    equal_shards : bool
        Require every process to get as many rows (contrastive losses gather equal shards:
        :mod:`.distributed`); otherwise a batch that does not divide is shared unevenly.
    """

    def __init__(self, n_items, batch_size, seed, first, last, rank=0, world=1, equal_shards=False):
        if n_items < world:
            raise NeurocineError(f"{n_items} training samples cannot be shared by {world} processes")
        if equal_shards:
            check_equal_shards(min(batch_size, n_items), world)
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.first, self.last, self.rank, self.world = first, last, rank, world

    def __iter__(self):
        for step in range(self.first, self.last):
            yield batch_for_step(step, self.n_items, self.batch_size, self.seed)[self.rank::self.world]

    def __len__(self):
        return self.last - self.first


def make_accelerator(training):
    """An ``Accelerator`` from the ``training`` config section (``mixed_precision: auto`` → bf16 on CUDA)."""
    precision = training["mixed_precision"]
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() else "no"
    # Stages freeze parts of their models (e.g. the projection heads in pre-training).
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    # The process group is set up once per program, with neurocine's timeout and, on a machine
    # without GPUs, over gloo (processes launched by torchrun then train together).
    process_state()
    return Accelerator(mixed_precision=precision, kwargs_handlers=[ddp], cpu=not torch.cuda.is_available(),
                       gradient_accumulation_steps=int(training["gradient_accumulation_steps"]))


def checkpoints(folder):
    """Complete checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


class MetricsLog:
    """``metrics.csv`` (one row per logged step), plus TensorBoard events if asked; main process only."""

    def __init__(self, folder, kind, resume_step, enabled):
        self.enabled = enabled
        self.path = Path(folder) / "metrics.csv"
        self.rows = []
        self.kind = kind
        self.tensorboard = None
        if not enabled:
            return
        if kind == "tensorboard":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise NeurocineError("training.logger is tensorboard but tensorboard is not installed "
                                     "(pip install tensorboard)")
            self.tensorboard = SummaryWriter(str(Path(folder) / "tensorboard"), purge_step=resume_step + 1)
        elif kind != "csv":
            raise NeurocineError(f"training.logger must be csv or tensorboard, not '{kind}'")
        if self.path.is_file():  # keep what the resumed run had logged up to its checkpoint
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]

    def write(self, row):
        if not self.enabled:
            return
        self.rows.append({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != "step":
                    self.tensorboard.add_scalar(key, value, row["step"])
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)

    def close(self):
        if self.tensorboard is not None:
            self.tensorboard.close()


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _finite_everywhere(accelerator, loss):
    """Whether the loss is finite in every process (each stops together: none waits in an all-reduce)."""
    finite = math.isfinite(loss.item())
    if accelerator.num_processes == 1:
        return finite
    flag = torch.tensor([0.0 if finite else 1.0], device=accelerator.device)
    return accelerator.reduce(flag, "sum").item() == 0


def _save_checkpoint(accelerator, folder, step, keep):
    final = Path(folder) / f"{CHECKPOINT_PREFIX}{step:07d}"
    tmp = Path(folder) / f".{final.name}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in checkpoints(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def run_training(*, stage_dir, model, parameters, dataset, step_fn, settings, training, seed,
                 resume=False, progress=True, collate_fn=None, accelerator=None, equal_shards=False):
    """Train ``model`` for ``settings.steps`` optimiser steps.

    Parameters
    ----------
    stage_dir : Path
        The stage's folder: ``checkpoints/`` and ``metrics.csv`` go here.
    model : torch.nn.Module
    parameters : list of Parameter, or of param-group dicts
        What the optimiser updates (a group may set its own ``weight_decay``).
        What the optimiser updates (AdamW, cosine schedule with linear warm-up).
    dataset : torch Dataset
    step_fn : callable ``(model, batch, generator) -> (loss, dict of float)``
        One micro-step's loss on this process's rows; ``generator`` (a CPU generator) is seeded
        from ``(seed, step, rank)``. Contrastive losses gather their inputs across processes
        (:func:`~neurocine_toolbox.training.distributed.gather_batch`).
    settings : StageSettings
    training : dict
        The config's ``training`` section.
    seed : int
    resume : bool
        Continue from the newest checkpoint in ``stage_dir/checkpoints``.
    progress : bool
    collate_fn : callable, optional
    accelerator : Accelerator, optional
    equal_shards : bool
        Every process gets as many rows of each batch (stages whose losses gather across
        processes); see :class:`StepBatchSampler`.

    Returns
    -------
    model : torch.nn.Module
        Unwrapped, trained.
    metrics : dict
        The last logged row.
    """
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    accelerator = accelerator or make_accelerator(training)
    accum = accelerator.gradient_accumulation_steps
    if training.get("gradient_checkpointing") and hasattr(model, "enable_gradient_checkpointing"):
        model.enable_gradient_checkpointing()
    torch.manual_seed(step_seed(seed, 0, 3))
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=settings.warmup_steps,
                              num_training_steps=settings.steps)

    ckpt_dir = stage_dir / "checkpoints"
    start = 0
    found = checkpoints(ckpt_dir)
    if resume and found:
        accelerator.load_state(str(found[-1]))
        start = int(found[-1].name[len(CHECKPOINT_PREFIX):])
        log.info("%s: resuming from %s", stage_dir.name, found[-1])
    elif found:
        raise NeurocineError("holds checkpoints of an earlier run: add --resume to continue it, "
                             "or --force to start over", ckpt_dir)
    with warnings.catch_warnings():  # fast-forwarding the schedule, before any optimiser step
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(start):
            scheduler.step()

    sampler = StepBatchSampler(len(dataset), settings.batch_size, seed, start * accum, settings.steps * accum,
                               accelerator.process_index, accelerator.num_processes, equal_shards)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn,
                        num_workers=int(training.get("num_workers", 0)))
    metrics_log = MetricsLog(stage_dir, training.get("logger", "csv"), start, accelerator.is_main_process)
    every = int(training["checkpoint_every"])
    log_every = int(training.get("log_every", 1))
    bar = progress_bar(total=settings.steps, desc=stage_dir.name, unit="step",
                       enabled=progress and accelerator.is_main_process)
    bar.update(start)
    model.train()
    micro, sums, started = start * accum, {}, time.perf_counter()
    last = {}
    try:
        for batch in loader:
            batch = _to_device(batch, accelerator.device)
            rank = accelerator.process_index
            generator = step_generator(seed, micro, rank)
            torch.manual_seed(step_seed(seed, micro, 5, rank))  # dropout and anything else drawing globally
            with accelerator.accumulate(model):
                loss, parts = step_fn(model, batch, generator)
                if not _finite_everywhere(accelerator, loss):
                    raise NeurocineError(f"the {stage_dir.name} loss became {loss.item()} at step "
                                         f"{micro // accum} (in at least one process); lower the learning rate")
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()
            for key, value in {"loss": loss.item(), **parts}.items():
                sums[key] = sums.get(key, 0.0) + value / accum
            micro += 1
            if micro % accum:
                continue
            scheduler.step()
            step = micro // accum
            bar.update(1)
            if step % log_every == 0 or step == settings.steps:
                last = {"step": step, **{k: v for k, v in sums.items()},
                        "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - started}
                metrics_log.write(last)
                bar.set_postfix(loss=f"{sums['loss']:.4f}")
            sums = {}
            if step % every == 0 and step < settings.steps:
                _save_checkpoint(accelerator, ckpt_dir, step, int(training.get("keep_checkpoints", 2)))
    finally:
        bar.close()
        metrics_log.close()
    accelerator.wait_for_everyone()
    return accelerator.unwrap_model(model), last
