"""Seeded random draws that work for tensors on any device: the one rule every stage follows.

The rule: **draw on the generator's device, then move the result to where it is used.** A CUDA
kernel refuses a CPU ``torch.Generator`` (``torch.rand(..., generator=cpu_generator,
device="cuda")`` raises), and a CUDA generator would give other numbers than the CPU one. Every
stage seeds a CPU generator from ``(seed, step, rank)``, so drawing on the CPU and moving keeps
the numbers the same on any device, and keeps CPU resume bit-exact. Masks, timesteps, noise,
condition dropout, augmentations and sampling all draw through these functions (or through
diffusers' ``randn_tensor``, which follows the same rule).
"""

import torch


def _draw_device(generator):
    return generator.device if generator is not None else torch.device("cpu")


def rand(shape, generator=None, device=None, dtype=torch.float32):
    """Uniform [0, 1) values of ``shape``, drawn on ``generator``'s device and moved to ``device``."""
    values = torch.rand(tuple(shape), generator=generator, device=_draw_device(generator), dtype=dtype)
    return values.to(device) if device is not None else values


def randn(shape, generator=None, device=None, dtype=torch.float32):
    """Standard normal values of ``shape``, drawn on ``generator``'s device and moved to ``device``."""
    values = torch.randn(tuple(shape), generator=generator, device=_draw_device(generator), dtype=dtype)
    return values.to(device) if device is not None else values


def randint(low, high, shape, generator=None, device=None):
    """Integers in ``[low, high)`` of ``shape`` (int64), drawn on ``generator``'s device and moved."""
    values = torch.randint(low, high, tuple(shape), generator=generator, device=_draw_device(generator))
    return values.to(device) if device is not None else values


def randperm(n, generator=None, device=None):
    """A random permutation of ``0 … n−1``, drawn on ``generator``'s device and moved to ``device``."""
    values = torch.randperm(n, generator=generator, device=_draw_device(generator))
    return values.to(device) if device is not None else values
