"""``neurocine evaluate``: metric rows, baselines, outputs and comparisons (pure parts; the CLI on a
trained run is in test_decoder_fit.py)."""

import csv
import json

import numpy as np
import pytest

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.evaluation import evaluate as evaluation
from neurocine_toolbox.evaluation.metrics_table import column_name, score_metrics


class ColourClassifier:
    """Classes = which colour channel is brightest (3 classes) × 24 copies with fixed offsets: a
    decoded clip is classified right exactly when its dominant colour matches the truth's."""

    def __init__(self, kind, n_classes=72):
        self.kind, self.n_classes, self.calls = kind, n_classes, 0

    def probabilities(self, clips):
        self.calls += 1
        clips = np.asarray(clips, float)
        channel = clips.mean(axis=(2, 3)) if self.kind == "frame" else clips.mean(axis=(1, 2, 3))[:, None]
        colour = channel.argmax(axis=-1)
        # Distinct logits: the dominant colour's 24 classes high and graded, every other class low.
        low = -1.0 - 0.01 * np.arange(self.n_classes)
        logits = np.broadcast_to(low, colour.shape + (self.n_classes,)).copy()
        for c in range(3):
            block = slice(c * 24, min((c + 1) * 24, self.n_classes))
            high = 10.0 - 0.1 * np.arange(block.stop - block.start)
            logits[..., block] = np.where((colour == c)[..., None], high, logits[..., block])
        p = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return p / p.sum(axis=-1, keepdims=True)


class FakeModels:
    clip_model = "fake-clip"

    def __init__(self):
        self.classifiers = {"frame": ColourClassifier("frame"), "clip": ColourClassifier("clip")}

    def classifier(self, kind):
        return self.classifiers[kind]

    def clip_embeddings(self, clips):
        return np.asarray(clips, float).mean(axis=(2, 3))  # [N, F, 3]: the mean colour per frame


def _clips(rng, n=24, frames=3, size=12):
    """Clips of one dominant colour each (cycling red, green, blue), with noise."""
    truth = rng.integers(0, 60, (n, frames, size, size, 3)).astype(np.uint8)
    for i in range(n):
        truth[i, ..., i % 3] += 150
    return truth


