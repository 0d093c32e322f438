"""`neurocine convert-hcp7t` on a small copy of the HCP 7T movie release (tests/hcp7t_fake.py), then prep."""

import json
import os

import av
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from numpy.polynomial import polynomial
from scipy import stats

from neurocine_toolbox.bids.hcp7t import DERIVATIVE_NAME, RECORD_PATH, TEST_STIMULUS
from neurocine_toolbox.bids.hcp7t_layout import parse_clip_timing, select_timing
from neurocine_toolbox.cli.main import cli
from neurocine_toolbox.data import open_store
from neurocine_toolbox.data.grayordinates import mmp_visual_grayordinates
from neurocine_toolbox.data.prep import PrepOptions, prep
from neurocine_toolbox.errors import NeurocineError

from hcp7t_fake import (
    CLIPS, FPS, PRE_FLAG, SUBJECTS, build_fake_hcp7t, link_release, read_picture, run_blocks, timing_csv,
    write_fake_movie, write_small_dtseries,
)

RUN_NAMES = {1: "movie1_dir-AP", 2: "movie2_dir-PA", 3: "movie3_dir-PA", 4: "movie4_dir-AP"}
TRAIN = [f"movie{run}_clip{m}.mp4" for run in (1, 2, 3, 4) for m in (1, 2)]
# From the fake timing: each run's test clip starts its first whole TR here and covers 8 TRs. Run 1's
# copy starts at 30.04 s and run 2's at 30.5 s (8 whole TRs in 9 s); runs 3 and 4 start on a TR and
# would cover 10 and 9 TRs: all are cut to 8. Every run's clips span volumes 4 to the test clip's end.
TEST_FIRST_TR = {1: 31, 2: 31, 3: 30, 4: 31}
TEST_N_TR = 8
TRAIN_N_TR = {"movie1_clip1.mp4": 9, "movie1_clip2.mp4": 8, "movie2_clip1.mp4": 11, "movie2_clip2.mp4": 7,
              "movie3_clip1.mp4": 8, "movie3_clip2.mp4": 10, "movie4_clip1.mp4": 12, "movie4_clip2.mp4": 7}


def convert(*args):
    return CliRunner().invoke(cli, ["--quiet", "convert-hcp7t", *map(str, args)])


def events_path(bids, subject, run):
    return bids / f"sub-{subject}" / "func" / f"sub-{subject}_task-{RUN_NAMES[run]}_events.tsv"


def bold_path(bids, subject, run):
    func = bids / "derivatives" / DERIVATIVE_NAME / f"sub-{subject}" / "func"
    return func / f"sub-{subject}_task-{RUN_NAMES[run]}_space-fsLR_den-91k_bold.dtseries.nii"


