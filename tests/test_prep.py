"""neurocine prep: alignment, cleaning, averaging, voxel order, store and dataset."""

import json
import shutil

import numpy as np
import pytest
from numpy.polynomial import polynomial
from scipy import stats

from bids_factory import RunSpec, frame_index, make_dataset, random_data
from neurocine_toolbox.data import open_store
from neurocine_toolbox.data.dataset import FMRIWindowDataset, window_starts
from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, mmp_visual_grayordinates
from neurocine_toolbox.data.prep import PrepOptions, prep
from neurocine_toolbox.data.voxels import ReliabilitySelector
from neurocine_toolbox.errors import NeurocineError

TR, FPS, FRAMES_PER_TR = 2.0, 12, 6

RUNS = [
    RunSpec("01", "segA", 1, "segA.mp4", 8, start_extra=1),
    RunSpec("01", "segA", 2, "segA.mp4", 8, start_extra=2),
    RunSpec("01", "segB", 1, "segB.mp4", 7, start_extra=2),
    RunSpec("01", "segB", 2, "segB.mp4", 7, start_extra=1),
    RunSpec("01", "test1", 1, "test1.mp4", 6, start_extra=1),
    RunSpec("01", "test1", 2, "test1.mp4", 6, start_extra=2),
    RunSpec("01", "test1", 3, "test1.mp4", 6, start_extra=1),
]
VISUAL, _ = mmp_visual_grayordinates()


def spike_data(index, spec):
    """Visual column j spikes at the volume of TR (j + index) % n_tr of the movie."""
    rng = np.random.default_rng(index)
    data = 50 + 0.01 * rng.standard_normal((spec.n_volumes, N_GRAYORDINATES))
    for j in range(spec.n_tr):
        data[spec.start_extra + (j + index) % spec.n_tr, VISUAL[j]] += 10
    return data


def oracle_clean(series):
    """Independent cleaning: numpy polyfit order-4 detrend, then scipy z-score."""
    t = np.arange(len(series))
    coef = polynomial.polyfit(t, series, 4)
    return stats.zscore(series - polynomial.polyval(t, coef).T, axis=0)


@pytest.fixture(scope="module")
def random_bids(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("random") / "bids", RUNS, random_data(seed=3), fps=FPS)


