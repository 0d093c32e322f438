"""False-positive rate and interval coverage on autocorrelated null data: old i.i.d. vs new.

Simulated test splits with nothing linking predictions to targets, AR(1) ρ = 0.9 between
consecutive windows (``neurocine_toolbox.evaluation.calibration``):

- **false positives**: share of datasets where "the true pairing beats chance" gets p ≤ 0.05;
  old: a random permutation of the pairing (200); new: the circular-shift null within runs;
- **coverage**: share of datasets whose 95 % interval of a per-window mean contains the true
  mean; old: i.i.d. percentile bootstrap over windows; new: block bootstrap within runs.

Sizes: Wen 2018's test split (5 movies × 239 windows), 78 windows in 2 runs, and the demo's
(3 runs × 13 windows).

Usage::

    python benchmarks/null_false_positive_rate.py                       # 1,000 datasets per size
    python benchmarks/null_false_positive_rate.py --datasets 2000 --json null-fpr.json
"""

import argparse
import json
import time

from neurocine_toolbox.evaluation.calibration import null_calibration

SIZES = {"Wen 2018 test split (5 x 239)": [239] * 5, "2 runs x 39": [39] * 2, "demo (3 x 13)": [13] * 3}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000, help="Null datasets per size.")
    parser.add_argument("--rho", type=float, default=0.9)
    parser.add_argument("--boot", type=int, default=1000, help="Bootstrap resamples per interval.")
    parser.add_argument("--null", type=int, default=200, help="Null pairings per p-value.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()

    rows = {}
    print(f"AR(1) rho = {args.rho}, {args.datasets} null datasets per size, alpha = 0.05")
    print(f"{'size':<32} {'method':<34} {'false positives':>15} {'95% coverage':>13}")
    for name, lengths in SIZES.items():
        start = time.perf_counter()
        result = null_calibration(lengths, rho=args.rho, n_datasets=args.datasets, n_boot=args.boot,
                                  n_null=args.null, seed=args.seed)
        result["seconds"] = time.perf_counter() - start
        rows[name] = result
        old, new = result["iid"], result["blocks"]
        print(f"{name:<32} {'old: iid bootstrap, permutation':<34} {old['false_positive_rate']:>15.3f} "
              f"{old['coverage']:>13.3f}")
        print(f"{'':<32} {'new: block bootstrap, circular shift':<34} {new['false_positive_rate']:>15.3f} "
              f"{new['coverage']:>13.3f}   (blocks of {new['median_block_length']:.0f} windows, "
              f"{new['median_n_null']:.0f} null pairings: medians; {result['seconds']:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
