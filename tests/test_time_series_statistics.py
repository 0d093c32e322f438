"""Intervals and p-values for autocorrelated per-window scores (evaluation/time_series_statistics.py)."""

import numpy as np
import pytest

from neurocine_toolbox.evaluation.calibration import ar1_runs, null_calibration, runs_of
from neurocine_toolbox.evaluation.time_series_statistics import (
    autocorrelation_length, block_bootstrap_indices, block_bootstrap_means, block_length, bootstrap_interval,
    check_runs, null_offsets, permutation_p_value, run_bounds, shift_lattice, shift_partners, shift_spacing, summarise)

RUNS = np.repeat([3, 0, 7], [12, 30, 9])  # unequal runs, labels not sorted


def test_runs_must_be_consecutive_stretches():
    assert run_bounds(RUNS) == [(0, 12), (12, 42), (42, 51)]
    with pytest.raises(ValueError, match="consecutive"):
        check_runs([0, 0, 1, 1, 0])
    with pytest.raises(ValueError, match="one label per window"):
        check_runs(RUNS, n=50)


def test_blocks_never_cross_runs_and_wrap_inside_their_run():
    index = block_bootstrap_indices(RUNS, 10, 200, seed=1)
    assert index.shape == (200, len(RUNS))
    blocks = index[:, :40].reshape(200, 4, 10)  # the first four blocks are whole
    assert (RUNS[blocks] == RUNS[blocks[..., :1]]).all()
    step = (np.diff(blocks, axis=-1) % len(RUNS))
    starts = np.array([a for a, _ in run_bounds(RUNS)])
    lengths = np.array([b - a for a, b in run_bounds(RUNS)])
    run_of = np.searchsorted(starts, blocks[..., 1:], side="right") - 1
    # Each step is the next window, or the wrap from the run's last window to its first.
    assert np.all((step == 1) | (blocks[..., 1:] == starts[run_of])), "a block left its run"
    assert lengths.min() == 9  # the 9-window run wraps inside a 10-window block
    assert np.all(np.isin(blocks[RUNS[blocks[..., 0]] == 7], np.arange(42, 51)))


def test_resample_means_from_block_sums_equal_those_of_the_resamples():
    values = np.random.default_rng(0).normal(size=(len(RUNS), 2))
    fast = block_bootstrap_means(values, RUNS, 7, 300, seed=4)
    slow = values[block_bootstrap_indices(RUNS, 7, 300, seed=4)].mean(axis=1)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


def test_single_run_bootstrap_spread_matches_arch_circular_block_bootstrap():
    from arch.bootstrap import CircularBlockBootstrap

    values = ar1_runs(np.random.default_rng(2), [240], 0.8, 1)[0]
    ours = block_bootstrap_means(values, np.zeros(240, int), 12, 4000, seed=0)
    arch = CircularBlockBootstrap(12, values, seed=0).apply(np.mean, 4000).ravel()
    assert ours.mean() == pytest.approx(values.mean(), abs=0.02)
    assert ours.std() == pytest.approx(arch.std(), rel=0.06)


def test_block_length_follows_the_autocorrelation_with_a_floor():
    rng = np.random.default_rng(3)
    runs = runs_of([239] * 5)
    white = rng.normal(size=len(runs))
    slow = ar1_runs(rng, [239] * 5, 0.9, 1)[0]
    assert autocorrelation_length(white, runs) == 5  # the floor
    assert autocorrelation_length(slow, runs) > 15
    assert block_length(slow, runs) == min(239, 3 * autocorrelation_length(slow, runs))
    assert autocorrelation_length(np.ones(len(runs)), runs) == 5  # constant: no estimate, the floor
    assert block_length(white[:13], np.zeros(13, int)) == 13  # never longer than a run


