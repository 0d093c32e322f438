"""The best path's ablation: simulated datasets × training seeds × decoding variants, each fully evaluated.

For each dataset seed, a small simulated dataset (the demo's: ``simulate --preset small``; prep
with reliability-selected voxels; the true captions embedded) is made once under ``OUT``. For each
training seed one run of ``--preset`` is trained (``--set seed=T``); every row of the ablation is
then a decoding of that same run with other ``sampling.*`` settings, each scored by ``neurocine
evaluate`` with every metric and baseline (latent and pixel ridge included). Rows whose training
differs are separate presets (``--row NAME=PRESET:key=value,...``).

Writes ``OUT/results/data-<D>/seed-<T>/<row>/{metrics.json,metrics.md}``, a summary,
``OUT/results/summary.json`` and ``summary.md`` (per dataset, every row's SSIM, PixCorr,
identification and 50-way scores over training seeds, each row beside its own shuffled baseline
(its decoded clips against other clips' truth), then the baselines the rows share, each with its
block-bootstrap interval; paired differences; means over seeds of each row's gain over its own
shuffled level) and ``OUT/results/tables.md``, every row's whole ``evaluate`` table.

Usage::

    python benchmarks/best_path_ablation.py /tmp/ablation --data-seeds 0 1 --train-seeds 0 1 2 \\
        --preset tiny-perception-sdedit \\
        --row paper=:sampling.strength=1.0 --row best=:
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

KEYS = [("ssim", "mindvideo-rgb", None), ("pixcorr", "rgb-pearson", None), ("identification", "ssim:mindvideo-rgb", 2),
        ("identification", "pixcorr:rgb-pearson", 2), ("frame_nway", "peers", 50), ("clip_nway", "peers", 50)]
#: Baselines that do not depend on the decoded clips (the same for every row of a run); the
#: shuffled baseline does, so each row has its own.
SHARED_BASELINES = ("flat", "mean_clip", "ridge", "pixel_ridge", "vae_oracle")


#: The config sections each stage reads, with those of the stages it starts from.
_ENCODER = ("seed", "data", "encoder", "pretrain", "training")
_DECODER = ("seed", "data", "decoder", "decoder_text", "training", "vae", "embedding", "cross_attention_dim")
STAGE_SECTIONS = {
    "pretrain": _ENCODER,
    "perception": ("seed", "data", "perception"),
    "encoder": (*_ENCODER, "contrastive", "embedding"),
    "decoder-text": _DECODER,
    # The saved pipeline also carries the perception reconstructor where a run has one; the
    # paper's sampling (strength 1) never reads it, so ``perception`` is not compared.
    "decoder-fmri": (*_ENCODER, "contrastive", *_DECODER, "decoder_fmri"),
}


def _sections(config, names):
    return {name: config.get(name) for name in names}


def borrow_stages(models, name, config, donors):
    """Copy into ``models/name`` each stage a donor run trained with the same settings; the stages copied."""
    import yaml

    borrowed = []
    for stage, sections in STAGE_SECTIONS.items():
        target = models / name / stage
        if (target / "model").is_dir():
            continue
        for donor in donors:
            source = models / donor
            if donor == name or not (source / stage / "model").is_dir() or not (source / "config.yaml").is_file():
                continue
            if _sections(yaml.safe_load((source / "config.yaml").read_text()), sections) == _sections(config, sections):
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source / stage, target)
                borrowed.append(f"{stage} from {donor}")
                break
    return borrowed


def copy_baselines(models, donors, name):
    """Copy a donor run's cached baselines (they depend on the data and clip settings only, and
    are keyed by them: a stale entry is recomputed) into run ``name``'s test decoding."""
    target = models / name / "decoded-test" / "baselines"
    for donor in donors:
        cache = models / donor / "decoded-test" / "baselines"
        if cache.is_dir() and not target.is_dir():
            shutil.copytree(cache, target)