@pytest.fixture(scope="module")
def prepped(random_bids, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    average = prep(random_bids, out / "average", options=PrepOptions(frame_size=16), progress=False)
    separate = prep(random_bids, out / "separate", progress=False,
                    options=PrepOptions(frame_size=16, train_repeats="separate"))
    rescaled = prep(random_bids, out / "rescaled", progress=False,
                    options=PrepOptions(frame_size=16, rescale_after_average=True))
    return {"average": average, "separate": separate, "rescaled": rescaled, "bids": random_bids}


def raw_block(bids, spec):
    import nibabel as nib

    path = (bids / "derivatives/fmriprep" / f"sub-{spec.subject}/func"
            / f"{spec.stem}_space-fsLR_den-91k_bold.dtseries.nii")
    data = np.asarray(nib.load(path).get_fdata(), np.float64)
    return data[spec.start_extra: spec.start_extra + spec.n_tr]


def test_alignment_of_fmri_and_frames(tmp_path):
    bids = make_dataset(tmp_path / "bids", RUNS, spike_data, fps=FPS)
    (train, test) = prep(bids, tmp_path / "out", progress=False,
                         options=PrepOptions(frame_size=16, train_repeats="separate"))
    with open_store(train) as store:
        for row in range(len(store)):
            source = store.run_sources[store.runs[row]][0]
            index = next(i for i, r in enumerate(RUNS) if r.stem in source)
            spec, k = RUNS[index], store.tr_in_run[row]
            # The fMRI of row (movie TR k) is the volume start_extra + k of that very run.
            assert np.argmax(store.fmri[row, :spec.n_tr]) == (k - index) % spec.n_tr
            assert store.stimulus_files[store.stimulus[row]] == spec.stim_file
            assert store.stimulus_time[row] == pytest.approx(k * TR)
            # Its frames are those on screen at k*TR + m*TR/6, i.e. movie frames 24k + 4m.
            shown = [frame_index(f) for f in store.frames[row]]
            assert shown == [int(k * TR * FPS + m * TR * FPS / FRAMES_PER_TR) for m in range(FRAMES_PER_TR)]
        assert store.fps == pytest.approx(FRAMES_PER_TR / TR)
        assert store.frames.shape[1:] == (FRAMES_PER_TR, 16, 16, 3)
        # Separate viewings share one copy of each movie's frames.
        assert store._file["frames"].shape[0] == 8 + 7


def test_frames_sampled_at_any_frame_rate(tmp_path):
    runs = [RunSpec("01", "segA", 1, "segA.mp4", 8), RunSpec("01", "test1", 1, "test1.mp4", 8)]
    bids = make_dataset(tmp_path / "bids", runs, random_data(), fps=25)
    train, _ = prep(bids, tmp_path / "out", progress=False, options=PrepOptions(frame_size=8, frames_per_tr=4))
    with open_store(train) as store:
        # Row 2 starts at 4 s; at 25 fps, time 4 + m * 0.5 shows frame floor(25 * t).
        assert [frame_index(f) for f in store.frames[2]] == [100, 112, 125, 137]


def test_per_run_zscore_and_repeat_averaging(prepped):
    bids = prepped["bids"]
    with open_store(prepped["separate"][0]) as separate, open_store(prepped["average"][0]) as average:
        assert len(separate) == 2 * (8 + 7) and len(average) == 8 + 7
        for run in range(separate.runs.max() + 1):
            rows = separate.runs == run
            source = separate.run_sources[run][0]
            spec = next(r for r in RUNS if r.stem in source)
            expected = oracle_clean(raw_block(bids, spec)[:, VISUAL])
            np.testing.assert_allclose(separate.fmri[rows, : len(VISUAL)], expected, atol=2e-4)
            np.testing.assert_allclose(separate.fmri[rows, : len(VISUAL)].std(0), 1, atol=1e-3)
        for run in range(average.runs.max() + 1):
            rows = average.runs == run
            specs = [r for r in RUNS if any(r.stem in s for s in average.run_sources[run])]
            assert len(specs) == 2
            expected = np.mean([oracle_clean(raw_block(bids, s)[:, VISUAL]) for s in specs], axis=0)
            np.testing.assert_allclose(average.fmri[rows, : len(VISUAL)], expected, atol=2e-4)


def test_rescale_after_average_zscores_each_averaged_run_again(prepped):
    bids = prepped["bids"]
    for path in prepped["rescaled"]:
        with open_store(path) as store:
            assert store.attrs["prep_parameters"]["options"]["rescale_after_average"] is True
            assert "z-scored again" in store.attrs["fmri_units"]
            for run in range(store.runs.max() + 1):
                rows = store.runs == run
                specs = [r for r in RUNS if any(r.stem in s for s in store.run_sources[run])]
                mean = np.mean([oracle_clean(raw_block(bids, s)[:, VISUAL]) for s in specs], axis=0)
                expected = (mean - mean.mean(0)) / mean.std(0)
                np.testing.assert_allclose(store.fmri[rows, : len(VISUAL)], expected, atol=2e-4)
                np.testing.assert_allclose(store.fmri[rows, : len(VISUAL)].std(0), 1, atol=1e-3)
    with open_store(prepped["average"][1]) as plain:  # without it, 3 averaged viewings shrink the spread
        assert plain.attrs["prep_parameters"]["options"]["rescale_after_average"] is False
        assert plain.fmri[:, : len(VISUAL)].std(0).mean() < 0.9


def test_test_split_averages_all_viewings(prepped):
    bids = prepped["bids"]
    with open_store(prepped["average"][1]) as test:
        assert test.split == "test" and test.stimulus_files == ["test1.mp4"]
        assert len(test) == 6 and len(test.run_sources[0]) == 3
        specs = [r for r in RUNS if r.task == "test1"]
        expected = np.mean([oracle_clean(raw_block(bids, s)[:, VISUAL]) for s in specs], axis=0)
        np.testing.assert_allclose(test.fmri[:, : len(VISUAL)], expected, atol=2e-4)


def test_voxels_in_v1_to_v4_order_and_padded(prepped):
    with open_store(prepped["average"][0]) as store:
        assert store.n_voxels == 4183
        assert store.fmri.shape[1] == 4192 and store.fmri.shape[1] % 16 == 0
        np.testing.assert_array_equal(store.voxel_grayordinates[:4183], VISUAL)
        assert (store.voxel_grayordinates[4183:] == -1).all() and (store.voxel_rois[4183:] == "").all()
        assert (store.fmri[:, 4183:] == 0).all()
        blocks = [store.voxel_rois[0]]
        for label in store.voxel_rois[:4183]:
            if label != blocks[-1]:
                blocks.append(label)
        assert blocks == ["L_V1", "R_V1", "L_V2", "R_V2", "L_V3", "R_V3", "L_V4", "R_V4"]


def test_store_metadata_and_provenance(prepped):
    out = prepped["average"][0].parents[2]
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "neurocine"
    assert description["SourceDatasets"]
    with open_store(prepped["average"][0]) as store:
        attrs = store.attrs
        assert attrs["tr"] == TR and attrs["frames_per_tr"] == FRAMES_PER_TR
        assert attrs["prep_parameters"]["options"]["train_repeats"] == "average"
        inputs = attrs["inputs"]
        dtseries = [k for k in inputs if k.endswith(".dtseries.nii")]
        assert len(dtseries) == len(RUNS)  # every run read is recorded, with its sha256
        assert all(len(v) == 64 for v in inputs.values())
        assert "stimuli/segA.mp4" in inputs
    sidecar = json.loads(prepped["average"][0].with_suffix(".json").read_text())
    assert sidecar["voxel_selection"]["method"] == "mmp-visual"


def test_window_dataset_never_crosses_runs(prepped):
    runs = np.array([0, 0, 0, 1, 1, 2])
    tr_in_run = np.array([0, 1, 2, 0, 1, 0])
    np.testing.assert_array_equal(window_starts(runs, tr_in_run, 2), [0, 1, 3])
    np.testing.assert_array_equal(window_starts(runs, tr_in_run, 2, lag=1), [0])
    dataset = FMRIWindowDataset(prepped["average"][0], window=2)
    assert len(dataset) == (8 - 1) + (7 - 1)
    item = dataset[7]  # first window of the second movie
    assert item["fmri"].shape == (2, 4192) and item["frames"].shape == (2, 6, 16, 16, 3)
    with open_store(prepped["average"][0]) as store:
        np.testing.assert_array_equal(item["fmri"].numpy(), store.fmri[8:10])
        assert item["stimulus"] == 1


def test_reliability_selection_uses_training_runs_only(tmp_path):
    """Voxels are chosen on the training movies that are not held out: neither the test split's nor
    the validation movies' reliable voxels get in."""
    rng = np.random.default_rng(0)
    reliable_train = rng.choice(N_GRAYORDINATES, 40, replace=False)
    others = np.setdiff1d(np.arange(N_GRAYORDINATES), reliable_train)
    reliable_test, reliable_validation = rng.choice(others, (2, 40), replace=False)
    movies = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "test")
    held_out = ("e", "j")  # validation share 0.2 of 10: the last movie of each half
    signals = {s: np.random.default_rng(i).standard_normal(20) for i, s in enumerate(movies)}

    def data_fn(index, spec):
        noise = np.random.default_rng(100 + index).standard_normal((spec.n_volumes, N_GRAYORDINATES))
        stim = spec.stim_file[:-4]
        voxels = reliable_test if stim == "test" else reliable_validation if stim in held_out else reliable_train
        noise[spec.start_extra: spec.start_extra + spec.n_tr, voxels] += 6 * signals[stim][:, None]
        return noise

    # With 8 training movies the t-test (7 df) separates reliable voxels from 91k noisy ones.
    runs = [RunSpec("01", s, r, f"{s}.mp4", 20) for s in movies for r in (1, 2)]
    bids = make_dataset(tmp_path / "bids", runs, data_fn, fps=2, test_glob="test.mp4")
    train, _ = prep(bids, tmp_path / "out", progress=False,
                    options=PrepOptions(frame_size=8, voxels="reliability", reliability_top_n=40))
    with open_store(train) as store:
        # The 40 voxels reliable across training viewings, none of those reliable only in test or validation.
        assert set(store.voxel_grayordinates[:40].tolist()) == set(reliable_train.tolist())
        assert store.fmri.shape[1] == 48 and (store.voxel_grayordinates[40:] == -1).all()
        assert store.attrs["prep_parameters"]["voxel_selection"]["method"] == "reliability"
        assert store.validation_movies == ["e.mp4", "j.mp4"]
        assert store.attrs["prep_parameters"]["validation_movies"] == ["e.mp4", "j.mp4"]
        files = np.asarray(store.stimulus_files)[store.stimulus]
        np.testing.assert_array_equal(store.validation, np.isin(files, ["e.mp4", "j.mp4"]))


