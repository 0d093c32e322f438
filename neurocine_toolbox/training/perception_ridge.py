"""The perception reconstructor's estimator: reduced-rank ridge from fMRI windows to clip latents.

A clip's latents are many (24,576 for six 256² frames under SD's VAE); a ridge to each of them
would hold 8,384 × 24,576 coefficients at Wen scale (824 MB) and fit them once per alpha and fold.
The latents of natural clips are strongly correlated, so the regression predicts their first
``rank`` principal components instead (scikit-learn's ``PCA``), with scikit-learn's ``Ridge``;
alpha is chosen by ``GridSearchCV`` with ``GroupKFold`` over the training runs (never over
windows: neighbouring windows overlap in time). Scored by the latents' squared error, so
components count by their variance.
"""

import logging

import numpy as np

from ..errors import NeurocineError

log = logging.getLogger("neurocine")


def ridge_training_data(fmri, latents, runs, what):
    """Flattened float32 ``x [N, -1]``, ``y [N, -1]`` and ``runs``, checked for a ridge chosen by CV over runs.

    Raises
    ------
    NeurocineError
        Lengths that differ, NaN or infinite values, or fewer than 2 runs (one line naming ``what``).
    """
    x = np.asarray(fmri, np.float32).reshape(len(fmri), -1)
    y = np.asarray(latents, np.float32).reshape(len(latents), -1)
    runs = np.asarray(runs)
    if not len(x) == len(y) == len(runs):
        raise NeurocineError(f"{len(x)} fMRI windows, {len(y)} latents and {len(runs)} run labels differ")
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise NeurocineError(f"{what}'s training data hold NaN or infinite values")
    n_runs = len(np.unique(runs))
    if n_runs < 2:
        raise NeurocineError(f"{what} needs at least 2 training runs to choose its ridge penalty by "
                             f"cross-validation over runs; the training split has {n_runs}")
    return x, y, runs


class PerceptionRidge:
    """Ridge regression from flattened fMRI windows to the principal components of clip latents.

    Parameters
    ----------
    rank : int
        Latent components predicted (fewer when there are fewer training windows or latents).
    alphas : sequence of float
        Ridge penalties tried.
    n_folds : int
        At most this many folds over runs.
    seed : int
        The randomized PCA's seed.
    """

    def __init__(self, rank=256, alphas=(1e2, 1e3, 1e4, 1e5, 1e6), n_folds=5, seed=0):
        self.rank = rank
        self.alphas = alphas
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, fmri, latents, runs):
        """Fit on the training windows.

        Parameters
        ----------
        fmri : float ``[N, w, V]``
        latents : float ``[N, C, F, h, w]``
            The latents of each window's clip.
        runs : int ``[N]``
            Each window's run: the groups of the cross-validation.

        Returns
        -------
        self
        """
        from sklearn.decomposition import PCA
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GridSearchCV, GroupKFold

        x, y, runs = ridge_training_data(fmri, latents, runs, "the perception reconstructor")
        n_runs = len(np.unique(runs))
        rank = int(min(self.rank, len(y) - 1, y.shape[1]))
        self.pca_ = PCA(n_components=rank, svd_solver="randomized" if rank < min(y.shape) // 2 else "full",
                        random_state=self.seed).fit(y)
        scores = self.pca_.transform(y)
        search = GridSearchCV(Ridge(), {"alpha": [float(a) for a in self.alphas]},
                              cv=GroupKFold(min(int(self.n_folds), n_runs)), scoring="neg_mean_squared_error")
        search.fit(x, scores, groups=runs)
        total = float(y.var(axis=0).sum())
        outside = total - float(self.pca_.explained_variance_.sum())  # what no prediction in the basis reaches
        # Share of the latents' variance the held-out runs' predictions explain, for each alpha.
        self.cv_r2_ = {float(a): 1.0 - (float(-s) * rank + outside) / total
                       for a, s in zip(search.cv_results_["param_alpha"], search.cv_results_["mean_test_score"])}
        self.alpha_ = float(search.best_params_["alpha"])
        self.ridge_ = search.best_estimator_
        self.explained_by_rank_ = float(self.pca_.explained_variance_ratio_.sum())
        self.latent_shape_ = tuple(int(s) for s in np.shape(latents)[1:])
        self.n_features_in_ = x.shape[1]
        return self

    def _check_fitted(self):
        if not hasattr(self, "ridge_"):
            raise NeurocineError("PerceptionRidge is not fitted: call fit first")

    def linear_map(self):
        """``coef [rank, n_in]``, ``intercept [rank]``, ``components [rank, n_out]``, ``mean [n_out]``."""
        self._check_fitted()
        coef = np.atleast_2d(self.ridge_.coef_)
        intercept = np.broadcast_to(self.ridge_.intercept_, (len(coef),))
        return coef, intercept, self.pca_.components_, self.pca_.mean_

    def predict(self, fmri):
        """Predicted latents ``[N, *latent_shape]`` (float32)."""
        self._check_fitted()
        x = np.asarray(fmri, np.float32).reshape(len(fmri), -1)
        return self.pca_.inverse_transform(self.ridge_.predict(x)).astype(np.float32).reshape(
            len(x), *self.latent_shape_)
