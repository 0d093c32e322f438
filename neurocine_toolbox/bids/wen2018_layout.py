"""Read the folder layout of the Wen et al. 2018 release, recording its defects.

The release (Purdue PURR, one download per subject plus one for the movies) unpacks to::

    video_fmri_dataset/
      stimuli/seg1.mp4 … seg18.mp4, test1.mp4 … test5.mp4
      subject1/fmri/seg1/cifti/seg1_1_Atlas.dtseries.nii     (repeat 1; HCP 91k CIFTI)
                         mni/seg1_1_mni.nii.gz              (MNI volume)
                         raw/seg1_1.nii.gz                  (unprocessed volume)

Nothing here opens a data file: it only lists names, so that :mod:`.wen2018` can decide what
to convert. Known defects of the release are recognised and recorded, never fatal.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NeurocineError

TRAIN_SEGMENTS = tuple(f"seg{i}" for i in range(1, 19))
TEST_SEGMENTS = tuple(f"test{i}" for i in range(1, 6))
#: Viewings of each movie in the experiment (Wen et al. 2018).
EXPECTED_REPEATS = {"seg": 2, "test": 10}

#: Runs that peers leave out, keyed by (subject, segment, repeat).
KNOWN_BAD_RUNS = {
    (3, "test2", 9): (
        "the release README says the fMRI recording of subject3 session test2_9 ran about 10 s "
        "behind the movie; peers (e.g. Mind-Animator) average the other 9 repeats"
    ),
}

_SUBJECT = re.compile(r"^subject(\d+)$")
_SEGMENT = re.compile(r"^(seg|test)(\d+)$")
_STIMULUS = re.compile(r"^((?:seg|test)\d+)\.mp4$")
# Per kind of file: the released name, and a looser pattern that still identifies the repeat
# (subject1's test1_9.mni.nii.gz uses a dot where the others use an underscore).
_KINDS = {
    "cifti": ("{seg}_{rep}_Atlas.dtseries.nii", r"^{seg}[._](\d+)[._]Atlas\.dtseries\.nii$"),
    "mni": ("{seg}_{rep}_mni.nii.gz", r"^{seg}[._](\d+)[._]mni\.nii\.gz$"),
    "raw": ("{seg}_{rep}.nii.gz", r"^{seg}[._](\d+)\.nii\.gz$"),
}


@dataclass
class Defect:
    """Something in the release that differs from its documented layout, and what was done."""

    kind: str
    message: str
    action: str
    path: str | None = None
    subject: int | None = None
    segment: str | None = None
    repeat: int | None = None

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class ReleaseRun:
    """One viewing of one movie segment by one subject, as files of the release."""

    subject: int
    segment: str
    repeat: int
    files: dict = field(default_factory=dict)  # kind ("cifti", "mni", "raw") -> Path

    @property
    def cifti(self):
        return self.files.get("cifti")


@dataclass
class Release:
    """What :func:`scan_release` found: runs per subject, stimuli, defects."""

    root: Path
    subjects: dict  # subject number -> list of ReleaseRun (sorted)
    stimuli: dict  # stimulus file name ("seg1.mp4") -> Path
    defects: list
    not_selected: list = field(default_factory=list)

    def relative(self, path):
        """``path`` relative to the release root's parent (``video_fmri_dataset/...``)."""
        return Path(path).relative_to(self.root.parent).as_posix()


def segment_kind(segment):
    """``"seg"`` (training) or ``"test"``."""
    return _SEGMENT.match(segment).group(1)