def test_rows_baselines_and_chance_on_a_decoder_that_gets_colours_right():
    rng = np.random.default_rng(0)
    truth = _clips(rng)
    decoded = np.clip(truth.astype(int) + rng.integers(-20, 20, truth.shape), 0, 255).astype(np.uint8)
    runs = np.repeat([0, 1], 12)
    mean = truth.mean(axis=0).round().astype(np.uint8)
    scores = score_metrics(decoded, truth, runs, baselines={"mean_clip": mean, "ridge": truth[::-1].copy()},
                           models=FakeModels(), n_way=(2, 50), n_trials=50, n_boot=200)
    rows = {column_name(r): r for r in scores["rows"]}
    # every metric, each SSIM protocol, both protocols at both N, and the truth's temporal consistency
    tc = "temporal_consistency:clip-consecutive-cosine (fake-clip)"  # the protocol names its CLIP
    assert {"ssim:mindvideo-rgb", "ssim:gray-2d", "ssim:neurons-columnwise", "psnr:rgb-255", "pixcorr:rgb-pearson",
            "identification:ssim:mindvideo-rgb:2-way", "identification:pixcorr:rgb-pearson:2-way",
            "frame_nway:peers:2-way:top1", "frame_nway:strict:50-way:top1", "clip_nway:peers:50-way:top1",
            tc, tc + ", gap to true clips", tc + " (true clips)"} <= set(rows)
    # decoded colours are right: 2-way strict accuracy 1; the shuffled partner (half a run away,
    # 6 clips: same colour, as 6 is a multiple of 3) is right too; ridge (reversed truth) is not
    strict2 = rows["frame_nway:strict:2-way:top1"]
    assert strict2["value"] == 1.0 and strict2["chance"] == 0.5
    assert strict2["baselines"]["shuffled"] == 1.0
    reversed_right = np.mean([(23 - i) % 3 == i % 3 for i in range(24)])  # 1/3 keep their colour
    assert reversed_right <= strict2["baselines"]["ridge"] < 0.8
    assert rows["frame_nway:peers:2-way:top1"]["chance"] == 0.75  # exact: 3/(N+2)
    assert rows["frame_nway:peers:50-way:top1"]["chance"] == pytest.approx(3 / 52, abs=1e-12)
    assert rows["frame_nway:strict:50-way:top1"]["chance"] == pytest.approx(1 / 50, abs=1e-12)
    # pixel metrics: the decoder beats the shuffled floor, with an interval above zero
    ssim = rows["ssim:mindvideo-rgb"]
    assert ssim["ci_low"] <= ssim["value"] <= ssim["ci_high"]
    assert ssim["versus_baselines"]["shuffled"]["difference"] > 0
    assert ssim["versus_baselines"]["shuffled"]["ci95"][0] > 0
    assert rows["ssim:neurons-columnwise"]["note"]  # flagged as reproduction only
    # the flat grey baseline is scored in every row that has baselines, and is what a flat frame scores
    flat = np.full_like(truth, 128)
    from neurocine_toolbox.evaluation.pixel_metrics import psnr_per_frame

    assert rows["psnr:rgb-255"]["baselines"]["flat"] == pytest.approx(psnr_per_frame(flat, truth).mean())
    assert rows["pixcorr:rgb-pearson"]["baselines"]["flat"] == 0.0  # no pattern, no correlation
    # identification: chance 0.5 exactly; the decoder identifies its clips; a constant output cannot
    for metric in ("ssim:mindvideo-rgb", "pixcorr:rgb-pearson"):
        row = rows[f"identification:{metric}:2-way"]
        assert row["chance"] == 0.5 and row["value"] > 0.9
        assert row["baselines"]["flat"] <= 0.5 + 1e-12 and row["baselines"]["mean_clip"] <= 0.5 + 1e-12
    # per-clip columns of the decoder and of each baseline, and their means are the rows' values
    for name, row in rows.items():
        assert scores["per_clip"][name].mean() == pytest.approx(row["value"])
        for baseline, value in row["baselines"].items():
            if value is not None:
                assert scores["per_clip"][f"{name}@{baseline}"].mean() == pytest.approx(value)
    # the truth's temporal consistency has no baselines; the decoded one has no shuffled one and,
    # having no better direction, no paired differences: those are on the gap to the truth's
    assert set(v for v in rows[tc + " (true clips)"]["baselines"].values()) == {None}
    assert rows[tc]["baselines"]["shuffled"] is None and rows[tc]["versus_baselines"] == {} and rows[tc]["best"] is None
    gap = rows[tc + ", gap to true clips"]
    true_level = scores["per_clip"][tc + " (true clips)"]
    np.testing.assert_allclose(scores["per_clip"][tc + ", gap to true clips"],
                               np.abs(scores["per_clip"][tc] - true_level))
    assert gap["higher_is_better"] is False
    assert set(gap["versus_baselines"]) == {"flat", "mean_clip", "shuffled", "ridge"}
    # a flat clip's frames are identical: consistency 1, so its gap is 1 − the truth's
    np.testing.assert_allclose(scores["per_clip"][tc + ", gap to true clips@flat"], np.abs(1 - true_level))


def test_shuffled_baseline_is_the_floor_when_the_decoder_knows_nothing():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 256, (30, 3, 12, 12, 3)).astype(np.uint8)
    decoded = np.roll(truth, 7, axis=0)  # every clip another clip's reconstruction
    scores = score_metrics(decoded, truth, np.zeros(30, int), metrics=("psnr",), n_boot=200)
    row = scores["rows"][0]
    assert abs(row["versus_baselines"]["shuffled"]["difference"]) < 1.0
    assert row["versus_baselines"]["shuffled"]["p_value"] > 0.05


def test_metrics_that_need_models_say_so_and_unknown_metrics_are_refused():
    truth = _clips(np.random.default_rng(2), n=6)
    with pytest.raises(ValueError, match="classifiers"):
        score_metrics(truth, truth, np.zeros(6, int), metrics=("frame_nway",))
    with pytest.raises(ValueError, match="unknown metrics"):
        score_metrics(truth, truth, np.zeros(6, int), metrics=("fid",))
    with pytest.raises(ValueError, match="differ in shape"):
        score_metrics(truth, truth[:5], np.zeros(6, int), metrics=("psnr",))


