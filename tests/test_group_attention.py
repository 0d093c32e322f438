"""Where several subjects' attention maps agree (interpretation/group_attention.py)."""

import json

import numpy as np
import pytest

from neurocine_toolbox.interpretation.group_attention import conjunction, pairwise_agreement, zscored
from neurocine_toolbox.interpretation.roi_summary import atlas


def _v1_map(seed):
    """Values on the grayordinates of left and right V1 (NaN elsewhere)."""
    labels, names = atlas("HCP-MMP1.0")
    v1 = [k for k, v in names.items() if v in ("L_V1", "R_V1")]
    values = np.full(len(labels), np.nan)
    where = np.isin(labels, v1)
    values[where] = np.random.default_rng(seed).normal(size=where.sum())
    return values


def test_zscored_and_conjunction_count_each_subjects_own_top():
    a = np.array([0.0, 1.0, 2.0, 3.0, 4.0, np.nan])
    z = zscored(a)
    assert np.nanmean(z) == pytest.approx(0) and np.nanstd(z) == pytest.approx(1) and np.isnan(z[5])
    b = np.array([4.0, 3.0, 2.0, 1.0, 0.0, np.nan])
    c = np.array([0.0, 0.0, 0.0, 0.0, 9.0, np.nan])
    shared = conjunction([a, b, c], share=0.2)
    # grayordinate 4 is in the top fifth of a and c, grayordinate 0 of b only
    np.testing.assert_allclose(shared[:5], [1 / 3, 0, 0, 0, 2 / 3])
    assert np.isnan(shared[5])


def test_pairwise_agreement_is_tested_against_maps_as_smooth_as_the_first():
    a = _v1_map(0)
    result = pairwise_agreement([a, a.copy(), -a], ["sub-01", "sub-02", "sub-03"], n_surrogates=19, seed=0)
    same, opposite = result.iloc[0], result.iloc[1]
    assert same.spearman_rho == pytest.approx(1) and same.p_spatial == pytest.approx(1 / 20)
    assert opposite.spearman_rho == pytest.approx(-1) and opposite.p_spatial == pytest.approx(1.0)
    assert same.n_grayordinates == np.isfinite(a).sum()
    none = pairwise_agreement([a, _v1_map(1)], ["sub-01", "sub-02"], n_surrogates=0)
    assert np.isnan(none.p_spatial[0]) and abs(none.spearman_rho[0]) < 0.1
