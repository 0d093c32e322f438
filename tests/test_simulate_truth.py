"""The simulated fMRI follows the stated encoding model: recovery, noise-only areas, SNR, noise."""

import json

import av
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neurocine_toolbox.simulate import simulate_dataset

SNR = 10.0
# Long enough for a regression on up to 19 features: 3 movies x 60 s x 2 viewings at TR 1 s.
SIZES = dict(n_train_segments=3, train_segment_seconds=60, n_test_segments=1,
             test_segment_seconds=10, train_repeats=2, test_repeats=2, tr=1.0, fps=10,
             movie_size=32, snr=SNR)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Detrended runs ``Y`` [n, 91282], design ``X`` [n, n_features], the truth, per-run sizes."""
    root = simulate_dataset(tmp_path_factory.mktemp("truth") / "bids", seed=7, progress=False, **SIZES)
    truth = dict(np.load(root / "derivatives/simulation/sub-01/sub-01_desc-truth_encoding.npz"))
    ys, xs, raw_x, lengths = [], [], [], []
    for bold in sorted((root / "derivatives/fmriprep/sub-01/func").glob("*.dtseries.nii")):
        entities = bold.name.split("_space")[0]
        sidecar = json.loads((bold.parent / bold.name.replace(".dtseries.nii", ".json")).read_text())
        events = pd.read_csv(root / "sub-01/func" / f"{entities}_events.tsv", sep="\t")
        task = entities.split("task-")[1].split("_")[0]
        stim = np.load(root / f"derivatives/simulation/stimuli/{task}_desc-truth_features.npz")
        y = np.asarray(nib.load(bold).dataobj, np.float64)
        n = y.shape[0]
        start = int(round(events.loc[0, "onset"] / sidecar["RepetitionTime"]))
        x = np.zeros((n, stim["volume_regressors"].shape[1]))
        x[start:] = stim["volume_regressors"][: n - start]
        # Remove each run's baseline and polynomial drift (the order the truth states).
        poly = np.polynomial.legendre.legvander(np.linspace(-1, 1, n), int(truth["drift_order"]))
        resid = np.eye(n) - poly @ np.linalg.pinv(poly)
        ys.append((resid @ y).astype(np.float32))
        xs.append(resid @ x)
        raw_x.append(x)
        lengths.append(n)
    return dict(root=root, Y=np.concatenate(ys), X=np.concatenate(xs), truth=truth,
                lengths=lengths, raw_x=raw_x)


def _block_columns(truth, group):
    """Feature columns that drive ``group`` (those with any non-zero gain there)."""
    members = truth["group"] == list(truth["group_names"]).index(group)
    blocks = np.flatnonzero(truth["gains"][:, members].any(axis=1))
    return np.flatnonzero(np.isin(truth["feature_blocks"], blocks)), members


def _fit(data, columns, members):
    """Least squares of ``Y`` on the detrended features: weights and R^2 per grayordinate."""
    x, y = data["X"][:, columns], data["Y"][:, members].astype(np.float64)
    # rcond drops the exact null directions (class one-hot + intercept, zero-sum grid) that
    # float32 rounding would otherwise turn into huge, meaningless coefficients.
    beta = np.linalg.lstsq(x, y, rcond=1e-6)[0]
    r2 = 1 - ((y - x @ beta) ** 2).sum(0) / (y**2).sum(0)
    truth = data["truth"]
    # Only contrasts are identifiable for the class one-hot and the zero-sum contrast grid.
    for block in ("class", "retinotopy"):
        rows = truth["feature_blocks"][columns] == list(truth["block_names"]).index(block)
        if rows.any():
            beta[rows] -= beta[rows].mean(axis=0)
    return beta, r2


@pytest.mark.parametrize("group", ["early", "dorsal", "ventral"])
def test_regression_recovers_true_weights(data, group):
    columns, members = _block_columns(data["truth"], group)
    beta, r2 = _fit(data, columns, members)
    true = data["truth"]["weights"][np.ix_(columns, np.flatnonzero(members))]
    assert np.corrcoef(beta.ravel(), true.ravel())[0, 1] > 0.85
    assert np.median(r2) > 0.6


def test_responsive_areas_are_the_documented_ones(data):
    from neurocine_toolbox.data.grayordinates import mmp_labels, mmp_visual_grayordinates

    truth = data["truth"]
    v1_v4, _ = mmp_visual_grayordinates()
    early = list(truth["group_names"]).index("early")
    assert set(np.flatnonzero(truth["group"] == early)) == set(v1_v4)
    areas = {label.split("_", 1)[1] for label in mmp_labels()[truth["responsive"]]}
    assert areas == {"V1", "V2", "V3", "V4", "MT", "MST", "FST", "V4t", "V3A", "V3B", "V6",
                     "V7", "LO1", "LO2", "LO3", "PIT", "FFC", "VVC", "V8"}
    assert not truth["weights"][:, ~truth["responsive"]].any()


def _detrended_noise_covariance(lengths, order, rho):
    """Covariance of unit-variance AR(1) noise after each run's polynomial is removed."""
    from scipy.linalg import block_diag

    blocks = []
    for n in lengths:
        sigma = rho ** np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        poly = np.polynomial.legendre.legvander(np.linspace(-1, 1, n), order)
        m = np.eye(n) - poly @ np.linalg.pinv(poly)
        blocks.append(m @ sigma @ m)
    return block_diag(*blocks)