def test_nway_larger_than_the_classes_allow_is_left_out_with_a_warning(caplog):
    truth = _clips(np.random.default_rng(3), n=6)
    models = FakeModels()
    models.classifiers["clip"] = ColourClassifier("clip", n_classes=40)
    scores = score_metrics(truth, truth, np.zeros(6, int), metrics=("clip_nway",), models=models, n_way=(2, 50),
                           n_boot=100)
    assert {r["n_way"] for r in scores["rows"]} == {2}
    assert "50-way needs 49 classes" in caplog.text


def _write_outputs(folder, scores, runs, ids):
    record = evaluation._record(scores, {"run": "x"}, {"frame_classifier": "f", "clip_classifier": "c",
                                                       "precision": "auto"}, ["ssim", "psnr"], "test")
    evaluation.write_outputs(folder, record, scores, runs, ids)
    return record


def test_outputs_hold_every_row_and_clip_and_the_table(tmp_path):
    rng = np.random.default_rng(4)
    truth = _clips(rng, n=8)
    runs = np.repeat([0, 1], 4)
    scores = score_metrics(truth, truth, runs, metrics=("ssim", "psnr"), n_boot=100)
    _write_outputs(tmp_path / "evaluation", scores, runs, [f"row{i}" for i in range(8)])
    record = json.loads((tmp_path / "evaluation/metrics.json").read_text())
    assert record["n_clips"] == 8 and len(record["metrics"]) == 5  # 3 SSIMs, SSIM identification, PSNR
    for row in record["metrics"]:
        assert set(row) >= {"name", "protocol", "n_way", "top_k", "value", "ci_low", "ci_high", "chance", "baselines",
                            "best"}
        assert set(row["baselines"]) == {"flat", "shuffled", "mean_clip", "ridge", "pixel_ridge", "vae_oracle"}
    assert record["metrics"][0]["value"] == pytest.approx(1.0)  # identical clips
    with open(tmp_path / "evaluation/per_clip.csv") as f:
        lines = list(csv.DictReader(f))
    assert [line["id"] for line in lines] == [f"row{i}" for i in range(8)]
    assert float(lines[0]["psnr:rgb-255"]) == 100.0
    table = (tmp_path / "evaluation/metrics.md").read_text()
    assert "| ssim | mindvideo-rgb |" in table and "shuffled" in table and "neurons-columnwise:" in table
    # 2 runs of 4 clips: 2 sign-flip blocks, so no p below 2/4, and the table says so
    assert "p=0.5 (the least 2 blocks of clips allow)" in table
    assert "- ssim mindvideo-rgb: best: decoded (1.000)" in table  # identical clips win


