"""A tiny copy of the Wen et al. 2018 release layout, defects included, for converter tests.

Names follow the release as peers' code reads it (``seg3/cifti/seg3_2_Atlas.dtseries.nii``,
``mni/seg3_2_mni.nii.gz``, ``raw/seg3_2.nii.gz``). CIFTI files are real dtseries with 10
grayordinates; mni/raw volumes and movies are a few placeholder bytes (the converter must not
open them).
"""

from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from neurocine_toolbox.data.cifti import write_dtseries

TR = 2.0
N_GRAYORDINATES = 10


@dataclass
class FakeRelease:
    """Where the fake release is, and the volume count of every CIFTI file written."""

    parent: Path  # holds video_fmri_dataset/
    root: Path  # video_fmri_dataset/
    volumes: dict = field(default_factory=dict)  # (subject, segment, repeat) -> n_volumes

    def cifti(self, subject, segment, repeat):
        return self.root / f"subject{subject}/fmri/{segment}/cifti/{segment}_{repeat}_Atlas.dtseries.nii"


def tiny_brain_models():
    """A 10-vertex left-cortex grayordinate axis (files of a few kB instead of 90 MB)."""
    return nib.cifti2.BrainModelAxis.from_mask(np.ones(N_GRAYORDINATES, bool), name="CortexLeft")


def write_cifti(path, n_volumes, seed=0):
    """Write a small dtseries of ``n_volumes`` at TR 2 s."""
    data = np.random.default_rng(seed).standard_normal((n_volumes, N_GRAYORDINATES))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_dtseries(path, data, TR, brain_models=tiny_brain_models())


def build_fake_release(
    base,
    subjects=(1, 2, 3),
    train=("seg1", "seg2"),
    test=("test1", "test2"),
    test_repeats=10,
    defects=True,
    stimuli=True,
):
    """Write a fake release under ``base/video_fmri_dataset``.

    Training segments have 2 repeats of 245 volumes; ``test1`` 245 volumes and the other test
    segments 246, as in the release. With ``defects``: subject1's test1 repeat 9 MNI volume is
    named ``test1_9.mni.nii.gz``, subject3's test2 has its bad repeat 9 (as all do), and
    subject2 carries ``fmri/training_fmri.mat`` (what Wen's own script writes there).

    Returns
    -------
    FakeRelease
    """
    base = Path(base)
    root = base / "video_fmri_dataset"
    release = FakeRelease(parent=base, root=root)
    seed = 0
    for subject in subjects:
        fmri = root / f"subject{subject}" / "fmri"
        plan = [(seg, 2, 245) for seg in train]
        plan += [(seg, test_repeats, 245 if seg == "test1" else 246) for seg in test]
        for segment, repeats, n_volumes in plan:
            for repeat in range(1, repeats + 1):
                seed += 1
                write_cifti(release.cifti(subject, segment, repeat), n_volumes, seed)
                release.volumes[(subject, segment, repeat)] = n_volumes
                mni = f"{segment}_{repeat}_mni.nii.gz"
                if defects and (subject, segment, repeat) == (1, "test1", 9):
                    mni = "test1_9.mni.nii.gz"
                _placeholder(fmri / segment / "mni" / mni)
                _placeholder(fmri / segment / "raw" / f"{segment}_{repeat}.nii.gz")
        if defects and subject == 2:
            _placeholder(fmri / "training_fmri.mat")
    if stimuli:
        for segment in (*train, *test):
            _placeholder(root / "stimuli" / f"{segment}.mp4", b"not a real movie: never decoded")
    return release


def _placeholder(path, content=b""):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