def test_reliability_threshold_is_bonferroni_corrected():
    rng = np.random.default_rng(1)
    n_movies, n_tr = 8, 40
    reliable = rng.choice(N_GRAYORDINATES, 25, replace=False)
    movies = []
    for _ in range(n_movies):
        signal = rng.standard_normal((n_tr, 1)).astype(np.float32)
        views = []
        for _ in range(2):
            view = rng.standard_normal((n_tr, N_GRAYORDINATES), dtype=np.float32)
            view[:, reliable] += 4 * signal
            views.append(view)
        movies.append(views)
    selector = ReliabilitySelector(p_threshold=0.05).fit(movies)
    np.testing.assert_array_equal(selector.indices_, np.sort(reliable))
    assert (selector.p_corrected_[reliable] < 0.05).all()
    # Uncorrected, noise alone would pass at p < 0.05 in about 5% of 91k grayordinates.
    noise = np.setdiff1d(np.arange(N_GRAYORDINATES), reliable)
    assert 0.03 < (selector.p_[noise] < 0.05).mean() < 0.07
    assert (selector.p_corrected_[noise] >= 0.05).all()
    with pytest.raises(NeurocineError, match="at least 2 training movies"):
        ReliabilitySelector().fit(movies[:1])


def test_hcp_style_derivative_and_database_cache(tmp_path):
    runs = [RunSpec("01", "segA", 1, "segA.mp4", 8), RunSpec("01", "test1", 1, "test1.mp4", 8)]
    bids = make_dataset(tmp_path / "bids", runs, random_data(), fps=4, pipeline="hcp", desc="preproc")
    db = tmp_path / "db"
    first = prep(bids, participant_labels=["sub-01"], bids_database_dir=db, progress=False,
                 options=PrepOptions(frame_size=8))
    assert first[0] == bids / "derivatives/neurocine/sub-01/func/sub-01_split-train_desc-neurocine_bold.h5"
    assert any(db.iterdir())
    second = prep(bids, tmp_path / "again", bids_database_dir=db, progress=False, options=PrepOptions(frame_size=8))
    with open_store(first[0]) as a, open_store(second[0]) as b:
        np.testing.assert_array_equal(a.fmri, b.fmri)


