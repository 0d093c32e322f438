"""Training time and memory per subject added: one run on 1, 2, 3 … subjects, stage by stage.

On a world with several subjects (prepared and embedded), trains ``--preset`` with each
alignment method on the first 1, 2, … subjects, each stage its own ``neurocine fit --stage``
process timed by ``/usr/bin/time -v`` (wall time, peak resident memory). Steps are the preset's
unless ``--set`` shortens them: a stage's steps do not grow with the data (each step draws one
batch), so what a subject adds is the alignment stage, the pooled store, the clips' latents, the
closed-form perception fit, the adapters' parameters, and each step's data reading.

Writes ``OUT/subjects-scaling.json`` and ``.md``.

Usage::

    python benchmarks/subjects_scaling.py /tmp/multi4/bids/derivatives/neurocine /tmp/multi4/results \\
        --preset tiny-natural-retrieval --set data.lag=3 --set pretrain.steps=50 --set contrastive.steps=50 \\
        --set decoder_text.steps=20 --set decoder_fmri.steps=50 --subjects 01 02 03 04
"""

import argparse
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

STAGES = ("alignment", "pretrain", "encoder", "vae", "perception", "decoder-text", "decoder-fmri")


def timed(command):
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {"seconds": time.perf_counter() - start, "peak_mib": int(peak.group(1)) / 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("derivatives", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", default="tiny-natural-retrieval")
    parser.add_argument("--set", dest="settings", action="append", default=[])
    parser.add_argument("--subjects", nargs="+", default=["01", "02", "03", "04"])
    parser.add_argument("--methods", nargs="+", default=["anatomical", "functional", "adapter"])
    args = parser.parse_args()

    results = []
    sets = [x for s in args.settings for x in ("--set", s)]
    for method in args.methods:
        for n in range(1, len(args.subjects) + 1):
            subjects = args.subjects[:n]
            if n == 1 and method != args.methods[0]:
                continue  # one subject on all its movies has no alignment: the same run for every method
            name = f"scaling-{method}-{n}"
            folder = (args.derivatives / "group" / "models" / name if n > 1
                      else args.derivatives / f"sub-{subjects[0]}" / "models" / name)
            shutil.rmtree(folder, ignore_errors=True)
            row = {"method": method if n > 1 else "one subject", "subjects": n, "stages": {}}
            for stage in STAGES:
                if stage == "alignment" and n == 1:
                    continue
                row["stages"][stage] = timed(["neurocine", "--quiet", "fit", "--subject", *subjects, "--name", name,
                                              "--stage", stage, "--alignment", method, "--preset", args.preset,
                                              *sets, "--derivatives", str(args.derivatives)])
                print(name, stage, row["stages"][stage], flush=True)
            row["seconds"] = sum(s["seconds"] for s in row["stages"].values())
            row["peak_mib"] = max(s["peak_mib"] for s in row["stages"].values())
            results.append(row)
            shutil.rmtree(folder, ignore_errors=True)
            for subject in subjects:  # the subjects' linked folders
                shutil.rmtree(args.derivatives / f"sub-{subject}" / "models" / name, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "subjects-scaling.json").write_text(json.dumps({"settings": args.settings, "preset": args.preset,
                                                                "rows": results}, indent=2) + "\n")
    lines = ["| alignment | subjects | " + " | ".join(STAGES) + " | total s | peak MiB |",
             "|---|---|" + "---|" * (len(STAGES) + 2)]
    for row in results:
        cells = [f"{row['stages'][s]['seconds']:.0f} s / {row['stages'][s]['peak_mib']:.0f} MiB"
                 if s in row["stages"] else "–" for s in STAGES]
        lines.append(f"| {row['method']} | {row['subjects']} | " + " | ".join(cells)
                     + f" | {row['seconds']:.0f} | {row['peak_mib']:.0f} |")
    (args.out / "subjects-scaling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
