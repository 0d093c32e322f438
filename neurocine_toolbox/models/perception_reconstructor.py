"""The perception reconstructor: fMRI window → the VAE latents of a blurry clip (the low-level pathway).

A linear map, ``latents = (x · coefᵀ + intercept) · components + mean``: a ridge regression from
the flattened window to the principal components of the training clips' latents
(:class:`~neurocine_toolbox.training.perception_ridge.PerceptionRidge` fits it), held as a diffusers
model so that the pipeline saves and loads it with its other parts. Its clip is blurry (the
regression predicts the expected latents given the fMRI); the pipeline starts diffusion part-way
from it (SDEdit), as NeuroClips starts from its blurry video.
"""

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class PerceptionReconstructor(ModelMixin, ConfigMixin):
    """Linear fMRI → latents map through a low-rank basis of the latents.

    Parameters
    ----------
    window : int
        TRs per fMRI window.
    num_columns : int
        fMRI columns (voxels) per TR.
    latent_shape : sequence of int
        ``(C, F, h, w)``: the scaled latents of one clip, as the UNet reads them.
    rank : int
        Number of latent components the regression predicts.
    """

    @register_to_config
    def __init__(self, window, num_columns, latent_shape, rank):
        super().__init__()
        n_in, n_out = int(window) * int(num_columns), int(np.prod(latent_shape))
        # Weights, not trained by gradient: buffers that save_pretrained writes and loads.
        self.register_buffer("coef", torch.zeros(int(rank), n_in))
        self.register_buffer("intercept", torch.zeros(int(rank)))
        self.register_buffer("components", torch.zeros(int(rank), n_out))
        self.register_buffer("mean", torch.zeros(n_out))

    @classmethod
    def from_estimator(cls, estimator, window, num_columns):
        """A reconstructor holding a fitted :class:`~neurocine_toolbox.training.perception_ridge.PerceptionRidge`."""
        coef, intercept, components, mean = estimator.linear_map()
        model = cls(window=window, num_columns=num_columns, latent_shape=list(estimator.latent_shape_),
                    rank=len(coef))
        for name, value in (("coef", coef), ("intercept", intercept), ("components", components), ("mean", mean)):
            getattr(model, name).copy_(torch.tensor(np.asarray(value, np.float32)))
        return model.eval()

    def forward(self, fmri_windows):
        """Latents ``[N, C, F, h, w]`` (float32) of the clips seen during ``fmri_windows`` ``[N, w, V]``."""
        x = fmri_windows.reshape(len(fmri_windows), -1).float()
        if x.shape[1] != self.coef.shape[1]:
            raise ValueError(f"the perception reconstructor takes windows of {self.config.window} × "
                             f"{self.config.num_columns} values, not {list(fmri_windows.shape[1:])}")
        # In float32 whatever the pipeline's dtype: a sum over thousands of voxels loses too much in bf16.
        scores = x @ self.coef.float().T + self.intercept.float()
        latents = scores @ self.components.float() + self.mean.float()
        return latents.reshape(len(x), *self.config.latent_shape)
