"""The retrieval reconstructor: fMRI window → the latents of the training clips it most resembles.

The low-level pathway's other start (``perception.method: retrieval``): a
:class:`~neurocine_toolbox.training.retrieval_prior.RetrievalPrior` held as a diffusers model, so
that the pipeline saves, loads and calls it as it does the ridge
:class:`~.perception_reconstructor.PerceptionReconstructor` (same ``forward``: windows in,
latents out). For each feature space it keeps the ridge as plain weights and the library's
features (centred, unit rows); it keeps the library's latents, and returns the mean latents of
the ``top_k`` best-scoring library windows. Its clip is a real training clip (``top_k`` 1), sharp
where the ridge's is blurry; the pipeline starts diffusion part-way from it (SDEdit).
"""

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


def _unit_rows(x):
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


class RetrievalReconstructor(ModelMixin, ConfigMixin):
    """Scores every library window space by space and averages the best ones' latents.

    Parameters
    ----------
    window : int
        TRs per fMRI window.
    num_columns : int
        fMRI columns (voxels) per TR.
    latent_shape : sequence of int
        ``(C, F, h, w)``: the scaled latents of one clip.
    spaces : sequence of str
        The feature spaces, in order.
    space_dims : sequence of int
        Features per space.
    library_size : int
        Library windows (training windows).
    top_k : int
        Library windows averaged per window.
    """

    @register_to_config
    def __init__(self, window, num_columns, latent_shape, spaces, space_dims, library_size, top_k=1):
        super().__init__()
        n_in = int(window) * int(num_columns)
        for name, dim in zip(spaces, space_dims):  # buffers: save_pretrained writes them, nothing trains them
            self.register_buffer(f"{name}_coef", torch.zeros(int(dim), n_in))
            self.register_buffer(f"{name}_intercept", torch.zeros(int(dim)))
            self.register_buffer(f"{name}_library", torch.zeros(int(library_size), int(dim)))
        self.register_buffer("library_latents", torch.zeros(int(library_size), *map(int, latent_shape)))

    @classmethod
    def from_estimator(cls, estimator, latents, window, num_columns):
        """A reconstructor holding a fitted :class:`~neurocine_toolbox.training.retrieval_prior.RetrievalPrior`
        and the latents ``[N, C, F, h, w]`` of its library windows."""
        spaces = list(estimator.ridges_)
        latents = torch.as_tensor(latents, dtype=torch.float32)
        model = cls(window=window, num_columns=num_columns, latent_shape=list(latents.shape[1:]), spaces=spaces,
                    space_dims=[estimator.library_[s].shape[1] for s in spaces], library_size=len(latents),
                    top_k=int(estimator.top_k))
        for name in spaces:
            coef, intercept = estimator.ridges_[name].linear_map()
            getattr(model, f"{name}_coef").copy_(torch.as_tensor(coef))
            getattr(model, f"{name}_intercept").copy_(torch.as_tensor(intercept))
            getattr(model, f"{name}_library").copy_(torch.as_tensor(estimator.library_[name]))  # unit rows
        model.library_latents.copy_(latents)
        return model.eval()

    def scores(self, fmri_windows):
        """Summed standardised scores ``[N, library_size]`` (as ``RetrievalPrior.scores``)."""
        x = fmri_windows.reshape(len(fmri_windows), -1).float()
        if x.shape[1] != self.config.window * self.config.num_columns:
            raise ValueError(f"the retrieval reconstructor takes windows of {self.config.window} × "
                             f"{self.config.num_columns} values, not {list(fmri_windows.shape[1:])}")
        total = 0
        for name in self.config.spaces:
            predicted = x @ getattr(self, f"{name}_coef").float().T + getattr(self, f"{name}_intercept").float()
            scores = _unit_rows(predicted) @ getattr(self, f"{name}_library").float().T
            spread = scores.std(dim=1, correction=0, keepdim=True).clamp_min(1e-12)
            total = total + (scores - scores.mean(dim=1, keepdim=True)) / spread
        return total

    def retrieve(self, fmri_windows):
        """Indices ``[N, top_k]`` of the best library windows, best first."""
        k = min(int(self.config.top_k), int(self.config.library_size))
        return torch.topk(self.scores(fmri_windows), k, dim=1).indices

    def forward(self, fmri_windows):
        """Latents ``[N, C, F, h, w]`` (float32): the mean of the best library windows' latents."""
        return self.library_latents.float()[self.retrieve(fmri_windows)].mean(dim=1)
