"""Ridge regressions from fMRI windows, their penalties chosen by cross-validation over movies.

Shared by everything linear that learns from the training split: the perception reconstructor
(:mod:`.perception_ridge`) and evaluation's latent and pixel ridge baselines
(:mod:`neurocine_toolbox.evaluation.baselines`).

- :func:`ridge_training_data` checks what a ridge is fitted on (one line naming it when not).
- :func:`movie_folds`: the folds hold out whole **movies**, never runs or windows. Neighbouring
  windows overlap in time, and with ``--train-repeats separate`` the two viewings of one movie
  are two runs of the store: a fold that kept one viewing for fitting and the other for
  validation would score the penalty on a movie it had seen.
- :class:`WindowRidge`: himalaya's ``KernelRidgeCV`` (a linear kernel: fMRI windows have more
  columns than there are training windows) with a penalty per target, the field's ridge
  (Dupré la Tour et al. 2022), which also runs on a GPU through its torch backend.
- :func:`warn_at_grid_edge`: a penalty at the end of its grid may want a wider grid.
"""

import logging

import numpy as np

from ..errors import NeurocineError

log = logging.getLogger("neurocine")

#: Penalties of :class:`WindowRidge`: from almost none to shrinking every prediction to the mean
#: (a linear kernel of z-scored windows has eigenvalues up to about windows × columns).
KERNEL_ALPHAS = tuple(10.0 ** np.arange(-1, 11))

#: Share of a ridge's targets whose penalty may sit at an end of the grid before it warns.
EDGE_SHARE = 0.25


def ridge_training_data(fmri, targets, movies, what):
    """Flattened float32 ``x [N, -1]``, ``y [N, -1]`` and ``movies``, checked for a ridge chosen by CV over movies.

    Raises
    ------
    NeurocineError
        Lengths that differ, NaN or infinite values, or fewer than 2 movies (one line naming ``what``).
    """
    x = np.asarray(fmri, np.float32).reshape(len(fmri), -1)
    y = np.asarray(targets, np.float32).reshape(len(targets), -1)
    movies = np.asarray(movies)
    if not len(x) == len(y) == len(movies):
        raise NeurocineError(f"{len(x)} fMRI windows, {len(y)} targets and {len(movies)} movie labels differ")
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise NeurocineError(f"{what}'s training data hold NaN or infinite values")
    n_movies = len(np.unique(movies))
    if n_movies < 2:
        raise NeurocineError(f"{what} needs at least 2 training movies to choose its ridge penalty by "
                             f"cross-validation over movies; the training split has {n_movies}")
    return x, y, movies


def movie_folds(movies, n_folds):
    """scikit-learn ``GroupKFold`` splits with the movies as groups: ``[(fit_index, held_out_index), …]``.

    Every viewing of a movie lands on the same side of every fold; at most ``n_folds`` folds
    (as many as there are movies when fewer).
    """
    from sklearn.model_selection import GroupKFold

    movies = np.asarray(movies)
    n = min(int(n_folds), len(np.unique(movies)))
    return list(GroupKFold(n).split(np.zeros(len(movies)), groups=movies))


def warn_at_grid_edge(what, chosen, alphas, setting=None):
    """Log a warning when the penalties chosen sit at an end of their grid.

    Parameters
    ----------
    what : str
        The ridge, as the warning names it.
    chosen : float or array_like
        The penalty chosen, or one per target.
    alphas : sequence of float
        The grid.
    setting : str, optional
        The config setting that holds the grid.

    Returns
    -------
    dict
        ``{"lowest": share, "highest": share}``: the share of targets at each end.
    """
    chosen = np.atleast_1d(np.asarray(chosen, float))
    low, high = float(np.min(alphas)), float(np.max(alphas))
    shares = {"lowest": float(np.mean(np.isclose(chosen, low, rtol=1e-3))),
              "highest": float(np.mean(np.isclose(chosen, high, rtol=1e-3)))}
    where = f" (widen {setting})" if setting else " (widen the grid)"
    for end, value in (("lowest", low), ("highest", high)):
        if len(chosen) == 1 and shares[end] == 1:
            log.warning("%s: the penalty chosen, %g, is the %s of its grid%s", what, value, end, where)
        elif len(chosen) > 1 and shares[end] > EDGE_SHARE:
            log.warning("%s: %.0f %% of its %d targets chose the %s penalty of the grid, %g%s%s", what,
                        100 * shares[end], len(chosen), end, value, where,
                        "; at the highest a target is predicted by its training mean" if end == "highest" else "")
    return shares