def test_interval_is_a_t_interval_on_the_bootstrap_standard_error():
    from scipy.stats import t

    values = np.random.default_rng(5).normal(size=len(RUNS))
    lo, hi = bootstrap_interval(values, RUNS, 10, 500, seed=6)
    means = block_bootstrap_means(values, RUNS, 10, 500, seed=6)
    k = len(RUNS) / 10
    half = t.ppf(0.975, k - 1) * means.std(ddof=1) * np.sqrt(k / (k - 1))
    assert (lo, hi) == pytest.approx((values.mean() - half, values.mean() + half))
    hits = (np.arange(len(RUNS)) % 9 == 0).astype(float)  # a rare 0/1 score: clipped at 0, not negative
    assert bootstrap_interval(hits, RUNS, 10, 500)[0] >= 0


def test_null_shifts_are_a_lattice_per_run_never_the_true_pairing():
    assert shift_lattice(30, 5).tolist() == [0, 5, 10, 15, 20, 25]
    assert shift_lattice(12, 5).tolist() == [0, 6]
    assert shift_lattice(9, 5).tolist() == [0]  # too short to shift
    every = null_offsets(RUNS, 5, n_null=1000)
    assert len(every) == 2 * 6 * 1 - 1  # every combination but all-zero, enumerated
    assert not (every == 0).all(axis=1).any()
    drawn = null_offsets(RUNS, 2, n_null=40, seed=1)  # 6 · 15 · 4 − 1 combinations: 40 drawn
    assert drawn.shape == (40, 3) and not (drawn == 0).all(axis=1).any()
    assert np.array_equal(drawn, null_offsets(RUNS, 2, n_null=40, seed=1))
    partners = shift_partners(RUNS, every)
    for row in partners:  # a permutation inside each run
        for a, b in run_bounds(RUNS):
            assert sorted(row[a:b]) == list(range(a, b))
    assert null_offsets(RUNS[42:], 5).shape == (0, 1)  # no shift possible: no null


def test_p_value_counts_ties_against_the_observed_value():
    # (1 + #{null ≥ 0.5}) / (1 + 4) = 4/5; with ">" it would be 2/5, without the +1s 3/4.
    assert permutation_p_value(0.5, [0.5, 0.25, 0.75, 0.5]) == pytest.approx(0.8)
    assert permutation_p_value(1.0, [0.5, 0.25]) == pytest.approx(1 / 3)
    assert permutation_p_value(1.0, []) is None


def test_summary_records_estimate_interval_p_and_method():
    rng = np.random.default_rng(7)
    values = rng.normal(1.0, 1.0, len(RUNS))
    null = rng.normal(0.0, 1.0, (20, len(RUNS)))
    result = summarise(values, RUNS, null, n_boot=300, seed=0)
    assert result["estimate"] == pytest.approx(values.mean())
    assert result["ci95"][0] < result["estimate"] < result["ci95"][1]
    assert result["p_value"] == pytest.approx(1 / 21) and result["null_mean"] == pytest.approx(null.mean())
    assert (result["n"], result["n_runs"], result["n_null"], result["n_boot"]) == (51, 3, 20, 300)
    assert result["block_length"] == block_length(values, RUNS)
    assert f"blocks of {result['block_length']} windows" in result["method"] and "circular-shift" in result["method"]
    assert summarise(values, RUNS)["p_value"] is None


@pytest.mark.parametrize("lengths, n_datasets", [([39] * 2, 2000), ([13] * 3, 1000)],
                         ids=["78 windows in 2 runs", "demo: 39 windows in 3 runs"])
def test_on_autocorrelated_null_data_new_methods_are_honest_where_iid_ones_are_not(lengths, n_datasets):
    # Null datasets with AR(1) rho = 0.9. Coverage measured 0.943 over 8,000 datasets of 2 × 39 windows,
    # 0.950 over 2,000 of 3 × 13; benchmarks/null_false_positive_rate.py also runs Wen 2018's 5 × 239.
    result = null_calibration(lengths, rho=0.9, n_datasets=n_datasets, n_boot=400, n_null=200, seed=0)
    assert result["blocks"]["false_positive_rate"] <= 0.07
    assert result["blocks"]["coverage"] >= 0.93
    assert result["iid"]["false_positive_rate"] > 0.15  # the old methods fail on the same data
    assert result["iid"]["coverage"] < 0.6


