"""The baselines every decoded clip is scored beside: what a reviewer asks a decoder to beat.

- **flat** (:func:`flat_clips`): every frame mid-grey (128, 128, 128). It knows nothing, and on
  real clips it wins SSIM against every published decoder: whatever beats it only on SSIM has
  shown nothing specific to the stimulus.
- **mean clip**: the mean training clip (:class:`MeanClipBaseline`), or, where nothing is a
  training split (clips from files), each clip's leave-one-out mean of the other clips' truth
  (:func:`leave_one_out_mean_clips`).
- **shuffled** (:func:`shuffled_partners`): each decoded clip against the truth of another clip of
  its run, half a run away (far in time, so no shared signal): the decoder's own outputs at
  chance, and so its own floor; it moves with the decoded clips, so every decoded row has its own.
- **latent ridge** (:class:`RidgeLatentBaseline`): ridge from the fMRI window to the clip's VAE
  latents, decoded by the run's VAE.
- **pixel ridge** (:class:`PixelRidgeBaseline`): the standard linear pixel decoder, ridge from the
  fMRI window to the principal components of low-resolution frames, upsampled.

Both ridges are :class:`~neurocine_toolbox.training.ridge.WindowRidge` (himalaya, a penalty per
target chosen by cross-validation over training movies). Everything here learns from the
training split only and goes through the same metrics as the decoder.
"""

import numpy as np

from ..errors import NeurocineError
from ..training.ridge import KERNEL_ALPHAS, WindowRidge
from .time_series_statistics import check_runs, run_bounds, shift_partners


