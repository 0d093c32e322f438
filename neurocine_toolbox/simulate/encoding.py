"""The encoding model: subject-specific weights, and the fMRI of one run.

A responsive grayordinate's BOLD is ``X(t) @ w`` where ``X`` holds the HRF-convolved stimulus
features (:mod:`.features`); every grayordinate also carries AR(1) noise of unit variance,
a baseline (subject level + per-run offset) and a slow Legendre-polynomial drift.
"""

from dataclasses import dataclass

import numpy as np

from ..data.grayordinates import N_GRAYORDINATES, mmp_labels
from ..errors import NeurocineError
from .features import BLOCKS

#: HCP-MMP1.0 areas (both hemispheres) and the feature blocks that drive them, with the share
#: of each block in the grayordinate's signal variance before scaling to the SNR.
GROUPS = {
    "early": (("V1", "V2", "V3", "V4"), {"colour": 0.4, "retinotopy": 0.6}),
    "dorsal": (("MT", "MST", "FST", "V4t", "V3A", "V3B", "V6", "V7"), {"motion": 0.8, "class": 0.2}),
    "ventral": (("LO1", "LO2", "LO3", "PIT", "FFC", "VVC", "V8"), {"class": 0.8, "motion": 0.2}),
}
GROUP_NAMES = ("none",) + tuple(GROUPS)

#: Width (grid cells) of the Gaussian receptive fields of early-visual grayordinates.
RF_SIGMA = 0.6


@dataclass
class SubjectModel:
    """True encoding model of one subject.

    Attributes
    ----------
    weights : ndarray, float32 ``[n_features, 91282]``
        Effective weights: signal = HRF-convolved features @ weights.
    gains : ndarray, float32 ``[n_blocks, 91282]``
        Scale applied to each block's raw random weights (block shares, then SNR).
    group : ndarray, int8 ``[91282]``
        Index into :data:`GROUP_NAMES` (0: noise only).
    rf_centre : ndarray, float32 ``[91282, 2]``
        Receptive-field centre (row, column, in grid cells) of early grayordinates, else NaN.
    baseline : ndarray, float32 ``[91282]``
        Subject's mean signal level per grayordinate.
    """

    weights: np.ndarray
    gains: np.ndarray
    group: np.ndarray
    rf_centre: np.ndarray
    baseline: np.ndarray
    #: AR(1) coefficient of this subject's noise; None: the config's ``noise_rho``.
    noise_rho: float = None

    @property
    def responsive(self):
        return self.group > 0


def grayordinate_groups():
    """``int8 [91282]``: which group of :data:`GROUPS` each grayordinate belongs to (0: none)."""
    labels = mmp_labels()
    group = np.zeros(N_GRAYORDINATES, np.int8)
    for g, (areas, _) in enumerate(GROUPS.values(), start=1):
        names = [f"{hemi}_{a}" for a in areas for hemi in ("L", "R")]
        group[np.isin(labels, names)] = g
    return group


def _receptive_fields(rng, left_hemisphere, grid):
    """Gaussian RFs on the grid, centred in the contralateral half of the screen, zero-sum.

    Zero-sum because the contrast features sum to zero over the grid: only differences
    between cells are identifiable.
    """
    n = len(left_hemisphere)
    row = rng.uniform(0, grid, n)
    col = rng.uniform(0, grid / 2, n) + np.where(left_hemisphere, grid / 2, 0.0)
    sigma = RF_SIGMA * rng.uniform(0.7, 1.5, n)
    rr, cc = np.meshgrid(np.arange(grid) + 0.5, np.arange(grid) + 0.5, indexing="ij")
    d2 = (rr.ravel()[:, None] - row) ** 2 + (cc.ravel()[:, None] - col) ** 2
    rf = np.exp(-d2 / (2 * sigma**2))
    return rf - rf.mean(axis=0), np.stack([row, col], axis=1)


def scale_to_shares(raw, shares, feature_blocks, block_names, cov):
    """Scale each block's raw weights so that its signal variance is its share.

    Parameters
    ----------
    raw : ndarray ``[n_features, n]``
        Random weights of ``n`` grayordinates (zero in the blocks they do not read).
    shares : dict
        ``{block name: share of the signal variance}``.
    feature_blocks : ndarray of int
        Block index (into ``block_names``) of each feature.
    block_names : sequence of str
    cov : ndarray ``[n_features, n_features]``
        Covariance of the HRF-convolved features over the movies' volumes.

    Returns
    -------
    weights : ndarray ``[n_features, n]``
    block_gain : ndarray ``[len(block_names), n]``
        The scale put on each block.
    total : ndarray ``[n]``
        The signal variance of ``weights`` (the sum of the shares where every block varies).

    Raises
    ------
    NeurocineError
        A grayordinate whose features never vary.
    """
    feature_blocks = np.asarray(feature_blocks)
    block_gain = np.zeros((len(block_names), raw.shape[1]))
    for block, share in shares.items():
        rows = np.flatnonzero(feature_blocks == block_names.index(block))
        var = np.einsum("fg,fh,hg->g", raw[rows], cov[np.ix_(rows, rows)], raw[rows])
        # A block whose features never vary (e.g. one class only) contributes nothing.
        block_gain[block_names.index(block)] = np.sqrt(share / np.maximum(var, 1e-300)) * (var > 1e-12)
    weights = raw * block_gain[feature_blocks]
    total = np.einsum("fg,fh,hg->g", weights, cov, weights)
    if np.any(total <= 1e-12):
        raise NeurocineError("the movies are too short or too uniform to drive the simulated "
                             "brain (their features do not vary); use longer segments")
    return weights, block_gain, total


