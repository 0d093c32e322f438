"""Settings chosen on the validation split, then the test split scored once: the paper's method and the low-level path.

For one simulated dataset (the demo's: ``simulate --preset small``, prep as the demo does, which
holds 2 of the 8 training movies out for validation; the true captions embedded):

1. ``--choose``: the **lag** (TRs between the frames and the fMRI read for them) by the
   perception reconstructor's share of the validation windows' latent variance it predicts
   (:class:`~neurocine_toolbox.training.perception_ridge.PerceptionRidge` fitted on the training
   windows at each lag, cross-validated over training movies); one run of ``--preset`` is trained
   at that lag; then the **guidance scale** of the paper's sampling (pure noise, strength 1) and
   the **strength and guidance** of the low-level path (SDEdit from the reconstructor's clip), each
   by :func:`~neurocine_toolbox.evaluation.selection.selection_score` of the decoded
   *validation* clips (identification by SSIM and PixCorr, frame and clip 50-way, each from chance
   to perfect). Nothing here reads the test split.
2. Without ``--choose`` the run is trained and decoded with the presets as they are (a dataset
   never used to choose anything).
3. The test split is then decoded once per row, ``paper`` (strength 1) and ``best`` (the low-level
   path), and scored by ``neurocine evaluate`` with every metric beside the flat, mean-clip,
   shuffled, latent-ridge and pixel-ridge baselines (each row its own shuffled).

Writes ``OUT/results/data-<D>/{choices.json, validation.md, test-<row>.md, test-<row>.json}``
and prints the tables.

Usage::

    NEUROCINE_CACHE=… python benchmarks/choose_on_validation.py /tmp/val --data-seed 0 --choose
    NEUROCINE_CACHE=… python benchmarks/choose_on_validation.py /tmp/val --data-seed 1
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from best_path_ablation import dataset, run_name  # the dataset, simulated, prepared and embedded once

LAGS = (0, 1, 2, 3, 4)
GUIDANCE = (1.0, 3.0, 6.0, 12.5)
STRENGTHS = (0.4, 0.6, 0.8)


def lag_sweep(derivatives, preset, scratch):
    """Per lag: the reconstructor fitted on the training windows, its validation R² of the latents."""
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.dataset import split_window_starts, windows_at
    from neurocine_toolbox.data.store import open_store, store_path
    from neurocine_toolbox.training.decoder_stages import cached_latents, decoder_vae
    from neurocine_toolbox.training.perception_ridge import PerceptionRidge

    train = store_path(derivatives, "01", "train")
    Path(scratch).mkdir(parents=True, exist_ok=True)
    scores = {}
    for lag in LAGS:
        config = load_config(preset, overrides=[f"data.lag={lag}"])
        window, section = int(config["data"]["window"]), config["perception"]
        vae, name = decoder_vae(config, scratch)
        latents = cached_latents(scratch, vae.eval(), name, train, config, progress=False)
        with open_store(train) as store:
            fit_starts = split_window_starts(store, window, lag, "train")
            val_starts = split_window_starts(store, window, lag, "validation")
            rows = np.asarray(store.frame_rows)
            fmri = {s: windows_at(store.fmri, st, window, lag) for s, st in (("fit", fit_starts), ("val", val_starts))}
            movies = store.stimulus[fit_starts]
        y_fit = latents[rows[fit_starts]].float().numpy()
        y_val = latents[rows[val_starts]].float().numpy()
        model = PerceptionRidge(rank=int(section["rank"]), alphas=tuple(section["alphas"]),
                                n_folds=int(section["n_folds"]), seed=int(config["seed"]))
        model.fit(fmri["fit"], y_fit, movies)
        predicted = model.predict(fmri["val"])
        r2 = 1 - ((predicted - y_val) ** 2).sum() / ((y_val - y_fit.mean(axis=0)) ** 2).sum()
        scores[lag] = {"validation_r2": float(r2), "cv_r2": float(model.cv_r2_[model.alpha_]), "alpha": model.alpha_,
                       "n_fit": int(len(fit_starts)), "n_validation": int(len(val_starts))}
        print(f"lag {lag}: validation R² {r2:.4f} (cross-validated over training movies {scores[lag]['cv_r2']:.4f})",
              flush=True)
    return scores


def decode_and_score(derivatives, name, split, settings, baselines=()):
    """Decode ``split`` with ``settings`` (``sampling.*`` overrides) and evaluate it; the record."""
    from neurocine_toolbox.evaluation.evaluate import evaluate_run
    from neurocine_toolbox.pipelines.decode_split import decode_split

    decode_split(derivatives, "01", name=name, split=split, overrides=settings, force=True, progress=False)
    return evaluate_run(derivatives, "01", name=name, split=split, baselines=baselines, progress=False)


def sampling_sweep(derivatives, name, out):
    """Every (strength, guidance) of the grid decoded on validation; the selection score of each."""
    from neurocine_toolbox.evaluation.selection import selection_score, selection_terms

    grid = [(1.0, g) for g in GUIDANCE] + [(s, g) for s in STRENGTHS for g in GUIDANCE[1:]]
    results = []
    for strength, guidance in grid:
        start = time.perf_counter()
        record = decode_and_score(derivatives, name, "validation",
                                  [f"sampling.strength={strength}", f"sampling.guidance_scale={guidance}"])
        shutil.copy(record["out_dir"] / "metrics.md", out / f"validation-s{strength}-g{guidance}.md")
        results.append({"strength": strength, "guidance": guidance, "score": selection_score(record),
                        "terms": selection_terms(record),
                        "baselines": {b: selection_score(record, b) for b in ("flat", "mean_clip", "shuffled")},
                        "seconds": time.perf_counter() - start})
        print(f"strength {strength} guidance {guidance}: validation score {results[-1]['score']:+.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--preset", default="tiny-perception-sdedit")
    parser.add_argument("--choose", action="store_true", help="choose lag, guidance and strength on validation")
    parser.add_argument("--simulation", help="simulate preset (default: the demo's, small); e.g. benchmark")
    parser.add_argument("--paper-preset", default="tiny", help="the paper's method at CPU size (its guidance when "
                        "not choosing); tiny-natural on the benchmark world")
    args = parser.parse_args()

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.training.fit import fit

    derivatives = dataset(args.out, args.data_seed, args.simulation, args.preset)
    out = Path(args.out) / "results" / f"data-{args.data_seed}"
    out.mkdir(parents=True, exist_ok=True)
    preset = load_config(args.preset)
    paper_guidance = float(load_config(args.paper_preset)["sampling"]["guidance_scale"])
    choices = {"lag": int(preset["data"]["lag"]), "paper": {"strength": 1.0, "guidance": paper_guidance},
               "best": {"strength": float(preset["sampling"]["strength"]),
                        "guidance": float(preset["sampling"]["guidance_scale"])}, "chosen_on_validation": args.choose}
    timings = {}
    if args.choose:
        start = time.perf_counter()
        choices["lag_sweep"] = lag_sweep(derivatives, args.preset, out / "scratch")
        choices["lag"] = max(choices["lag_sweep"], key=lambda lag: choices["lag_sweep"][lag]["validation_r2"])
        timings["lag sweep"] = time.perf_counter() - start
    name = run_name(args.preset, [f"data.lag={choices['lag']}"], args.train_seed)
    start = time.perf_counter()
    fit(derivatives, "01", preset=args.preset, overrides=[f"seed={args.train_seed}", f"data.lag={choices['lag']}"],
        name=name, progress=False)
    timings["fit"] = time.perf_counter() - start
    if args.choose:
        start = time.perf_counter()
        sweep = sampling_sweep(derivatives, name, out)
        timings["validation sweep"] = time.perf_counter() - start
        choices["sweep"] = sweep
        paper = max((r for r in sweep if r["strength"] == 1.0), key=lambda r: r["score"])
        best = max((r for r in sweep if r["strength"] < 1.0), key=lambda r: r["score"])
        choices["paper"] = {"strength": 1.0, "guidance": paper["guidance"]}
        choices["best"] = {"strength": best["strength"], "guidance": best["guidance"]}
    records = {}
    for row in ("paper", "best"):
        start = time.perf_counter()
        setting = choices[row]
        record = decode_and_score(derivatives, name, "test", [f"sampling.strength={setting['strength']}",
                                                              f"sampling.guidance_scale={setting['guidance']}"],
                                  baselines=("ridge", "pixel_ridge", "vae_oracle"))
        timings[f"test {row}"] = time.perf_counter() - start
        for suffix in ("md", "json"):
            shutil.copy(record["out_dir"] / f"metrics.{suffix}", out / f"test-{row}.{suffix}")
        records[row] = record
    choices["timings_s"] = timings
    (out / "choices.json").write_text(json.dumps(choices, indent=2, default=str) + "\n")
    lines = validation_lines(choices) if args.choose else []
    lines += [f"lag {choices['lag']}; paper: strength 1, guidance {choices['paper']['guidance']}; best: strength "
              f"{choices['best']['strength']}, guidance {choices['best']['guidance']}", ""]
    (out / "validation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    for row in records:
        print(f"\n## test, {row}\n\n" + (out / f"test-{row}.md").read_text())
    print(json.dumps(timings, indent=1))


def validation_lines(choices):
    """The lag sweep and the sampling sweep as Markdown tables."""
    lines = ["| lag | reconstructor's validation R² of the latents | cross-validated over training movies |",
             "|---|---|---|"]
    for lag, score in choices["lag_sweep"].items():
        lines.append(f"| {lag} | {score['validation_r2']:.4f} | {score['cv_r2']:.4f} |")
    keys = list(choices["sweep"][0]["terms"])
    lines += ["", "| strength | guidance | selection score | " + " | ".join(keys) + " |",
              "|---|---|---|" + "---|" * len(keys)]
    for r in choices["sweep"]:
        lines.append(f"| {r['strength']} | {r['guidance']} | {r['score']:+.4f} | "
                     + " | ".join(f"{r['terms'][k]:+.3f}" for k in keys) + " |")
    base = choices["sweep"][0]["baselines"]
    lines += ["", "Baselines' selection score on the same validation clips: "
              + ", ".join(f"{b} {v:+.4f}" for b, v in base.items()), ""]
    return lines


if __name__ == "__main__":
    main()
