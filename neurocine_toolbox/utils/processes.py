"""Which process this is when a command runs under ``torchrun`` or ``accelerate launch``.

accelerate only sets up several processes on the CPU (gloo) when told that it runs on the CPU;
otherwise each process launched on a machine without a GPU would believe it is alone, and all
of them would train and write the same files. :func:`process_state` tells it, and
:func:`check_launch` refuses a launch of several processes that did not form one group.
"""

import os
from datetime import timedelta

import torch

from ..errors import NeurocineError


#: How long a process waits for the others at a barrier or collective. NCCL's default (10 min)
#: is shorter than what the main process may do alone: caching a training split's latents,
#: writing a test split's decoded frames and scoring them.
PROCESS_GROUP_TIMEOUT = timedelta(hours=4)


def process_state():
    """accelerate's ``PartialState``: one per program, on the CPU (gloo) when there is no GPU."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available(), timeout=PROCESS_GROUP_TIMEOUT)


def check_launch(state=None):
    """Stop when the launcher started several processes but they did not form one group.

    Raises
    ------
    NeurocineError
        ``WORLD_SIZE`` (set by ``torchrun`` / ``accelerate launch``) says N > 1 processes, yet
        this one sees itself alone.
    """
    state = state or process_state()
    launched = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if launched > 1 and state.num_processes != launched:
        raise NeurocineError(f"{launched} processes were launched but accelerate sees {state.num_processes}: "
                             "on a machine without GPUs launch them with torchrun --nproc_per_node N "
                             "(accelerate launch --cpu starts only one)")
    return state


def end_processes():
    """Leave the process group cleanly at the end of a command (gloo may abort at exit otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
