"""``neurocine fit``: outputs, skipping, provenance, honesty, resume, several processes.

The encoder stages in detail; the decoder stages' own behaviour is in test_decoder_fit.py.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from neurocine_toolbox.data.prep import PrepOptions, prep
from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
from neurocine_toolbox.training import decoder_stages, encoder_stages

STORE = "sub-01/func/sub-01_split-{}_desc-neurocine_bold.h5"
# The tiny preset, shortened: a few steps of small batches.
QUICK = ["--preset", "tiny", "--set", "pretrain.steps=4", "--set", "pretrain.batch_size=4",
         "--set", "contrastive.steps=5", "--set", "contrastive.batch_size=4",
         "--set", "decoder.pretrained=tiny-sd-random",  # no pre-training of the tiny SD here
         "--set", "vae.steps=2", "--set", "vae.batch_size=4", "--set", "decoder.resolution=32",
         "--set", "decoder_text.steps=2", "--set", "decoder_text.batch_size=2",
         "--set", "decoder_fmri.steps=2", "--set", "decoder_fmri.batch_size=2",
         "--set", "sampling.num_inference_steps=2", "--set", "sampling.batch_size=3",
         "--set", "training.checkpoint_every=2", "--set", "training.log_every=1"]
ENCODER = ["--stage", "pretrain", "--stage", "encoder"]


@pytest.fixture(scope="module")
def derivatives(embedded_derivatives):
    return embedded_derivatives


def _fit(invoke, derivatives, *args):
    return invoke(["fit", "--subject", "01", "--derivatives", derivatives, *QUICK, *args])


def test_fit_runs_every_stage_and_reports_retrieval_with_chance(invoke, derivatives, caplog):
    result = _fit(invoke, derivatives, "--name", "full")
    assert result.exit_code == 0, result.output + result.stderr
    root = derivatives / "sub-01/models/full"
    for stage in ("pretrain", "encoder"):
        assert FMRIEncoder.from_pretrained(root / stage / "model").config.num_voxels == 4192
    for stage in ("pretrain", "encoder", "vae", "decoder-text", "decoder-fmri"):
        assert f"trained {stage}" in result.stdout
    assert (root / "decoder-fmri/model/model_index.json").is_file()
    assert (root / "latents-train.safetensors").is_file()
    assert "starting from the pre-trained encoder" in result.stderr
    retrieval = json.loads((root / "encoder/retrieval.json").read_text())
    n = retrieval["fmri_to_image"]["n"]
    assert retrieval["fmri_to_image"]["top1"]["chance_nominal"] == pytest.approx(1 / n)
    assert retrieval["fmri_to_image"]["top5"]["chance_nominal"] == pytest.approx(min(1.0, 5 / n))
    assert "fMRI→image top-1:" in result.stdout and "chance" in result.stdout
    assert retrieval["test_fmri_in_training"] is False
    provenance = json.loads((root / "provenance.json").read_text())
    assert provenance["test_fmri_in_training"] is False
    assert provenance["embedding"]["captions"], "which captions and CLIP made the targets is recorded"
    config = (root / "config.yaml").read_text()
    assert "steps: 5" in config and "seed: 0" in config

    again = _fit(invoke, derivatives, "--name", "full")
    assert again.exit_code == 0
    assert all(f"skipped {stage}" in again.stdout for stage in ("pretrain", "encoder", "vae", "decoder-fmri"))
    assert "trained" not in again.stdout
    assert "fMRI→image top-1:" in again.stdout  # the stored scores, shown again

    changed = _fit(invoke, derivatives, "--name", "full", "--set", "contrastive.gamma_spa=0.5")
    assert changed.exit_code == 1
    assert "different config (differs in: contrastive.gamma_spa)" in changed.stderr
    # Settings read only after training (decode, evaluate, attention-report) need no retraining.
    later = _fit(invoke, derivatives, "--name", "full", "--set", "interpretation.n_surrogates=5",
                 "--set", "evaluation.n_boot=50")
    assert later.exit_code == 0, later.stderr
    assert "trained" not in later.stdout
    # A run trained before a setting existed: the missing setting reads as its default.
    import yaml

    saved = yaml.safe_load((root / "config.yaml").read_text())
    del saved["alignment"], saved["data"]["train_fraction"]
    (root / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    older = _fit(invoke, derivatives, "--name", "full")
    assert older.exit_code == 0, older.stderr
    assert "trained" not in older.stdout


def test_test_split_never_reaches_training_unless_asked(invoke, derivatives, monkeypatch):
    seen = []
    original = encoder_stages.FMRIRows.__init__

    def spy(self, path):
        seen.append(os.path.basename(path))
        original(self, path)

    monkeypatch.setattr(encoder_stages.FMRIRows, "__init__", spy)
    windows = []  # the stores whose windows the contrastive stage trains on
    original_run = encoder_stages.run_training

    def spy_run(**kwargs):
        if isinstance(kwargs["dataset"], encoder_stages.FMRIWindowDataset):
            windows.append(os.path.basename(kwargs["dataset"].path))
        return original_run(**kwargs)

    monkeypatch.setattr(encoder_stages, "run_training", spy_run)
    decoder_reads = []  # every store the decoder stages open, directly or through their datasets
    for name in ("open_store", "mean_training_window"):
        function = getattr(decoder_stages, name)
        monkeypatch.setattr(decoder_stages, name,
                            lambda path, *a, _f=function, **k: decoder_reads.append(os.path.basename(path)) or _f(path, *a, **k))
    original_clips = decoder_stages.ClipDataset.__init__

    def spy_clips(self, path, *args, **kwargs):
        decoder_reads.append(os.path.basename(path))
        original_clips(self, path, *args, **kwargs)

    monkeypatch.setattr(decoder_stages.ClipDataset, "__init__", spy_clips)
    scored = []  # the store held-out retrieval scores: the test split, never the training one
    from neurocine_toolbox.evaluation import retrieval as retrieval_module

    retrieval = retrieval_module.encoder_retrieval
    monkeypatch.setattr(retrieval_module, "encoder_retrieval", lambda encoder, path, *a, **k:
                        scored.append(os.path.basename(path)) or retrieval(encoder, path, *a, **k))
    assert _fit(invoke, derivatives, "--name", "clean").exit_code == 0
    assert scored == [os.path.basename(STORE.format("test"))]
    assert seen == [os.path.basename(STORE.format("train"))]
    assert windows == [os.path.basename(STORE.format("train"))]
    assert len(decoder_reads) >= 5 and set(decoder_reads) == {os.path.basename(STORE.format("train"))}

    seen.clear()
    result = _fit(invoke, derivatives, "--name", "leaky", *ENCODER, "--include-test-fmri-in-pretraining")
    assert result.exit_code == 0, result.stderr
    assert seen == [os.path.basename(STORE.format(s)) for s in ("train", "test")]
    assert "warning: pretrain.include_test_fmri is set" in result.stderr
    root = derivatives / "sub-01/models/leaky"
    for path in (root / "provenance.json", root / "pretrain/provenance.json", root / "encoder/provenance.json",
                 root / "encoder/retrieval.json"):
        assert json.loads(path.read_text())["test_fmri_in_training"] is True, path
    assert "test split's fMRI was used in pre-training" in result.stdout


def test_killed_encoder_stage_resumes_to_the_same_weights(invoke, derivatives, interrupt_training):
    args = ["--stage", "encoder"]
    assert _fit(invoke, derivatives, "--name", "straight", *args).exit_code == 0

    arm, disarm = interrupt_training
    arm(3)
    killed = _fit(invoke, derivatives, "--name", "killed", *args)
    assert killed.exit_code == 130
    disarm()
    stage = derivatives / "sub-01/models/killed/encoder"
    assert not (stage / "model").exists()  # nothing that looks finished
    refused = _fit(invoke, derivatives, "--name", "killed", *args)
    assert refused.exit_code == 1 and "--resume" in refused.stderr
    assert _fit(invoke, derivatives, "--name", "killed", *args, "--resume").exit_code == 0

    a = FMRIEncoder.from_pretrained(derivatives / "sub-01/models/straight/encoder/model").state_dict()
    b = FMRIEncoder.from_pretrained(stage / "model").state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_store_without_embeddings_is_one_clear_line(invoke, derivatives, tmp_path):
    import shutil

    bare = tmp_path / "neurocine"
    shutil.copytree(derivatives, bare, ignore=shutil.ignore_patterns("models"))
    prep(derivatives.parent.parent, bare, options=PrepOptions(frame_size=32), progress=False)
    result = invoke(["fit", "--subject", "01", "--derivatives", bare, *QUICK, "--stage", "encoder"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "run `neurocine embed` first" in lines[0]


def test_two_cpu_processes_train_and_decode_together(derivatives):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # torchrun: `accelerate launch --cpu --num_processes 2` starts only one process.
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "neurocine_toolbox.cli.main", "--quiet", "fit", "--subject", "01",
               "--derivatives", str(derivatives), *QUICK, "--name", "two-processes"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    root = derivatives / "sub-01/models/two-processes"
    assert json.loads((root / "provenance.json").read_text())["processes"] == 2
    assert FMRIEncoder.from_pretrained(root / "encoder/model") is not None
    rows = (root / "encoder/metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]  # one writer, every step once
    assert done.stdout.count("trained encoder") == 1  # only the main process reports
    rows = (root / "decoder-fmri/metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert done.stdout.count("trained decoder-fmri") == 1

    # Decoding shares the batches of windows among the processes; the main one writes the summary.
    command = [*command[:command.index("fit")], "decode", "--subject", "01", "--derivatives", str(derivatives),
               "--name", "two-processes", "--limit", "4"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = root / "decoded-test"
    assert sorted(p.name for p in (out / "clips").glob("*.npy")) == [f"clip-{i:04d}.npy" for i in range(4)]
    assert json.loads((out / "decode.json").read_text())["n_clips"] == 4
    assert done.stdout.count("decoded 4 clips") == 1


def test_extra_unlabeled_stores_join_pretraining_only(invoke, derivatives, tmp_path, monkeypatch):
    import shutil

    extra = tmp_path / "other-train.h5"
    shutil.copy(derivatives / STORE.format("train"), extra)
    seen = []
    original = encoder_stages.FMRIRows.__init__

    def spy(self, path):
        seen.append(str(path))
        original(self, path)

    monkeypatch.setattr(encoder_stages.FMRIRows, "__init__", spy)
    result = _fit(invoke, derivatives, "--name", "extra", "--stage", "pretrain",
                  "--set", f"pretrain.extra_stores=[{extra}]")
    assert result.exit_code == 0, result.stderr
    assert seen == [str(derivatives / STORE.format("train")), str(extra)]

    # A store with other voxel columns cannot join: one line, before any training.
    from neurocine_toolbox.data.prep import PrepOptions, prep

    other = prep(derivatives.parent.parent, tmp_path / "other", progress=False,
                 options=PrepOptions(frame_size=32, voxels="reliability", reliability_top_n=100))
    train = next(p for p in other if "split-train" in p.name)
    bad = _fit(invoke, derivatives, "--name", "extra-bad", "--stage", "pretrain",
               "--set", f"pretrain.extra_stores=[{train}]")
    assert bad.exit_code == 1 and "prepare it with the same voxel selection" in bad.stderr
    assert not (derivatives / "sub-01/models/extra-bad/pretrain/model").exists()


def test_processes_that_do_not_form_a_group_are_refused(invoke, derivatives, monkeypatch):
    """A launcher's WORLD_SIZE without a process group would make every process write alone."""
    from neurocine_toolbox.utils.processes import process_state

    process_state()  # this test process: one process, already set up
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = _fit(invoke, derivatives, "--name", "alone", *ENCODER)
    assert result.exit_code == 1
    assert "2 processes were launched but accelerate sees 1" in result.stderr
    assert not (derivatives / "sub-01/models/alone").exists()