def find_release_root(raw_dir):
    """Return the ``video_fmri_dataset`` folder, given it or its parent.

    Raises
    ------
    NeurocineError
        If ``raw_dir`` is missing or holds no ``subject<N>`` folder either way.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.exists():
        raise NeurocineError("folder not found (expected video_fmri_dataset/ or its parent)", raw_dir)
    if not raw_dir.is_dir():
        raise NeurocineError("not a folder (expected video_fmri_dataset/ or its parent)", raw_dir)
    for candidate in (raw_dir / "video_fmri_dataset", raw_dir):
        if candidate.is_dir() and _subject_folders(candidate):
            return candidate
    raise NeurocineError(
        "no subject<N>/ folder here or in video_fmri_dataset/ below it; "
        "unpack each subject's bundle into one video_fmri_dataset/ folder",
        raw_dir,
    )


def _subject_folders(root):
    found = {}
    for entry in root.iterdir():
        match = _SUBJECT.match(entry.name)
        if match and entry.is_dir():
            found[int(match.group(1))] = entry
    return found


def scan_release(raw_dir, subjects=None):
    """List the runs and stimuli of the release under ``raw_dir``.

    Parameters
    ----------
    raw_dir : str or Path
        ``video_fmri_dataset/`` or the folder holding it.
    subjects : iterable of int, optional
        Subjects to scan (default: every ``subject<N>`` folder).

    Returns
    -------
    Release

    Raises
    ------
    NeurocineError
        If the release is not found, or a requested subject is not in it.
    """
    root = find_release_root(raw_dir)
    available = _subject_folders(root)
    selected = sorted(available) if not subjects else sorted(set(int(s) for s in subjects))
    missing = [s for s in selected if s not in available]
    if missing:
        found = ", ".join(f"subject{s}" for s in sorted(available))
        raise NeurocineError(f"no subject{missing[0]}/ folder (found: {found})", root)
    release = Release(root=root, subjects={}, stimuli={}, defects=[])
    release.not_selected = [s for s in sorted(available) if s not in selected]
    for entry in sorted(root.iterdir()):
        if entry.name == "stimuli" or (_SUBJECT.match(entry.name) and entry.is_dir()):
            continue
        release.defects.append(_unexpected(release, entry))
    _scan_stimuli(release)
    for number in selected:
        release.subjects[number] = _scan_subject(release, number, available[number])
    return release


def _unexpected(release, path, **where):
    what = "folder" if path.is_dir() else "file"
    return Defect(
        kind="unexpected_file",
        message=f"{what} not part of the documented release layout",
        action="ignored",
        path=release.relative(path),
        **where,
    )


def _scan_stimuli(release):
    folder = release.root / "stimuli"
    if not folder.is_dir():
        release.defects.append(
            Defect(
                kind="missing_stimuli",
                message="no stimuli/ folder (the movies are a separate download)",
                action="events still name the movies; put seg*.mp4 and test*.mp4 in BIDS_DIR/stimuli/",
                path=release.relative(folder),
            )
        )
        return
    for entry in sorted(folder.iterdir()):
        match = _STIMULUS.match(entry.name)
        if match and entry.is_file():
            release.stimuli[entry.name] = entry
        else:
            release.defects.append(_unexpected(release, entry))


def _scan_subject(release, number, folder):
    fmri = folder / "fmri"
    for entry in sorted(folder.iterdir()):
        if entry.name != "fmri":
            release.defects.append(_unexpected(release, entry, subject=number))
    if not fmri.is_dir():
        release.defects.append(
            Defect("missing_folder", "subject has no fmri/ folder", "no run converted",
                   release.relative(fmri), number)
        )
        return []
    segments = {}
    for entry in sorted(fmri.iterdir()):
        if _SEGMENT.match(entry.name) and entry.is_dir():
            segments[entry.name] = entry
        else:
            release.defects.append(_unexpected(release, entry, subject=number))
    for segment in TRAIN_SEGMENTS + TEST_SEGMENTS:
        if segment not in segments:
            release.defects.append(
                Defect("missing_segment", "segment folder not in the release", "none converted",
                       release.relative(fmri / segment), number, segment)
            )
    runs = []
    for segment in sorted(segments, key=_segment_order):
        if segment not in TRAIN_SEGMENTS + TEST_SEGMENTS:
            release.defects.append(
                Defect("unexpected_segment", "segment not among seg1-18 / test1-5",
                       "converted like the others", release.relative(segments[segment]), number, segment)
            )
        runs.extend(_scan_segment(release, number, segment, segments[segment]))
    return runs


def _segment_order(name):
    kind, index = _SEGMENT.match(name).groups()
    return (kind != "seg", int(index))


def _scan_segment(release, number, segment, folder):
    where = {"subject": number, "segment": segment}
    runs = {}
    for entry in sorted(folder.iterdir()):
        if entry.name not in _KINDS or not entry.is_dir():
            release.defects.append(_unexpected(release, entry, **where))
            continue
        for path, repeat in _files_of_kind(release, entry, segment, where):
            expected = _released_name(entry.name, segment, repeat)
            run = runs.setdefault(repeat, ReleaseRun(number, segment, repeat))
            if entry.name in run.files:
                release.defects.append(
                    Defect("duplicate_file", f"a second {entry.name} file for repeat {repeat}",
                           f"ignored; kept {run.files[entry.name].name}", release.relative(path),
                           repeat=repeat, **where)
                )
                continue
            if path.name != expected:
                action = f"used as repeat {repeat}" if entry.name == "cifti" else (
                    f"recognised as repeat {repeat}; {entry.name} volumes are not converted")
                release.defects.append(
                    Defect("misnamed_file", f"name differs from the release's pattern ({expected})",
                           action, release.relative(path), repeat=repeat, **where)
                )
            run.files[entry.name] = path
    documented = range(1, EXPECTED_REPEATS[segment_kind(segment)] + 1)
    for repeat in documented:
        if repeat not in runs or runs[repeat].cifti is None:
            path = folder / "cifti" / _released_name("cifti", segment, repeat)
            release.defects.append(
                Defect("missing_run", f"no CIFTI file for repeat {repeat}", "run not converted",
                       release.relative(path), repeat=repeat, **where)
            )
    for repeat in sorted(set(runs) - set(documented)):
        release.defects.append(
            Defect("unexpected_repeat", f"repeat {repeat} beyond the {len(documented)} documented",
                   "converted like the others", release.relative(folder), repeat=repeat, **where)
        )
    return [run for _, run in sorted(runs.items()) if run.cifti is not None]


def _released_name(kind, segment, repeat):
    return _KINDS[kind][0].format(seg=segment, rep=repeat)


def _files_of_kind(release, folder, segment, where):
    """Yield ``(path, repeat)`` for the files of one kind folder, released names first."""
    pattern = re.compile(_KINDS[folder.name][1].format(seg=re.escape(segment)))
    matched = []
    for path in sorted(folder.iterdir()):
        match = pattern.match(path.name) if path.is_file() else None
        if match:
            repeat = int(match.group(1))
            # Released names sort first so that a misnamed duplicate never displaces one.
            misnamed = path.name != _released_name(folder.name, segment, repeat)
            matched.append((misnamed, path.name, path, repeat))
        else:
            release.defects.append(_unexpected(release, path, **where))
    for *_, path, repeat in sorted(matched):
        yield path, repeat
