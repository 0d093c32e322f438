"""A small copy of the HCP 7T movie-watching release, with its real names, for converter tests.

Folders, file names and the timing CSV (``\\r`` line ends, one section per run) are the
release's; the data are scaled down: REST blocks of 4 s instead of 20, clips of 6–12 s, runs of
about 40 volumes at TR 1 s, with the real 91k grayordinate header. Movies are 48×40 at 6 fps;
frame k shows k in binary as ten horizontal bands (white = 1), plus a flag band in the
pre-2014 version, so a frame read back anywhere says which frame of which movie it is.
"""

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from neurocine_toolbox.bids.hcp7t_layout import MOVIE_VERSIONS, RUNS, TIMING_NAME, dtseries_name, movie_name, run_folder
from neurocine_toolbox.data.cifti import DtseriesWriter, write_dtseries
from neurocine_toolbox.utils.movie_files import mp4_writer

TR = 1.0
REST = 4.0
FPS = 6
HEIGHT, WIDTH = 48, 40
BANDS = 12  # bits 0-9: frame number; bit 10: pre-2014 version flag
BAND_ROWS = HEIGHT // BANDS
PRE_FLAG = 1 << 10
SUBJECTS = ("100610", "102311")
#: Run -> (training clip lengths, repeated test clip length), seconds. Run 3's copy of the test
#: clip is a TR longer than the others; clip 1.1 ends at a fraction of a second, as in the release.
CLIPS = {1: ((9.04, 9.0), 9.0), 2: ((11.0, 7.5), 9.0), 3: ((8.0, 10.0), 10.0), 4: ((12.0, 7.0), 9.0)}


def run_blocks(run):
    """``[(label, start, end)]`` of a run: REST, clip, REST, …, the test clip, REST."""
    train, test = CLIPS[run]
    blocks, t = [], 0.0
    for number, length in enumerate((*train, test), start=1):
        blocks.append(("0", t, round(t + REST, 2)))
        t = round(t + REST, 2)
        blocks.append((f"{run}.{number}", t, round(t + length, 2)))
        t = round(t + length, 2)
    blocks.append(("0", t, round(t + REST, 2)))
    return blocks


def run_volumes(run):
    """Volumes of a run: enough for its last REST block."""
    return math.ceil(run_blocks(run)[-1][2] / TR)


def timing_csv(versions=("post",), line_end="\r", blocks=run_blocks):
    """The clip timing file's text, one section per run and version."""
    lines = []
    for version in versions:
        for run in RUNS:
            lines.append(movie_name(run, version)[:-4] + ",,,")
            lines.append("movie.block,start,stop,duration")
            lines += [f"{label},{start:g},{end:g},{end - start:.2f}" for label, start, end in blocks(run)]
    return line_end.join(lines) + line_end


def frame_picture(k, flag=0):
    """Frame ``k`` of a fake movie: bit b of ``k | flag`` is band b (white = 1)."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for bit in range(BANDS):
        if (k | flag) >> bit & 1:
            frame[bit * BAND_ROWS:(bit + 1) * BAND_ROWS] = 255
    return frame


def read_picture(frame):
    """``(k, flag)`` from a frame drawn by :func:`frame_picture` (any width; any height kept as is)."""
    rows = frame.shape[0] // BANDS
    value = 0
    for bit in range(BANDS):
        band = frame[bit * rows + rows // 4: (bit + 1) * rows - rows // 4]
        value |= int(band.mean() > 128) << bit
    return value & (PRE_FLAG - 1), value & PRE_FLAG


def write_fake_movie(path, seconds, flag=0):
    """A movie of ``seconds`` at :data:`FPS` whose frames tell their number."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mp4_writer(path, FPS, WIDTH, HEIGHT, crf=18) as write:
        for k in range(math.ceil(seconds * FPS)):
            write(frame_picture(k, flag))


@dataclass
class FakeHcp7t:
    """Where the fake release is and what its dtseries hold."""

    root: Path
    data: dict = field(default_factory=dict)  # (subject, run) -> float32 [n_volumes, 91282]

    def dtseries(self, subject, run, registration="msmall"):
        folder = self.root / subject / "MNINonLinear" / "Results" / run_folder(run)
        return folder / dtseries_name(run, registration)

    def movie(self, run, version="post"):
        return self.root / "movie_stimulus" / MOVIE_VERSIONS[version][0] / movie_name(run, version)

    @property
    def timing(self):
        return self.root / "movie_stimulus" / TIMING_NAME


def build_fake_hcp7t(root, subjects=SUBJECTS, msmsulc=True):
    """Write the fake release under ``root``: subjects, both movie versions, the timing file.

    With ``msmsulc`` the MSMSulc dtseries are hard links to the MSMAll ones (no extra disk).
    """
    release = FakeHcp7t(Path(root))
    writer = DtseriesWriter(TR)
    rng = np.random.default_rng(7)
    for subject in subjects:
        for run in RUNS:
            data = rng.standard_normal((run_volumes(run), 91282)).astype(np.float32)
            path = release.dtseries(subject, run)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer.write(path, data)
            release.data[(subject, run)] = data
            if msmsulc:
                os.link(path, release.dtseries(subject, run, "msmsulc"))
    for run in RUNS:
        seconds = run_blocks(run)[-1][2]
        write_fake_movie(release.movie(run, "post"), seconds)
        write_fake_movie(release.movie(run, "pre"), seconds, flag=PRE_FLAG)
    release.timing.write_text(timing_csv(), newline="")
    return release


def link_release(release, root, subjects=SUBJECTS):
    """A new release folder of symbolic links to ``release``'s files, to damage in a test."""
    root = Path(root)
    for source in sorted(release.root.rglob("*")):
        relative = source.relative_to(release.root)
        if source.is_dir() or (relative.parts[0].isdigit() and relative.parts[0] not in subjects):
            continue
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source, target)
    return FakeHcp7t(root, {k: v for k, v in release.data.items() if k[0] in subjects})


def write_small_dtseries(path, n_volumes, tr=TR, n_grayordinates=10):
    """A dtseries of ``n_grayordinates`` left-cortex vertices at ``path`` (replacing a link)."""
    path = Path(path)
    if path.is_symlink() or path.exists():
        path.unlink()
    models = nib.cifti2.BrainModelAxis.from_mask(np.ones(n_grayordinates, bool), name="CortexLeft")
    write_dtseries(path, np.zeros((n_volumes, n_grayordinates), np.float32), tr, brain_models=models)