class WindowRidge:
    """Ridge from flattened fMRI windows to many targets, one penalty per target chosen over movies.

    Parameters
    ----------
    alphas : sequence of float
        Penalties tried (per target, by himalaya's ``KernelRidgeCV``).
    n_folds : int
        At most this many folds over movies (:func:`movie_folds`).
    what : str
        Names the ridge in errors and warnings.

    Attributes
    ----------
    alphas_ : ndarray ``[n_targets]``
        The penalty chosen for each target.
    cv_r2_ : ndarray ``[n_targets]``
        Each target's R² on held-out movies at its penalty (mean over folds).
    folds_ : list of (ndarray, ndarray)
        The cross-validation's splits (whole movies held out).
    edge_shares_ : dict
        Share of targets at the lowest and the highest penalty (:func:`warn_at_grid_edge`).
    """

    def __init__(self, alphas=KERNEL_ALPHAS, n_folds=5, what="ridge"):
        self.alphas = alphas
        self.n_folds = n_folds
        self.what = what

    def fit(self, fmri, targets, movies):
        """Fit on training windows.

        Parameters
        ----------
        fmri : float ``[N, ...]``
            Training fMRI windows (flattened here).
        targets : float ``[N, ...]``
            What to predict from each (flattened here).
        movies : ``[N]``
            The movie of each window: the cross-validation's groups.

        Returns
        -------
        self
        """
        from himalaya.backend import set_backend
        from himalaya.kernel_ridge import KernelRidgeCV
        from himalaya.scoring import r2_score

        x, y, movies = ridge_training_data(fmri, targets, movies, self.what)
        set_backend("numpy", on_error="raise")
        self.folds_ = movie_folds(movies, self.n_folds)
        model = KernelRidgeCV(alphas=np.asarray(self.alphas, float), kernel="linear", fit_intercept=True,
                              cv=self.folds_, solver_params={"score_func": r2_score}, warn=False)
        model.fit(x.astype(np.float64), y.astype(np.float64))
        self.model_ = model
        grid = np.asarray(self.alphas, float)  # himalaya returns exp(−log α): snap back onto the grid
        chosen = np.log(np.asarray(model.best_alphas_, float))
        self.alphas_ = grid[np.abs(chosen[:, None] - np.log(grid)[None]).argmin(axis=1)]
        self.cv_r2_ = np.asarray(model.cv_scores_, float).reshape(-1)
        self.target_shape_ = tuple(np.shape(targets)[1:])
        self.edge_shares_ = warn_at_grid_edge(self.what, self.alphas_, self.alphas)
        return self

    def linear_map(self):
        """``coef [n_targets, n_in]`` and ``intercept [n_targets]``: ``predict(x) = x · coefᵀ + intercept``.

        The primal weights of the linear kernel (himalaya's ``get_primal_coef``), so that a model
        can hold the regression as plain buffers.
        """
        if not hasattr(self, "model_"):
            raise NeurocineError(f"{self.what} is not fitted: call fit first")
        coef = np.asarray(self.model_.get_primal_coef(), np.float32).T
        intercept = np.broadcast_to(np.asarray(self.model_.intercept_, np.float32), (len(coef),))
        return coef, np.array(intercept)

    def predict(self, fmri):
        """Predicted targets ``[N, *target_shape]`` (float32)."""
        if not hasattr(self, "model_"):
            raise NeurocineError(f"{self.what} is not fitted: call fit first")
        x = np.asarray(fmri, np.float64).reshape(len(fmri), -1)
        return np.asarray(self.model_.predict(x), np.float32).reshape(len(x), *self.target_shape_)
