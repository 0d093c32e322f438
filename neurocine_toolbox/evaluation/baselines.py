"""The baselines every decoded clip is scored beside: what a reviewer asks a decoder to beat.

- **shuffled** (:func:`shuffled_partners`): each decoded clip against the truth of another clip of
  its run, half a run away (far in time, so no shared signal): the empirical floor of a metric.
- **mean clip** (:class:`MeanClipBaseline`): every test clip predicted as the mean training clip.
- **ridge** (:class:`RidgeLatentBaseline`): scikit-learn ridge regression from the fMRI window to
  the clip's VAE latents, alpha chosen by cross-validation over training runs (whole runs held
  out, so autocorrelated neighbours never sit on both sides), decoded by the run's VAE.

All three learn from the training split only and go through the same metrics as the decoder.
"""

import numpy as np

from ..errors import NeurocineError
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

    Alpha is chosen from ``alphas`` by scikit-learn's ``GridSearchCV`` with ``GroupKFold`` over
    the training runs (R² of the latents), then the model is refitted on every training window.

    Parameters
    ----------
    alphas : sequence of float
    n_folds : int
        At most this many folds (fewer when there are fewer runs).
    """

    def __init__(self, alphas=(1e1, 1e2, 1e3, 1e4, 1e5, 1e6), n_folds=5):
        self.alphas = alphas
        self.n_folds = n_folds

    def fit(self, fmri, latents, runs):
        """Fit on training windows.

        Parameters
        ----------
        fmri : float ``[N, ...]``
            Training fMRI windows (flattened here).
        latents : float ``[N, ...]``
            Their clips' latents (flattened here).
        runs : int ``[N]``
            The run of each window: the cross-validation's groups.

        Returns
        -------
        self
        """
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GridSearchCV, GroupKFold

        from ..training.perception_ridge import ridge_training_data

        x, y, runs = ridge_training_data(fmri, latents, runs, "the ridge baseline")
        n_runs = len(np.unique(runs))
        search = GridSearchCV(Ridge(), {"alpha": list(self.alphas)}, cv=GroupKFold(min(self.n_folds, n_runs)),
                              scoring="r2")
        search.fit(x, y, groups=runs)
        self.alpha_ = float(search.best_params_["alpha"])
        self.cv_r2_ = {float(a): float(s) for a, s in zip(search.cv_results_["param_alpha"],
                                                          search.cv_results_["mean_test_score"])}
        self.model_ = search.best_estimator_
        self.latent_shape_ = tuple(np.shape(latents)[1:])
        return self

    def predict(self, fmri):
        """Predicted latents ``[N, *latent_shape]`` (float32)."""
        if not hasattr(self, "model_"):
            raise NeurocineError("RidgeLatentBaseline is not fitted: call fit first")
        x = np.asarray(fmri, np.float32).reshape(len(fmri), -1)
        return self.model_.predict(x).astype(np.float32).reshape(len(x), *self.latent_shape_)
