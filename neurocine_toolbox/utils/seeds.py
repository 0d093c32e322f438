"""Seeds derived from the config's seed: one per ``(seed, step, stream, rank)``.

Training, decoding and anything else that draws at many steps take each step's seed from here, so
any step's randomness can be reproduced alone (what makes ``--resume`` and a decode of one clip
give the numbers of the whole run). Streams in use: 1 the batch order of an epoch, 2 a model's
initial weights, 3 the global seed at the start of a training loop, 4 a training step's draws
(masks, noise, timesteps), 5 a training step's global draws (dropout), 6 sampling a decoded clip.
"""


def step_seed(seed, step, stream=0, rank=0):
    """A 63-bit seed for ``(seed, step, stream, rank)``: every step's randomness, reproducible alone.

    ``rank`` is the process (0 in a single process, which keeps the seeds of earlier versions).
    """
    return (int(seed) * 1_000_003 + int(step) * 7_919 + stream + int(rank) * 1_000_000_007) % (2**63 - 1)
