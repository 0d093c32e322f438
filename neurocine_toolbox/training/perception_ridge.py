"""The perception reconstructor's estimator: reduced-rank ridge from fMRI windows to clip latents.

A clip's latents are many (24,576 for six 256² frames under SD's VAE); a ridge to each of them
would hold 8,384 × 24,576 coefficients at Wen scale (824 MB) and fit them once per alpha and fold.
The latents of natural clips are strongly correlated, so the regression predicts their first
``rank`` principal components instead (scikit-learn's ``PCA``), with scikit-learn's ``Ridge``;
alpha is chosen by ``GridSearchCV`` over folds that hold out whole training movies
(:func:`.ridge.movie_folds`: never windows, which overlap in time, nor one viewing of a movie
whose other viewing is fitted). Scored by the latents' squared error, so components count by
their variance.
"""

import numpy as np

from ..errors import NeurocineError
from .ridge import movie_folds, ridge_training_data, warn_at_grid_edge


class PerceptionRidge:
    """Ridge regression from flattened fMRI windows to the principal components of clip latents.

    Parameters
    ----------
    rank : int
        Latent components predicted (fewer when there are fewer training windows or latents).
    alphas : sequence of float
        Ridge penalties tried.
    n_folds : int
        At most this many folds over movies.
    seed : int
        The randomized PCA's seed.

    Attributes
    ----------
    alpha_ : float
        The penalty chosen (a warning is logged when it is an end of ``alphas``).
    cv_r2_ : dict
        Each penalty's share of the latents' variance explained on held-out movies.
    folds_ : list of (ndarray, ndarray)
        The cross-validation's splits.
    """

    def __init__(self, rank=256, alphas=(1e2, 1e3, 1e4, 1e5, 1e6), n_folds=5, seed=0):
        self.rank = rank
        self.alphas = alphas
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, fmri, latents, movies):
        """Fit on the training windows.

        Parameters
        ----------
        fmri : float ``[N, w, V]``
        latents : float ``[N, C, F, h, w]``
            The latents of each window's clip.
        movies : ``[N]``
            Each window's movie (the store's ``stimulus``): the groups of the cross-validation.

        Returns
        -------
        self
        """
        from sklearn.decomposition import PCA
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GridSearchCV

        x, y, movies = ridge_training_data(fmri, latents, movies, "the perception reconstructor")
        rank = int(min(self.rank, len(y) - 1, y.shape[1]))
        self.pca_ = PCA(n_components=rank, svd_solver="randomized" if rank < min(y.shape) // 2 else "full",
                        random_state=self.seed).fit(y)
        scores = self.pca_.transform(y)
        self.folds_ = movie_folds(movies, self.n_folds)
        search = GridSearchCV(Ridge(), {"alpha": [float(a) for a in self.alphas]}, cv=self.folds_,
                              scoring="neg_mean_squared_error")
        search.fit(x, scores)
        total = float(y.var(axis=0).sum())
        outside = total - float(self.pca_.explained_variance_.sum())  # what no prediction in the basis reaches
        # Share of the latents' variance the held-out movies' predictions explain, for each alpha.
        self.cv_r2_ = {float(a): 1.0 - (float(-s) * rank + outside) / total
                       for a, s in zip(search.cv_results_["param_alpha"], search.cv_results_["mean_test_score"])}
        self.alpha_ = float(search.best_params_["alpha"])
        warn_at_grid_edge("the perception reconstructor", self.alpha_, self.alphas, "perception.alphas")
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
