"""Contrastive losses over the global batch when training runs in several processes.

Under ``accelerate launch`` each process holds a shard of the batch. A contrastive loss computed
on one shard sees only that shard's rows as negatives (4 processes, batch 24: 6 candidates
instead of 24). :func:`gather_batch` concatenates a tensor's shards from every process, in
rank order, with gradients flowing back to each process's own rows
(``torch.distributed.nn.functional.all_gather``), so every process computes the same loss: the
global batch's.

Why the gradient comes out right: every process computes the same global loss L; the backward
of ``all_gather`` sums, over processes, the gradient each computed for a shard, so a process's
rows get W·∂L/∂rows (W processes); DDP then averages the parameter gradients over the W
processes, which leaves exactly ∂L/∂θ — the single-process gradient of the same global batch.
"""

import torch
import torch.distributed as dist


def world_size():
    """Number of processes in the default group (1 when torch.distributed is not in use)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_batch(tensor):
    """The rows of ``tensor`` from every process, concatenated in rank order; differentiable.

    Parameters
    ----------
    tensor : Tensor ``[n, ...]``
        This process's shard; every process must pass the same shape.

    Returns
    -------
    Tensor ``[W·n, ...]``
        ``tensor`` itself in a single process.
    """
    if world_size() == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(tensor.contiguous()))