def build_subject_model(rng, config, feature_blocks, movie_regressors):
    """Draw a subject's weights and scale them to the requested SNR.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's generator.
    config : SimulationConfig
    feature_blocks : ndarray of int
        Block index (into :data:`~.features.BLOCKS`) of each feature.
    movie_regressors : ndarray ``[n, n_features]``
        HRF-convolved features of the volumes acquired during every movie (each movie once).
        Signal variances are measured over these rows.

    Returns
    -------
    SubjectModel
    """
    group = grayordinate_groups()
    labels = mmp_labels()
    n_feat = len(feature_blocks)
    cov = np.cov(np.asarray(movie_regressors, np.float64), rowvar=False)
    weights = np.zeros((n_feat, N_GRAYORDINATES), np.float64)
    gains = np.zeros((len(BLOCKS), N_GRAYORDINATES), np.float64)
    rf_centre = np.full((N_GRAYORDINATES, 2), np.nan)
    in_block = {b: np.flatnonzero(feature_blocks == BLOCKS.index(b)) for b in BLOCKS}

    for g, (_, shares) in enumerate(GROUPS.values(), start=1):
        idx = np.flatnonzero(group == g)
        raw = np.zeros((n_feat, len(idx)))
        for block in shares:  # random weights of the blocks this group reads
            rows = in_block[block]
            if block == "retinotopy":
                left = np.char.startswith(labels[idx], "L_")
                raw[rows], rf_centre[idx] = _receptive_fields(rng, left, config.grid)
            else:
                raw[rows] = rng.standard_normal((len(rows), len(idx)))
                if block == "class":  # only contrasts between classes are identifiable
                    raw[rows] -= raw[rows].mean(axis=0)
        w, block_gain, total = scale_to_shares(raw, shares, feature_blocks, BLOCKS, cov)
        scale = np.sqrt(config.snr / total)
        weights[:, idx] = w * scale
        gains[:, idx] = block_gain * scale

    baseline = config.baseline * rng.uniform(0.8, 1.2, N_GRAYORDINATES)
    return SubjectModel(weights.astype(np.float32), gains.astype(np.float32), group,
                        rf_centre.astype(np.float32), baseline.astype(np.float32))


def drift_basis(n_volumes, order):
    """Legendre polynomials of degree 1..``order`` over the run, ``[n_volumes, order]``."""
    x = np.linspace(-1.0, 1.0, n_volumes)
    return np.polynomial.legendre.legvander(x, order)[:, 1:].astype(np.float32)


def ar1_noise(rng, n_volumes, n_columns, rho):
    """Stationary AR(1) noise of unit variance, float32 ``[n_volumes, n_columns]``."""
    e = rng.standard_normal((n_volumes, n_columns), dtype=np.float32)
    innovation = np.float32(np.sqrt(1.0 - rho**2))
    rho = np.float32(rho)
    for t in range(1, n_volumes):
        e[t] *= innovation
        e[t] += rho * e[t - 1]
    return e


def simulate_run(rng, model, run_regressors, config):
    """The BOLD time series of one run.

    Parameters
    ----------
    rng : numpy.random.Generator
        The run's generator (noise, offset and drift are new draws for every run).
    model : SubjectModel or CortexModel
    run_regressors : ndarray ``[n_volumes, n_features]``
        HRF-convolved features at each volume's acquisition time (zeros before the movie).
    config : SimulationConfig

    Returns
    -------
    ndarray, float32 ``[n_volumes, 91282]``
    """
    n_vol = run_regressors.shape[0]
    rho = config.noise_rho if model.noise_rho is None else model.noise_rho
    data = ar1_noise(rng, n_vol, N_GRAYORDINATES, rho)
    drift = rng.standard_normal((config.drift_order, N_GRAYORDINATES), dtype=np.float32)
    offset = rng.standard_normal(N_GRAYORDINATES, dtype=np.float32)
    resp = np.flatnonzero(model.responsive)
    data[:, resp] += np.asarray(run_regressors, np.float32) @ model.weights[:, resp]
    if config.drift_order:
        data += drift_basis(n_vol, config.drift_order) @ (np.float32(config.drift_scale) * drift)
    data += model.baseline + np.float32(config.offset_scale) * offset
    return data
