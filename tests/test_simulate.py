"""`neurocine simulate`: the BIDS tree, the CIFTI files, the movies, seeding, CLI and failures."""

import json

import av
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from neurocine_toolbox import NeurocineError
from neurocine_toolbox.cli.main import cli
from neurocine_toolbox.data.cifti import read_header
from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, is_standard_91k
from neurocine_toolbox.simulate import simulate_dataset
from neurocine_toolbox.simulate.classes import CLASSES

TINY = dict(n_train_segments=2, train_segment_seconds=12, n_test_segments=1,
            test_segment_seconds=8, test_repeats=2, movie_size=32)
TINY_CLI = ["--train-segments", "2", "--train-seconds", "12", "--test-segments", "1",
            "--test-seconds", "8", "--test-repeats", "2", "--movie-size", "32"]
# Acquisition order of the tiny dataset's runs: (task, run, seconds).
RUNS = [("seg1", 1, 12), ("seg1", 2, 12), ("seg2", 1, 12), ("seg2", 2, 12),
        ("test1", 1, 8), ("test1", 2, 8)]
BOLD = "space-fsLR_den-91k_bold"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return simulate_dataset(tmp_path_factory.mktemp("sim") / "bids", seed=0, progress=False, **TINY)


def _bold(root, task, run):
    return root / f"derivatives/fmriprep/sub-01/func/sub-01_task-{task}_run-{run}_{BOLD}"


def _events(root, task, run):
    return pd.read_csv(root / f"sub-01/func/sub-01_task-{task}_run-{run}_events.tsv", sep="\t")


def _decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, stream.average_rate


def test_tree_follows_bids_layout(tiny):
    raw = json.loads((tiny / "dataset_description.json").read_text())
    assert raw["DatasetType"] == "raw"
    assert (tiny / "README.md").read_text().startswith("# neurocine simulated")
    assert pd.read_csv(tiny / "participants.tsv", sep="\t")["participant_id"].tolist() == ["sub-01"]
    for name in ("seg1", "seg2", "test1"):
        assert (tiny / f"stimuli/{name}.mp4").is_file()
        clips = pd.read_csv(tiny / f"stimuli/{name}_clips.tsv", sep="\t")
        assert list(clips.columns) == ["onset", "duration", "class", "class_name", "shape",
                                       "colour", "direction", "caption"]
        assert clips["duration"].between(2, 6).all()
        assert np.allclose(clips["onset"], np.r_[0, np.cumsum(clips["duration"])[:-1]])
        for row in clips.itertuples():
            vc = CLASSES[row[3]]
            assert (row.class_name, row.shape, row.colour) == (vc.name, vc.shape, vc.colour)
            assert vc.colour in row.caption and row.caption.endswith("on a dark background")
    deriv = json.loads((tiny / "derivatives/fmriprep/dataset_description.json").read_text())
    assert deriv["DatasetType"] == "derivative"
    assert deriv["GeneratedBy"][0]["Name"] == "neurocine simulate"
    assert deriv["NeurocineTestStimuli"] == "test*.mp4"
    truth = json.loads((tiny / "derivatives/simulation/dataset_description.json").read_text())
    assert truth["DatasetType"] == "derivative"
    assert "AR(1)" in (tiny / "derivatives/simulation/README.md").read_text()
    for task, run, seconds in RUNS:
        events = _events(tiny, task, run)
        assert list(events.columns) == ["onset", "duration", "trial_type", "stim_file"]
        assert events.loc[0, "trial_type"] == "movie"
        assert events.loc[0, "stim_file"] == f"{task}.mp4"
        assert events.loc[0, "duration"] == seconds
        sidecar = json.loads(_bold(tiny, task, run).with_suffix(".json").read_text())
        assert sidecar["RepetitionTime"] == 2.0 and sidecar["TaskName"] == task
        assert sidecar["VolumesTrimmedAtEnd"] == 4


def test_pybids_finds_events_and_dtseries(tiny):
    from bids import BIDSLayout

    layout = BIDSLayout(tiny, derivatives=True, validate=False)
    events = layout.get(suffix="events", extension=".tsv")
    bold = layout.get(suffix="bold", extension=".dtseries.nii", space="fsLR", den="91k")
    assert len(events) == len(bold) == len(RUNS)
    found = {(f.entities["subject"], f.entities["task"], f.entities["run"]) for f in bold}
    assert found == {("01", task, run) for task, run, _ in RUNS}
    one = layout.get(subject="01", task="test1", run=2, suffix="bold", extension=".dtseries.nii")
    assert len(one) == 1 and one[0].entities["den"] == "91k"