def test_slow_trends_still_leave_shifts_and_a_p_value():
    """A slow oscillation (scenes that recur every 20 windows) makes the autocorrelation estimate
    approach a whole run; the shifts keep at least three positions per run, so there is still a
    null and a p-value."""
    runs = np.repeat(np.arange(4), 45)
    values = np.sin(2 * np.pi * np.arange(180) / 20) + 0.01 * np.random.default_rng(0).standard_normal(180)
    assert autocorrelation_length(values, runs) > 45 // 3
    spacing = shift_spacing(values, runs)
    assert spacing == 45 // 3
    partners = shift_partners(runs, null_offsets(runs, spacing, 200, seed=0))
    result = summarise(values, runs, values[partners], partners, min_shift=spacing)
    assert result["p_value"] is not None and result["n_null"] > 1


def test_block_sign_flips_enumerate_every_pattern_of_whole_blocks():
    from neurocine_toolbox.evaluation.time_series_statistics import block_sign_flip_null

    runs = np.repeat([0, 1], [4, 3])
    d = np.array([1.0, 2, 3, 4, 10, 20, 30])
    null = block_sign_flip_null(d, runs, block=2, n_null=1000)
    # blocks: {1,2} {3,4} {10,20} {30}: 2**4 − 1 patterns other than the identity
    assert len(null) == 15
    expected = set()
    for signs in np.array(np.meshgrid(*[[1, -1]] * 4)).reshape(4, -1).T:
        if (signs == 1).all():
            continue
        expected.add(round(float((np.repeat(signs, [2, 2, 2, 1]) * d).mean()), 9))
    assert {round(float(v), 9) for v in null} == expected


def test_paired_difference_p_value_is_two_sided_and_honest_on_autocorrelated_null_data():
    from neurocine_toolbox.evaluation.time_series_statistics import paired_difference

    runs = np.repeat(np.arange(4), 30)
    better = paired_difference(np.ones(120) + 0.01 * np.arange(120) % 3, np.zeros(120), runs, n_null=500)
    assert better["estimate"] > 0.9 and better["ci95"][0] > 0.9 and better["p_value"] <= 0.01
    worse = paired_difference(np.zeros(120), np.ones(120) + 0.01 * np.arange(120) % 3, runs, n_null=500)
    assert worse["p_value"] == better["p_value"]
    # AR(1) rho 0.9 null differences: p <= 0.05 in about 5 % of datasets, not the 20-30 % of i.i.d. flips
    rejections = 0
    for d in ar1_runs(np.random.default_rng(3), [30] * 4, 0.9, 200):
        rejections += paired_difference(d, np.zeros_like(d), runs, n_boot=200, n_null=200)["p_value"] <= 0.05
    assert rejections / 200 <= 0.08


