"""The paper's Table 1 in miniature: its augmentation and dependent-noise rows on the benchmark world.

On one prepared, embedded benchmark-world dataset (``best_path_ablation.py``'s ``OUT/data-<D>``),
for each training seed, one run per row of the paper's method at tiny sizes (``--preset``, the
paper's sampling: pure noise, strength 1):

=========  ===================================================================
exp0       no augmentation, i.i.d. noise (``paper-table1-exp0``)
spatial    spatial masking only (exp 1's γ_spa, μ_spa; no temporal term, i.i.d. noise)
temporal   temporal interpolation only (exp 1's γ_tem, μ_tem; no spatial term, i.i.d. noise)
exp1       both augmentations, i.i.d. noise (``paper-table1-exp1``)
exp8       both, dependent noise β 0.25 (``paper-table1-exp8``: the paper's best row)
exp10      both, dependent noise β 0.75 (``paper-table1-exp10``: its headline)
=========  ===================================================================

Each run is fitted, its test split decoded and scored by ``neurocine evaluate`` (every metric,
flat, mean-clip, shuffled, latent-ridge and pixel-ridge baselines), and compared with exp0 by
:func:`~neurocine_toolbox.evaluation.evaluate.compare_runs` (paired differences on the same clips,
block-bootstrap intervals, sign-flip p with its floor). Nothing is chosen here: the data settings
and the guidance (``--set``) come from dataset 0's validation split (``choose_on_validation.py``).

**Shared stages.** Rows differ in some stages only: the masked-autoencoder pre-training is the
same for every row of a seed, the text-conditioned decoder stage the same for every row with the
same β, the contrastive encoder the same for exp1, exp8 and exp10. A stage is copied from a run
already trained (this script's, or ``--donor``'s) when every config section that stage and the
stages before it read (``best_path_ablation.STAGE_SECTIONS``) is equal; otherwise it is trained. Copying is what
retraining with the same seed would give (the stages are seeded), in a fraction of the time.

``--summary-only`` trains nothing and summarises the rows already evaluated, each over the seeds it
has (the tables say which). Writes ``OUT/table1/{summary.json, summary.md}``; each run's
evaluation stays in its run folder and each comparison in ``sub-01/models/comparisons/``.

Usage::

    NEUROCINE_CACHE=… python benchmarks/table1_miniature.py /tmp/study2 --data-seed 0 --train-seeds 0 1 2 \\
        --preset tiny-natural --set data.lag=3 --set sampling.guidance_scale=12.5 \\
        --donor tiny-natural-perception-sdedit-lag3-seed{seed}
"""

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
from best_path_ablation import borrow_stages, copy_baselines, dataset

#: The paper's numbers (Table 1, subject 1, SSIM of the MinD-Video protocol), ../shared/SCIENCE.md.
PAPER_SSIM = {"exp0": 0.171, "exp1": 0.204, "exp8": 0.242, "exp10": 0.225}


