"""``neurocine attention-report`` on a trained run: outputs, the truth comparison, bad input."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from test_fit import QUICK

FAST = ["--set", "interpretation.n_surrogates=20", "--set", "interpretation.n_permutations=20",
        "--set", "interpretation.attribution_steps=4", "--set", "interpretation.n_boot=200",
        "--set", "interpretation.min_windows=1"]


@pytest.fixture(scope="module")
def trained(embedded_derivatives):
    """A run with the two encoder stages (no decoder), trained for a few steps."""
    from neurocine_toolbox.training.fit import fit

    overrides = [value for flag, value in zip(QUICK, QUICK[1:]) if flag == "--set"]
    fit(embedded_derivatives, "01", stages=["pretrain", "encoder"], preset="tiny", overrides=overrides,
        name="attn", progress=False)
    return embedded_derivatives


def test_report_maps_every_stage_and_layer_and_compares_with_the_truth(invoke, trained):
    result = invoke(["attention-report", "--subject", "01", "--name", "attn", "--derivatives", trained, *FAST])
    assert result.exit_code == 0, result.stderr
    out = trained / "sub-01/models/attn/attention-test"
    assert f"attention report: {out / 'report.html'}" in result.stdout
    assert "against the simulation's truth" in result.stdout
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lstrip().lower().startswith("<!doctype html>")

    record = json.loads((out / "report.json").read_text())
    methods = record["methods"]
    assert methods["stages"] == ["pretrain", "encoder"] and methods["n_surrogates"] == 20
    assert "No after the fMRI-conditioned decoder stage encoder" in " ".join(record["notes"])
    assert record["provenance"]["store"]["sha256"] and set(record["provenance"]["checkpoints"]) == {"pretrain", "encoder"}
    assert {row["truth"] for row in record["truth"]} >= {"stimulus_driven", "gain_class"}

    maps = np.load(out / "maps.npz")
    last = methods["layers"][-1]
    for stage in ("pretrain", "encoder"):
        for layer in methods["layers"]:
            for measure in ("read", "received", "cls", "rollout"):
                for name in (measure, f"{measure}-vs-permuted"):
                    key = f"{stage}/layer-{layer}/{name}/all"
                    values = maps[f"{key}/grayordinates"]
                    assert values.shape == (91282,) and np.isfinite(values).sum() == 4183  # MMP V1–V4
                    assert maps[f"{key}/fslr_left"].shape == (32492,)
                    assert maps[f"{key}/fsaverage5_right"].shape == (10242,)
            assert f"{stage}/layer-{layer}/read-on-permuted/all/grayordinates" in maps
    # Attribution only where the stage is trained against CLIP.
    assert f"encoder/layer-{last}/attribution/all/grayordinates" in maps
    assert not any(k.startswith("pretrain/") and "attribution" in k for k in maps)
    tokens = np.load(out / "token_importance.npz")
    n_windows = methods["n_windows"]
    assert tokens[f"encoder/received/layer-{last}"].shape == (n_windows, 4192 // methods["patch_size"])
    assert tokens[f"encoder/read-on-permuted/layer-{last}"].shape == (n_windows, 4192 // methods["patch_size"])
    assert tokens["encoder/attribution"].shape == (n_windows, 4192)

    # This store's two training movies leave none for validation: attention heads the report, and
    # it says why; both kinds are still compared with the truth.
    assert record["headline_choice"] is None and methods["headline_kind"] == "attention"
    assert "not chosen on validation windows: the training store marks no validation movies" in " ".join(
        record["notes"])
    headline = f"encoder/layer-{last}/read-vs-permuted/all"
    assert {row["map"] for row in record["truth"]} == {f"encoder/layer-{last}/read-vs-permuted/all",
                                                        f"encoder/layer-{last}/attribution/all"}
    hemispheres = {row["map"]: row for row in record["hemispheres"]}
    assert {f"encoder/layer-{last}/read/all", f"encoder/layer-{last}/read-vs-permuted/all",
            "truth: share of stimulus-driven voxels"} <= set(hemispheres)
    assert record["flags"] == {"pretrain.include_test_fmri": False}

    tables = pd.read_csv(out / "roi_tables.csv")
    assert set(tables["atlas"]) == {"HCP-MMP1.0", "Yeo 7", "Yeo 17", "Cole-Anticevic networks"}
    assert headline in set(tables["map"]) and f"pretrain/layer-{last}/read-vs-permuted/all" in set(tables["map"])
    mmp = tables[(tables["atlas"] == "HCP-MMP1.0") & (tables["map"] == headline)]
    assert set(mmp["region"]) == {f"{h}_{a}" for a in ("V1", "V2", "V3", "V4") for h in "LR"}
    assert (mmp["n_null"] == 20).all()  # every region gets the full null


def test_out_puts_the_html_elsewhere_and_bad_settings_write_nothing(invoke, trained, tmp_path):
    elsewhere = tmp_path / "reports" / "attn.html"
    result = invoke(["attention-report", "--subject", "01", "--name", "attn", "--derivatives", trained,
                     "--split", "train", "--out", elsewhere, *FAST, "--set", "interpretation.categories=none"])
    assert result.exit_code == 0, result.stderr
    assert elsewhere.is_file()
    folder = trained / "sub-01/models/attn/attention-train"
    assert (folder / "maps.npz").is_file() and not (folder / "report.html").exists()
    methods = json.loads((folder / "report.json").read_text())["methods"]
    assert methods["n_windows"] == methods["n_windows_in_split"] > 4
    fewer = invoke(["attention-report", "--subject", "01", "--name", "attn", "--derivatives", trained,
                    "--split", "train", "--out", elsewhere, *FAST, "--set", "interpretation.max_windows=4"])
    assert fewer.exit_code == 0, fewer.stderr
    record = json.loads((folder / "report.json").read_text())
    assert record["methods"]["n_windows"] == 4 and "4 evenly spaced of the" in record["methods_text"]
    assert np.load(folder / "token_importance.npz")["encoder/received/layer-1"].shape[0] == 4

    bad = invoke(["attention-report", "--subject", "01", "--name", "attn", "--derivatives", trained,
                  "--set", "sampling.guidance_scale=2"])
    assert bad.exit_code == 1 and "interpretation.* settings only" in bad.stderr
    bad = invoke(["attention-report", "--subject", "01", "--name", "attn", "--derivatives", trained,
                  "--set", "interpretation.measure=gradients"])
    assert bad.exit_code == 1 and "interpretation.measure" in bad.stderr
    missing = invoke(["attention-report", "--subject", "01", "--name", "nothing", "--derivatives", trained])
    assert missing.exit_code == 1 and "holds no trained encoder" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_an_encoder_from_another_store_is_refused_before_anything_is_written(invoke, trained):
    from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

    root = trained / "sub-01/models/attn"
    other = trained / "sub-01/models/other"
    shutil.copytree(root / "encoder", other / "encoder")
    shutil.copy(root / "config.yaml", other / "config.yaml")
    encoder = FMRIEncoder.from_pretrained(other / "encoder/model")
    FMRIEncoder.from_config(dict(encoder.config, num_voxels=4000)).save_pretrained(other / "encoder/model")
    result = invoke(["attention-report", "--subject", "01", "--name", "other", "--derivatives", trained, *FAST])
    assert result.exit_code == 1
    assert "reads 4000 columns, the store has 4192" in result.stderr
    assert not (other / "attention-test").exists()


def test_auto_headline_is_chosen_by_deletion_on_the_validation_movies(trained, tmp_path):
    """With a validation movie marked, ``headline: auto`` runs the deletion test on its windows."""
    import h5py

    from neurocine_toolbox.config import load_run_config
    from neurocine_toolbox.interpretation.attention_report import _headline_choice, load_stage_encoders

    derivatives = tmp_path / "derivatives"
    source = trained / "sub-01/func/sub-01_split-train_desc-neurocine_bold.h5"
    (derivatives / "sub-01/func").mkdir(parents=True)
    store = derivatives / "sub-01/func" / source.name
    shutil.copy(source, store)
    with h5py.File(store, "r+") as f:
        stimulus = f["stimulus"][()]
        f["validation"][...] = (stimulus == stimulus[0]).astype("int8")  # the first movie held out
        n_validation = int((stimulus == stimulus[0]).sum())
    root = trained / "sub-01/models/attn"
    config = load_run_config(root, ["interpretation.n_boot=100"], "interpretation", "attention-report")
    encoders, _, _ = load_stage_encoders(root, 4192, device="cpu")
    notes = []
    choice, kind = _headline_choice(derivatives, "01", encoders, config["interpretation"], config, notes, root)
    assert notes == [] and kind == choice.chosen in ("attention", "attribution")
    assert 0 < choice.n_windows <= n_validation and set(choice.table["map"]) == {"attention", "attribution"}
    excess = choice.table.set_index("map")["excess"]
    assert kind == excess.idxmax()
    assert choice.difference["mean"] == pytest.approx(excess["attention"] - excess["attribution"])
