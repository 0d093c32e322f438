"""The natural world's brain: population receptive fields over motion energy, semantics above.

Early visual areas (V1–V4) pool motion-energy filters (:mod:`.natural_features`) through a
Gaussian population receptive field (pRF) whose size grows with eccentricity and from V1 to V4
as measured in people; dorsal areas pool them through large direction-tuned pRFs and read the
motion of the shapes and the camera; ventral areas read which shapes are on screen; scene areas
read the photograph and the camera. Each grayordinate's signal-to-noise ratio is drawn from a
log-normal distribution, so reliability varies within an area as it does in real data.

Sources of the numbers (docs/simulate.md#the-natural-world):

- pRF size σ = 0.5° + slope × eccentricity, slopes V1 0.10, V2 0.15, V3 0.27, hV4 0.40
  (Harvey & Dumoulin 2011, J Neurosci 31:13604, Fig. 4, as approximated in the Winawer lab's
  ``soccode/standardobserver/prfPlotHarveyDumoulin.m``); Kay et al. 2013 (J Neurophysiol
  110:481, Fig. 7A) give the same order (slopes 0.16, 0.20, 0.32, 0.60).
- Screen: Wen et al. 2018 showed the movies at 20.3° × 20.3°.
"""

from dataclasses import dataclass

import numpy as np

from ..data.grayordinates import N_GRAYORDINATES, mmp_labels
from .encoding import scale_to_shares
from .natural_features import NATURAL_BLOCKS, filter_table

#: HCP-MMP1.0 areas (both hemispheres) of each group, and the feature blocks that drive them
#: with their share of the signal variance.
NATURAL_GROUPS = {
    "early": (("V1", "V2", "V3", "V4"), {"motion_energy": 0.85, "colour": 0.15}),
    "dorsal": (("MT", "MST", "FST", "V4t", "V3A", "V3B", "V6", "V7"),
               {"motion_energy": 0.4, "motion": 0.5, "class": 0.1}),
    "ventral": (("LO1", "LO2", "LO3", "PIT", "FFC", "VVC", "V8"), {"class": 0.7, "scene": 0.1, "motion": 0.2}),
    "scene": (("PHA1", "PHA2", "PHA3", "RSC", "POS1", "POS2"), {"scene": 0.7, "motion": 0.3}),
}
NATURAL_GROUP_NAMES = ("none",) + tuple(NATURAL_GROUPS)
#: Degrees of visual angle the frame spans (Wen et al. 2018).
SCREEN_DEGREES = 20.3
#: pRF size σ (degrees) = PRF_INTERCEPT + slope × eccentricity (Harvey & Dumoulin 2011).
PRF_INTERCEPT = 0.5
PRF_SLOPE = {"V1": 0.10, "V2": 0.15, "V3": 0.27, "V4": 0.40}
#: Dorsal areas' pRFs (MT and beyond) are taken several times V4's; no measured slope is used.
DORSAL_PRF_SLOPE = 0.8
#: Median SNR of each group relative to ``snr`` (early areas are the most reliable).
GROUP_SNR = {"early": 1.0, "dorsal": 0.6, "ventral": 0.5, "scene": 0.4}
#: Spread (SD of log SNR) of the log-normal SNR across grayordinates.
SNR_LOG_SD = 1.2


@dataclass
class CortexModel:
    """True encoding model of one subject of the natural world (fields as in ``SubjectModel``).

    Attributes
    ----------
    weights : float32 ``[n_features, 91282]``
    gains : float32 ``[n_blocks, 91282]``
    group : int8 ``[91282]``
        Index into :data:`NATURAL_GROUP_NAMES`.
    rf_centre : float32 ``[91282, 2]``
        pRF centre (row, column) as fractions of the frame (early and dorsal), else NaN.
    prf_sigma : float32 ``[91282]``
        pRF size σ in degrees of visual angle (early and dorsal), else NaN.
    snr : float32 ``[91282]``
        Signal variance over noise variance (0 outside the groups).
    baseline : float32 ``[91282]``
    noise_rho : float
        The subject's AR(1) noise coefficient.
    """

    weights: np.ndarray
    gains: np.ndarray
    group: np.ndarray
    rf_centre: np.ndarray
    prf_sigma: np.ndarray
    snr: np.ndarray
    baseline: np.ndarray
    noise_rho: float

    @property
    def responsive(self):
        return self.group > 0


def natural_groups():
    """``int8 [91282]``: the group of :data:`NATURAL_GROUPS` of each grayordinate (0: none)."""
    labels = mmp_labels()
    group = np.zeros(N_GRAYORDINATES, np.int8)
    for g, (areas, _) in enumerate(NATURAL_GROUPS.values(), start=1):
        group[np.isin(labels, [f"{h}_{a}" for a in areas for h in ("L", "R")])] = g
    return group


def prf_centres(rng, left_hemisphere):
    """pRF centres in the contralateral half of the screen, denser near the fovea.

    Eccentricity is log-uniform between 0.3° and the screen's corner (cortex over-represents
    the fovea); polar angle uniform over the contralateral hemifield; centres off the screen
    are drawn again.

    Returns
    -------
    centre : ndarray ``[n, 2]``
        (row, column) as fractions of the frame.
    eccentricity : ndarray ``[n]``
        Degrees.
    """
    n = len(left_hemisphere)
    half = SCREEN_DEGREES / 2
    x, y, ecc = np.empty(n), np.empty(n), np.empty(n)
    todo = np.arange(n)
    while len(todo):
        e = np.exp(rng.uniform(np.log(0.3), np.log(half * np.sqrt(2)), len(todo)))
        a = rng.uniform(-np.pi / 2, np.pi / 2, len(todo))
        xs = e * np.cos(a) * np.where(left_hemisphere[todo], 1.0, -1.0)  # left hemisphere sees the right
        ys = e * np.sin(a)
        ok = (np.abs(xs) <= half) & (np.abs(ys) <= half)
        x[todo[ok]], y[todo[ok]], ecc[todo[ok]] = xs[ok], ys[ok], e[ok]
        todo = todo[~ok]
    return np.stack([0.5 - y / SCREEN_DEGREES, 0.5 + x / SCREEN_DEGREES], axis=1), ecc


