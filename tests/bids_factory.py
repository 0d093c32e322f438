"""Build small BIDS movie datasets for prep tests, with fMRI and frames whose values are known.

Movies are lossless (libx264rgb, crf 0) so a frame's pixels tell exactly which movie frame it is:
frame k has red = k % 256 and green = k // 256.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from neurocine_toolbox.data.cifti import DtseriesWriter
from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES


@dataclass
class RunSpec:
    """One run: subject, task, run number, the movie shown, TRs covered and extra volumes."""

    subject: str
    task: str
    run: int
    stim_file: str
    n_tr: int
    start_extra: int = 1
    end_extra: int = 4

    @property
    def n_volumes(self):
        return self.start_extra + self.n_tr + self.end_extra

    @property
    def stem(self):
        return f"sub-{self.subject}_task-{self.task}_run-{self.run}"


def write_movie(path, n_frames, fps, size=16):
    """Write a lossless movie whose frame k is coloured by k."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=fps, options={"crf": "0"})
        stream.width = stream.height = size
        stream.pix_fmt = "rgb24"
        for k in range(n_frames):
            frame = np.zeros((size, size, 3), np.uint8)
            frame[..., 0] = k % 256
            frame[..., 1] = k // 256
            frame[..., 2] = 7
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def frame_index(frame):
    """Recover k from a frame written by :func:`write_movie`."""
    return int(frame[..., 0].mean().round()) + 256 * int(frame[..., 1].mean().round())


def make_dataset(root, runs, data_fn, *, tr=2.0, fps=12, pipeline="fmriprep", desc=None,
                 test_glob="test*.mp4", movie_seconds=None):
    """Write a raw BIDS dataset with events and stimuli, plus a CIFTI 91k derivative.

    Parameters
    ----------
    runs : list of RunSpec
    data_fn : callable
        ``data_fn(index, spec) -> [n_volumes, 91282]`` array for run number ``index``.
    movie_seconds : dict, optional
        Length of each movie in seconds (default: exactly what its longest run shows).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "test", "BIDSVersion": "1.9.0", "DatasetType": "raw"}))
    subjects = sorted({r.subject for r in runs})
    (root / "participants.tsv").write_text("participant_id\n" + "".join(f"sub-{s}\n" for s in subjects))
    deriv = root / "derivatives" / pipeline
    deriv.mkdir(parents=True, exist_ok=True)
    description = {"Name": pipeline, "BIDSVersion": "1.9.0", "DatasetType": "derivative",
                   "GeneratedBy": [{"Name": pipeline}]}
    if test_glob:
        description["NeurocineTestStimuli"] = test_glob
    (deriv / "dataset_description.json").write_text(json.dumps(description))
    lengths = {}
    writer = DtseriesWriter(tr)
    for index, spec in enumerate(runs):
        lengths[spec.stim_file] = max(lengths.get(spec.stim_file, 0), spec.n_tr * tr)
        func = root / f"sub-{spec.subject}" / "func"
        func.mkdir(parents=True, exist_ok=True)
        (func / f"{spec.stem}_events.tsv").write_text(
            "onset\tduration\ttrial_type\tstim_file\n"
            f"{spec.start_extra * tr}\t{spec.n_tr * tr}\tmovie\t{spec.stim_file}\n")
        out = deriv / f"sub-{spec.subject}" / "func"
        name = f"{spec.stem}_space-fsLR_den-91k" + (f"_desc-{desc}" if desc else "") + "_bold"
        data = np.asarray(data_fn(index, spec), np.float32)
        assert data.shape == (spec.n_volumes, N_GRAYORDINATES)
        writer.write(out / f"{name}.dtseries.nii", data)
        (out / f"{name}.json").write_text(json.dumps({"RepetitionTime": tr, "TaskName": spec.task}))
    for stim, seconds in lengths.items():
        seconds = (movie_seconds or {}).get(stim, seconds)
        write_movie(root / "stimuli" / stim, int(round(seconds * fps)), fps)
    return root


def random_data(seed=0):
    """A ``data_fn`` giving seeded Gaussian noise with a per-run offset and linear drift."""

    def data_fn(index, spec):
        rng = np.random.default_rng(seed + index)
        t = np.linspace(0, 1, spec.n_volumes)[:, None]
        return 100 + 5 * index + 3 * t + rng.standard_normal((spec.n_volumes, N_GRAYORDINATES))

    return data_fn
