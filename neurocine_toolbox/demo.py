"""The embedded default job: a small synthetic dataset taken through every stage that exists.

Today: ``simulate`` → ``prep``. Later stages (fit, decode, evaluate, attention-report) join as
they land, so ``neurocine demo`` always shows the whole toolbox working on a CPU.
"""

import logging
import time
from pathlib import Path

from .data.prep import PrepOptions, prep
from .data.store import open_store
from .errors import NeurocineError
from .simulate import simulate_dataset

log = logging.getLogger("neurocine")


def run_demo(out_dir="demo-output", seed=0, progress=True):
    """Simulate a small dataset (if not there yet) and prepare it.

    Parameters
    ----------
    out_dir : str or Path
        Demo folder; the dataset goes to ``out_dir/bids`` and prep's store to
        ``out_dir/bids/derivatives/neurocine``.
    seed : int
        Simulation seed.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        What was done: paths, timings (s) and the shapes of the stores.
    """
    bids = Path(out_dir) / "bids"
    timings = {}
    if (bids / "dataset_description.json").is_file():
        log.info("demo: reusing the simulated dataset in %s", bids)
    elif bids.exists() and any(bids.iterdir()):
        raise NeurocineError("exists but holds no complete simulated dataset; remove it or pick another folder", bids)
    else:
        start = time.perf_counter()
        simulate_dataset(bids, preset="small", seed=seed, progress=progress)
        timings["simulate"] = time.perf_counter() - start
    start = time.perf_counter()
    stores = prep(bids, options=PrepOptions(), progress=progress)
    timings["prep"] = time.perf_counter() - start
    summary = {"bids": bids, "stores": {}, "timings": timings}
    for path in stores:
        with open_store(path) as store:
            summary["stores"][path] = {
                "split": store.split, "n_tr": len(store), "columns": store.fmri.shape[1],
                "voxels": store.n_voxels, "frames": store.frames.shape[1:], "movies": len(store.stimulus_files),
            }
    return summary
