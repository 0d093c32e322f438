"""Learned per-subject adapters (``alignment.method: adapter``), as MindEye2 maps each subject
into a shared space with a linear layer of its own.

Here each subject gets one square linear map per visual area (the pieces of
:func:`~.subject_map.parcels`), starting at the identity, so training starts from the anatomical
alignment and a shared column keeps its grayordinate. They are trained with the encoder in the
contrastive stage, with a penalty on their squared distance from the identity
(``alignment.adapter_penalty``), then frozen: the later stages read the subjects' fMRI through them.
"""

import numpy as np
import torch
from torch import nn

from .subject_map import SubjectMap, parcels


class SubjectAdapters(nn.Module):
    """One block-diagonal linear map per subject: ``[N, w, V]`` → ``[N, w, V]``.

    Parameters
    ----------
    n_subjects : int
    voxel_rois : sequence of str
        The store's column labels; padding (``""``) passes through unchanged.
    """

    def __init__(self, n_subjects, voxel_rois):
        super().__init__()
        self.pieces = parcels(voxel_rois)
        for i, (_, columns) in enumerate(self.pieces):
            self.register_buffer(f"columns_{i}", torch.from_numpy(columns), persistent=False)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.eye(len(c)).repeat(n_subjects, 1, 1)) for _, c in self.pieces)

    def forward(self, fmri, subject):
        out = torch.empty_like(fmri)  # every row is written below: each belongs to one subject
        subject = subject.to(fmri.device).long()
        # One matmul per subject present, not a copy of each area's matrix per window: on the CPU
        # gathering ``weight[subject]`` cost more than the encoder itself.
        for s in torch.unique(subject).tolist():
            rows = (subject == s).nonzero(as_tuple=True)[0]
            windows = fmri[rows]
            adapted = windows.clone()
            for i, weight in enumerate(self.weights):
                columns = getattr(self, f"columns_{i}")
                # row-vector convention, as SubjectMap: shared = x @ W
                adapted[..., columns] = windows[..., columns] @ weight[s].to(fmri)
            out[rows] = adapted
        return out

    def distance_from_identity(self):
        """Sum over subjects and pieces of ``‖W − I‖²``."""
        total = 0.0
        for weight in self.weights:
            eye = torch.eye(weight.shape[-1], device=weight.device, dtype=weight.dtype)
            total = total + ((weight - eye) ** 2).sum()
        return total

    def subject_maps(self, n_columns):
        """Each subject's adapter as a :class:`SubjectMap`, in subject order."""
        n_subjects = self.weights[0].shape[0] if len(self.weights) else 0
        maps = []
        for s in range(n_subjects):
            blocks = [(c, w[s].detach().cpu().numpy().astype(np.float32)) for (_, c), w in zip(self.pieces, self.weights)]
            maps.append(SubjectMap.from_blocks(blocks, n_columns))
        return maps


class AdaptedEncoder(nn.Module):
    """The fMRI encoder behind the subjects' adapters: one module for the training loop.

    ``forward(fmri, subject=..., **kwargs)`` is the encoder's forward on the adapted windows;
    ``config`` and ``num_patches`` are the encoder's (spatial masking in token space reads them).
    """

    def __init__(self, encoder, adapters):
        super().__init__()
        self.encoder = encoder
        self.adapters = adapters

    @property
    def config(self):
        return self.encoder.config

    @property
    def num_patches(self):
        return self.encoder.num_patches

    def forward(self, fmri, subject, **kwargs):
        return self.encoder(self.adapters(fmri, subject), **kwargs)