def _lag1(resid, lengths):
    """Mean lag-1 product within runs, per column."""
    total, start = 0.0, 0
    for n in lengths:
        r = resid[start:start + n]
        total += (r[1:] * r[:-1]).sum(axis=0)
        start += n
    return total / (sum(lengths) - len(lengths))


def test_noise_only_grayordinates_show_no_relation(data):
    truth = data["truth"]
    columns, members = _block_columns(truth, "early")
    noise_only = np.flatnonzero(~truth["responsive"])[::40]
    assert not truth["weights"][:, noise_only].any()
    _, r2_noise = _fit(data, columns, np.isin(np.arange(len(truth["group"])), noise_only))
    _, r2_signal = _fit(data, columns, members)
    # With no relation, E[R^2] = tr(H C) / tr(C) for hat matrix H and noise covariance C.
    x = data["X"][:, columns]
    cov = _detrended_noise_covariance(data["lengths"], int(truth["drift_order"]),
                                      float(truth["noise_rho"]))
    chance = np.trace(x @ np.linalg.pinv(x, rcond=1e-6) @ cov) / np.trace(cov)
    assert np.mean(r2_noise) == pytest.approx(chance, rel=0.1)
    assert np.median(r2_signal) > 5 * chance


def test_snr_and_noise_are_as_stated(data):
    truth, root = data["truth"], data["root"]
    responsive = np.flatnonzero(truth["responsive"])
    weights = truth["weights"][:, responsive].astype(np.float64)
    # Signal variance over the volumes of every movie (each once) is the SNR.
    movies = []
    for task, seconds in [("seg1", 60), ("seg2", 60), ("seg3", 60), ("test1", 10)]:
        stim = np.load(root / f"derivatives/simulation/stimuli/{task}_desc-truth_features.npz")
        movies.append(stim["volume_regressors"][: int(seconds / SIZES["tr"])])
    signal_var = (np.concatenate(movies) @ weights).var(axis=0, ddof=1)
    assert np.allclose(signal_var, SNR, rtol=1e-3)
    # What is left after the true signal and the drift is AR(1) noise of unit variance.
    rho = float(truth["noise_rho"])
    assert rho == 0.5
    cov = _detrended_noise_covariance(data["lengths"], int(truth["drift_order"]), rho)
    n, runs = len(cov), len(data["lengths"])
    expected_var = np.trace(cov) / n
    expected_cov = np.trace(cov, offset=1) / (n - runs)  # lag-1 pairs within runs only
    resid = data["Y"][:, responsive] - data["X"] @ weights
    noise = data["Y"][:, ~truth["responsive"]][:, ::20].astype(np.float64)
    for r in (resid, noise):
        assert np.mean(r**2) == pytest.approx(expected_var, rel=0.03)
        assert np.mean(_lag1(r, data["lengths"])) == pytest.approx(expected_cov, rel=0.05)
    # So the measured ratio is the SNR.
    assert signal_var.mean() / np.mean(resid**2) * expected_var == pytest.approx(SNR, rel=0.05)


def test_drift_and_offsets_make_detrending_matter(data):
    raw = [np.asarray(nib.load(p).dataobj[:, ::50], np.float64) for p in
           sorted((data["root"] / "derivatives/fmriprep/sub-01/func").glob("*.dtseries.nii"))]
    means = np.stack([r.mean(axis=0) for r in raw])
    # Run offsets: the same grayordinate's mean moves between runs by about offset_scale.
    assert np.std(means - means.mean(axis=0), axis=0).mean() > 1.0
    # Drift: a straight line explains far more than the noise would alone.
    slopes = np.concatenate([np.polyfit(np.linspace(-1, 1, len(r)), r, 1)[0] for r in raw])
    assert np.std(slopes) > 0.5


def test_regressors_match_nilearn_and_features_match_the_movie(data):
    from nilearn.glm.first_level import compute_regressor

    root = data["root"]
    stim = np.load(root / "derivatives/simulation/stimuli/seg2_desc-truth_features.npz")
    frames_feats, regs = stim["frame_features"], stim["volume_regressors"]
    fps, tr = float(stim["fps"]), float(stim["tr"])
    names = list(stim["feature_names"])
    times = np.arange(len(frames_feats)) / fps
    for name in ("mean_red", "contrast_r1c2", "class_green_square", "motion_x"):
        j = names.index(name)
        condition = np.vstack([times, np.full(len(times), 1 / fps), frames_feats[:, j]])
        expected, _ = compute_regressor(condition, "glover", np.arange(len(regs)) * tr)
        assert np.corrcoef(expected[:, 0], regs[:, j])[0, 1] > 0.99, name
    with av.open(str(root / "stimuli/seg2.mp4")) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert len(decoded) == len(frames_feats)
    mean_rgb = decoded.reshape(len(decoded), -1, 3).mean(axis=1) / 255
    stated = frames_feats[:, [names.index(n) for n in ("mean_red", "mean_green", "mean_blue")]]
    assert np.abs(mean_rgb - stated).max() < 0.05
    for c in range(3):
        assert np.corrcoef(mean_rgb[:, c], stated[:, c])[0, 1] > 0.95
    clips = pd.read_csv(root / "stimuli/seg2_clips.tsv", sep="\t")
    onehot = frames_feats[:, [names.index(n) for n in names if n.startswith("class_")]]
    for clip in clips.itertuples():
        first = int(round(clip.onset * fps))
        assert (onehot[first: first + int(round(clip.duration * fps))].argmax(axis=1) == clip[3]).all()
