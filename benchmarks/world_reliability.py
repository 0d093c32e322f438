"""How reliable a simulated brain is, area by area, beside published figures for 3T movie fMRI.

For a dataset written by ``neurocine simulate``, from its test runs (each test movie seen
``test_repeats`` times) and its ground truth:

- **single-viewing reliability** per grayordinate: the Pearson correlation between two viewings
  of the same test movie (the movie's volumes, each run's polynomial trend of the simulation's
  drift order removed), averaged over pairs of viewings and over test movies. For a viewing of
  signal variance S and noise variance N it estimates S / (S + N), the explainable variance of one
  viewing;
- its median and 99th percentile in V1, V2, V3, V4 and the simulation's other groups, and in
  the rest of cortex (noise only);
- the noise's AR(1) coefficient, as the simulation set it (estimated from 16-volume test runs it
  would be biased low by several tenths);
- how many grayordinates pass MinD-Video's reliability test (:class:`ReliabilitySelector`, the
  training movies' two viewings, Bonferroni p < 0.01) at the world's size, and an estimate at
  Wen 2018's size (18 movies of 240 TRs): per grayordinate, 18 Fisher z drawn around
  atanh(S / (S + N)) with the sampling variance of a correlation of AR(1) series, then the same
  t-test (an approximation: the signal's own autocorrelation is ignored).

Published figures printed beside them (docs/simulate.md#the-natural-world gives the sources):
Wen 2018 subject 1, 3,731 grayordinates pass MinD-Video's test (a comment in MinD-Video's code);
the Gallant lab's 3T short-clips data (TR 2 s, test clips seen 10 times): the best voxels'
explainable variance is about 0.7 (``voxelwise_tutorials``).

Usage::

    python benchmarks/world_reliability.py /tmp/bench0 [--subject 01] [--json out.json]
"""

import argparse
import json
import re
from pathlib import Path

import numpy as np
from scipy import stats

WEN2018_RELIABLE = 3731
GALLANT_BEST_EV = 0.7


def read_viewings(bids, subject, pattern):
    """``{task: [viewing [n_TR, 91282], ...]}`` of the runs whose task matches ``pattern``."""
    from neurocine_toolbox.data.cifti import read_dtseries

    func = Path(bids) / "derivatives" / "fmriprep" / f"sub-{subject}" / "func"
    out = {}
    for path in sorted(func.glob(f"sub-{subject}_task-*_bold.dtseries.nii")):
        task = re.search(r"_task-([^_]+)_", path.name).group(1)
        if not re.fullmatch(pattern, task):
            continue
        side = json.loads(path.with_name(path.name.replace(".dtseries.nii", ".json")).read_text())
        data = read_dtseries(path).data
        start, end = side["VolumesTrimmedAtStart"], side["VolumesTrimmedAtEnd"]
        out.setdefault(task, []).append(data[start: len(data) - end])
    return out


def detrend(x, order):
    """``x`` minus its least-squares polynomial of degree ``order`` over time (constant included)."""
    t = np.linspace(-1, 1, len(x))
    basis = np.polynomial.legendre.legvander(t, order)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return x - basis @ coef


def pairwise_reliability(viewings):
    """Mean Pearson r between pairs of viewings, per column (viewings: list of ``[T, G]``)."""
    z = [(v - v.mean(0)) / np.maximum(v.std(0), 1e-12) for v in viewings]
    rs = [(z[i] * z[j]).mean(0) for i in range(len(z)) for j in range(i + 1, len(z))]
    return np.mean(rs, axis=0)


def wen_size_count(reliability, rho, n_movies=18, n_tr=240, n_columns=59412, seed=0):
    """Grayordinates expected to pass MinD-Video's test at Wen 2018's size (see the module doc)."""
    rng = np.random.default_rng(seed)
    r = np.clip(reliability, 0.0, 0.999)
    n_eff = n_tr * (1 - rho**2) / (1 + rho**2)
    z = np.arctanh(r)[:, None] + rng.standard_normal((len(r), n_movies)) / np.sqrt(n_eff - 3)
    _, p = stats.ttest_1samp(z, 0.0, axis=1, alternative="greater")
    return int((np.minimum(p * n_columns, 1) < 0.01).sum())


