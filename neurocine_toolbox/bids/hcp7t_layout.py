"""Read the layout of the HCP 7T movie-watching release (HCP-YA S1200) and its clip timing.

``convert-hcp7t`` expects, under one folder (``RAW_DIR``)::

    RAW_DIR/
      100610/MNINonLinear/Results/tfMRI_MOVIE1_7T_AP/tfMRI_MOVIE1_7T_AP_Atlas_MSMAll_hp2000_clean.dtseries.nii
                                  tfMRI_MOVIE2_7T_PA/…  tfMRI_MOVIE3_7T_PA/…  tfMRI_MOVIE4_7T_AP/…
      102311/…                    (one folder per subject, named by its 6-digit HCP ID)
      …/Pre_20140821_version/7T_MOVIE1_CC1.mp4, 7T_MOVIE2_HO1.mp4, 7T_MOVIE3_CC2.mp4, 7T_MOVIE4_HO2.mp4
      …/Post_20140821_version/7T_MOVIE1_CC1_v2.mp4 … 7T_MOVIE4_HO2_v2.mp4
      …/HCP_7T_Movie_Clip_Timing.csv

The subject folders are what the ConnectomeDB package ``{sub}_7T_MOVIE_2mm_fix.zip`` unpacks to
(91,282 grayordinates, 32k fs_LR, 2 mm). ``_Atlas_MSMAll_hp2000_clean`` is the MSMAll
registration, ``_Atlas_hp2000_clean`` MSMSulc. The movie folders and the timing file (the
"7T Movie Resources" of the S1200 project page) may sit anywhere up to four folders below
``RAW_DIR``, outside the subject folders, but only once each.

What is verified and what is assumed (sources: HCP's packaging scripts and wiki pages, and
other people's code; the timing file itself was not available to the authors of this module):

- Verified from HCP's own material: the run folder names and phase-encoding directions
  (MOVIE1 AP, MOVIE2 PA, MOVIE3 PA, MOVIE4 AP), the dtseries names of the 2 mm FIX package, TR
  1 s, the two movie versions (subjects scanned before 2014-08-22 saw the first), and that
  ``HCP_7T_Movie_Clip_Timing.csv`` gives the start and stop of every clip and REST block.
- From other people's code only: the movie file and folder names; 921, 918, 915 and 901 volumes
  for MOVIE1–4; the timing file's format, read here as described next.
- The timing file is taken to hold one section per run, opened by a line whose first cell names
  the movie (``7T_MOVIE1_CC1_v2``: run 1; ``_v2`` marks the post-2014-08-21 version, no suffix
  the earlier one), then rows ``label,start,end[,duration]`` in seconds from the start of the
  run: label ``0`` is a REST block, ``N.M`` clip M of run N. Other lines whose cells hold no
  number (a column header such as ``movie.block,start,stop,duration``, whatever its words) are
  skipped; old Mac (``\\r``), Windows and Unix line ends are all read. Anything else is refused
  with the line's number.
- The last clip of every run is the same repeated clip (about 84 s, a Vimeo montage) and becomes
  the test split; its copies may differ in length by a TR or so, never by more than
  :data:`TEST_CLIP_TOLERANCE` seconds. Run time 0 is movie time 0 (the movie starts with the
  first volume; the REST blocks are in the mp4). If the file has sections of only one version,
  they are used for the other version too, and the conversion says so.
"""

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NeurocineError

#: Run number -> (phase-encoding direction, film code in the movie's name).
RUNS = {1: ("AP", "CC1"), 2: ("PA", "HO1"), 3: ("PA", "CC2"), 4: ("AP", "HO2")}
#: Volumes per run in the release (other people's code and papers; not in HCP's own pages).
PUBLISHED_VOLUMES = {1: 921, 2: 918, 3: 915, 4: 901}
#: Repetition time of the 7T movie runs (HCP 7T protocol), seconds.
TR = 1.0
#: Dense-timeseries name ending per registration (2 mm / 32k fs_LR, FIX-denoised).
REGISTRATIONS = {"msmall": "_Atlas_MSMAll_hp2000_clean", "msmsulc": "_Atlas_hp2000_clean"}
#: Movie version -> (folder, suffix of the movie's name).
MOVIE_VERSIONS = {"pre": ("Pre_20140821_version", ""), "post": ("Post_20140821_version", "_v2")}
TIMING_NAME = "HCP_7T_Movie_Clip_Timing.csv"
#: Largest difference in seconds between the runs' copies of the repeated test clip.
TEST_CLIP_TOLERANCE = 2.0
#: Largest mismatch in seconds between a timing row's duration and its end - start.
DURATION_TOLERANCE = 0.1
#: How deep below RAW_DIR the movie folders and the timing file are looked for.
SEARCH_DEPTH = 4