def rows():
    """``[(name, overrides, description)]``: each row's contrastive and decoder settings."""
    from neurocine_toolbox.config import load_config

    def settings(preset):
        config = load_config(preset)
        return {**{f"contrastive.{k}": config["contrastive"][k] for k in ("gamma_spa", "gamma_tem", "mu_spa", "mu_tem")},
                "decoder.beta": config["decoder"]["beta"]}

    both = settings("paper-table1-exp1")
    spatial = {**both, "contrastive.gamma_tem": 0.0, "contrastive.mu_tem": 0.0}
    temporal = {**both, "contrastive.gamma_spa": 0.0, "contrastive.mu_spa": 0.0}
    table = [("exp0", settings("paper-table1-exp0"), "no augmentation, i.i.d. noise"),
             ("spatial", spatial, "spatial masking only, i.i.d. noise"),
             ("temporal", temporal, "temporal interpolation only, i.i.d. noise"),
             ("exp1", both, "both augmentations, i.i.d. noise"),
             ("exp8", settings("paper-table1-exp8"), "both, dependent noise β 0.25"),
             ("exp10", settings("paper-table1-exp10"), "both, dependent noise β 0.75")]
    return [(name, [f"{k}={v}" for k, v in values.items()], text) for name, values, text in table]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="tiny-natural")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        help="config override for every row, key=value (chosen on validation)")
    parser.add_argument("--donor", help="run name (with {seed}) whose finished stages may be copied")
    parser.add_argument("--rows", nargs="+", help="only these rows (default: all)")
    parser.add_argument("--summary-only", action="store_true",
                        help="train nothing: summarise the runs already evaluated (each row over its finished seeds)")
    args = parser.parse_args()

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.evaluation.evaluate import compare_runs, evaluate_run
    from neurocine_toolbox.pipelines.decode_split import decode_split
    from neurocine_toolbox.training.fit import fit

    derivatives = dataset(args.out, args.data_seed, "benchmark", args.preset)
    models = derivatives / "sub-01" / "models"
    table = [r for r in rows() if not args.rows or r[0] in args.rows]
    summary = {"preset": args.preset, "overrides": args.overrides, "data_seed": args.data_seed, "rows": {}}
    for seed in args.train_seeds:
        donors = [args.donor.format(seed=seed)] if args.donor else []
        for row, settings, _ in table:
            name = f"table1-{row}-seed{seed}"
            overrides = [*args.overrides, *settings, f"seed={seed}"]
            evaluation = models / name / "decoded-test" / "evaluation" / "metrics.json"
            start = time.perf_counter()
            if args.summary_only and not evaluation.is_file():
                continue
            if not evaluation.is_file():
                config = load_config(args.preset, overrides=overrides)
                borrowed = borrow_stages(models, name, config, [*donors, *(f"table1-{r}-seed{seed}" for r, *_ in table)])
                print(f"seed {seed} {row}: borrowed {', '.join(borrowed) or 'nothing'}", flush=True)
                fit(derivatives, "01", preset=args.preset, overrides=overrides, name=name, progress=False)
                copy_baselines(models, donors, name)
                decode_split(derivatives, "01", name=name, force=True, progress=False)
                evaluate_run(derivatives, "01", name=name, baselines=("ridge", "pixel_ridge"), progress=False)
                print(f"seed {seed} {row}: {time.perf_counter() - start:.0f} s", flush=True)
            record = json.loads(evaluation.read_text())
            entry = summary["rows"].setdefault(row, {})
            entry[str(seed)] = {"metrics": _headline(record)}
            if row != "exp0" and "exp0" in summary["rows"] and str(seed) in summary["rows"]["exp0"]:
                compared = compare_runs(derivatives, "01", name, f"table1-exp0-seed{seed}")
                differences = {d["column"]: d for d in compared["differences"]}
                entry[str(seed)]["versus_exp0"] = {
                    key: {k: differences[column][k] for k in ("difference", "ci95", "p_value", "p_floor")}
                    for key, _ in COLUMNS if (column := _column(differences, key)) is not None}
    out = Path(args.out) / "table1"
    out.mkdir(parents=True, exist_ok=True)
    pooled = pooled_differences(models, table, args.train_seeds, summary["rows"])
    summary["pooled_versus_exp0"] = pooled
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = summary_lines(summary, table, pooled)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


#: The columns of the summary: (per_clip.csv column, label).
COLUMNS = [("ssim:mindvideo-rgb", "SSIM"), ("pixcorr:rgb-pearson", "PixCorr"),
           ("identification:ssim:mindvideo-rgb:2-way", "ident. SSIM"),
           ("identification:pixcorr:rgb-pearson:2-way", "ident. PixCorr"),
           ("frame_nway:peers:50-way:top1", "frame 50-way"), ("clip_nway:peers:50-way:top1", "clip 50-way"),
           ("frame_nway:strict:50-way:top1", "frame 50-way strict"),
           ("clip_nway:strict:50-way:top1", "clip 50-way strict"),
           ("temporal_consistency", "temporal consistency")]


def _column(columns, key):
    """The column ``key`` names: itself, or the one metric column that starts with it (temporal
    consistency carries its CLIP's name)."""
    if key in columns:
        return key
    found = [c for c in columns if c.startswith(key + ":") and "@" not in c and "gap" not in c and "true clips" not in c]
    return found[0] if len(found) == 1 else None