def test_paired_difference_p_value_on_a_small_case_counted_by_hand():
    """``p = (1 + #{|null| ≥ |observed|}) / (1 + #null)`` over every sign pattern of three blocks."""
    from fractions import Fraction

    from neurocine_toolbox.evaluation.time_series_statistics import block_sign_flip_null, paired_difference

    # Runs of 4, 2 and 2 clips, all shorter than the 5-window minimum: the block is the longest run
    # (4), so each run is one block, with sums 3, 1 and −1. Halves keep every mean exact in floats.
    runs = np.repeat([0, 1, 2], [4, 2, 2])
    d = np.array([1, 0.5, 1, 0.5, 0.5, 0.5, -1, 0])
    b = np.full(8, 2.0)
    # Every pattern but the identity, as (signs of the three blocks, mean of the flipped differences):
    patterns = [((+1, +1, -1), Fraction(3 + 1 + 1, 8)),
                ((+1, -1, +1), Fraction(3 - 1 - 1, 8)),
                ((+1, -1, -1), Fraction(3 - 1 + 1, 8)),  # a tie with the observed 3/8
                ((-1, +1, +1), Fraction(-3 + 1 - 1, 8)),  # a tie
                ((-1, +1, -1), Fraction(-3 + 1 + 1, 8)),
                ((-1, -1, +1), Fraction(-3 - 1 - 1, 8)),
                ((-1, -1, -1), Fraction(-3 - 1 + 1, 8))]  # the observed flipped: a tie
    for signs, mean in patterns:  # the sums by hand agree with the flips
        assert (np.repeat(signs, [4, 2, 2]) * d).mean() == float(mean)
    observed = Fraction(3, 8)
    at_least = sum(abs(mean) >= observed for _, mean in patterns)
    assert at_least == 5  # 5/8 twice, 3/8 three times (ties count against the observed value)
    expected_p = Fraction(1 + at_least, 1 + len(patterns))
    assert expected_p == Fraction(3, 4)

    result = paired_difference(b + d, b, runs)
    assert result["block_length"] == 4 and result["n_null"] == 7
    assert result["estimate"] == float(observed)
    null = block_sign_flip_null(d, runs, 4)
    assert sorted(null.tolist()) == sorted(float(mean) for _, mean in patterns)
    assert result["p_value"] == float(expected_p)  # not 5/8 or 6/7 (a +1 dropped), nor 3/8 (ties left out)


def test_interval_is_not_available_with_fewer_than_two_blocks():
    """One block resampled is the sample itself: no interval rather than a zero-width one."""
    from neurocine_toolbox.evaluation.time_series_statistics import (bootstrap_interval, format_interval,
                                                                     paired_difference, summarise)

    values = np.random.default_rng(0).normal(size=13)
    runs = np.zeros(13, int)  # one run of 13: blocks of 13 (at most the run), one block
    assert np.isnan(bootstrap_interval(values, runs, 13)).all()
    summary = summarise(values, runs)
    assert summary["ci95"] is None and summary["n_blocks"] == 1.0
    assert format_interval(summary["ci95"]) == "[n/a: fewer than 2 blocks]"
    assert paired_difference(values, values - 1, runs)["ci95"] is None
    two = summarise(values[:12], np.repeat([0, 1], 6))  # two runs of 6: blocks of 6, two blocks
    assert two["ci95"] is not None and two["ci95"][0] < two["estimate"] < two["ci95"][1]


def test_p_values_carry_the_least_value_their_null_allows():
    from neurocine_toolbox.evaluation.time_series_statistics import format_p, paired_difference, summarise

    runs = np.repeat([0, 1, 2], 13)
    better = np.linspace(1, 2, 39)
    result = paired_difference(better, np.zeros(39), runs)  # every clip better: the smallest p there is
    assert result["n_sign_blocks"] == 3 and result["n_null"] == 7
    assert result["p_floor"] == 0.25 and result["p_value"] == 0.25  # 2 / 2³: flipping every block always ties
    printed = format_p(result["p_value"], result["p_floor"], "3 blocks of clips")
    assert printed == "p=0.25 (the least 3 blocks of clips allow)"
    assert format_p(0.5, 0.25) == "p=0.5 (least possible 0.25)"
    assert format_p(None, None).startswith("p n/a")
    # many blocks, patterns drawn: the floor is (1 + the all-flipped patterns drawn) / (1 + patterns)
    many = paired_difference(np.linspace(1, 2, 200), np.zeros(200), np.repeat(np.arange(10), 20), n_null=100)
    assert many["n_null"] == 100 and many["p_value"] == many["p_floor"]  # every clip better: at the floor
    assert many["p_floor"] * 101 == pytest.approx(round(many["p_floor"] * 101)) and many["p_floor"] < 0.05
    shifted = summarise(np.arange(40.0), np.repeat([0, 1], 20), np.zeros((9, 40)))
    assert shifted["p_floor"] == 0.1 and shifted["p_value"] == 0.1