_SUBJECT = re.compile(r"^\d{6}$")
_SECTION = re.compile(r"^7T_MOVIE(\d+)", re.IGNORECASE)
_LABEL = re.compile(r"^(\d+)(?:\.(\d+))?$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def run_folder(run):
    """``tfMRI_MOVIE1_7T_AP`` for run 1."""
    return f"tfMRI_MOVIE{run}_7T_{RUNS[run][0]}"


def dtseries_name(run, registration):
    """File name of run ``run``'s FIX-denoised 91k dtseries for ``registration``."""
    return f"{run_folder(run)}{REGISTRATIONS[registration]}.dtseries.nii"


def movie_name(run, version):
    """``7T_MOVIE1_CC1_v2.mp4`` for run 1, version ``"post"``."""
    return f"7T_MOVIE{run}_{RUNS[run][1]}{MOVIE_VERSIONS[version][1]}.mp4"


@dataclass(frozen=True)
class TimingBlock:
    """One row of the timing file: a REST block (label ``0``) or clip M of run N (``N.M``)."""

    label: str
    start: float
    end: float
    line: int

    @property
    def is_rest(self):
        return self.label == "0"

    @property
    def clip(self):
        """M of label ``N.M``; None for a REST block."""
        return None if self.is_rest else int(self.label.split(".")[1])

    @property
    def duration(self):
        return self.end - self.start


@dataclass
class RunTiming:
    """One section of the timing file: the blocks of one run of one movie version."""

    run: int
    name: str  # the section's first cell, e.g. "7T_MOVIE1_CC1_v2"
    version: str  # "pre" or "post"
    line: int
    blocks: list = field(default_factory=list)

    @property
    def clips(self):
        return [b for b in self.blocks if not b.is_rest]

    @property
    def test_clip(self):
        """The run's last clip: the repeated clip that ends every run."""
        return self.clips[-1]

    @property
    def train_clips(self):
        return self.clips[:-1]

    @property
    def end(self):
        """End of the last block (the run's length if the file lists the final REST block)."""
        return self.blocks[-1].end


def _cells(line):
    return [cell.strip() for cell in next(csv.reader([line]), [])]


def _read_lines(path):
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise NeurocineError("clip timing file not found", path)
    except OSError as err:
        raise NeurocineError(f"cannot read the clip timing file ({err.strerror})", path)
    if b"\x00" in raw:
        raise NeurocineError("not a text file (NUL bytes); expected the HCP clip timing CSV", path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    # str.splitlines splits on \r, \r\n and \n alike (the file has old Mac line ends).
    return text.splitlines()


def parse_clip_timing(path):
    """Read ``HCP_7T_Movie_Clip_Timing.csv`` into its sections (format: module docstring).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of RunTiming
        In the file's order; every section has its blocks in time order and at least two clips.

    Raises
    ------
    NeurocineError
        One line naming the file (and the line) it cannot read.
    """
    sections = []
    for number, line in enumerate(_read_lines(path), start=1):
        cells = _cells(line)
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        section = _SECTION.match(cells[0])
        if section:
            run = int(section.group(1))
            if run not in RUNS:
                raise NeurocineError(f"line {number}: {cells[0]!r} names movie run {run}; runs are 1-4", path)
            name = cells[0].removesuffix(".mp4")
            version = "post" if name.lower().endswith("_v2") else "pre"
            sections.append(RunTiming(run, name, version, number))
            continue
        label = _LABEL.match(cells[0])
        numeric = [_NUMBER.match(c) is not None for c in cells[1:]]
        if not label and not any(numeric):
            continue  # a column header or a note
        if not label or len(cells) < 3 or not all(numeric[:3]):
            raise NeurocineError(
                f"line {number} ({line.strip()[:60]!r}) is not 'label,start,end,duration' "
                "with label 0 (REST) or N.M (clip M of run N)", path)
        if not sections:
            raise NeurocineError(f"line {number}: a timing row before any line naming a movie (7T_MOVIE1_…)", path)
        sections[-1].blocks.append(_block(path, number, sections[-1], label, cells))
    if not sections:
        raise NeurocineError("no line names a movie run (7T_MOVIE1_…): not the HCP 7T clip timing file", path)
    for section in sections:
        _check_section(path, section)
    return sections


def _block(path, number, section, label, cells):
    run, clip = int(label.group(1)), label.group(2)
    if clip is None and run != 0:
        raise NeurocineError(f"line {number}: label {cells[0]!r} is neither 0 (REST) nor N.M (a clip)", path)
    if clip is not None and run != section.run:
        raise NeurocineError(
            f"line {number}: clip {cells[0]} is in the section of {section.name} (run {section.run})", path)
    start, end = float(cells[1]), float(cells[2])
    if not 0 <= start < end:
        raise NeurocineError(f"line {number}: start {start:g} s and end {end:g} s do not make a block", path)
    if len(cells) > 3 and abs(float(cells[3]) - (end - start)) > DURATION_TOLERANCE:
        raise NeurocineError(
            f"line {number}: duration {float(cells[3]):g} s is not end - start ({end - start:g} s)", path)
    return TimingBlock("0" if clip is None else f"{run}.{int(clip)}", start, end, number)


def _check_section(path, section):
    if len(section.clips) < 2:
        raise NeurocineError(
            f"section {section.name} (line {section.line}) lists {len(section.clips)} clip(s); every run "
            "has training clips and ends with the repeated test clip", path)
    previous = None
    for block in section.blocks:
        if previous is not None and block.start < previous.end - DURATION_TOLERANCE:
            raise NeurocineError(
                f"line {block.line}: block {block.label} starts at {block.start:g} s, before the block "
                f"above it ends ({previous.end:g} s); rows must be in time order", path)
        previous = block
    numbers = [b.clip for b in section.clips]
    if numbers != list(range(1, len(numbers) + 1)):
        raise NeurocineError(
            f"section {section.name} (line {section.line}) numbers its clips {numbers}, not 1, 2, … in order", path)


def select_timing(sections, version, path):
    """Pick each run's section for a movie version.

    Returns
    -------
    timing : dict
        Run number -> RunTiming.
    notes : list of str
        What was assumed (a section of the other version used for a run).

    Raises
    ------
    NeurocineError
        A run without any section, two sections for one run and version, or repeated test clips
        whose lengths differ by more than :data:`TEST_CLIP_TOLERANCE`.
    """
    timing, notes = {}, []
    for run in RUNS:
        found = [s for s in sections if s.run == run]
        chosen = [s for s in found if s.version == version]
        if len(chosen) > 1:
            raise NeurocineError(
                f"two sections for run {run} of the {version} version (lines {chosen[0].line} and "
                f"{chosen[1].line})", path)
        if not found:
            raise NeurocineError(f"no section for run {run} ({movie_name(run, version)[:-4]})", path)
        if not chosen:
            other = found[0]
            notes.append(
                f"the timing file has no section for run {run} of the {version} version; the "
                f"{other.version} version's ({other.name}) was used, checked only against the movie's length")
            chosen = [other]
        timing[run] = chosen[0]
    lengths = [timing[run].test_clip.duration for run in RUNS]
    if max(lengths) - min(lengths) > TEST_CLIP_TOLERANCE:
        shown = ", ".join(f"{timing[r].test_clip.label}: {timing[r].test_clip.duration:g} s" for r in RUNS)
        raise NeurocineError(
            f"the last clips of the runs differ in length by more than {TEST_CLIP_TOLERANCE:g} s ({shown}); "
            "expected the same repeated test clip to end every run", path)
    return timing, notes


@dataclass
class Hcp7tRelease:
    """What :func:`scan_release` found: each subject's runs, the movies, the clip timing."""

    root: Path
    subjects: dict  # HCP ID -> {run number: dtseries Path}
    movies: dict  # run number -> mp4 Path
    timing: dict  # run number -> RunTiming
    timing_path: Path
    movie_version: str
    registration: str
    notes: list = field(default_factory=list)
    not_selected: list = field(default_factory=list)

    def relative(self, path):
        """``path`` relative to ``RAW_DIR`` (as written into sidecars and the record)."""
        return Path(path).relative_to(self.root).as_posix()


def scan_release(raw_dir, subjects=None, movie_version="post", registration="msmall"):
    """List the subjects' movie runs, the movies and the clip timing under ``raw_dir``.

    Parameters
    ----------
    raw_dir : str or Path
        The folder holding the subject folders and the movie resources.
    subjects : iterable of str or int, optional
        HCP IDs to convert (default: every 6-digit folder).
    movie_version : {"pre", "post"}
        Movies shown before or after 2014-08-21.
    registration : {"msmall", "msmsulc"}

    Returns
    -------
    Hcp7tRelease

    Raises
    ------
    NeurocineError
        One line naming what is missing or unreadable: the folder, a subject, a run's dtseries,
        a movie, the timing file.
    """
    if movie_version not in MOVIE_VERSIONS:
        raise NeurocineError(f"movie version must be pre or post, not {movie_version!r}")
    if registration not in REGISTRATIONS:
        raise NeurocineError(f"registration must be msmall or msmsulc, not {registration!r}")
    root = Path(raw_dir)
    if not root.is_dir():
        raise NeurocineError("folder not found (expected the folder holding the HCP subject folders)", root)
    available = sorted(p.name for p in root.iterdir() if p.is_dir() and _SUBJECT.match(p.name))
    if not available:
        raise NeurocineError("no subject folder (6-digit HCP ID, e.g. 100610/) here; unpack each subject's "
                             "7T_MOVIE_2mm_fix package into this folder", root)
    selected = sorted({str(s) for s in subjects}) if subjects else available
    for subject in selected:
        if subject not in available:
            raise NeurocineError(f"no subject folder {subject}/ (found: {', '.join(available[:5])}"
                                 f"{', ...' if len(available) > 5 else ''})", root)
    release = Hcp7tRelease(root, {}, {}, {}, None, movie_version, registration)
    release.not_selected = [s for s in available if s not in selected]
    for subject in selected:
        release.subjects[subject] = {run: _find_run(root / subject, run, registration) for run in RUNS}
    folder_name = MOVIE_VERSIONS[movie_version][0]
    movies = _find_one(root, folder_name, want_dir=True,
                       missing="the 7T movie resources (unpack them into RAW_DIR)")
    for run in RUNS:
        path = movies / movie_name(run, movie_version)
        if not path.is_file():
            raise NeurocineError(f"movie not found (the {movie_version}-2014-08-21 version of run {run})", path)
        release.movies[run] = path
    release.timing_path = _find_one(root, TIMING_NAME, want_dir=False,
                                    missing="the clip timing file of the 7T movie resources")
    sections = parse_clip_timing(release.timing_path)
    release.timing, release.notes = select_timing(sections, movie_version, release.timing_path)
    return release


def _find_run(subject_dir, run, registration):
    folder = subject_dir / "MNINonLinear" / "Results" / run_folder(run)
    path = folder / dtseries_name(run, registration)
    if path.is_file():
        return path
    if folder.is_dir():
        others = sorted(p.name for p in folder.glob("*.dtseries.nii"))
        if any("_1.6mm" in name for name in others):
            raise NeurocineError(
                "not found; this run has only 1.6 mm (59k, 170,494-grayordinate) files: use the 2 mm "
                "package (7T_MOVIE_2mm_fix) or resample to 91k with Connectome Workbench "
                "(wb_command -cifti-resample)", path)
        for name, suffix in REGISTRATIONS.items():
            if name != registration and f"{run_folder(run)}{suffix}.dtseries.nii" in others:
                raise NeurocineError(f"not found (this run has the {name} file: use --registration {name})", path)
    raise NeurocineError(
        f"not found: run {run} of subject {subject_dir.name} is missing (convert the other subjects "
        "with --subjects, or download its 7T_MOVIE_2mm_fix package)", path)


def _find_one(root, name, want_dir, missing):
    """The one file or folder called ``name`` within :data:`SEARCH_DEPTH` levels below ``root``."""
    found = []
    base_depth = len(root.parts)
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).parts) - base_depth
        if depth == 0:
            # Subject folders hold thousands of files and never the movie resources.
            dirs[:] = [d for d in dirs if not _SUBJECT.match(d)]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if name in (dirs if want_dir else files):
            found.append(Path(folder) / name)
        if depth + 1 >= SEARCH_DEPTH:
            dirs[:] = []
    if not found:
        raise NeurocineError(f"no {name}{'/' if want_dir else ''} within {SEARCH_DEPTH} folders below it "
                             f"({missing})", root)
    if len(found) > 1:
        raise NeurocineError(f"{name} found twice ({found[0]} and {found[1]}); keep one", root)
    return found[0]