def _headline(record):
    """``{column: value}`` of the summary's columns (the decoder's own value), from ``metrics.json``."""
    from neurocine_toolbox.evaluation.metrics_table import column_name

    values = {column_name(row): row["value"] for row in record["metrics"]}
    return {c: values.get(_column(values, c)) for c, _ in COLUMNS}


def pooled_differences(models, table, seeds, finished):
    """Row − exp0 per clip, averaged over the training seeds where both are in ``finished``
    (``{row: {seed: …}}``), then one paired test over the clips; each row notes its seeds."""
    from neurocine_toolbox.evaluation.evaluate import read_per_clip
    from neurocine_toolbox.evaluation.time_series_statistics import paired_difference

    @functools.lru_cache(maxsize=None)  # exp 0's tables are read once, not once per row
    def per_clip(row, seed):
        return read_per_clip(models / f"table1-{row}-seed{seed}" / "decoded-test" / "evaluation" / "per_clip.csv")

    pooled = {}
    for row, *_ in table:
        both = [s for s in seeds if str(s) in finished.get(row, {}) and str(s) in finished.get("exp0", {})]
        if row == "exp0" or not both:
            continue
        reference = [per_clip("exp0", s) for s in both]
        runs = np.array([int(r["run"]) for r in reference[0]])
        tables = [per_clip(row, s) for s in both]
        pooled[row] = {"seeds": both}
        for key, _ in COLUMNS:
            column = _column(tables[0][0], key)
            if column is None:
                continue
            diff = np.mean([[float(r[column]) - float(e[column]) for r, e in zip(t, ref)]
                            for t, ref in zip(tables, reference)], axis=0)
            d = paired_difference(diff, np.zeros_like(diff), runs, seed=0)
            pooled[row][key] = {"difference": d["estimate"], "ci95": d["ci95"], "p_value": d["p_value"],
                                   "p_floor": d["p_floor"]}
    return pooled


def _diff(d):
    if not d or d.get("difference") is None:
        return "–"
    ci = d.get("ci95")
    interval = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
    p = f", p {d['p_value']:.3g} ({d['p_floor']:.3g})" if d.get("p_value") is not None else ""
    return f"{d['difference']:+.3f}{interval}{p}"


def summary_lines(summary, table, pooled):
    """Markdown: each row's metrics (mean over seeds), then row − exp0 pooled over seeds and per seed."""
    labels = [label for _, label in COLUMNS]
    lines = ["| row | settings | seeds | paper SSIM | " + " | ".join(labels) + " |", "|---" * (len(labels) + 4) + "|"]
    for row, _, text in table:
        by_seed = summary["rows"].get(row, {})
        cells = []
        for column, _ in COLUMNS:
            values = [s["metrics"][column] for s in by_seed.values() if s["metrics"].get(column) is not None]
            cells.append(f"{np.mean(values):.3f}" if values else "–")
        paper = PAPER_SSIM.get(row)
        seeds = ", ".join(by_seed) or "–"
        lines.append(f"| {row} | {text} | {seeds} | {paper if paper is not None else '–'} | " + " | ".join(cells) + " |")
    lines += ["", "Row − exp0, per clip averaged over the training seeds, then paired over the clips (95 % "
              "block-bootstrap interval; two-sided sign-flip p over test movies, its floor in parentheses):", "",
              "| row | seeds | " + " | ".join(labels) + " |", "|---" * (len(labels) + 2) + "|"]
    for row, _, _ in table:
        if row in pooled:
            seeds = ", ".join(str(s) for s in pooled[row]["seeds"])
            lines.append(f"| {row} | {seeds} | " + " | ".join(_diff(pooled[row].get(c)) for c, _ in COLUMNS) + " |")
    lines += ["", "Row − exp0 per training seed:", "", "| row | seed | " + " | ".join(labels) + " |",
              "|---" * (len(labels) + 2) + "|"]
    for row, _, _ in table:
        for seed, entry in summary["rows"].get(row, {}).items():
            if "versus_exp0" in entry:
                lines.append(f"| {row} | {seed} | " + " | ".join(_diff(entry["versus_exp0"].get(c))
                                                                 for c, _ in COLUMNS) + " |")
    return lines


if __name__ == "__main__":
    main()
