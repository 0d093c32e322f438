"""Wen 2018's 245- and 246-volume runs, through convert-wen2018 and prep, trimmed as Wen did."""

import numpy as np
from numpy.polynomial import polynomial
from scipy import stats

from bids_factory import write_movie
from neurocine_toolbox.bids.wen2018 import convert_wen2018
from neurocine_toolbox.data import open_store
from neurocine_toolbox.data.cifti import DtseriesWriter
from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, mmp_visual_grayordinates
from neurocine_toolbox.data.prep import PrepOptions, prep

VISUAL, _ = mmp_visual_grayordinates()


def clean(block):
    t = np.arange(len(block))
    return stats.zscore(block - polynomial.polyval(t, polynomial.polyfit(t, block, 4)).T, axis=0)


def test_245_and_246_volume_runs_are_trimmed_to_240(tmp_path):
    release = tmp_path / "release" / "video_fmri_dataset"
    writer = DtseriesWriter(2.0)
    raw = {}
    for segment, n_volumes in (("seg1", 245), ("test2", 246)):
        for repeat in (1, 2):
            rng = np.random.default_rng(repeat + n_volumes)
            data = rng.standard_normal((n_volumes, N_GRAYORDINATES)).astype(np.float32)
            data[:, VISUAL] += np.linspace(0, 5, n_volumes)[:, None]  # a drift prep must remove
            raw[(segment, repeat)] = data[:, VISUAL].astype(np.float64)
            folder = release / "subject1" / "fmri" / segment / "cifti"
            writer.write(folder / f"{segment}_{repeat}_Atlas.dtseries.nii", data)
        write_movie(release / "stimuli" / f"{segment}.mp4", n_frames=480, fps=1, size=8)

    bids = tmp_path / "bids"
    convert_wen2018(release.parent, bids, progress=False)
    train, test = prep(bids, progress=False,
                       options=PrepOptions(frame_size=8, frames_per_tr=2, train_repeats="separate"))
    with open_store(train) as store:
        assert len(store) == 2 * 240
        for repeat in (1, 2):
            rows = store.runs == repeat - 1
            # 245 volumes: the first 1 and the last 4 are dropped.
            expected = clean(raw[("seg1", repeat)][1:241])
            np.testing.assert_allclose(store.fmri[rows, : len(VISUAL)], expected, atol=3e-4)
    with open_store(test) as store:
        assert len(store) == 240 and store.stimulus_files == ["test2.mp4"]
        # 246 volumes: the first 2 and the last 4 are dropped; the two viewings averaged.
        expected = np.mean([clean(raw[("test2", r)][2:242]) for r in (1, 2)], axis=0)
        np.testing.assert_allclose(store.fmri[:, : len(VISUAL)], expected, atol=3e-4)
