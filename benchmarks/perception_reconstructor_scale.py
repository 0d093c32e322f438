"""The perception reconstructor at Wen 2018's scale: fit time and peak memory.

Wen 2018's training movie is 2.4 h at TR 2 s: 4,320 TRs in 18 runs of 240. With two-TR windows of
4,192 selected voxels (MinD-Video's subject-1 count) the input is 8,384 values; the target is the
SD 1.5 VAE latents of a six-frame 256² clip, 4 × 6 × 32 × 32 = 24,576 values. The data are
synthetic (a rank-32 linear map plus noise; the fit's cost does not depend on their content) and
:class:`~neurocine_toolbox.training.perception_ridge.PerceptionRidge` fits them with the
``perception`` section's default settings: its time, the process's peak resident memory, and the
held-out runs' R² it reports.

Usage::

    python benchmarks/perception_reconstructor_scale.py [--threads 2] [--device cpu] [--json out.json]
"""

import argparse
import json
import os
import platform
import resource
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=4320)
    parser.add_argument("--runs", type=int, default=18)
    parser.add_argument("--voxels", type=int, default=4192)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--latent-shape", type=int, nargs=4, default=[4, 6, 32, 32])
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (the issue's 2 CPU cores)")
    parser.add_argument("--json")
    args = parser.parse_args()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    from threadpoolctl import threadpool_limits

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.models.perception_reconstructor import PerceptionReconstructor
    from neurocine_toolbox.training.perception_ridge import PerceptionRidge

    section = load_config()["perception"]
    rng = np.random.default_rng(0)
    n, n_in, n_out = args.windows, args.window * args.voxels, int(np.prod(args.latent_shape))
    fmri = rng.standard_normal((n, args.window, args.voxels), dtype=np.float32)
    mixing_in = rng.standard_normal((n_in, 32), dtype=np.float32) / np.sqrt(n_in)
    mixing_out = rng.standard_normal((32, n_out), dtype=np.float32)
    latents = (fmri.reshape(n, -1) @ mixing_in) @ mixing_out
    latents += rng.standard_normal(latents.shape, dtype=np.float32) * 2
    latents = latents.reshape(n, *args.latent_shape)
    runs = np.repeat(np.arange(args.runs), -(-n // args.runs))[:n]
    data_mb = (fmri.nbytes + latents.nbytes) / 2 ** 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10
    with threadpool_limits(args.threads):
        start = time.perf_counter()
        model = PerceptionRidge(rank=int(section["rank"]), alphas=tuple(section["alphas"]),
                                n_folds=int(section["n_folds"])).fit(fmri, latents, runs)
        seconds = time.perf_counter() - start
        reconstructor = PerceptionReconstructor.from_estimator(model, window=args.window, num_columns=args.voxels)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 10
    result = {"windows": n, "runs": args.runs, "inputs": n_in, "latents": n_out, "rank": int(section["rank"]),
              "alphas": section["alphas"], "n_folds": section["n_folds"], "threads": args.threads,
              "fit_seconds": round(seconds, 1), "peak_rss_mb": round(peak), "rss_before_fit_mb": round(before),
              "data_mb": round(data_mb), "alpha": model.alpha_,
              "cv_r2": {str(k): round(v, 4) for k, v in model.cv_r2_.items()},
              "saved_mb": round(sum(b.numel() * 4 for b in reconstructor.buffers()) / 2 ** 20, 1),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible"}
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