def _fake_run(derivatives, name, values, ids, shuffled=0.1):
    root = derivatives / "sub-01" / "models" / name
    (root / "decoder-fmri" / "model").mkdir(parents=True)
    (root / "decoder-fmri" / "model" / "model_index.json").write_text("{}")
    folder = root / "decoded-test" / "evaluation"
    folder.mkdir(parents=True)
    with open(folder / "per_clip.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip", "id", "run", "ssim:mindvideo-rgb", "ssim:mindvideo-rgb@shuffled"])
        for i, (v, clip_id) in enumerate(zip(values, ids)):
            writer.writerow([i, clip_id, i // 20, v, np.broadcast_to(shuffled, len(values))[i]])
    return root


def test_compare_two_runs_paired_on_the_same_clips(tmp_path):
    rng = np.random.default_rng(5)
    base = rng.normal(0.3, 0.05, 60)
    _fake_run(tmp_path, "a", base + 0.05, range(60))
    _fake_run(tmp_path, "b", base, range(60))
    result = evaluation.compare_runs(tmp_path, "01", "a", "b", n_boot=200, n_null=200)
    (row,) = result["differences"]  # baseline columns are not compared on their own
    assert row["column"] == "ssim:mindvideo-rgb"
    assert row["difference"] == pytest.approx(0.05) and row["ci95"][0] > 0.04
    assert row["p_value"] < 0.05 and row["p_floor"] <= row["p_value"]
    # each run against its own shuffled baseline (here the same, 0.1): the gain differs by the same 0.05
    own = row["own_shuffled"]
    assert own["a"] == pytest.approx(base.mean() + 0.05 - 0.1) and own["b"] == pytest.approx(base.mean() - 0.1)
    assert own["difference"] == pytest.approx(0.05)
    assert result["path"].is_file() and (tmp_path / "sub-01/models/comparisons/a-vs-b-test.json").is_file()


def test_compare_puts_each_run_beside_its_own_shuffled_baseline(tmp_path):
    """A run pulled towards the average scene raises its score and its own shuffled level alike:
    the raw difference shows, the difference of gains over each run's own shuffled level does not."""
    rng = np.random.default_rng(6)
    base = rng.normal(0.3, 0.05, 60)
    _fake_run(tmp_path, "pulled", base + 0.05, range(60), shuffled=0.15)
    _fake_run(tmp_path, "paper", base, range(60), shuffled=0.10)
    (row,) = evaluation.compare_runs(tmp_path, "01", "pulled", "paper", n_boot=200, n_null=200)["differences"]
    assert row["difference"] == pytest.approx(0.05) and row["ci95"][0] > 0
    assert row["own_shuffled"]["difference"] == pytest.approx(0.0, abs=1e-12)
    lines = evaluation.compare_runs(tmp_path, "01", "pulled", "paper", n_boot=200, n_null=200)["lines"]
    assert any("− its shuffled" in line for line in lines)


def test_compare_refuses_different_clips_and_missing_evaluations(tmp_path):
    _fake_run(tmp_path, "a", np.zeros(10), range(10))
    _fake_run(tmp_path, "b", np.zeros(10), range(1, 11))
    with pytest.raises(NeurocineError, match="different clips"):
        evaluation.compare_runs(tmp_path, "01", "a", "b")
    root = tmp_path / "sub-01/models/c/decoder-fmri/model"
    root.mkdir(parents=True)
    (root / "model_index.json").write_text("{}")
    with pytest.raises(NeurocineError, match="run neurocine evaluate on this run first"):
        evaluation.compare_runs(tmp_path, "01", "a", "c")


def test_cli_scores_peer_gifs_and_refuses_bad_ones_writing_nothing(invoke, tmp_path):
    from test_clip_files import _grid, _peer_folder, _write_gif

    from neurocine_toolbox.evaluation.pixel_metrics import ssim_per_frame

    names = [f"test{k}" for k in range(1, 13)]
    truth, recon = _peer_folder(tmp_path / "gifs", names, size=16)
    out = tmp_path / "scores"
    result = invoke(["evaluate", "--gifs", tmp_path / "gifs", "--out", out, "--metrics", "ssim,psnr,pixcorr",
                     "--clips-per-run", "6", "--set", "evaluation.n_boot=100"])
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "metrics.json").read_text())
    assert record["n_clips"] == 12 and record["source"]["peer_split"] is False
    true_clips, recon_clips = np.stack([truth[n] for n in names]), np.stack([recon[n] for n in names])
    expected = ssim_per_frame(recon_clips, true_clips, "mindvideo-rgb").mean()
    row = next(r for r in record["metrics"] if r["protocol"] == "mindvideo-rgb")
    assert row["value"] == pytest.approx(expected)
    # no training split here: flat grey, shuffled, and each clip's leave-one-out mean of the others' truth
    loo = np.round((true_clips.sum(axis=0, dtype=float) - true_clips) / 11).astype(np.uint8)
    assert row["baselines"]["mean_clip"] == pytest.approx(ssim_per_frame(loo, true_clips, "mindvideo-rgb").mean())
    flat = np.full_like(true_clips, 128)
    assert row["baselines"]["flat"] == pytest.approx(ssim_per_frame(flat, true_clips, "mindvideo-rgb").mean())
    assert row["baselines"]["shuffled"] is not None and row["baselines"]["ridge"] is None
    protocols = {(r["name"], r["protocol"]): r for r in record["metrics"]}
    assert protocols[("pixcorr", "rgb-pearson")]["baselines"]["flat"] == 0.0
    for metric in ("ssim:mindvideo-rgb", "pixcorr:rgb-pearson"):
        assert protocols[("identification", metric)]["chance"] == 0.5
    assert "| identification | pixcorr:rgb-pearson | 2-way |" in result.stdout and "flat grey" in result.stdout
    with open(out / "per_clip.csv") as f:
        lines = list(csv.DictReader(f))
    assert [line["id"] for line in lines] == names and {line["run"] for line in lines} == {"0", "1"}
    assert "| ssim | mindvideo-rgb |" in result.stdout

    # The peers' own reading gives other numbers (border kept, one-pixel shift).
    split = invoke(["evaluate", "--gifs", tmp_path / "gifs", "--out", tmp_path / "split", "--metrics", "ssim",
                    "--peer-split", "--set", "evaluation.n_boot=100"])
    assert split.exit_code == 0, split.stderr
    other = json.loads((tmp_path / "split/metrics.json").read_text())["metrics"][0]
    assert other["value"] != pytest.approx(row["value"])

    # A gif with fewer frames: one line, no output folder.
    _write_gif(tmp_path / "gifs/test13.gif", _grid(truth["test1"][:4], recon["test1"][:4]))
    bad = invoke(["evaluate", "--gifs", tmp_path / "gifs", "--out", tmp_path / "bad", "--metrics", "ssim"])
    assert bad.exit_code == 1 and len(bad.stderr.strip().splitlines()) == 1 and "test13" in bad.stderr
    assert not (tmp_path / "bad").exists()
    # An output folder that holds files is not overwritten; --subject with --gifs is refused.
    again = invoke(["evaluate", "--gifs", tmp_path / "gifs", "--out", out, "--metrics", "ssim"])
    assert again.exit_code == 1 and "not empty" in again.stderr
    both = invoke(["evaluate", "--subject", "01", "--gifs", tmp_path / "gifs", "--out", tmp_path / "x"])
    assert both.exit_code == 1 and "give one of" in both.stderr


