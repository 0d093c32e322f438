"""The retrieval prior's estimator: which training windows a window's fMRI says it resembles.

A library prior, as in Nishimoto et al. (2011), who reconstructed movies by averaging the library
clips that best explained a response: here the library is the training windows themselves, and
the match is made in the spaces of what a clip shows. For each space (the words of a window's
caption, TF-IDF weighted; the CLIP image embeddings of its frames), a
:class:`~.ridge.WindowRidge` (a penalty per feature, chosen over held-out movies) predicts the
window's features from its fMRI. A new window's score for each library window is the
correlation between its predicted features and that window's own, z-scored over the library
within each space and summed over spaces. The best-scoring library windows give the decoder its
start (their clips' latents) and what to draw (their captions).

The scores are spaces' evidence added with equal weights: no weight is fitted, so nothing is
chosen on the windows the prior is scored on.
"""

import numpy as np

from ..errors import NeurocineError
from .ridge import KERNEL_ALPHAS, WindowRidge


def caption_word_features(captions, library_captions, min_df=2):
    """TF-IDF of each caption's words, the vocabulary learnt from ``library_captions``.

    Parameters
    ----------
    captions : sequence of str
        The captions to describe (e.g. every training window's).
    library_captions : sequence of str
        The training captions: their words (English stop words left out, and words in fewer
        than ``min_df`` captions) make the vocabulary.
    min_df : int

    Returns
    -------
    features : float32 ``[len(captions), n_words]``
    words : list of str
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    library = [str(c) for c in library_captions]
    if len({c for c in library if c.strip()}) < 2:
        raise NeurocineError("the caption words need at least 2 different training captions")
    vectorizer = TfidfVectorizer(stop_words="english", min_df=min(int(min_df), len(library))).fit(library)
    features = vectorizer.transform([str(c) for c in captions]).toarray().astype(np.float32)
    return features, list(vectorizer.get_feature_names_out())


def _unit_rows(x):
    """Rows centred and scaled to unit norm (so that a dot product is a correlation)."""
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _zscore_rows(scores):
    # a constant row of scores is all at its mean: 0 / tiny stays 0
    return (scores - scores.mean(axis=1, keepdims=True)) / np.maximum(scores.std(axis=1, keepdims=True), 1e-12)


def standardised_scores(predicted, library):
    """Correlations of each predicted row with each library row, z-scored over the library ``[M, N]``."""
    return _zscore_rows(_unit_rows(predicted) @ _unit_rows(library).T)


class RetrievalPrior:
    """Scores training windows by how well the fMRI predicts their features, space by space.

    Parameters
    ----------
    top_k : int
        Library windows :meth:`predict` returns per window, best first.
    alphas : sequence of float
        Ridge penalties tried (per feature).
    n_folds : int
        At most this many folds over movies.

    Attributes
    ----------
    ridges_ : dict of WindowRidge
        One per space, fMRI → that space's features.
    library_ : dict of ndarray
        Each space's features of the library (the training windows given to :meth:`fit`), each
        row centred and scaled to unit norm.
    cv_r2_ : dict of float
        Each space's mean held-out R² over its features (whole movies held out).
    """

    def __init__(self, top_k=1, alphas=KERNEL_ALPHAS, n_folds=5):
        self.top_k = top_k
        self.alphas = alphas
        self.n_folds = n_folds

    def fit(self, fmri, features, movies):
        """Fit one ridge per space; the training windows become the library.

        Parameters
        ----------
        fmri : float ``[N, w, V]``
        features : dict of float ``[N, ...]``
            Each space's features of every training window (e.g. ``{"caption_words": …,
            "clip_image": …}``).
        movies : ``[N]``
            Each window's movie: the cross-validation's groups.

        Returns
        -------
        self
        """
        if not features:
            raise NeurocineError("the retrieval prior needs at least one feature space")
        n = len(fmri)
        for name, values in features.items():
            if len(values) != n:
                raise NeurocineError(f"the retrieval prior's {name} features are {len(values)} rows for {n} windows")
        self.ridges_, self.library_, self.cv_r2_ = {}, {}, {}
        for name, values in features.items():
            values = np.asarray(values, np.float32).reshape(n, -1)
            ridge = WindowRidge(self.alphas, self.n_folds, f"the retrieval prior's {name} ridge")
            self.ridges_[name] = ridge.fit(fmri, values, movies)
            self.library_[name] = _unit_rows(values)
            self.cv_r2_[name] = float(np.mean(ridge.cv_r2_))
        return self

    def _check_fitted(self):
        if not hasattr(self, "ridges_"):
            raise NeurocineError("RetrievalPrior is not fitted: call fit first")

    def scores(self, fmri):
        """Each window's summed standardised score for every library window ``[M, N]``."""
        self._check_fitted()
        return sum(_zscore_rows(_unit_rows(self.ridges_[name].predict(fmri)) @ self.library_[name].T)
                   for name in self.ridges_)

    def predict(self, fmri):
        """Indices ``[M, top_k]`` of the best-scoring library windows, best first."""
        scores = self.scores(fmri)
        k = int(min(self.top_k, scores.shape[1]))
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