def test_cifti_is_91k_with_extra_volumes_alternating(tiny):
    starts = []
    for task, run, seconds in RUNS:
        path = f"{_bold(tiny, task, run)}.dtseries.nii"
        header = read_header(path)  # checks the 91k grayordinate axis
        sidecar = json.loads(_bold(tiny, task, run).with_suffix(".json").read_text())
        start = sidecar["VolumesTrimmedAtStart"]
        starts.append(start)
        assert (header.n_volumes, header.n_grayordinates) == (start + seconds // 2 + 4, N_GRAYORDINATES)
        assert header.tr == sidecar["RepetitionTime"] == 2.0
        assert _events(tiny, task, run).loc[0, "onset"] == start * 2.0
    assert starts == [1, 2, 1, 2, 1, 2]
    img = nib.load(path)  # and nibabel's own reading of one of them
    assert is_standard_91k(img.header.get_axis(1)) is None
    assert img.header.get_axis(0).step == 2.0
    assert img.shape == (2 + 4 + 4, N_GRAYORDINATES) and img.get_data_dtype() == np.float32


def test_movies_decode_with_stated_fps_size_duration(tiny):
    for name, seconds in (("seg1", 12), ("test1", 8)):
        frames, rate = _decode(tiny / f"stimuli/{name}.mp4")
        assert rate == 30
        assert frames.shape == (seconds * 30, 32, 32, 3)


def test_classes_have_their_colour(tiny):
    palette = np.array([vc.rgb for vc in CLASSES[:5]]) * 255
    seen = set()
    for name in ("seg1", "seg2", "test1"):
        frames, _ = _decode(tiny / f"stimuli/{name}.mp4")
        clips = pd.read_csv(tiny / f"stimuli/{name}_clips.tsv", sep="\t")
        for clip in clips.itertuples():
            frame = frames[int(round((clip.onset + clip.duration / 2) * 30))].reshape(-1, 3).astype(float)
            shape_pixels = frame[frame.max(axis=1) > 150]  # the background is darker than 0.2
            assert len(shape_pixels) >= 5
            colour = shape_pixels.mean(axis=0)
            assert np.argmin(np.linalg.norm(palette - colour, axis=1)) == clip[3], (name, clip)
            seen.add(clip[3])
    assert len(seen) >= 4


def test_same_seed_same_data_other_seed_other_data(tiny, tmp_path):
    same = simulate_dataset(tmp_path / "same", seed=0, progress=False, **TINY)
    other = simulate_dataset(tmp_path / "other", seed=1, progress=False, **TINY)
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(same) for p in same.rglob("*") if p.is_file())
    for rel in files:  # movies included: the encoder is set up to be deterministic
        assert (tiny / rel).read_bytes() == (same / rel).read_bytes(), rel
    bold = f"derivatives/fmriprep/sub-01/func/sub-01_task-seg1_run-1_{BOLD}.dtseries.nii"
    a, b = (np.asarray(nib.load(r / bold).dataobj) for r in (tiny, other))
    assert a.shape == b.shape and not np.allclose(a, b)
    weights = "derivatives/simulation/sub-01/sub-01_desc-truth_encoding.npz"
    assert not np.array_equal(np.load(tiny / weights)["weights"], np.load(other / weights)["weights"])
    frames = {r: _decode(r / "stimuli/seg1.mp4")[0] for r in (tiny, same, other)}
    assert np.array_equal(frames[tiny], frames[same])
    assert not np.array_equal(frames[tiny], frames[other])


def test_cli_writes_then_refuses_non_empty_folder(tmp_path):
    out = tmp_path / "cli"
    runner = CliRunner()
    result = runner.invoke(cli, ["--quiet", "simulate", str(out), *TINY_CLI, "--subjects", "2", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert (out / "derivatives/simulation/sub-02/sub-02_desc-truth_encoding.npz").is_file()
    assert len(list(out.glob("sub-*/func/*_events.tsv"))) == 2 * len(RUNS)
    before = sorted(p.name for p in out.rglob("*"))
    again = runner.invoke(cli, ["--quiet", "simulate", str(out), *TINY_CLI])
    assert again.exit_code != 0
    message = again.output.strip()
    assert "\n" not in message and "not empty" in message and str(out) in message
    assert sorted(p.name for p in out.rglob("*")) == before


def test_cli_bad_option_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "bad"
    result = CliRunner().invoke(cli, ["--quiet", "simulate", str(out), *TINY_CLI, "--movie-size", "33"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "movie_size" in result.output
    assert not out.exists()


def test_bad_options_raise_neurocine_error(tmp_path):
    with pytest.raises(NeurocineError, match="whole number of TRs"):
        simulate_dataset(tmp_path / "a", progress=False, **{**TINY, "train_segment_seconds": 13})
    with pytest.raises(NeurocineError, match="unknown simulation option"):
        simulate_dataset(tmp_path / "a", progress=False, n_train=3)
    with pytest.raises(NeurocineError, match="unknown preset"):
        simulate_dataset(tmp_path / "a", preset="huge", progress=False)
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_output(tmp_path, monkeypatch, error):
    from neurocine_toolbox.data.cifti import DtseriesWriter

    written = []
    original = DtseriesWriter.write

    def failing_write(self, path, data):
        if len(written) == 3:
            raise error
        written.append(path)
        original(self, path, data)

    monkeypatch.setattr(DtseriesWriter, "write", failing_write)
    out = tmp_path / "interrupted"
    with pytest.raises(type(error)):
        simulate_dataset(out, progress=False, **TINY)
    assert len(written) == 3  # it did fail midway, after writing files
    assert not out.exists()
