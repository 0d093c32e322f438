"""``neurocine demo``: simulate → prep → embed → fit → decode on a CPU, and a second run reuses the work."""

import json

from neurocine_toolbox import demo
from neurocine_toolbox.config import load_config
from neurocine_toolbox.data.store import open_store

SMALL = {"n_train_segments": 3, "train_segment_seconds": 16, "n_test_segments": 1,
         "test_segment_seconds": 16, "test_repeats": 2, "movie_size": 32}
QUICK = ("pretrain.steps=3", "pretrain.batch_size=4", "contrastive.steps=3", "contrastive.batch_size=4",
         "decoder.pretrained=tiny-sd-random", "vae.steps=2", "vae.batch_size=4", "decoder_text.steps=2",
         "decoder_text.batch_size=2", "decoder_fmri.steps=2", "decoder_fmri.batch_size=2",
         "sampling.num_inference_steps=2", "sampling.batch_size=8", "evaluation.n_boot=200",
         "interpretation.n_surrogates=20", "interpretation.n_permutations=50", "interpretation.attribution_steps=4",
         "interpretation.n_boot=200")


def test_demo_runs_every_stage_then_reuses_them(invoke, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "SIMULATION", SMALL)
    monkeypatch.setattr(demo, "OVERRIDES", QUICK)
    out = tmp_path / "demo-output"
    first = invoke(["demo", out])
    assert first.exit_code == 0, first.stderr
    for step in ("simulate:", "prep:", "embed:", "fit:", "decode:", "evaluate:", "attention-report:"):
        assert step in first.stdout
    assert "SSIM to own truth" in first.stdout
    assert "held-out retrieval (test split" in first.stdout and "chance" in first.stdout
    assert "validation: fMRI→image top-1" in first.stdout  # prep held training movies out
    models = out / "bids/derivatives/neurocine/sub-01/models/tiny-demo"
    assert (models / "encoder/model/config.json").is_file()
    assert (models / "decoded-test/frames.npz").is_file()
    # The best start on the demo's world: the perception ridge is fitted, and decoding starts from
    # its clip at the preset's strength.
    perception = json.loads((models / "perception/model/config.json").read_text())
    assert perception["_class_name"] == "PerceptionReconstructor"
    strength = load_config("tiny-demo")["sampling"]["strength"]
    assert json.loads((models / "decoded-test/decode.json").read_text())["sampling"]["strength"] == strength < 1
    # The evaluation table ends the output: every metric on the tiny classifiers, all five baselines.
    record = json.loads((models / "decoded-test/evaluation/metrics.json").read_text())
    assert {r["name"] for r in record["metrics"]} == {"ssim", "psnr", "pixcorr", "identification", "frame_nway",
                                                      "clip_nway", "temporal_consistency"}
    assert record["models"] == {"frame_classifier": "tiny-vit", "clip_classifier": "tiny-videomae",
                                "temporal_consistency": "clip-consecutive-cosine (tiny-clip)"}
    ssim = next(r for r in record["metrics"] if r["protocol"] == "mindvideo-rgb")
    assert all(ssim["baselines"][b] is not None for b in ("flat", "shuffled", "mean_clip", "ridge", "pixel_ridge"))
    with open_store(out / "bids/derivatives/neurocine/sub-01/func/sub-01_split-train_desc-neurocine_bold.h5") as store:
        assert store.validation_movies == ["seg3.mp4"]  # one of three training movies held out
    assert "| clip_nway | peers | 50-way top-1 |" in first.stdout and "− mean clip" in first.stdout
    assert json.loads((models / "provenance.json").read_text())["command"] == "neurocine demo"
    # The attention report of every stage; the output ends with the table, then the report's path.
    report = models / "attention-test/report.html"
    assert report.is_file() and "against the simulation's truth" in first.stdout
    assert first.stdout.rstrip().splitlines()[-1] == f"attention report (open in a browser): {report}"
    stages = json.loads((models / "attention-test/report.json").read_text())["methods"]["stages"]
    assert stages == ["pretrain", "encoder", "decoder-fmri"]

    second = invoke(["--quiet", "demo", out])
    assert second.exit_code == 0, second.stderr
    assert "simulate:" not in second.stdout  # the dataset is reused
    assert "held-out retrieval" in second.stdout  # the finished model's scores, shown again