def shuffled_partners(runs):
    """For each clip, the clip half its run away (circularly): whose truth it is scored against.

    Parameters
    ----------
    runs : array_like of int ``[N]``
        The run of each clip, clips in time order, each run's clips consecutive.

    Returns
    -------
    ndarray of int ``[N]``
        A run of one clip is paired with itself (nothing else is far enough in time).
    """
    runs = check_runs(runs)
    offsets = np.array([[(stop - start) // 2 for start, stop in run_bounds(runs)]])
    return shift_partners(runs, offsets)[0]


#: The flat baseline's grey level (every channel).
FLAT_GREY = 128


def flat_clips(shape, grey=FLAT_GREY):
    """One clip of flat grey frames, uint8 ``[1, F, H, W, 3]`` for ``shape`` ``(F, H, W)`` (or any clip shape)."""
    frames, height, width = tuple(shape)[-4:-1] if len(shape) >= 4 else tuple(shape)
    return np.full((1, frames, height, width, 3), grey, np.uint8)


def leave_one_out_mean_clips(truth):
    """For each clip, the per-pixel mean of the *other* clips' truth at each frame position, as uint8.

    The mean-clip baseline where no training split is known (peers' gifs, folders of clips):
    clip i's prediction never sees clip i.

    Parameters
    ----------
    truth : uint8 ``[N, F, H, W, 3]``, N ≥ 2

    Returns
    -------
    uint8 ``[N, F, H, W, 3]``
    """
    truth = _check_clips(truth, "true clips")
    if len(truth) < 2:
        raise NeurocineError("a leave-one-out mean clip needs at least 2 clips")
    total = truth.sum(axis=0, dtype=np.float64)
    out = np.empty_like(truth)
    for i, clip in enumerate(truth):  # one clip at a time: Wen-size sets never sit in memory as floats
        out[i] = np.round((total - clip) / (len(truth) - 1)).astype(np.uint8)
    return out


def _check_clips(clips, what):
    clips = np.asarray(clips)
    if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
        raise NeurocineError(f"{what} must be uint8 RGB clips [N, frames, H, W, 3], not {clips.dtype} {clips.shape}")
    return clips


class MeanClipBaseline:
    """Predicts every clip as the mean training clip (per frame position and pixel).

    Follows the estimator contract: ``fit`` learns ``mean_clip_``, ``predict`` needs it.
    """

    def fit(self, clips, sample_weight=None):
        """Learn the mean clip.

        Parameters
        ----------
        clips : uint8 ``[N, F, H, W, 3]``
            Training clips (a split's windows' clips, at the decoder's resolution).
        sample_weight : array_like ``[N]``, optional
            How many times each clip counts (e.g. how many windows show it).

        Returns
        -------
        self
        """
        for name in ("mean_clip_", "n_clips_", "_total"):
            self.__dict__.pop(name, None)
        return self.partial_fit(clips, sample_weight)

    def partial_fit(self, clips, sample_weight=None):
        """Add a chunk of training clips (so a Wen-size split never sits in memory as floats).

        Parameters and returns as :meth:`fit`; ``mean_clip_`` is the mean of every chunk so far.
        """
        clips = _check_clips(clips, "training clips")
        w = np.ones(len(clips)) if sample_weight is None else np.asarray(sample_weight, float)
        if w.shape != (len(clips),) or (w < 0).any():
            raise NeurocineError(f"sample_weight must be {len(clips)} non-negative numbers, not shape {w.shape}")
        part = np.tensordot(w, clips, axes=(0, 0))
        total = getattr(self, "_total", None)
        if total is not None and total.shape != part.shape:
            raise NeurocineError(f"training clips of shape {clips.shape[1:]} after clips of {total.shape}")
        self._total = part if total is None else total + part
        self.n_clips_ = getattr(self, "n_clips_", 0.0) + float(w.sum())
        if self.n_clips_ > 0:
            self.mean_clip_ = np.round(self._total / self.n_clips_).astype(np.uint8)
        return self

    def predict(self, n):
        """``n`` copies of the mean clip, uint8 ``[n, F, H, W, 3]``."""
        if not hasattr(self, "mean_clip_"):
            raise NeurocineError("MeanClipBaseline is not fitted (or saw only zero weights): call fit first")
        return np.repeat(self.mean_clip_[None], int(n), axis=0)


class RidgeLatentBaseline:
    """Ridge regression from flattened fMRI windows to flattened clip latents.

    A :class:`~neurocine_toolbox.training.ridge.WindowRidge`: a penalty per latent, chosen by
    cross-validation over training movies (whole movies held out, their viewings together).

    Parameters
    ----------
    alphas : sequence of float
    n_folds : int
        At most this many folds (fewer when there are fewer movies).
    """

    def __init__(self, alphas=KERNEL_ALPHAS, n_folds=5):
        self.alphas = alphas
        self.n_folds = n_folds

    def fit(self, fmri, latents, movies):
        """Fit on training windows.

        Parameters
        ----------
        fmri : float ``[N, ...]``
            Training fMRI windows (flattened here).
        latents : float ``[N, ...]``
            Their clips' latents.
        movies : ``[N]``
            The movie of each window: the cross-validation's groups.

        Returns
        -------
        self
        """
        self.ridge_ = WindowRidge(self.alphas, self.n_folds, "the latent ridge baseline").fit(fmri, latents, movies)
        self.alphas_, self.cv_r2_ = self.ridge_.alphas_, self.ridge_.cv_r2_
        return self

    def predict(self, fmri):
        """Predicted latents ``[N, *latent_shape]`` (float32)."""
        if not hasattr(self, "ridge_"):
            raise NeurocineError("RidgeLatentBaseline is not fitted: call fit first")
        return self.ridge_.predict(fmri)


def downsample_clips(clips, size):
    """Clips averaged down to ``size``² pixels (area interpolation), float32 ``[N, F, size, size, 3]``."""
    import torch

    clips = np.asarray(clips)
    n, frames, height, width, _ = clips.shape
    x = torch.from_numpy(clips.reshape(n * frames, height, width, 3)).permute(0, 3, 1, 2).float()
    low = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return low.permute(0, 2, 3, 1).reshape(n, frames, size, size, 3).numpy()


def upsample_clips(low, height, width):
    """Low-resolution float clips ``[N, F, s, s, 3]`` upsampled bilinearly to uint8 ``[N, F, height, width, 3]``."""
    import torch

    low = np.asarray(low, np.float32)
    n, frames, size, _, _ = low.shape
    x = torch.from_numpy(low.reshape(n * frames, size, size, 3)).permute(0, 3, 1, 2)
    up = torch.nn.functional.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    up = up.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    return up.reshape(n, frames, height, width, 3).numpy()


class PixelRidgeBaseline:
    """The standard linear pixel decoder: ridge from the fMRI window to low-resolution frames.

    Each training clip is averaged down to ``size``² pixels per frame (:meth:`low_resolution`,
    which callers apply chunk by chunk, so that Wen-size training clips never sit in memory at
    full size); a PCA of these (fitted on the training clips) keeps ``n_components``; a
    :class:`~neurocine_toolbox.training.ridge.WindowRidge` (a penalty per component, chosen over
    training movies) predicts them from the fMRI window; :meth:`predict` maps the prediction
    back to pixels and upsamples it bilinearly.

    Parameters
    ----------
    size : int
        Low-resolution side in pixels (at most the clips' own).
    n_components : int
        Principal components predicted (fewer when there are fewer training clips).
    alphas : sequence of float
    n_folds : int
    seed : int
        The PCA's seed.
    """

    def __init__(self, size=16, n_components=64, alphas=KERNEL_ALPHAS, n_folds=5, seed=0):
        self.size = size
        self.n_components = n_components
        self.alphas = alphas
        self.n_folds = n_folds
        self.seed = seed

    def low_resolution(self, clips):
        """uint8 clips ``[N, F, H, W, 3]`` averaged down to float32 ``[N, F, s, s, 3]``, s = min(size, H, W)."""
        clips = _check_clips(clips, "clips")
        return downsample_clips(clips, int(min(self.size, clips.shape[2], clips.shape[3])))

    def fit(self, fmri, low_clips, movies):
        """Fit on training windows and their clips at low resolution.

        Parameters
        ----------
        fmri : float ``[N, ...]``
        low_clips : float ``[N, F, s, s, 3]``
            Each window's clip through :meth:`low_resolution`.
        movies : ``[N]``

        Returns
        -------
        self
        """
        from sklearn.decomposition import PCA

        low = np.asarray(low_clips, np.float32)
        if low.ndim != 5 or low.shape[2] != low.shape[3] or low.shape[-1] != 3:
            raise NeurocineError(f"the pixel ridge fits low-resolution clips [N, F, s, s, 3], not {low.shape}")
        self.low_shape_ = low.shape[1:]
        flat = low.reshape(len(low), -1)
        rank = int(min(self.n_components, len(flat) - 1, flat.shape[1]))
        self.pca_ = PCA(n_components=rank, random_state=self.seed).fit(flat)
        self.ridge_ = WindowRidge(self.alphas, self.n_folds, "the pixel ridge baseline").fit(
            fmri, self.pca_.transform(flat), movies)
        self.alphas_, self.cv_r2_ = self.ridge_.alphas_, self.ridge_.cv_r2_
        self.explained_by_components_ = float(self.pca_.explained_variance_ratio_.sum())
        return self

    def predict(self, fmri, height, width):
        """Predicted clips, uint8 ``[N, F, height, width, 3]``."""
        if not hasattr(self, "ridge_"):
            raise NeurocineError("PixelRidgeBaseline is not fitted: call fit first")
        low = self.pca_.inverse_transform(self.ridge_.predict(fmri)).reshape(-1, *self.low_shape_)
        return upsample_clips(low, height, width)
