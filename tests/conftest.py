"""Settings and fixtures shared by the whole test suite.

Kept small on purpose: fixtures that only one module needs belong in that module.
"""

import logging
import os

import pytest

# Tests never download models or data: set before any test module imports huggingface_hub or
# transformers, which read these once at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` need a CUDA GPU: skipped, with the reason, where torch sees none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory):
    """One cache of tiny pretrained models (built in code) per test session, never the user's.

    ``tiny-clip`` trains for about 20 s when built; every test module reuses that build.
    """
    with pytest.MonkeyPatch.context() as patch:
        cache = tmp_path_factory.mktemp("neurocine-cache")
        patch.setenv("NEUROCINE_CACHE", str(cache))
        yield cache


@pytest.fixture(autouse=True)
def _restore_neurocine_logger():
    """Undo the logging set-up each CLI invocation performs.

    The CLI gives the ``neurocine`` logger its own handler and turns propagation off; without
    this, a test using ``caplog`` after any CLI test would see no ``neurocine`` records.
    """
    logger = logging.getLogger("neurocine")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)  # setLevel, not assignment: it also clears logging's level cache
    logger.propagate = propagate


@pytest.fixture
def cli_runner():
    """A click ``CliRunner`` with stdout and stderr kept apart (``result.stderr``)."""
    from click.testing import CliRunner

    try:
        return CliRunner(mix_stderr=False)  # click < 8.2
    except TypeError:
        return CliRunner()  # click >= 8.2 always keeps them apart


@pytest.fixture
def invoke(cli_runner):
    """Run the real ``neurocine`` group: ``invoke(["prep", "--help"])`` returns click's Result.

    Extra keyword arguments go to ``CliRunner.invoke`` (``input=``, ``catch_exceptions=``, ...).
    """
    from neurocine_toolbox.cli.main import cli

    def run(args, **kwargs):
        return cli_runner.invoke(cli, [str(a) for a in args], prog_name="neurocine", **kwargs)

    return run


@pytest.fixture(scope="session")
def embedded_derivatives(tmp_path_factory):
    """A small simulated dataset, prepared (32² frames) and embedded (tiny CLIP, true captions).

    Shared by the training and decoding tests, which write their runs under distinct names.
    """
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.embedding import embed_store
    from neurocine_toolbox.data.prep import PrepOptions, prep
    from neurocine_toolbox.simulate import simulate_dataset

    root = simulate_dataset(tmp_path_factory.mktemp("sim") / "bids", seed=0, progress=False,
                            n_train_segments=2, train_segment_seconds=16, n_test_segments=1,
                            test_segment_seconds=16, test_repeats=2, movie_size=32)
    prep(root, options=PrepOptions(frame_size=32), progress=False)
    out = root / "derivatives" / "neurocine"
    section = dict(load_config("tiny")["embedding"], captions="sidecar")
    for split in ("train", "test"):
        embed_store(out / f"sub-01/func/sub-01_split-{split}_desc-neurocine_bold.h5", section, progress=False)
    return out


@pytest.fixture
def interrupt_training(monkeypatch):
    """``arm(step)`` makes the training loop stop like a Ctrl-C right after logging ``step``;
    ``disarm()`` undoes it. Returns ``(arm, disarm)``."""
    from neurocine_toolbox.training import loop

    original = loop.MetricsLog.write

    def arm(step):
        def write(self, row):
            original(self, row)
            if row["step"] == step:
                raise KeyboardInterrupt

        monkeypatch.setattr(loop.MetricsLog, "write", write)

    def disarm():
        monkeypatch.setattr(loop.MetricsLog, "write", original)

    return arm, disarm


@pytest.fixture(scope="session")
def attention_report(tmp_path_factory):
    """``(content, path)``: the synthetic attention report with hostile names, written once.

    Shared by test_report_html.py and test_report_browser.py (rendering takes seconds).
    """
    from neurocine_toolbox.interpretation.report_html import write_report
    from report_factory import hostile_content

    content = hostile_content()
    return content, write_report(content, tmp_path_factory.mktemp("report") / "attention-report.html")