def movie_frames(path):
    """``(frame numbers, flags)`` of every frame of a fake movie or a clip cut from one."""
    with av.open(str(path)) as container:
        pictures = [read_picture(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    return [k for k, _ in pictures], {flag for _, flag in pictures}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_fake_hcp7t(tmp_path_factory.mktemp("hcp") / "raw")


@pytest.fixture(scope="module")
def bids(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted") / "bids"
    result = convert(release.root, out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def record(bids):
    return json.loads((bids / RECORD_PATH).read_text())


def test_writes_the_bids_tree_with_links_and_clips(release, bids, record):
    for subject in SUBJECTS:
        for run in (1, 2, 3, 4):
            assert events_path(bids, subject, run).is_file()
            link = bold_path(bids, subject, run)
            assert link.is_symlink() and os.path.isabs(os.readlink(link))
            assert link.samefile(release.dtseries(subject, run))
            sidecar = json.loads(link.with_suffix("").with_suffix(".json").read_text())
            assert sidecar["RepetitionTime"] == 1.0 and sidecar["Registration"] == "MSMAll"
            assert release.root / sidecar["Sources"][0] == release.dtseries(subject, run)
    assert sorted(p.name for p in (bids / "stimuli").iterdir()) == sorted(TRAIN + [TEST_STIMULUS])
    participants = pd.read_csv(bids / "participants.tsv", sep="\t", dtype=str)
    assert participants["participant_id"].tolist() == [f"sub-{s}" for s in SUBJECTS]
    raw = json.loads((bids / "dataset_description.json").read_text())
    deriv = json.loads((bids / "derivatives" / DERIVATIVE_NAME / "dataset_description.json").read_text())
    assert (raw["DatasetType"], deriv["DatasetType"]) == ("raw", "derivative")
    assert deriv["NeurocineTestStimuli"] == "test*.mp4"
    assert f"derivatives/{DERIVATIVE_NAME}/" in (bids / "README.md").read_text()
    assert record["MovieVersion"] == "post" and record["TimingSections"]["run-3"] == "7T_MOVIE3_CC2_v2"
    assert record["Notes"] == [] and not list(bids.glob(".staging-*"))


def test_events_have_one_row_per_block_and_the_test_clip_in_whole_trs(bids):
    for run in (1, 2, 3, 4):
        events = pd.read_csv(events_path(bids, SUBJECTS[0], run), sep="\t", keep_default_na=False,
                             dtype={"hcp_block": str})
        assert events.columns.tolist() == ["onset", "duration", "trial_type", "stim_file", "hcp_block"]
        blocks = run_blocks(run)
        assert events["hcp_block"].astype(str).tolist() == [label for label, _, _ in blocks]
        np.testing.assert_allclose(events["onset"], [start for _, start, _ in blocks])
        rest = events[events["trial_type"] == "rest"]
        assert len(rest) == 4 and set(rest["stim_file"]) == {"n/a"} and set(rest["duration"]) == {4.0}
        clips = events[events["trial_type"] == "clip"]
        assert clips["stim_file"].tolist() == [f"movie{run}_clip1.mp4", f"movie{run}_clip2.mp4"]
        np.testing.assert_allclose(clips["duration"], CLIPS[run][0])
        test = events[events["trial_type"] == "test_clip"].iloc[0]
        assert test["stim_file"] == TEST_STIMULUS
        # The duration reaches the end of the 8th whole TR after the first TR at or after the onset.
        np.testing.assert_allclose(test["onset"] + test["duration"], TEST_FIRST_TR[run] + TEST_N_TR)
        assert test["duration"] <= CLIPS[run][1]
    # Both subjects saw the same runs: identical events.
    for run in (1, 2, 3, 4):
        assert events_path(bids, SUBJECTS[0], run).read_text() == events_path(bids, SUBJECTS[1], run).read_text()


def test_each_clip_holds_its_own_frames_of_the_movie(bids, record):
    clips = {c["stim_file"]: c for c in record["Clips"]}
    for run in (1, 2, 3, 4):
        for m, (label, start, end) in enumerate([b for b in run_blocks(run) if b[0] != "0"][:-1], start=1):
            frames, flags = movie_frames(bids / "stimuli" / f"movie{run}_clip{m}.mp4")
            first = int(np.ceil(start * FPS - 1e-6))
            assert frames == list(range(first, first + int(np.ceil((end - start) * FPS - 1e-6)))), label
            assert flags == {0}  # the post-2014 version
            assert clips[f"movie{run}_clip{m}.mp4"]["frames"] == len(frames)
    # The test clip: run 1's copy from 30.04 s, as long as the shortest copy (9 s).
    frames, _ = movie_frames(bids / "stimuli" / TEST_STIMULUS)
    assert frames == list(range(181, 181 + 9 * FPS))
    assert clips[TEST_STIMULUS]["hcp_blocks"] == ["1.3", "2.3", "3.3", "4.3"]
    assert clips[TEST_STIMULUS]["split"] == "test"


def clean(block):
    t = np.arange(len(block))
    return stats.zscore(block - polynomial.polyval(t, polynomial.polyfit(t, block, 4)).T, axis=0)


def test_prep_reads_the_converted_tree_and_averages_the_four_test_viewings(release, bids):
    train, test = prep(bids, participant_labels=[SUBJECTS[0]], progress=False,
                       options=PrepOptions(frame_size=48, frames_per_tr=2))
    visual, _ = mmp_visual_grayordinates()
    with open_store(test) as store:
        assert store.stimulus_files == [TEST_STIMULUS] and len(store) == TEST_N_TR
        expected = np.mean([
            clean(release.data[(SUBJECTS[0], run)][4:first + TEST_N_TR, visual].astype(np.float64))[
                first - 4:first - 4 + TEST_N_TR]
            for run, first in TEST_FIRST_TR.items()
        ], axis=0)
        np.testing.assert_allclose(store.fmri[:, :len(visual)], expected, atol=3e-4)
        # Frames follow run 1's viewing: it starts 0.96 s into the clip (onset 30.04 s, first TR 31 s).
        shown = [[read_picture(f)[0] for f in row] for row in store.frames]
        wanted = [[181 + int(np.floor((0.96 + j + 0.5 * f) * FPS + 1e-6)) for f in (0, 1)] for j in range(TEST_N_TR)]
        assert shown == wanted
    with open_store(train) as store:
        assert store.stimulus_files == TRAIN
        lengths = {name: int((store.stimulus == i).sum()) for i, name in enumerate(store.stimulus_files)}
        assert lengths == TRAIN_N_TR
        assert 0 < int(store.validation.sum()) < len(store)


def test_pre_version_msmsulc_copy_and_one_subject(release, tmp_path):
    out = tmp_path / "bids"
    result = convert(release.root, out, "--copy", "--subjects", SUBJECTS[1], "--movie-version", "pre",
                     "--registration", "msmsulc")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("sub-*")) == [f"sub-{SUBJECTS[1]}"]
    copied = bold_path(out, SUBJECTS[1], 2)
    assert copied.is_file() and not copied.is_symlink()
    assert copied.read_bytes() == release.dtseries(SUBJECTS[1], 2, "msmsulc").read_bytes()
    _, flags = movie_frames(out / "stimuli" / "movie2_clip1.mp4")
    assert flags == {PRE_FLAG}  # cut from Pre_20140821_version/
    record = json.loads((out / RECORD_PATH).read_text())
    assert record["MovieVersion"] == "pre" and record["Registration"] == "msmsulc"
    assert record["SubjectsNotSelected"] == [SUBJECTS[0]]
    # The fake timing file, like the release's as others read it, has only _v2 sections.
    assert len(record["Notes"]) == 4 and "7T_MOVIE1_CC1_v2" in record["Notes"][0]


def _damage(release, root, problem):
    """Make ``problem`` in a linked copy of the release; return what the error must name."""
    fake = link_release(release, root)
    subject = SUBJECTS[1]
    if problem == "missing_run":
        fake.dtseries(subject, 3).unlink()
        fake.dtseries(subject, 3, "msmsulc").unlink()
        return fake.dtseries(subject, 3)
    if problem == "other_registration_only":
        fake.dtseries(subject, 3).unlink()
        return fake.dtseries(subject, 3)
    if problem == "only_1.6mm_files":
        path = fake.dtseries(subject, 1)
        path.unlink()
        path.with_name("tfMRI_MOVIE1_7T_AP_Atlas_1.6mm_MSMAll_hp2000_clean.dtseries.nii").write_bytes(b"")
        return path
    if problem == "59k_grayordinates":
        write_small_dtseries(fake.dtseries(subject, 2), 44, n_grayordinates=170494)
        return fake.dtseries(subject, 2)
    if problem == "not_91k":
        write_small_dtseries(fake.dtseries(subject, 2), 44)
        return fake.dtseries(subject, 2)
    if problem == "wrong_tr":
        write_small_dtseries(fake.dtseries(subject, 4), 2, tr=2.0)
        return fake.dtseries(subject, 4)
    if problem == "clip_after_last_volume":
        write_small_dtseries(fake.dtseries(subject, 4), 30)
        return fake.dtseries(subject, 4)
    if problem == "clip_after_movie_end":
        fake.movie(2).unlink()
        write_fake_movie(fake.movie(2), 20.0)
        return fake.timing
    fake.timing.unlink()
    if problem == "unreadable_timing":
        fake.timing.write_bytes(b"\x00\x01PK\x03\x04 not a csv")
    elif problem == "malformed_timing":
        fake.timing.write_text(timing_csv().replace("1.2,17.04,26.04", "1.2,17.04,26:04"), newline="")
    elif problem == "test_clips_differ":
        fake.timing.write_text(timing_csv().replace("2.3,30.5,39.5,9.00", "2.3,30.5,34.5,4.00"), newline="")
    return fake.timing


@pytest.mark.parametrize("problem, words", [
    ("missing_run", f"run 3 of subject {SUBJECTS[1]} is missing"),
    ("other_registration_only", "use --registration msmsulc"),
    ("only_1.6mm_files", "wb_command -cifti-resample"),
    ("59k_grayordinates", "170494 grayordinates (the 1.6 mm, 59k fs_LR files), not the 91,282"),
    ("not_91k", "10 grayordinates, not the 91,282 of 32k fs_LR at 2 mm"),
    ("wrong_tr", "TR of 2 s"),
    ("clip_after_last_volume", "after the last of its 30 volumes"),
    ("clip_after_movie_end", "7T_MOVIE2_HO1_v2.mp4 lasts 20.00 s"),
    ("unreadable_timing", "not a text file"),
    ("malformed_timing", "line 6"),
    ("test_clips_differ", "differ in length"),
])
def test_bad_input_stops_with_one_line_and_writes_nothing(release, tmp_path, problem, words):
    named = _damage(release, tmp_path / "raw", problem)
    out = tmp_path / "bids"
    result = convert(tmp_path / "raw", out)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("neurocine: error:") and str(named) in lines[0] and words in lines[0], lines[0]
    assert not out.exists()


def test_a_full_output_folder_and_an_absent_subject_are_refused(release, tmp_path):
    out = tmp_path / "bids"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert "not empty" in convert(release.root, out).output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    result = convert(release.root, tmp_path / "other", "--subjects", "999999")
    assert result.exit_code == 1 and "no subject folder 999999/" in result.output
    result = convert(release.root, tmp_path / "other", "--subjects", "1234")
    assert result.exit_code == 2 and "6-digit" in result.output
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("line_end", ["\r", "\r\n", "\n"])
def test_timing_parser_reads_every_line_end(tmp_path, line_end):
    path = tmp_path / "timing.csv"
    path.write_bytes(timing_csv(line_end=line_end).encode())
    if line_end == "\r":
        assert b"\n" not in path.read_bytes()  # old Mac line ends only
    sections = parse_clip_timing(path)
    assert [(s.run, s.name, s.version) for s in sections] == [
        (1, "7T_MOVIE1_CC1_v2", "post"), (2, "7T_MOVIE2_HO1_v2", "post"),
        (3, "7T_MOVIE3_CC2_v2", "post"), (4, "7T_MOVIE4_HO2_v2", "post"),
    ]
    for section in sections:
        assert [(b.label, b.start, b.end) for b in section.blocks] == run_blocks(section.run)
        assert section.test_clip.label == f"{section.run}.3"
        assert [b.label for b in section.train_clips] == [f"{section.run}.1", f"{section.run}.2"]


def test_timing_sections_are_chosen_by_movie_version(tmp_path):
    path = tmp_path / "timing.csv"
    path.write_text("Clip timing, HCP 7T\r" + timing_csv(versions=("pre", "post")), newline="")
    sections = parse_clip_timing(path)
    for version, name in (("pre", "7T_MOVIE4_HO2"), ("post", "7T_MOVIE4_HO2_v2")):
        timing, notes = select_timing(sections, version, path)
        assert timing[4].name == name and notes == []
    post_only = [s for s in sections if s.version == "post"]
    timing, notes = select_timing(post_only, "pre", path)
    assert timing[1].name == "7T_MOVIE1_CC1_v2" and len(notes) == 4


@pytest.mark.parametrize("text, words", [
    ("", "no line names a movie run"),
    ("1.1,4,13,9\r", "before any line naming a movie"),
    ("7T_MOVIE1_CC1_v2\r0,0,4,4\r1.1,4,13,9\r", "lists 1 clip(s)"),
    ("7T_MOVIE1_CC1_v2\r1.1,4,13,7\r", "duration 7 s is not end - start"),
    ("7T_MOVIE1_CC1_v2\r2.1,4,13,9\r", "clip 2.1 is in the section of 7T_MOVIE1_CC1_v2"),
    ("7T_MOVIE1_CC1_v2\r1.1,4,13,9\r1.2,12,20,8\r", "before the block above it ends"),
    ("7T_MOVIE1_CC1_v2\r1.2,4,13,9\r1.1,14,20,6\r", "numbers its clips [2, 1]"),
    ("7T_MOVIE7_XX\r", "run 7"),
])
def test_timing_parser_refuses_what_it_cannot_read(tmp_path, text, words):
    path = tmp_path / "timing.csv"
    path.write_text(text, newline="")
    with pytest.raises(NeurocineError) as caught:
        parse_clip_timing(path)
    message = str(caught.value)
    assert words in message and str(path) in message and "\n" not in message


def test_a_failure_while_cutting_clips_leaves_nothing(release, tmp_path, monkeypatch):
    from neurocine_toolbox.bids import hcp7t

    real, calls = hcp7t.cut_movie, []

    def cut_then_fail(path, segments, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise NeurocineError("cannot decode movie (simulated)", path)
        return real(path, segments, **kwargs)

    monkeypatch.setattr(hcp7t, "cut_movie", cut_then_fail)
    out = tmp_path / "bids"
    result = convert(release.root, out)
    assert result.exit_code == 1 and "simulated" in result.output
    assert len(calls) == 2 and not out.exists()