def test_nan_and_constant_voxels_are_zeroed_with_a_count(tmp_path, caplog):
    def data_fn(index, spec):
        data = random_data()(index, spec)
        data[:, VISUAL[:5]] = np.nan
        data[:, VISUAL[5:8]] = 3.0
        return data

    runs = [RunSpec("01", "segA", 1, "segA.mp4", 8), RunSpec("01", "test1", 1, "test1.mp4", 8)]
    bids = make_dataset(tmp_path / "bids", runs, data_fn, fps=2)
    with caplog.at_level("WARNING", logger="neurocine"):
        train, _ = prep(bids, tmp_path / "out", progress=False, options=PrepOptions(frame_size=8))
    assert any("8 of 4183 selected grayordinates are NaN or constant" in m for m in caplog.messages)
    with open_store(train) as store:
        assert np.isfinite(store.fmri).all()
        assert (store.fmri[:, :8] == 0).all() and (store.fmri[:, 8:4183] != 0).any(axis=0).all()


def test_copying_a_dataset_keeps_prep_reproducible(prepped, tmp_path):
    bids = shutil.copytree(prepped["bids"], tmp_path / "copy", symlinks=True,
                           ignore=shutil.ignore_patterns("neurocine"))
    again = prep(bids, tmp_path / "out", progress=False, options=PrepOptions(frame_size=16))
    with open_store(again[0]) as a, open_store(prepped["average"][0]) as b:
        np.testing.assert_array_equal(a.fmri, b.fmri)
        np.testing.assert_array_equal(a.frames[:], b.frames[:])


