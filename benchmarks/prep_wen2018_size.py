"""Benchmark ``neurocine prep`` on one subject of Wen 2018's size against a plain read.

A ``wen2018-size`` subject has 86 runs (18 training movies seen twice, 5 test movies seen ten
times) of 245–246 volumes × 91,282 grayordinates (7.7 GB of CIFTI) and 23 movies of 8 min.
The script simulates it once (kept in ``--data``), then times, each in a fresh process:

* **plain read**: what any tool must do to read the same files: ``nibabel.load(f).get_fdata()``
  of every dtseries, and decoding every frame of every movie with PyAV;
* **prep**: ``neurocine --quiet prep`` of that subject.

Both run with the files in the page cache (a first pass reads everything once), and report wall
time and peak resident memory (``os.wait4``'s ``ru_maxrss`` of that process alone). Targets from
the issue: prep within 2× the plain read time, peak memory under 2 GB.

Usage::

    python benchmarks/prep_wen2018_size.py --data /tmp/wen2018-size [--repeats 3]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PLAIN_READ = r"""
import sys, glob, av, nibabel as nib, numpy as np
root = sys.argv[1]
for path in sorted(glob.glob(root + "/derivatives/fmriprep/sub-01/func/*.dtseries.nii")):
    data = nib.load(path).get_fdata(dtype=np.float32)
for path in sorted(glob.glob(root + "/stimuli/*.mp4")):
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            pass
"""


def measure(command, env=None):
    """Run ``command``; return (wall seconds, peak RSS in GiB) of that process alone."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"benchmark command failed: {' '.join(map(str, command))}")
    return wall, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def warm_cache(root):
    total = 0
    for path in Path(root).rglob("*"):
        if path.is_file() and path.suffix in (".nii", ".mp4"):
            with open(path, "rb") as f:
                while chunk := f.read(1 << 24):
                    total += len(chunk)
    return total


def summarize(values):
    values = sorted(values)
    return {"min": values[0], "median": values[len(values) // 2], "max": values[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/tmp/neurocine-wen2018-size", help="Where the simulated dataset lives.")
    parser.add_argument("--repeats", type=int, default=1, help="Timed repetitions of each measurement.")
    parser.add_argument("--json", help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    bids = Path(args.data) / "bids"
    neurocine = [sys.executable, "-m", "neurocine_toolbox.cli.main"]
    figures = {}
    if not (bids / "dataset_description.json").is_file():
        print(f"simulating a wen2018-size subject in {bids} (once) ...", flush=True)
        wall, rss = measure(neurocine + ["--quiet", "simulate", str(bids), "--preset", "wen2018-size"])
        figures["simulate_s"] = wall
        print(f"  simulate: {wall:.0f} s, peak {rss:.2f} GiB")
    runs = sorted((bids / "derivatives/fmriprep/sub-01/func").glob("*.dtseries.nii"))
    size = warm_cache(bids)
    print(f"dataset: {len(runs)} runs, {size / 2**30:.1f} GiB of CIFTI + movies (page cache warmed)")

    reads, preps = [], []
    out = Path(args.data) / "prep-out"
    for _ in range(args.repeats):
        reads.append(measure([sys.executable, "-c", PLAIN_READ, str(bids)]))
        shutil.rmtree(out, ignore_errors=True)
        preps.append(measure(neurocine + ["--quiet", "prep", str(bids), str(out)]))
    read_s = summarize([w for w, _ in reads])
    prep_s = summarize([w for w, _ in preps])
    prep_rss = max(r for _, r in preps)
    figures.update({
        "runs": len(runs), "bytes": size, "plain_read_s": read_s, "prep_s": prep_s,
        "plain_read_peak_gib": max(r for _, r in reads), "prep_peak_gib": prep_rss,
        "ratio_median": prep_s["median"] / read_s["median"],
        "store_bytes": sum(p.stat().st_size for p in out.rglob("*.h5")),
    })
    print(f"plain read : {read_s['median']:.1f} s (min {read_s['min']:.1f}, max {read_s['max']:.1f}), "
          f"peak {figures['plain_read_peak_gib']:.2f} GiB")
    print(f"prep       : {prep_s['median']:.1f} s (min {prep_s['min']:.1f}, max {prep_s['max']:.1f}), "
          f"peak {prep_rss:.2f} GiB")
    print(f"prep / read: {figures['ratio_median']:.2f}x (target <= 2x); peak memory target < 2 GiB: "
          f"{'met' if prep_rss < 2 else 'NOT met'}")
    print(f"store      : {figures['store_bytes'] / 2**30:.2f} GiB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