def dataset(out, seed, simulation=None, preset="tiny"):
    """The demo's dataset (or ``simulate --preset simulation``), simulated with ``seed``, prepared and
    embedded once (with ``preset``'s CLIP: the natural world's presets bring their own)."""
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.embedding import embed_stores
    from neurocine_toolbox.data.prep import prep
    from neurocine_toolbox.demo import PREP, SIMULATION
    from neurocine_toolbox.simulate import simulate_dataset

    bids = Path(out) / f"data-{seed}" / "bids"
    derivatives = bids / "derivatives" / "neurocine"
    if (derivatives / "embedded.done").is_file():
        return derivatives
    if not (bids / "dataset_description.json").is_file():
        simulate_dataset(bids, seed=seed, progress=False, **({"preset": simulation} if simulation else SIMULATION))
    stores = prep(bids, options=PREP, progress=False)
    embed_stores(stores, dict(load_config(preset)["embedding"], captions="sidecar"), progress=False, bids_dir=bids)
    (derivatives / "embedded.done").write_text("")
    return derivatives


def run_name(preset, fit_set, train_seed):
    """The run's name: the preset, each training override's last key and value, the seed.

    ``tiny-natural-perception-sdedit`` with ``data.lag=3`` and seed 1 is
    ``tiny-natural-perception-sdedit-lag3-seed1``, the name ``choose_on_validation.py`` gives the
    same training, so runs trained differently never share a folder and the same run is not fitted twice.
    """
    settings = "".join(f"-{key.rsplit('.', 1)[-1]}{value}" for key, _, value in (s.partition("=") for s in fit_set))
    return f"{preset}{settings}-seed{train_seed}"


def parse_row(text):
    """``name=preset:key=value,key=value`` (an empty preset: the --preset)."""
    name, _, rest = text.partition("=")
    preset, _, settings = rest.partition(":")
    return name, preset or None, [s for s in settings.split(",") if s]


def row_scores(metrics):
    """``{key: {"value", "ci", "baselines": {name: [value, low, high]}}}`` for the summary's metrics."""
    out = {}
    for row in metrics["metrics"]:
        key = (row["name"], row["protocol"], row["n_way"])
        if key in KEYS and (row["top_k"] in (None, 1)):
            ci = row.get("baselines_ci95", {})
            out[":".join(str(k) for k in key if k is not None)] = {
                "value": row["value"], "ci": [row["ci_low"], row["ci_high"]], "chance": row["chance"],
                "baselines": {b: [v, *(ci.get(b) or [None, None])] for b, v in row["baselines"].items()},
                "versus": {b: d for b, d in row["versus_baselines"].items()}}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="tiny-perception-sdedit")
    parser.add_argument("--row", action="append", default=[], help="name=[preset]:sampling.key=value,...")
    parser.add_argument("--metrics", nargs="+", help="evaluate's metrics (default: the run's config)")
    parser.add_argument("--simulation", help="simulate preset (default: the demo's, small); e.g. benchmark")
    parser.add_argument("--donor", help="run name (with {seed}) whose finished stages a row's run may copy where "
                        "the settings those stages read are equal (borrow_stages)")
    parser.add_argument("--fit-set", action="append", default=[],
                        help="config override for training, key=value (e.g. data.lag=3 as chosen on validation)")
    args = parser.parse_args()

    from neurocine_toolbox.evaluation.evaluate import evaluate_run
    from neurocine_toolbox.pipelines.decode_split import decode_split
    from neurocine_toolbox.training.fit import fit

    rows = [parse_row(r) for r in args.row] or [("best", None, [])]
    results = Path(args.out) / "results"
    summary = {}
    for data_seed in args.data_seeds:
        derivatives = dataset(args.out, data_seed, args.simulation, args.preset)
        for train_seed in args.train_seeds:
            for row, preset, settings in rows:
                preset = preset or args.preset
                name = run_name(preset, args.fit_set, train_seed)
                target = results / f"data-{data_seed}" / f"seed-{train_seed}" / row
                if (target / "metrics.json").is_file():
                    metrics = json.loads((target / "metrics.json").read_text())
                else:
                    start = time.perf_counter()
                    overrides = [*args.fit_set, f"seed={train_seed}"]
                    if args.donor:
                        from neurocine_toolbox.config import load_config

                        donors = [args.donor.format(seed=train_seed)]
                        models = derivatives / "sub-01" / "models"
                        borrowed = borrow_stages(models, name, load_config(preset, overrides=overrides), donors)
                        print(f"{name}: borrowed {', '.join(borrowed) or 'nothing'}", flush=True)
                        copy_baselines(models, donors, name)
                    fit(derivatives, "01", preset=preset, overrides=overrides, name=name, progress=False)
                    fitted = time.perf_counter() - start
                    decode_split(derivatives, "01", name=name, overrides=settings, force=True, progress=False)
                    record = evaluate_run(derivatives, "01", name=name, baselines=("ridge", "pixel_ridge", "vae_oracle"),
                                          metrics=args.metrics, progress=False)
                    target.mkdir(parents=True, exist_ok=True)
                    for file in ("metrics.json", "metrics.md"):
                        shutil.copy(record["out_dir"] / file, target / file)
                    metrics = json.loads((target / "metrics.json").read_text())
                    print(f"data {data_seed} seed {train_seed} {row}: fit {fitted:.0f} s, total "
                          f"{time.perf_counter() - start:.0f} s", flush=True)
                summary.setdefault(f"data-{data_seed}", {}).setdefault(row, {})[train_seed] = row_scores(metrics)
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    full = []  # every row's whole evaluate table, in order
    for data_seed in args.data_seeds:
        for train_seed in args.train_seeds:
            for row, _, settings in rows:
                table = (results / f"data-{data_seed}" / f"seed-{train_seed}" / row / "metrics.md").read_text()
                full += [f"### Dataset seed {data_seed}, training seed {train_seed}: {row}"
                         f"{' (' + ', '.join(settings) + ')' if settings else ''}", "", table.strip(), ""]
    (results / "tables.md").write_text("\n".join(full))
    (results / "summary.md").write_text("\n".join(summary_lines(summary, [r[0] for r in rows])) + "\n")
    print("\n".join(summary_lines(summary, [r[0] for r in rows])))