def motion_energy_weights(rng, centre, sigma_degrees, direction_kappa):
    """Weights of each motion-energy filter for grayordinates with these pRFs: ``[n_filters, n]``.

    A filter counts as much as its Gaussian envelope overlaps the pRF (their variances add),
    times a log-Gaussian spatial-frequency tuning around ``0.25 / σ`` cycles per image (smaller
    pRFs prefer finer patterns), a von Mises direction tuning of concentration
    ``direction_kappa`` around a random direction, and a random temporal-frequency preference.
    """
    table = filter_table()
    n = len(centre)
    sigma = sigma_degrees / SCREEN_DEGREES
    d2 = ((table["centre"][:, None, :] - centre[None, :, :]) ** 2).sum(axis=2)
    width2 = sigma[None, :] ** 2 + table["spatial_env"][:, None] ** 2
    spatial = np.exp(-d2 / (2 * width2))
    preferred = 0.25 / sigma
    octaves = np.log2(np.maximum(table["spatial_freq"], 1.0))[:, None] - np.log2(preferred)[None, :]
    frequency = np.exp(-(octaves**2) / 2.0)
    theta = np.deg2rad(rng.uniform(0, 360, n))
    direction = np.exp(direction_kappa * (np.cos(np.deg2rad(table["direction"])[:, None] - theta[None, :]) - 1))
    temporal = rng.uniform(0.5, 1.5, (len(np.unique(table["temporal_freq"])), n))
    tf_index = np.searchsorted(np.unique(table["temporal_freq"]), table["temporal_freq"])
    return spatial * frequency * direction * temporal[tf_index]


def _zero_sum_normal(rng, rows, n):
    w = rng.standard_normal((rows, n))
    return w - w.mean(axis=0)  # only contrasts between classes (or scenes) are identifiable


def build_cortex(rng, config, feature_blocks, movie_regressors):
    """Draw a natural-world subject's brain and scale each grayordinate to its SNR.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's generator (receptive fields, tuning, gains and noise differ by subject).
    config : SimulationConfig
    feature_blocks : ndarray of int
        Block index (into :data:`~.natural_features.NATURAL_BLOCKS`) of each feature.
    movie_regressors : ndarray ``[n, n_features]``
        HRF-convolved features of the volumes acquired during every movie (each movie once).

    Returns
    -------
    CortexModel
    """
    group = natural_groups()
    labels = mmp_labels()
    n_feat = len(feature_blocks)
    cov = np.cov(np.asarray(movie_regressors, np.float64), rowvar=False)
    weights = np.zeros((n_feat, N_GRAYORDINATES), np.float64)
    gains = np.zeros((len(NATURAL_BLOCKS), N_GRAYORDINATES), np.float64)
    rf_centre = np.full((N_GRAYORDINATES, 2), np.nan)
    prf_sigma = np.full(N_GRAYORDINATES, np.nan)
    in_block = {b: np.flatnonzero(feature_blocks == NATURAL_BLOCKS.index(b)) for b in NATURAL_BLOCKS}
    size_factor = float(np.exp(rng.normal(0.0, 0.15)))  # this subject's pRFs, larger or smaller
    subject_gain = float(np.exp(rng.normal(0.0, 0.2)))  # and its overall SNR
    snr = np.zeros(N_GRAYORDINATES)

    for g, (name, (_, shares)) in enumerate(NATURAL_GROUPS.items(), start=1):
        idx = np.flatnonzero(group == g)
        raw = np.zeros((n_feat, len(idx)))
        if "motion_energy" in shares:
            centre, ecc = prf_centres(rng, np.char.startswith(labels[idx], "L_"))
            if name == "early":
                area = np.array([lab.split("_", 1)[1] for lab in labels[idx]])
                slope = np.vectorize(PRF_SLOPE.get)(area)
            else:
                slope = np.full(len(idx), DORSAL_PRF_SLOPE)
            sigma = (PRF_INTERCEPT + slope * ecc) * size_factor
            raw[in_block["motion_energy"]] = motion_energy_weights(
                rng, centre, sigma, direction_kappa=0.5 if name == "early" else 2.0)
            rf_centre[idx], prf_sigma[idx] = centre, sigma
        for block in shares:
            if block == "motion_energy":
                continue
            rows = in_block[block]
            raw[rows] = (_zero_sum_normal(rng, len(rows), len(idx)) if block in ("class", "scene")
                         else rng.standard_normal((len(rows), len(idx))))
        w, block_gain, total = scale_to_shares(raw, shares, feature_blocks, NATURAL_BLOCKS, cov)
        snr[idx] = config.snr * GROUP_SNR[name] * subject_gain * np.exp(rng.normal(0.0, SNR_LOG_SD, len(idx)))
        scale = np.sqrt(snr[idx] / total)
        weights[:, idx] = w * scale
        gains[:, idx] = block_gain * scale

    baseline = config.baseline * rng.uniform(0.8, 1.2, N_GRAYORDINATES)
    noise_rho = float(np.clip(config.noise_rho + rng.uniform(-0.05, 0.05), 0.0, 0.95))
    return CortexModel(weights.astype(np.float32), gains.astype(np.float32), group,
                       rf_centre.astype(np.float32), prf_sigma.astype(np.float32),
                       snr.astype(np.float32), baseline.astype(np.float32), noise_rho)