def test_missing_classifier_weights_are_one_line_before_any_work(invoke, tmp_path, monkeypatch):
    import huggingface_hub

    from test_clip_files import _peer_folder

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty cache
    _peer_folder(tmp_path / "gifs", ["test1", "test2"], size=16)
    from neurocine_toolbox.evaluation import clip_files

    monkeypatch.setattr(clip_files, "read_peer_grid_gifs", lambda *a, **k: pytest.fail("read before the check"))
    result = invoke(["evaluate", "--gifs", tmp_path / "gifs", "--out", tmp_path / "out", "--metrics", "ssim,clip_nway"])
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "MCG-NJU/videomae-base-finetuned-kinetics" in result.stderr and "evaluation.clip_classifier" in result.stderr
    assert not (tmp_path / "out").exists()


def test_decoded_clips_from_an_older_decode_or_a_corrupt_file_are_one_line(tmp_path):
    folder = tmp_path / "decoded-test"
    folder.mkdir()
    clips = np.zeros((2, 1, 8, 8, 3), np.uint8)
    np.savez(folder / "frames.npz", decoded=clips, truth=clips, rows=np.arange(2))  # no "runs": before issue 8
    with pytest.raises(NeurocineError, match="without runs .*decode --force"):
        evaluation._decoded(tmp_path, "test")
    (folder / "frames.npz").write_bytes(b"not an npz file")
    with pytest.raises(NeurocineError, match="unreadable decoded clips"):
        evaluation._decoded(tmp_path, "test")
    with pytest.raises(NeurocineError, match="run neurocine decode first"):
        evaluation._decoded(tmp_path, "train")


