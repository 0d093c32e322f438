"""Video clips for the decoder: the frames of one TR, paired with an fMRI window and a caption.

A clip is the frames shown during the first TR of a window (paper: 6 frames at 3 fps, one TR),
resized to the decoder's resolution; the fMRI is the window ``{v_{t+lag}, …, v_{t+lag+w−1}}``
(:class:`~neurocine_toolbox.data.dataset.FMRIWindowDataset`).
"""

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import NeurocineError
from .dataset import FMRIWindowDataset, split_window_starts
from .store import open_store


def clip_frame_indices(frames_per_tr, frames):
    """Which of a TR's stored frames make a clip of ``frames`` frames (evenly spread)."""
    if frames > frames_per_tr:
        raise NeurocineError(f"clips of {frames} frames need at least {frames} stored frames per TR, "
                             f"the store has {frames_per_tr} (prep --frames-per-tr)")
    return np.linspace(0, frames_per_tr - 1, frames).round().astype(int)


def frames_to_tensor(frames, resolution):
    """uint8 frames ``[..., H, W, 3]`` → float ``[..., 3, R, R]`` in [−1, 1] (antialiased resize)."""
    frames = torch.as_tensor(np.asarray(frames))
    lead = frames.shape[:-3]
    x = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(-1, 1).reshape(*lead, 3, resolution, resolution)


def tensor_to_frames(x):
    """Float ``[..., 3, H, W]`` in [−1, 1] → uint8 ``[..., H, W, 3]``."""
    x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def mean_training_window(path, window, lag=0):
    """The mean fMRI window of a store ``[w, V]``: the negative input of classifier-free guidance.

    Computed from the *training* store's training windows (its validation movies left out;
    DESIGN.md, scientific honesty).
    """
    with open_store(path) as store:
        starts = split_window_starts(store, window, lag)
        fmri = np.asarray(store.fmri, np.float64)
    return np.stack([fmri[starts + lag + k].mean(axis=0) for k in range(window)]).astype(np.float32)


class ClipDataset(FMRIWindowDataset):
    """fMRI windows with the latents of their first TR's clip and its caption's text states.

    Parameters
    ----------
    path : str or Path
        A store file.
    latents : Tensor ``[n_frame_rows, C, F, h, w]``
        Latents of every stored clip (:func:`~neurocine_toolbox.training.decoder_stages.cached_latents`),
        indexed by the store's frame rows.
    window, lag : int
        As :class:`~neurocine_toolbox.data.dataset.FMRIWindowDataset`.
    with_text : bool
        Also return ``text_states`` ``[77, d]`` of the first TR (needs ``neurocine embed``).
    subjects : sequence of str, optional
        Only these subjects' windows.
    """

    def __init__(self, path, latents, window=2, lag=0, with_text=True, subjects=None):
        super().__init__(path, window=window, lag=lag, with_frames=False, subjects=subjects)
        self.latents, self.with_text = latents, with_text
        with open_store(path) as store:
            if len(latents) != store.n_frame_rows:
                raise NeurocineError(f"{len(latents)} cached clip latents for {store.n_frame_rows} stored clips", path)
            if with_text:
                store.require_embeddings()

    def __getitem__(self, index):
        item = super().__getitem__(index)
        t = item["row"]
        item["latents"] = self.latents[int(self._store.frame_rows[t])].float()
        if self.with_text:
            item["text_states"] = torch.from_numpy(np.asarray(self._store.clip_text_states[t], np.float32))
        return item
