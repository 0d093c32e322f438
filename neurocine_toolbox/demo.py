"""The embedded default job: a small synthetic dataset taken through every stage that exists.

Today: ``simulate`` → ``prep`` (voxels chosen by test–retest reliability) → ``embed`` → ``fit``
(the encoder: DC-MAE pre-training and contrastive fine-tuning, then held-out retrieval; the
perception reconstructor; the decoder: the video UNet on captions, then on fMRI) → ``decode``
(the test split, started from the reconstruction, scored by SSIM against its own and other clips'
truth) → ``evaluate`` (every metric beside chance and the shuffled, mean-clip and ridge
baselines, on tiny classifiers) → ``attention-report`` (where the encoder looks, on the cortex,
as one HTML file), all with the CPU-sized ``tiny-demo`` preset (``tiny-perception-sdedit``: the
``tiny`` preset plus the low-level pathway, the start its world's validation split chose; trained
fewer steps), so ``neurocine demo`` shows the whole toolbox working on a CPU in under 10 minutes.
"""

import logging
import time
from pathlib import Path

from .config import load_config
from .data.embedding import embed_stores
from .data.prep import PrepOptions, prep
from .data.store import open_store
from .errors import NeurocineError
from .evaluation.clip_similarity import score_decoded
from .evaluation.evaluate import evaluate_run
from .evaluation.retrieval import retrieval_by_subject
from .interpretation.attention_report import attention_report
from .pipelines.decode_split import decode_split
from .simulate import simulate_dataset
from .training.fit import fit

log = logging.getLogger("neurocine")

PRESET = "tiny-demo"
#: What the demo simulates (``simulate_dataset`` keywords) and any config overrides; the tests
#: shrink both.
SIMULATION = {"preset": "small"}
OVERRIDES = ()
#: The simulated brain codes the shapes' classes in ventral and dorsal visual areas, which MMP
#: V1–V4 leave out; the reliability test on training runs (as MinD-Video and Mind-Animator
#: select voxels) keeps them, and held-out image retrieval goes from chance to about 3× chance
#: (docs/benchmarks.md).
PREP = PrepOptions(voxels="reliability", reliability_top_n=4500)


def run_demo(out_dir="demo-output", seed=0, progress=True):
    """Simulate a small dataset (if not there yet), prepare and embed it, train, decode the test split.

    Parameters
    ----------
    out_dir : str or Path
        Demo folder; the dataset goes to ``out_dir/bids``, prep's store to
        ``out_dir/bids/derivatives/neurocine`` and the models to its ``sub-01/models/tiny-demo/``.
    seed : int
        Simulation seed.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        What was done: paths, timings (s), the shapes of the stores, the retrieval scores, the
        decoding summary (:func:`~neurocine_toolbox.pipelines.decode_split.decode_split`), the
        evaluation (:func:`~neurocine_toolbox.evaluation.evaluate.evaluate_run`) and the attention
        report (:func:`~neurocine_toolbox.interpretation.attention_report.attention_report`).
    """
    bids = Path(out_dir) / "bids"
    derivatives = bids / "derivatives" / "neurocine"
    timings = {}

    def timed(step, function, *args, **kwargs):
        start = time.perf_counter()
        out = function(*args, **kwargs)
        timings[step] = time.perf_counter() - start
        return out

    if (bids / "dataset_description.json").is_file():
        log.info("demo: reusing the simulated dataset in %s", bids)
    elif bids.exists() and any(bids.iterdir()):
        raise NeurocineError("exists but holds no complete simulated dataset; remove it or pick another folder", bids)
    else:
        timed("simulate", simulate_dataset, bids, seed=seed, progress=progress, **SIMULATION)
    stores = timed("prep", prep, bids, options=PREP, progress=progress)
    config = load_config(PRESET, overrides=OVERRIDES)
    # The simulated dataset carries its true captions: the tiny BLIP's would mean nothing.
    timed("embed", embed_stores, stores, dict(config["embedding"], captions="sidecar"), progress=progress,
          bids_dir=bids)
    after = {"subject": "01", "progress": progress, "command": "neurocine demo"}

    def fit_and_score():
        fitted = fit(derivatives, preset=PRESET, overrides=OVERRIDES, **after)
        # the encoder's held-out scores on the one subject, as `neurocine fit` prints them
        return fitted, retrieval_by_subject(fitted).get(fitted["subjects"][0])

    trained, retrieval = timed("fit", fit_and_score)
    name = trained["root"].name
    decoded = timed("decode", decode_split, derivatives, name=name, **after)
    decoded["ssim"] = score_decoded(decoded["out_dir"], progress=progress)
    evaluated = timed("evaluate", evaluate_run, derivatives, name=name, baselines=("ridge", "pixel_ridge"), **after)
    report = timed("attention-report", attention_report, derivatives, name=name, **after)

    summary = {"bids": bids, "stores": {}, "timings": timings, "models": trained["root"],
               "retrieval": retrieval, "decoded": decoded, "evaluation": evaluated,
               "attention": report}
    for path in stores:
        with open_store(path) as store:
            summary["stores"][path] = {
                "split": store.split, "n_tr": len(store), "columns": store.fmri.shape[1],
                "voxels": store.n_voxels, "frames": store.frames.shape[1:], "movies": len(store.stimulus_files),
            }
    return summary
