"""A new subject from little data: subject 01 on a share of its movies, alone or from a run on the others.

On a world with several simulated subjects (``neurocine simulate --preset benchmark --subjects 4``,
prepared and embedded), for each training seed and each alignment method, trains with the
``neurocine`` command line (each command its own process, timed, its peak memory read by
``/usr/bin/time``):

- ``alone100``: subject 01 alone on all its training movies;
- ``alone<F>``: subject 01 alone on the share ``--fraction`` of them (``data.train_fraction``);
- ``shared-<method>``: one model on subjects 02–04 (``fit --subject 02 03 04 --alignment METHOD``);
  stage A (captions and clips only, no fMRI) is copied from ``alone100``: the same clips and captions;
- ``zero-<method>``: subject 01 decoded with that run and no training
  (``decode --from``; anatomical: nothing of subject 01 is used; functional: its map onto the
  template is fitted on the same share of its training movies' fMRI; adapters cannot);
- ``ft-<method>``: that run fine-tuned on the share of subject 01's movies (``fit --from``).

Each run is decoded on subject 01's test split and evaluated with every metric and baseline
(its own latent and pixel ridges, learnt from the training data the run had). Every row is then
compared with ``alone<F>`` and ``alone100`` clip by clip: per clip averaged over the training
seeds, a paired block bootstrap and sign-flip test over the test movies (compare_runs'
statistics). Nothing is chosen here: the settings are the preset's.

Writes ``OUT/many-subjects/{runs.json,summary.json,summary.md}`` and keeps each row's evaluation
(``metrics.json``, ``per_clip.csv``) in ``OUT/many-subjects/evaluations/NAME/``: the summary reads
them from there, so seeds run in different sessions, or on different machines, are pooled by
putting their ``OUT`` folders' files together (``runs.json`` merged, ``evaluations/`` copied).
The repository keeps them in ``benchmarks/results/many-subjects/``.

Usage::

    python benchmarks/many_subjects.py /tmp/multi4/bids/derivatives/neurocine /tmp/multi4/results \\
        --preset tiny-natural-retrieval --fit-set data.lag=3 --train-seeds 0 1 2
"""

import argparse
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from table1_miniature import COLUMNS, _column

METHODS = ("anatomical", "functional", "adapter")