def test_read_dtseries_matches_nibabel(tmp_path):
    import nibabel as nib

    from neurocine_toolbox.data.cifti import read_dtseries, write_dtseries

    data = np.random.default_rng(5).standard_normal((9, N_GRAYORDINATES)).astype(np.float32)
    path = tmp_path / "x.dtseries.nii"
    write_dtseries(path, data, 1.5)
    reference = np.asarray(nib.load(path).get_fdata(), np.float32)
    loaded = read_dtseries(path, with_sha256=True)
    np.testing.assert_array_equal(loaded.data, reference)
    assert loaded.tr == 1.5
    import hashlib

    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(read_dtseries(path, columns=VISUAL[:7]).data, reference[:, VISUAL[:7]])


def test_validation_movies_are_a_share_of_the_training_movies_evenly_spread_or_named():
    from neurocine_toolbox.data.prep import validation_movies

    movies = [f"seg{i}.mp4" for i in range(1, 9)]
    assert validation_movies(movies, PrepOptions()) == ["seg4.mp4", "seg8.mp4"]  # 0.2 of 8: 2, one per half
    wen = [f"seg{i}.mp4" for i in range(1, 19)]
    assert validation_movies(wen, PrepOptions()) == ["seg4.mp4", "seg9.mp4", "seg13.mp4", "seg18.mp4"]
    assert validation_movies(movies, PrepOptions(validation_share=0)) == []
    assert validation_movies(movies[:2], PrepOptions()) == []  # 2 movies: both needed to cross-validate
    assert validation_movies(movies[:3], PrepOptions(validation_share=0.9)) == ["seg3.mp4"]  # leaves 2
    named = PrepOptions(validation_movies=("seg2.mp4", "seg5.mp4"))
    assert validation_movies(movies, named) == ["seg2.mp4", "seg5.mp4"]
    with pytest.raises(NeurocineError, match="not among the training movies"):
        validation_movies(movies, PrepOptions(validation_movies=("test1.mp4",)))
    with pytest.raises(NeurocineError, match="fewer than 2 to train on"):
        validation_movies(movies[:3], PrepOptions(validation_movies=("seg1.mp4", "seg2.mp4")))


def test_split_windows_keep_validation_movies_out_of_training(prepped, tmp_path):
    """With segB held out, the training windows are segA's and segC's, the validation windows segB's,
    and a training store's dataset never yields segB unless asked."""
    from neurocine_toolbox.data.clips import mean_training_window
    from neurocine_toolbox.data.dataset import split_window_starts

    runs = RUNS + [RunSpec("01", "segC", 1, "segC.mp4", 6), RunSpec("01", "segC", 2, "segC.mp4", 6)]
    bids = make_dataset(tmp_path / "bids", runs, random_data(seed=4), fps=FPS)
    train, test = prep(bids, tmp_path / "out", progress=False,
                       options=PrepOptions(frame_size=16, validation_movies=("segB.mp4",)))
    with open_store(train) as store:
        assert store.validation_movies == ["segB.mp4"] and store.validation.sum() == 7
        fit = split_window_starts(store, 2)
        held = split_window_starts(store, 2, split="validation")
        np.testing.assert_array_equal(fit, np.concatenate([np.arange(7), 15 + np.arange(5)]))
        np.testing.assert_array_equal(held, 8 + np.arange(6))
        assert len(FMRIWindowDataset(train, window=2)) == 12
        assert len(FMRIWindowDataset(train, window=2, split="validation")) == 6
        expected = np.stack([store.fmri[fit].mean(axis=0), store.fmri[fit + 1].mean(axis=0)])
        np.testing.assert_allclose(mean_training_window(train, 2), expected, rtol=1e-5, atol=1e-6)
        with pytest.raises(NeurocineError, match="in the test store"):
            split_window_starts(store, 2, split="test")
    from neurocine_toolbox.training.decoder_stages import FrameImages

    assert len(FrameImages(train, 16)) == (8 + 6) * 6  # the VAE's frames: segA's and segC's, not segB's
    with open_store(test) as store:
        assert not store.validation.any() and len(split_window_starts(store, 2)) == 5
        with pytest.raises(NeurocineError, match="in the train store"):
            split_window_starts(store, 2, split="validation")
    with open_store(prepped["average"][0]) as store:  # 2 training movies: none held out
        assert store.validation_movies == []
        with pytest.raises(NeurocineError, match="marks no validation movies"):
            split_window_starts(store, 2, split="validation")