def _cell(value, ci):
    if ci is None or ci[0] is None:
        return f"{value:.3f} [n/a]"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def summary_lines(summary, rows):
    """One Markdown table per dataset: rows × metrics, each training seed's value [95 % CI], each row
    followed by its own shuffled baseline; then the baselines shared by the rows of a run."""
    lines = []
    for data, by_row in summary.items():
        keys = [k for k in next(iter(next(iter(by_row.values())).values()))]
        lines += [f"### {data}", "", "| row | seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
        seeds = sorted({s for r in by_row.values() for s in r})
        for seed in seeds:
            for row in rows:
                scores = by_row.get(row, {}).get(seed)
                if not scores:
                    continue
                lines.append(f"| {row} | {seed} | " + " | ".join(_cell(scores[k]["value"], scores[k]["ci"])
                                                               for k in keys) + " |")
                lines.append(f"| *{row}'s own shuffled* | {seed} | "
                             + " | ".join(_baseline_cell(scores[k], "shuffled") for k in keys) + " |")
            first = by_row[rows[0]][seed]
            for baseline in SHARED_BASELINES:
                for row in rows[1:]:  # a shared baseline must be the same for every row of the run
                    other = by_row.get(row, {}).get(seed)
                    if other and any(other[k]["baselines"].get(baseline) != first[k]["baselines"].get(baseline)
                                     for k in keys):
                        raise ValueError(f"{baseline} differs between {rows[0]} and {row} (seed {seed})")
                lines.append(f"| *{baseline}* | {seed} | " + " | ".join(_baseline_cell(first[k], baseline)
                                                                        for k in keys) + " |")
        compared = ("flat", "mean_clip", "shuffled", "ridge", "pixel_ridge", "vae_oracle")
        lines += ["", "Paired differences, row − baseline (same clips; shuffled: the row's own; the VAE oracle a "
                  "ceiling), 95 % interval, two-sided p from sign flips of blocks of clips (its floor, the least "
                  "p those blocks allow, in parentheses):", "",
                  "| row | seed | metric | " + " | ".join(f"− {b}" for b in compared) + " |",
                  "|---|---|---|" + "---|" * len(compared)]
        for seed in seeds:
            for row in rows:
                for k in keys:
                    versus = by_row.get(row, {}).get(seed, {}).get(k, {}).get("versus", {})
                    if versus:
                        cells = [_difference_cell(versus.get(b)) for b in compared]
                        lines.append(f"| {row} | {seed} | {k} | " + " | ".join(cells) + " |")
        means = {row: {k: float(np.mean([by_row[row][s][k]["value"] for s in by_row[row]])) for k in keys}
                 for row in rows if row in by_row}
        own = {row: {k: float(np.mean([by_row[row][s][k]["value"] - by_row[row][s][k]["baselines"]["shuffled"][0]
                                       for s in by_row[row]])) for k in keys} for row in rows if row in by_row}
        lines += ["", "Mean over seeds: " + "; ".join(f"{row}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items())
                                                      for row, m in means.items()),
                  "", "Mean over seeds of row − its own shuffled: "
                  + "; ".join(f"{row}: " + ", ".join(f"{k} {v:+.3f}" for k, v in m.items()) for row, m in own.items()),
                  ""]
        lines += winner_lines(by_row, rows, keys)
    if len(summary) > 1:  # every dataset × training seed a cell
        pooled = {row: {(data, seed): scores for data, by_row in summary.items()
                        for seed, scores in by_row.get(row, {}).items()} for row in rows}
        keys = list(next(iter(pooled[rows[0]].values())))
        lines += [f"### All {len(summary)} datasets", ""] + winner_lines(pooled, rows, keys, unit="dataset × seed cells")
    return lines


#: The columns that compete for "best" (the VAE oracle is a ceiling, not a contender).
CONTENDERS = ("flat", "mean_clip", "ridge", "pixel_ridge")


def winner_lines(by_row, rows, keys, unit="training seeds"):
    """Which column scores highest on each metric, over a dataset's training seeds (or any cells:
    ``by_row[row]``'s keys): for every row and shared baseline, the mean over them and the number
    on which it is the best."""
    seeds = sorted({s for r in by_row.values() for s in r})
    columns = [(row, lambda score, row=row: score[row]["value"]) for row in rows if row in by_row]
    columns += [(f"{row}'s own shuffled", lambda score, row=row: score[row]["baselines"]["shuffled"][0])
                for row in rows if row in by_row]
    columns += [(b, lambda score, b=b: score[rows[0]]["baselines"][b][0]) for b in CONTENDERS]
    ceiling = ("VAE oracle (ceiling)", lambda score: score[rows[0]]["baselines"]["vae_oracle"][0])
    per_seed = {seed: {k: {row: by_row[row][seed][k] for row in rows if seed in by_row.get(row, {})} for k in keys}
                for seed in seeds}
    lines = [f"Which column wins each metric: its mean over {unit} (the number of them on which it is the best, "
             f"of {len(seeds)}); the VAE oracle is the ceiling and never counts as best:", "",
             "| column | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    wins = {name: {k: 0 for k in keys} for name, _ in columns}
    for seed in seeds:
        for k in keys:
            values = {name: value(per_seed[seed][k]) for name, value in columns}
            wins[max(values, key=lambda name: values[name])][k] += 1
    for name, value in [*columns, ceiling]:
        cells = []
        for k in keys:
            mean = float(np.mean([value(per_seed[seed][k]) for seed in seeds]))
            cells.append(f"{mean:.3f}" + (f" ({wins[name][k]})" if name in wins else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    best = {k: max(wins, key=lambda name: (wins[name][k], float(np.mean([dict(columns)[name](per_seed[s][k])
                                                                          for s in seeds])))) for k in keys}
    lines += ["", "Best, plainly: " + "; ".join(f"{k}: {best[k]}" for k in keys), ""]
    return lines


def _baseline_cell(score, baseline):
    value = score["baselines"].get(baseline)
    if not value or value[0] is None:
        return "–"
    return _cell(value[0], value[1:]) if value[1] is not None else f"{value[0]:.3f} [n/a]"


def _difference_cell(d):
    if not d:
        return "–"
    interval = "[n/a]" if d["ci95"] is None else f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
    p = "" if d.get("p_value") is None else f" p={d['p_value']:.3g} ({d['p_floor']:.3g})"
    return f"{d['difference']:+.3f} {interval}{p}"


if __name__ == "__main__":
    main()