def run(command, log):
    """Run a neurocine command; its wall time and peak memory (``/usr/bin/time -v``)."""
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(command) + "\n")
        f.flush()
        done = subprocess.run(["/usr/bin/time", "-v", *command], stdout=f, stderr=subprocess.PIPE, text=True)
        f.write(done.stderr)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}; see {log}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {"seconds": time.perf_counter() - start, "peak_mib": int(peak.group(1)) / 1024 if peak else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("derivatives", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", default="tiny-natural-retrieval")
    parser.add_argument("--fit-set", action="append", default=[], help="training override, key=value")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--subject", default="01", help="the new subject")
    parser.add_argument("--others", nargs="+", default=["02", "03", "04"], help="the shared runs' subjects")
    parser.add_argument("--summary-only", action="store_true", help="summarise the runs evaluated so far")
    args = parser.parse_args()

    out = args.out / "many-subjects"
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / "runs.json"
    records = json.loads(records_path.read_text()) if records_path.is_file() else {}
    commit = _commit()
    world = _world_key(args.derivatives, args.subject)
    world_path = out / "world.json"
    if world_path.is_file() and not _same_world(json.loads(world_path.read_text()), world):
        raise SystemExit(f"{out} holds results on another world ({world_path}); pool only runs on the same test split")
    if not world_path.is_file():
        world_path.write_text(json.dumps(world, indent=2) + "\n")
    d, sub = str(args.derivatives), args.subject
    others = args.others
    share = f"{round(args.fraction * 100)}"
    fit_set = [x for s in args.fit_set for x in ("--set", s)]

    def step(key, command):
        if key in records or args.summary_only:
            return
        records[key] = {**run(command, out / "commands.log"), "commit": commit}
        records_path.write_text(json.dumps(records, indent=2) + "\n")
        print(f"{key}: {records[key]['seconds']:.0f} s, peak {records[key]['peak_mib']:.0f} MiB", flush=True)

    kept = out / "evaluations"

    def kept_row(name):
        return (kept / name / "metrics.json").is_file()

    def fit_step(key, command, folder, needed_by):
        """A recorded fit is skipped while its folder is there, or when every row that needs it is kept
        (a later session, on a rebuilt world, refits only what an unfinished row needs)."""
        if key in records and not args.summary_only and not folder.is_dir() \
                and not all(kept_row(n) for n in needed_by):
            del records[key]
        step(key, command)

    def decode_and_evaluate(name, decode_from=()):
        """Decode and evaluate a row (``decode_from``: ``--from RUN …`` for a row with no training), then keep it."""
        if kept_row(name):
            return
        step(f"{name}/decode", ["neurocine", "--quiet", "decode", "--subject", sub, *decode_from, "--name", name,
                                "--derivatives", d])
        step(f"{name}/evaluate", ["neurocine", "--quiet", "evaluate", "--subject", sub, "--name", name, "--baseline",
                                 "ridge", "--baseline", "pixel-ridge", "--derivatives", d])
        _evaluation(args.derivatives, sub, name, kept)  # kept at once: an interrupted session loses no row

    names = {}
    for seed in args.train_seeds:
        common = ["--preset", args.preset, *fit_set, "--set", f"seed={seed}", "--derivatives", d]
        models = args.derivatives / f"sub-{sub}" / "models"
        alone = f"ms-alone100-seed{seed}"
        names[("alone100", seed)] = alone
        # the shared runs copy alone100's stage A, so every row of the seed needs it
        rows_of_seed = [alone] + [f"ms-{kind}-{m}-seed{seed}" for m in args.methods for kind in ("zero", "ft")
                                  if not (kind == "zero" and m == "adapter")]
        text_stage = models / alone / "decoder-text"
        if kept_row(alone) and not (text_stage / "model").is_dir() and not args.summary_only \
                and not all(kept_row(n) for n in rows_of_seed):
            # alone100 is scored: the shared runs still to train need only its stage A, not a whole refit
            records.pop(f"{alone}/fit-stage-a", None)
            step(f"{alone}/fit-stage-a", ["neurocine", "--quiet", "fit", "--subject", sub, "--name", alone,
                                          "--stage", "decoder-text", *common])
        else:
            fit_step(f"{alone}/fit", ["neurocine", "--quiet", "fit", "--subject", sub, "--name", alone, *common],
                     models / alone, rows_of_seed)
        decode_and_evaluate(alone)
        few = f"ms-alone{share}-seed{seed}"
        names[(f"alone{share}", seed)] = few
        fit_step(f"{few}/fit", ["neurocine", "--quiet", "fit", "--subject", sub, "--name", few, "--train-fraction",
                                str(args.fraction), *common], models / few, [few])
        decode_and_evaluate(few)
        for method in args.methods:
            shared = f"ms-shared-{method}-seed{seed}"
            group = args.derivatives / "group" / "models" / shared
            zero, tuned = f"ms-zero-{method}-seed{seed}", f"ms-ft-{method}-seed{seed}"
            needed_by = [tuned] + ([zero] if method != "adapter" else [])
            if not args.summary_only and not all(kept_row(n) for n in needed_by) \
                    and not (group / "decoder-text").exists() and (text_stage / "model").is_dir():
                shutil.copytree(text_stage, group / "decoder-text")  # stimulus only: the same clips and captions
            fit_step(f"{shared}/fit", ["neurocine", "--quiet", "fit", "--subject", *others, "--name", shared,
                                       "--alignment", method, *common], group, needed_by)
            if method != "adapter":
                names[(f"zero-{method}", seed)] = zero
                decode_and_evaluate(zero, ["--from", shared, "--train-fraction", str(args.fraction)])
            names[(f"ft-{method}", seed)] = tuned
            fit_step(f"{tuned}/fit", ["neurocine", "--quiet", "fit", "--subject", sub, "--from", shared, "--name",
                                      tuned, "--train-fraction", str(args.fraction), "--derivatives", d],
                     models / tuned, [tuned])
            decode_and_evaluate(tuned)
    for folder in sorted(kept.glob("ms-*-seed*")):  # seeds evaluated in earlier sessions are pooled too
        row, seed = re.fullmatch(r"ms-(.+)-seed(\d+)", folder.name).groups()
        names.setdefault((row, int(seed)), folder.name)
    summary = summarise(args.derivatives, sub, names, records, share, kept)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = summary_lines(summary, share)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _world_key(derivatives, subject):
    """What the pooled per-clip tables must share: the new subject's test split (its movies, and its
    fMRI's mean and spread at each time point: a rebuilt world matches to rounding, not bit for bit,
    as its floating-point results differ in the last bits)."""
    from neurocine_toolbox.data.store import open_store, store_path

    with open_store(store_path(derivatives, subject, "test")) as store:
        fmri = np.asarray(store.fmri[:], np.float64).reshape(len(store.fmri), -1)
        return {"subject": subject, "test_movies": list(store.stimulus_files),
                "test_fmri_mean": np.round(fmri.mean(1), 6).tolist(),
                "test_fmri_std": np.round(fmri.std(1), 6).tolist()}


def _same_world(kept, world, tolerance=1e-4):
    """Whether a kept ``world.json`` describes ``world`` (movies equal, fMRI fingerprints within ``tolerance``)."""
    keys = ("test_fmri_mean", "test_fmri_std")
    if any(k not in kept for k in keys) or kept["subject"] != world["subject"] \
            or kept["test_movies"] != world["test_movies"]:
        return False
    return all(len(kept[k]) == len(world[k]) and np.allclose(kept[k], world[k], rtol=0, atol=tolerance) for k in keys)


def _commit():
    """The code's commit (``git describe``), recorded with each step; None outside a git checkout."""
    done = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                          cwd=Path(__file__).parent)
    return done.stdout.strip() or None


def _evaluation(derivatives, sub, name, kept):
    """A row's ``metrics.json`` and per-clip table: copied from the run's folder into ``kept/NAME``
    when the run has them, then read from there (so a later session can pool them)."""
    from neurocine_toolbox.evaluation.evaluate import read_per_clip

    folder = derivatives / f"sub-{sub}" / "models" / name / "decoded-test" / "evaluation"
    copy = kept / name
    if (folder / "metrics.json").is_file():
        copy.mkdir(parents=True, exist_ok=True)
        for file in ("metrics.json", "per_clip.csv"):
            shutil.copy2(folder / file, copy / file)
    if not (copy / "metrics.json").is_file():
        return None, None
    return json.loads((copy / "metrics.json").read_text()), read_per_clip(copy / "per_clip.csv")


def summarise(derivatives, sub, names, records, share, kept):
    """Each row's metrics per seed (value, interval, chance, baselines); each row − the references,
    per clip averaged over the seeds both have, then paired over the clips. ``kept``: the folder
    each row's evaluation is kept in."""
    from neurocine_toolbox.evaluation.metrics_table import column_name
    from neurocine_toolbox.evaluation.time_series_statistics import paired_difference

    rows = sorted({row for row, _ in names}, key=lambda r: (not r.startswith("alone"), r))
    summary = {"rows": {}, "differences": {}, "costs": records}
    tables = {}
    for (row, seed), name in names.items():
        metrics, per_clip = _evaluation(derivatives, sub, name, kept)
        if metrics is None:
            continue
        tables[(row, seed)] = per_clip
        entry = {}
        for m in metrics["metrics"]:
            column = column_name(m)
            if any(_column([column], c) for c, _ in COLUMNS):
                entry[column] = {"value": m["value"], "ci95": [m["ci_low"], m["ci_high"]], "chance": m["chance"],
                                 "baselines": m["baselines"]}
        summary["rows"].setdefault(row, {})[str(seed)] = entry
    for reference in (f"alone{share}", "alone100"):
        for row in rows:
            if row == reference:
                continue
            seeds = sorted(s for r, s in tables if r == row and (reference, s) in tables)
            if not seeds:
                continue
            for s in seeds:
                _check_same_clips(tables[(row, s)], tables[(reference, s)], f"{row} seed {s}", reference)
            first = tables[(row, seeds[0])]
            runs = np.array([int(r["run"]) for r in first])
            result = {"seeds": seeds}
            for key, _ in COLUMNS:
                column = _column(list(first[0]), key)
                if column is None:
                    continue
                diff = np.mean([[float(a[column]) - float(b[column]) for a, b in
                                 zip(tables[(row, s)], tables[(reference, s)])] for s in seeds], axis=0)
                d = paired_difference(diff, np.zeros_like(diff), runs, seed=0)
                result[key] = {"difference": d["estimate"], "ci95": d["ci95"], "p_value": d["p_value"],
                               "p_floor": d["p_floor"]}
            summary["differences"].setdefault(reference, {})[row] = result
    return summary


def _check_same_clips(table, reference_table, label, reference):
    """Refuse to pair two per-clip tables unless they list the same clips in the same order."""
    keys = [(r["clip"], r["id"], r["run"]) for r in table]
    if keys != [(r["clip"], r["id"], r["run"]) for r in reference_table]:
        raise SystemExit(f"{label} and {reference} were evaluated on different test clips; "
                         "their differences cannot be paired")


def _value(entry, key):
    column = _column(list(entry), key)
    return entry[column] if column else None


def _difference(d):
    if not d:
        return "–"
    interval = f" [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if d.get("ci95") else " [n/a]"
    p = f", p {d['p_value']:.3g} ({d['p_floor']:.3g})" if d.get("p_value") is not None else ""
    return f"{d['difference']:+.3f}{interval}{p}"


def summary_lines(summary, share):
    labels = [label for _, label in COLUMNS]
    lines = ["Each row's value (mean over the training seeds it has; each seed's 95 % block-bootstrap interval "
             "in summary.json), chance, and its own baselines (mean over seeds):", "",
             "| row | seeds | " + " | ".join(labels) + " |", "|---" * (len(labels) + 2) + "|"]
    baseline_rows = {}
    for row, by_seed in summary["rows"].items():
        cells = []
        for key, _ in COLUMNS:
            found = [_value(e, key) for e in by_seed.values()]
            found = [f for f in found if f]
            cells.append(f"{np.mean([f['value'] for f in found]):.3f}" if found else "–")
            for f in found:
                for b, v in f["baselines"].items():
                    if v is not None:
                            baseline_rows.setdefault((row, b), {}).setdefault(key, []).append(v)
        lines.append(f"| {row} | {', '.join(by_seed)} | " + " | ".join(cells) + " |")
    chance = {}
    for by_seed in summary["rows"].values():
        for e in by_seed.values():
            for key, _ in COLUMNS:
                f = _value(e, key)
                if f and f["chance"] is not None:
                    chance[key] = f["chance"]
    lines.append("| *chance* | | " + " | ".join(f"{chance[k]:.3f}" if k in chance else "–" for k, _ in COLUMNS) + " |")
    for (row, baseline), values in sorted(baseline_rows.items()):
        if baseline in ("ridge", "pixel_ridge", "mean_clip", "flat", "shuffled"):
            lines.append(f"| *{row}: {baseline}* | | " + " | ".join(
                f"{np.mean(values[k]):.3f}" if k in values else "–" for k, _ in COLUMNS) + " |")
    for reference, rows in summary["differences"].items():
        lines += ["", f"Row − {reference}, per clip averaged over the training seeds both have, paired over the "
                  "test clips (95 % block-bootstrap interval; two-sided sign-flip p over test movies, its floor "
                  "in parentheses):", "", "| row | seeds | " + " | ".join(labels) + " |",
                  "|---" * (len(labels) + 2) + "|"]
        for row, result in rows.items():
            cells = [_difference(result.get(key)) for key, _ in COLUMNS]
            lines.append(f"| {row} | {', '.join(str(s) for s in result['seeds'])} | " + " | ".join(cells) + " |")
    lines += ["", "Costs (wall time, peak memory of each command's process):", "", "| step | s | peak MiB |",
              "|---|---|---|"]
    for key, cost in summary["costs"].items():
        lines.append(f"| {key} | {cost['seconds']:.0f} | {cost['peak_mib']:.0f} |")
    return lines


if __name__ == "__main__":
    main()
