"""`neurocine convert-wen2018` on a tiny copy of the Wen 2018 release layout (tests/wen2018_fake.py)."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from neurocine_toolbox.bids.wen2018 import DERIVATIVE_NAME, RECORD_PATH
from neurocine_toolbox.bids.wen2018_layout import scan_release
import re

from neurocine_toolbox.cli.multi_value import expand_multi_value
from neurocine_toolbox.cli.main import cli
from neurocine_toolbox.utils.atomic import StagedOutput

from wen2018_fake import build_fake_release, write_cifti

BAD_RUN = (3, "test2", 9)


def convert(*args):
    return CliRunner().invoke(cli, ["--quiet", "convert-wen2018", *map(str, args)])


def expected_runs(release, subjects=(1, 2, 3)):
    return {key: n for key, n in release.volumes.items() if key[0] in subjects and key != BAD_RUN}


def stem(subject, segment, repeat):
    return f"sub-{subject:02d}_task-{segment}_run-{repeat}"


def bold_path(bids, subject, segment, repeat):
    func = bids / "derivatives" / DERIVATIVE_NAME / f"sub-{subject:02d}" / "func"
    return func / f"{stem(subject, segment, repeat)}_space-fsLR_den-91k_bold.dtseries.nii"


def events_path(bids, subject, segment, repeat):
    return bids / f"sub-{subject:02d}" / "func" / f"{stem(subject, segment, repeat)}_events.tsv"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return build_fake_release(tmp_path_factory.mktemp("wen"))


@pytest.fixture(scope="module")
def bids(release, tmp_path_factory):
    """The release's parent folder converted with symbolic links (the default)."""
    out = tmp_path_factory.mktemp("converted") / "bids"
    result = convert(release.parent, out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def record(bids):
    return json.loads((bids / RECORD_PATH).read_text())


def test_writes_one_events_file_and_one_dtseries_per_run(release, bids):
    runs = expected_runs(release)
    events = {p.name for p in bids.glob("sub-*/func/*_events.tsv")}
    assert events == {f"{stem(*key)}_events.tsv" for key in runs}
    dtseries = {p.name for p in bids.glob(f"derivatives/{DERIVATIVE_NAME}/sub-*/func/*.dtseries.nii")}
    assert dtseries == {bold_path(bids, *key).name for key in runs}
    participants = pd.read_csv(bids / "participants.tsv", sep="\t")
    assert participants["participant_id"].tolist() == ["sub-01", "sub-02", "sub-03"]
    assert participants["release_folder"].tolist() == ["subject1", "subject2", "subject3"]
    raw = json.loads((bids / "dataset_description.json").read_text())
    deriv = json.loads((bids / "derivatives" / DERIVATIVE_NAME / "dataset_description.json").read_text())
    assert (raw["DatasetType"], deriv["DatasetType"]) == ("raw", "derivative")
    assert deriv["GeneratedBy"][0]["Name"] == "Wen 2018 release (HCP minimal preprocessing)"
    assert deriv["NeurocineTestStimuli"] == "test*.mp4"
    assert "derivatives/wen2018-hcp/" in (bids / "README.md").read_text()
    assert not list(bids.glob(".staging-*"))


def test_events_carry_wen_trimming_as_onset(release, bids):
    seen = set()
    for key, n_volumes in expected_runs(release).items():
        events = pd.read_csv(events_path(bids, *key), sep="\t")
        assert events.columns.tolist() == ["onset", "duration", "trial_type", "stim_file"]
        row = events.iloc[0]
        assert len(events) == 1
        assert row["onset"] == {245: 2.0, 246: 4.0}[n_volumes]
        assert row["duration"] == 480.0
        assert (row["trial_type"], row["stim_file"]) == ("movie", f"{key[1]}.mp4")
        seen.add(n_volumes)
    assert seen == {245, 246}  # the fixture exercises both rules


def test_sidecars_describe_each_run(release, bids):
    for key, n_volumes in expected_runs(release).items():
        sidecar = json.loads(bold_path(bids, *key).with_suffix("").with_suffix(".json").read_text())
        assert sidecar["RepetitionTime"] == 2.0
        assert sidecar["TaskName"] == key[1]
        assert sidecar["NumberOfVolumes"] == n_volumes
        assert sidecar["VolumesTrimmedAtStart"] == {245: 1, 246: 2}[n_volumes]
        assert sidecar["VolumesTrimmedAtEnd"] == 4
        assert release.parent / sidecar["Sources"][0] == release.cifti(*key)


def test_links_are_absolute_and_point_at_the_release(release, bids):
    for key in expected_runs(release):
        link = bold_path(bids, *key)
        assert link.is_symlink()
        target = Path(os.readlink(link))
        assert target.is_absolute() and target.samefile(release.cifti(*key))
    stimuli = sorted(p.name for p in (bids / "stimuli").iterdir())
    assert stimuli == ["seg1.mp4", "seg2.mp4", "test1.mp4", "test2.mp4"]
    assert all((bids / "stimuli" / name).is_symlink() for name in stimuli)
    assert (bids / "stimuli/test1.mp4").read_bytes() == (release.root / "stimuli/test1.mp4").read_bytes()


def test_known_defects_are_recorded_and_the_bad_repeat_excluded(bids, record):
    defects = record["Defects"]
    misnamed = [d for d in defects if d["kind"] == "misnamed_file"]
    assert [(d["path"], d["subject"], d["repeat"]) for d in misnamed] == [
        ("video_fmri_dataset/subject1/fmri/test1/mni/test1_9.mni.nii.gz", 1, 9)
    ]
    excluded = [d for d in defects if d["kind"] == "excluded_run"]
    assert [(d["subject"], d["segment"], d["repeat"]) for d in excluded] == [BAD_RUN]
    assert not events_path(bids, *BAD_RUN).exists()
    assert not bold_path(bids, *BAD_RUN).exists()
    assert events_path(bids, 1, "test2", 9).exists()  # only subject 3's repeat is bad
    unexpected = [d["path"] for d in defects if d["kind"] == "unexpected_file"]
    assert unexpected == ["video_fmri_dataset/subject2/fmri/training_fmri.mat"]
    missing = {(d["subject"], d["segment"]) for d in defects if d["kind"] == "missing_segment"}
    assert (2, "seg18") in missing and (3, "test5") in missing and (1, "seg1") not in missing
    assert len(missing) == 3 * (16 + 3)
    assert any("245-volume" in text for text in record["Decisions"])
    runs = {r["run"]: r for r in record["Runs"]}
    assert runs["sub-01_task-test2_run-1"]["onset"] == 4.0
    assert runs["sub-02_task-seg1_run-2"]["trimmed_start"] == 1


def test_pybids_finds_events_and_dtseries_with_entities(release, bids):
    from bids import BIDSLayout

    layout = BIDSLayout(bids, derivatives=True, validate=False)
    n_runs = len(expected_runs(release))
    assert len(layout.get(suffix="events", extension=".tsv", scope="raw")) == n_runs
    bold = layout.get(suffix="bold", extension=".dtseries.nii", space="fsLR", den="91k")
    assert len(bold) == n_runs
    one = layout.get(subject="03", task="test2", run=10, suffix="bold", extension=".dtseries.nii")
    assert len(one) == 1
    entities = one[0].get_entities()
    assert {k: entities[k] for k in ("subject", "task", "run", "space", "den")} == {
        "subject": "03", "task": "test2", "run": 10, "space": "fsLR", "den": "91k"
    }
    assert layout.get_metadata(one[0].path)["RepetitionTime"] == 2.0
    assert layout.get(subject="03", task="test2", run=9, suffix="bold") == []


def test_copy_from_the_dataset_folder_keeps_release_subject_numbers(release, tmp_path):
    out = tmp_path / "bids"
    result = convert(release.root, out, "--copy", "--subjects", "3", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("sub-*")) == ["sub-01", "sub-03"]
    copied = bold_path(out, 3, "seg2", 1)
    assert copied.is_file() and not copied.is_symlink()
    assert copied.read_bytes() == release.cifti(3, "seg2", 1).read_bytes()
    stimulus = out / "stimuli" / "test2.mp4"
    assert stimulus.is_file() and not stimulus.is_symlink()
    record = json.loads((out / RECORD_PATH).read_text())
    assert record["Mode"] == "copy" and record["SubjectsNotSelected"] == ["subject2"]
    assert not any(d.get("subject") == 2 for d in record["Defects"])


def test_a_run_with_an_undocumented_length_is_skipped_and_recorded(tmp_path):
    release = build_fake_release(tmp_path / "raw", subjects=(1,), train=("seg1",), test=())
    write_cifti(release.cifti(1, "seg1", 2), 250)
    result = convert(release.parent, tmp_path / "bids")
    assert result.exit_code == 0, result.output
    assert events_path(tmp_path / "bids", 1, "seg1", 1).exists()
    assert not events_path(tmp_path / "bids", 1, "seg1", 2).exists()
    record = json.loads((tmp_path / "bids" / RECORD_PATH).read_text())
    skipped = [d for d in record["Defects"] if d["kind"] == "unexpected_volume_count"]
    assert [(d["segment"], d["repeat"], d["action"]) for d in skipped] == [("seg1", 2, "run skipped")]
    assert "250 volumes" in skipped[0]["message"]


def test_misnamed_cifti_is_used_and_a_misnamed_duplicate_ignored(tmp_path):
    release = build_fake_release(tmp_path, subjects=(1,), train=("seg1",), test=(), stimuli=False)
    cifti = release.cifti(1, "seg1", 2)
    cifti.rename(cifti.with_name("seg1.2_Atlas.dtseries.nii"))
    duplicate = release.cifti(1, "seg1", 1).with_name("seg1_1.Atlas.dtseries.nii")
    duplicate.write_bytes(release.cifti(1, "seg1", 1).read_bytes())
    found = scan_release(release.root)
    assert [(r.repeat, r.cifti.name) for r in found.subjects[1]] == [
        (1, "seg1_1_Atlas.dtseries.nii"), (2, "seg1.2_Atlas.dtseries.nii")
    ]
    kinds = {(d.kind, Path(d.path).name) for d in found.defects}
    assert ("misnamed_file", "seg1.2_Atlas.dtseries.nii") in kinds
    assert ("duplicate_file", "seg1_1.Atlas.dtseries.nii") in kinds
    assert ("missing_stimuli", "stimuli") in kinds


def test_missing_movies_are_recorded_and_events_still_name_them(tmp_path):
    release = build_fake_release(tmp_path / "raw", subjects=(2,), train=("seg1",), test=(), stimuli=False)
    result = convert(release.parent, tmp_path / "bids")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "stimuli" in result.output
    events = pd.read_csv(events_path(tmp_path / "bids", 2, "seg1", 1), sep="\t")
    assert events["stim_file"].tolist() == ["seg1.mp4"]
    record = json.loads((tmp_path / "bids" / RECORD_PATH).read_text())
    assert [d["kind"] for d in record["Defects"]].count("missing_stimuli") == 1


def _corrupt_header(release):
    path = release.cifti(1, "seg1", 2)
    path.write_bytes(b"\x00" * 64 + b"not a CIFTI header")
    return path


@pytest.mark.parametrize(
    "problem", ["missing_raw", "no_subjects", "non_empty_output", "corrupt_header", "absent_subject"]
)
def test_bad_input_stops_with_one_line_and_writes_nothing(tmp_path, problem):
    release = build_fake_release(tmp_path / "raw", subjects=(1,), train=("seg1",), test=())
    raw, out, named = release.parent, tmp_path / "bids", None
    extra = []
    if problem == "missing_raw":
        raw = named = tmp_path / "nowhere"
    elif problem == "no_subjects":
        raw = named = tmp_path / "empty"
        (raw / "video_fmri_dataset" / "stimuli").mkdir(parents=True)
    elif problem == "non_empty_output":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        named = out
    elif problem == "corrupt_header":
        named = _corrupt_header(release)
    else:
        extra, named = ["--subjects", "2"], release.root
    result = convert(raw, out, *extra)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("neurocine: error:") and str(named) in lines[0]
    if problem == "non_empty_output":
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    else:
        assert not out.exists()


def test_an_existing_empty_output_folder_is_left_empty_on_failure(tmp_path):
    release = build_fake_release(tmp_path / "raw", subjects=(1,), train=("seg1",), test=())
    _corrupt_header(release)
    out = tmp_path / "bids"
    out.mkdir()
    assert convert(release.parent, out).exit_code != 0
    assert list(out.iterdir()) == []


def test_subjects_option_takes_several_values_in_any_form():
    expanded = ["a", "b", "--subjects", "1", "--subjects", "3"]
    assert _expand_subjects(["a", "b", "--subjects", "1", "3"]) == expanded
    assert _expand_subjects(["--subjects=1,3", "a", "b"]) == ["--subjects", "1", "--subjects", "3", "a", "b"]
    assert _expand_subjects(["--subjects", "2", "raw", "bids"]) == ["--subjects", "2", "raw", "bids"]
    assert _expand_subjects(["--", "--subjects", "1"]) == ["--", "--subjects", "1"]


def test_staged_output_moves_symbolic_links_as_links(tmp_path):
    target = tmp_path / "original.bin"
    target.write_bytes(b"data")
    with StagedOutput(tmp_path / "out") as stage:
        os.symlink(target, stage.path("a/link.bin"))
        os.symlink(tmp_path / "gone.bin", stage.path("a/dangling.bin"))
        stage.commit()
    assert os.readlink(tmp_path / "out/a/link.bin") == str(target)
    assert os.readlink(tmp_path / "out/a/dangling.bin") == str(tmp_path / "gone.bin")


def _expand_subjects(args):
    return expand_multi_value(args, {"--subjects": re.compile(r"\d+")})