@pytest.mark.parametrize("setting, line", [
    ("decoder.resolution=40", "setting 'decoder.resolution' must be a multiple of 16"),
    ("decoder.frames=7", "clips of 7 frames need at least 7 stored frames per TR"),
    ("encoder.out_dim=16", "encoder.out_dim is 16"),
])
def test_mismatches_with_the_data_or_models_stop_before_any_training(invoke, derivatives, setting, line):
    result = _fit(invoke, derivatives, "--name", "mismatch", "--set", setting)
    assert result.exit_code == 1 and line in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (derivatives / "sub-01/models/mismatch").exists()


def test_batches_several_processes_cannot_share_are_refused_before_training(derivatives):
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.errors import NeurocineError
    from neurocine_toolbox.training.fit import check_before_training

    stores = {split: derivatives / STORE.format(split) for split in ("train", "test")}
    config = load_config("tiny", overrides=["contrastive.batch_size=6", "decoder.pretrained=tiny-sd-random"])
    check_before_training(config, stores, ["pretrain", "encoder"], processes=2)
    with pytest.raises(NeurocineError, match="contrastive.batch_size 6 cannot be shared equally by 4 processes"):
        check_before_training(config, stores, ["pretrain", "encoder"], processes=4)
    check_before_training(config, stores, ["decoder-text"], processes=4)  # diffusion losses need no gathering