def area_rows(truth, reliability):
    """``[(name, mask)]``: V1–V4 apart, then the simulation's other groups, then the rest of cortex."""
    from neurocine_toolbox.data.grayordinates import mmp_labels

    labels = mmp_labels()
    group, names = truth["group"], [str(n) for n in truth["group_names"]]
    rows = [(a, np.isin(labels, [f"L_{a}", f"R_{a}"])) for a in ("V1", "V2", "V3", "V4")]
    rows += [(f"{g} group", group == names.index(g)) for g in names[1:] if g != "early"]
    cortex = np.zeros(len(labels), bool)
    cortex[:59412] = True
    rows.append(("rest of cortex (noise only)", cortex & (group == 0)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bids")
    parser.add_argument("--subject", default="01")
    parser.add_argument("--json")
    args = parser.parse_args()
    from neurocine_toolbox.data.voxels import ReliabilitySelector

    sim = Path(args.bids) / "derivatives" / "simulation"
    truth = dict(np.load(sim / f"sub-{args.subject}" / f"sub-{args.subject}_desc-truth_encoding.npz"))
    order = int(truth["drift_order"])
    test = read_viewings(args.bids, args.subject, r"test\d+")
    reliability = np.mean([pairwise_reliability([detrend(v, order) for v in views]) for views in test.values()], axis=0)
    responsive = truth["group"] > 0
    train = read_viewings(args.bids, args.subject, r"seg\d+")
    selector = ReliabilitySelector().fit([[detrend(v, order) for v in views] for views in train.values()])
    rho = float(truth["noise_rho"])
    cortex = np.arange(len(reliability)) < 59412
    result = {
        "areas": {name: {"n": int(mask.sum()), "median": float(np.median(reliability[mask])),
                         "p99": float(np.percentile(reliability[mask], 99))}
                  for name, mask in area_rows(truth, reliability)},
        "noise_rho": rho,
        "reliable_world_size": int(len(selector.indices_)),
        "world_training": {"movies": len(train), "volumes_per_viewing": int(np.median([len(v[0]) for v in train.values()]))},
        "reliable_wen_size_estimate": wen_size_count(reliability[cortex], rho),
        "best_visual_reliability_p99": float(np.percentile(reliability[responsive], 99)),
    }
    print("| area | grayordinates | single-viewing reliability, median | 99th percentile |")
    print("|---|---|---|---|")
    for name, row in result["areas"].items():
        print(f"| {name} | {row['n']} | {row['median']:.3f} | {row['p99']:.3f} |")
    print()
    print("| figure | this world | published |")
    print("|---|---|---|")
    print(f"| best visual voxels' single-viewing reliability (99th percentile of responsive) | "
          f"{result['best_visual_reliability_p99']:.2f} | about {GALLANT_BEST_EV} (Gallant lab 3T short clips, best voxels' explainable variance) |")
    print(f"| grayordinates passing MinD-Video's test, at Wen 2018's size (18 × 240 TRs; estimated) | "
          f"{result['reliable_wen_size_estimate']:,} | {WEN2018_RELIABLE:,} (Wen 2018 subject 1, MinD-Video's code) |")
    w = result["world_training"]
    print(f"| grayordinates passing it at this world's size ({w['movies']} movies × {w['volumes_per_viewing']} TRs; measured) | "
          f"{result['reliable_world_size']:,} | – |")
    print(f"| noise AR(1) coefficient at TR 2 s (set by the simulation) | {rho:.2f} | "
          "no measured figure found; SPM's default noise model is AR(0.2) |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