def test_clips_to_latents_is_each_frame_encoded_in_clip_order_and_latents_to_clips_inverts_its_layout():
    import torch
    from diffusers import AutoencoderKL

    from neurocine_toolbox.data.clips import frames_to_tensor

    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                        sample_size=16).eval()
    vae.register_to_config(scaling_factor=0.5)
    clips = np.random.default_rng(0).integers(0, 256, (2, 3, 16, 16, 3), dtype=np.uint8)
    latents = evaluation.clips_to_latents(vae, clips)
    assert latents.shape == (2, 4, 3, 8, 8)
    with torch.no_grad():  # frame f of clip n, scaled, sits at latents[n, :, f]
        expected = vae.encode(frames_to_tensor(clips[1, 2:3], 16)).latent_dist.mean[0] * 0.5
    torch.testing.assert_close(latents[1, :, 2], expected)
    back = evaluation.latents_to_clips(vae, latents)
    assert back.shape == clips.shape and back.dtype == np.uint8
    with torch.no_grad():
        frame = vae.decode(vae.encode(frames_to_tensor(clips[0, 1:2], 16)).latent_dist.mean).sample
    assert np.abs(back[0, 1].astype(int) - ((frame[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().numpy()).max() <= 1


def test_selection_score_is_the_mean_share_from_chance_to_perfect_of_the_specific_metrics():
    from neurocine_toolbox.evaluation.selection import selection_score, selection_terms

    def row(name, protocol, n_way, value, chance, flat):
        return {"name": name, "protocol": protocol, "n_way": n_way, "value": value, "chance": chance,
                "baselines": {"flat": flat}}

    record = {"metrics": [row("identification", "ssim:mindvideo-rgb", 2, 0.75, 0.5, 0.5),
                          row("identification", "pixcorr:rgb-pearson", 2, 1.0, 0.5, 0.0),
                          row("frame_nway", "peers", 50, 3 / 52, 3 / 52, 3 / 52),
                          row("clip_nway", "peers", 50, 1.0, 3 / 52, 3 / 52),
                          row("ssim", "mindvideo-rgb", None, 0.1, None, 0.9)]}  # SSIM plays no part
    terms = selection_terms(record)
    assert terms == pytest.approx({"identification:ssim:mindvideo-rgb:2": 0.5,
                                   "identification:pixcorr:rgb-pearson:2": 1.0,
                                   "frame_nway:peers:50": 0.0, "clip_nway:peers:50": 1.0})
    assert selection_score(record) == pytest.approx(0.625)
    assert selection_score(record, "flat") == pytest.approx((0 - 1 + 0 + 0) / 4)  # flat: at or below chance
    with pytest.raises(NeurocineError, match="needs the rows clip_nway:peers:50"):
        selection_score({"metrics": record["metrics"][:3]})


def test_vae_oracle_is_the_truth_through_the_runs_vae_cached_and_never_best(tmp_path, monkeypatch):
    import torch
    from diffusers import AutoencoderKL

    from neurocine_toolbox.training import decoder_stages

    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                        sample_size=16).eval()
    loads = []
    monkeypatch.setattr(decoder_stages, "decoder_vae", lambda config, root: loads.append(1) or (vae, "tiny-vae"))
    config = {"decoder": {"vae": None, "pretrained": "tiny"}}
    truth = np.random.default_rng(1).integers(0, 256, (4, 2, 16, 16, 3), dtype=np.uint8)
    cache = tmp_path / "vae_oracle.npz"
    clips, info = evaluation.vae_oracle_clips(tmp_path, config, truth, cache_path=cache)
    np.testing.assert_array_equal(clips, evaluation.latents_to_clips(vae, evaluation.clips_to_latents(vae, truth)))
    assert info == {"vae": "tiny-vae"} and cache.is_file()
    again, _ = evaluation.vae_oracle_clips(tmp_path, config, truth, cache_path=cache)
    np.testing.assert_array_equal(again, clips)
    assert len(loads) == 1  # read from the cache
    evaluation.vae_oracle_clips(tmp_path, config, truth[::-1].copy(), cache_path=cache)
    assert len(loads) == 2  # other truth: computed again
    # scored as a ceiling: it has a column and paired differences, but the best is chosen without it
    runs = np.repeat([0, 1], 2)
    scores = score_metrics(truth[::-1].copy(), truth, runs, metrics=("ssim",), baselines={"vae_oracle": truth},
                           n_boot=50)
    row = next(r for r in scores["rows"] if r["name"] == "ssim")
    assert row["baselines"]["vae_oracle"] == pytest.approx(1.0)
    assert "vae_oracle" in row["versus_baselines"] and row["best"] != "vae_oracle"
