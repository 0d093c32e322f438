"""Every bad input to prep: one clear line naming the file, exit != 0, nothing half-written."""

import json
import os
import shutil

import numpy as np
import pytest

from bids_factory import RunSpec, make_dataset, random_data, write_movie
from neurocine_toolbox.data.cifti import DtseriesWriter
from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, mmp_visual_grayordinates

RUNS = [
    RunSpec("01", "segA", 1, "segA.mp4", 8, start_extra=1),
    RunSpec("01", "segA", 2, "segA.mp4", 8, start_extra=2),
    RunSpec("01", "test1", 1, "test1.mp4", 8, start_extra=1),
]
FUNC = "derivatives/fmriprep/sub-01/func"
BOLD = f"{FUNC}/sub-01_task-segA_run-1_space-fsLR_den-91k_bold"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("base") / "bids", RUNS, random_data(), fps=3)


@pytest.fixture
def bids(base, tmp_path):
    return shutil.copytree(base, tmp_path / "bids")


def fails(invoke, args, *needles):
    """Run prep, check it failed with one line containing ``needles``; return the output dir."""
    result = invoke(["--quiet", "prep", *map(str, args)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurocine: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def assert_nothing_written(bids):
    out = bids / "derivatives" / "neurocine"
    assert not out.exists() or not any(out.rglob("*")), list(out.rglob("*"))


def test_missing_derivative_description(bids, invoke):
    os.remove(bids / "derivatives/fmriprep/dataset_description.json")
    fails(invoke, [bids], "derivatives/fmriprep/dataset_description.json", "missing")
    assert_nothing_written(bids)


def test_subject_without_dtseries(bids, invoke):
    func = bids / "sub-02" / "func"
    func.mkdir(parents=True)
    shutil.copy(bids / "sub-01/func/sub-01_task-segA_run-1_events.tsv", func / "sub-02_task-segA_run-1_events.tsv")
    fails(invoke, [bids, "--participant-label", "02"], "no CIFTI dtseries", "sub-02")
    fails(invoke, [bids], "sub-02")  # all subjects: refused before sub-01 is written
    assert_nothing_written(bids)


def test_unknown_participant_label(bids, invoke):
    fails(invoke, [bids, "--participant-label", "01", "07"], "no subject '07'", "found: 01")
    assert_nothing_written(bids)


def test_truncated_cifti(bids, invoke):
    path = bids / f"{BOLD}.dtseries.nii"
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 1000)
    fails(invoke, [bids], path.name, "truncated")
    assert_nothing_written(bids)


def test_not_a_cifti_file(bids, invoke):
    (bids / f"{BOLD}.dtseries.nii").write_bytes(b"this is not a NIfTI file at all" * 40)
    fails(invoke, [bids], f"{BOLD.split('/')[-1]}.dtseries.nii", "not a readable CIFTI-2 file")
    assert_nothing_written(bids)


def test_non_91k_cifti(bids, invoke):
    from nibabel.cifti2 import BrainModelAxis

    small = BrainModelAxis.from_surface(np.arange(100), 32492, "CIFTI_STRUCTURE_CORTEX_LEFT")
    DtseriesWriter(2.0, small).write(bids / f"{BOLD}.dtseries.nii", np.zeros((13, 100)))
    fails(invoke, [bids], BOLD.split("/")[-1], "not in the HCP 91k fs_LR grayordinate space")
    assert_nothing_written(bids)


def test_tr_mismatch(bids, invoke):
    sidecar = bids / f"{BOLD}.json"
    sidecar.write_text(json.dumps({"RepetitionTime": 1.5}))
    fails(invoke, [bids], BOLD.split("/")[-1], "TR mismatch", "1.5", "2")
    assert_nothing_written(bids)


def test_events_without_stim_file(bids, invoke):
    events = bids / "sub-01/func/sub-01_task-segA_run-2_events.tsv"
    events.write_text("onset\tduration\ttrial_type\n4.0\t16.0\tmovie\n")
    fails(invoke, [bids], events.name, "stim_file")
    assert_nothing_written(bids)


def test_missing_movie(bids, invoke):
    os.remove(bids / "stimuli/test1.mp4")
    fails(invoke, [bids], "stimuli/test1.mp4", "movie not found")
    assert_nothing_written(bids)


def test_unreadable_movie(bids, invoke):
    (bids / "stimuli/test1.mp4").write_bytes(b"\x00garbage" * 100)
    fails(invoke, [bids], "stimuli/test1.mp4", "unreadable movie")
    assert_nothing_written(bids)


def test_movie_shorter_than_events(bids, invoke):
    write_movie(bids / "stimuli/segA.mp4", n_frames=3 * 10, fps=3)  # 10 s; events say 16 s
    fails(invoke, [bids], "segA.mp4", "shorter than its events say")
    assert_nothing_written(bids)


def test_output_is_bids_dir_or_inside_it(bids, invoke):
    fails(invoke, [bids, bids], "the BIDS folder itself")
    fails(invoke, [bids, bids / "sub-01" / "prep"], "outside its derivatives/")
    assert not (bids / "sub-01" / "prep").exists()
    assert_nothing_written(bids)


def test_too_many_nan_voxels(tmp_path, invoke):
    visual, _ = mmp_visual_grayordinates()

    def data_fn(index, spec):
        data = random_data()(index, spec)
        if index == 1:
            data[:, visual[:500]] = np.nan  # 12% of the 4,183 selected grayordinates
        return data

    bids = make_dataset(tmp_path / "bids", RUNS, data_fn, fps=3)
    line = fails(invoke, [bids], "sub-01_task-segA_run-2", "500 of 4183", "NaN or constant", "10%")
    assert "--max-bad-fraction" in line
    assert_nothing_written(bids)
    result = invoke(["prep", bids, "--max-bad-fraction", "0.2", "--frame-size", "16"])
    assert result.exit_code == 0, result.output
    assert "500 of 4183 selected grayordinates are NaN or constant; set to 0" in result.stderr


def test_no_test_split(bids, invoke):
    description = bids / "derivatives/fmriprep/dataset_description.json"
    data = json.loads(description.read_text())
    del data["NeurocineTestStimuli"]
    description.write_text(json.dumps(data))
    fails(invoke, [bids], "--test-stimuli")
    fails(invoke, [bids, "--test-stimuli", "nothing*.mp4"], "matches the test glob 'nothing*.mp4'")
    assert_nothing_written(bids)


def test_interrupted_prep_leaves_nothing(bids, invoke, monkeypatch):
    from neurocine_toolbox.data import prep as prep_module

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prep_module, "sample_frames", explode)
    result = invoke(["prep", bids])
    assert result.exit_code == 130
    assert_nothing_written(bids)
    assert not (bids / "derivatives" / "neurocine").exists()


def test_good_run_through_the_cli(bids, invoke, tmp_path):
    result = invoke(["prep", bids, "--participant-label", "sub-01", "--frame-size", "16", "--frames-per-tr", "2"])
    assert result.exit_code == 0, result.stderr
    written = sorted((bids / "derivatives/neurocine").rglob("*.h5"))
    assert [p.name for p in written] == ["sub-01_split-test_desc-neurocine_bold.h5",
                                         "sub-01_split-train_desc-neurocine_bold.h5"]
    assert not list((bids / "derivatives/neurocine").rglob(".staging-*"))
    assert N_GRAYORDINATES == 91282


def test_validation_movies_that_are_not_training_movies(bids, invoke):
    fails(invoke, [bids, "--validation-movies", "test1.mp4"], "--validation-movies names test1.mp4",
          "not among the training movies")
    assert_nothing_written(bids)
    fails(invoke, [bids, "--validation-movies", "segA.mp4"], "leaves fewer than 2 to train on")
    assert_nothing_written(bids)
