"""benchmarks/best_path_ablation.py: run names, and the summary's paired p and winners table."""

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
spec = importlib.util.spec_from_file_location("best_path_ablation", BENCHMARKS / "best_path_ablation.py")
ablation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablation)


def test_run_name_carries_the_training_overrides_so_runs_never_share_a_folder():
    assert ablation.run_name("tiny-x", [], 2) == "tiny-x-seed2"
    assert ablation.run_name("tiny-x", ["data.lag=3"], 1) == "tiny-x-lag3-seed1"
    assert ablation.run_name("tiny-x", ["data.lag=3"], 1) != ablation.run_name("tiny-x", ["data.lag=2"], 1)


def _score(value, shuffled, baselines):
    versus = {"flat": {"difference": value - baselines["flat"], "ci95": [-0.1, 0.1], "p_value": 0.25,
                       "p_floor": 0.0078125}}
    return {"value": value, "ci": [value - 0.1, value + 0.1], "chance": None, "versus": versus,
            "baselines": {"shuffled": [shuffled, None, None], **{b: [v, None, None] for b, v in baselines.items()}}}


def _summary():
    baselines = {"flat": 0.15, "mean_clip": 0.15, "ridge": 0.16, "vae_oracle": 0.9}
    by_row = {"paper": {}, "low": {}}
    for seed, pixel_ridge in enumerate((0.17, 0.10, 0.18)):
        shared = dict(baselines, pixel_ridge=pixel_ridge)
        by_row["paper"][seed] = {"ssim": _score(0.05, 0.04, shared)}
        by_row["low"][seed] = {"ssim": _score(0.14 if seed else 0.5, 0.05, shared)}
    return by_row


def test_winners_count_each_seed_once_and_the_ceiling_never_wins():
    lines = ablation.winner_lines(_summary(), ["paper", "low"], ["ssim"])
    table = {line.split(" | ")[0].strip("| "): line.split(" | ")[1].strip(" |") for line in lines if line.startswith("| ")}
    # seed 0: low (0.5); seed 1: ridge (0.16); seed 2: pixel ridge (0.18); the oracle (0.9) is not counted
    assert table["low"].endswith("(1)") and table["ridge"].endswith("(1)") and table["pixel_ridge"].endswith("(1)")
    assert table["paper"].endswith("(0)") and table["VAE oracle (ceiling)"] == "0.900"
    assert "Best, plainly: ssim: low" in "\n".join(lines)  # ties on wins go to the higher mean


def test_summary_prints_paired_p_with_its_floor():
    text = "\n".join(ablation.summary_lines({"data-0": _summary()}, ["paper", "low"]))
    assert "p=0.25 (0.00781)" in text


def test_summary_pools_the_datasets_into_one_winners_table():
    text = "\n".join(ablation.summary_lines({"data-0": _summary(), "data-1": _summary()}, ["paper", "low"]))
    pooled = text.split("### All 2 datasets")[1]
    assert "of 6)" in pooled and "| low | 0.260 (2) |" in pooled
