"""Time the attention report's parts at Wen 2018's size, with the paper's encoder.

- attention: the paper-size encoder (depth 24, width 1024, 16 heads, temporal attention, 4,192
  voxels in 262 patches of 16, windows of 2 TRs; random weights) on ``--windows`` windows, with
  every layer's attention weights returned; per-window time, extrapolated to Wen's 1,200 test
  windows and 3 stages (labelled as such);
- the position control: the same on column-permuted windows (counted in ``attention_s``);
- attribution: integrated gradients (16 steps) of the CLIP-target similarity on
  ``--attribution-windows`` windows, extrapolated likewise (2 stages);
- surrogates: ``--surrogates`` Moran spectral randomisation surrogates of a map on 4,183 MMP
  V1–V4 grayordinates, first call (eigendecompositions) and again (cached);
- maps and tables: 3 stages × 3 layers × (4 measures raw and position-controlled + the
  no-stimulus map) + 5 categories × 3 layers × 3 stages maps from token values to fsaverage5,
  and 4 atlases' ROI tables for 3 stages with the surrogates and 1,000 permutations;
- the HTML page for those maps and tables.

Usage::

    python benchmarks/attention_report_scale.py --json attention.json
    python benchmarks/attention_report_scale.py --windows 4 --surrogates 100     # quick look
"""

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

WEN_WINDOWS, STAGES, CATEGORIES = 1200, 3, 5


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8, help="windows through the paper-size encoder")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--attribution-windows", type=int, default=2)
    parser.add_argument("--surrogates", type=int, default=1000)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    from neurocine_toolbox.data.grayordinates import mmp_visual_grayordinates
    from neurocine_toolbox.interpretation.attention_analysis import _surface_map
    from neurocine_toolbox.interpretation.attention_extraction import control_windows, token_importance
    from neurocine_toolbox.interpretation.attribution import voxel_attribution
    from neurocine_toolbox.interpretation.report_content import ReportContent, RoiTable
    from neurocine_toolbox.interpretation.report_html import write_report
    from neurocine_toolbox.interpretation.roi_summary import ATLASES, roi_table
    from neurocine_toolbox.interpretation.spatial_nulls import moran_surrogates
    from neurocine_toolbox.interpretation.voxel_projection import tokens_to_columns
    from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    encoder = FMRIEncoder().to(device).eval()  # the paper's defaults
    windows = np.random.default_rng(0).normal(size=(args.windows, 2, 4192)).astype(np.float32)
    token_importance(encoder, windows[:1], [1, 12, 24], batch_size=1)  # warm-up
    importance, attention_s = _timed(token_importance, encoder, windows, [1, 12, 24], args.batch_size)
    _, control_s = _timed(token_importance, encoder, control_windows(windows, "permuted"), [1, 12, 24],
                          args.batch_size)
    per_window = (attention_s + control_s) / args.windows
    targets = np.random.default_rng(2).normal(size=(args.attribution_windows, 768)).astype(np.float32)
    _, attribution_s = _timed(voxel_attribution, encoder, windows[:args.attribution_windows], targets, 16,
                              args.batch_size)
    attribution_per_window = attribution_s / args.attribution_windows

    voxels, _ = mmp_visual_grayordinates()
    voxels = np.concatenate([voxels, -np.ones(4192 - len(voxels), int)])
    rng = np.random.default_rng(1)
    stage_names = ("pretrain", "encoder", "decoder-fmri")
    start = time.perf_counter()
    maps = []
    for stage in stage_names:
        for layer in (1, 12, 24):
            for measure in ("read", "received", "cls", "rollout", "read-vs-permuted", "received-vs-permuted",
                            "cls-vs-permuted", "rollout-vs-permuted", "read-on-permuted"):
                maps.append(_surface_map(stage, layer, measure, None, WEN_WINDOWS,
                                         tokens_to_columns(rng.random(262), 16, 4192), voxels))
            for c in range(CATEGORIES):
                maps.append(_surface_map(stage, layer, "read", f"category {c}", 100,
                                         tokens_to_columns(rng.normal(size=262), 16, 4192), voxels))
    maps_s = time.perf_counter() - start
    heads = [m for m in maps if m.measure == "read-vs-permuted" and m.layer == 24 and m.category is None]
    surrogates, surrogates_s = _timed(moran_surrogates, heads[0].grayordinates, args.surrogates, 0)
    _, surrogates_cached_s = _timed(moran_surrogates, heads[0].grayordinates, args.surrogates, 1)
    start = time.perf_counter()
    tables = [RoiTable(atlas, m.key, roi_table(m.grayordinates, atlas, moran_surrogates(m.grayordinates, args.surrogates),
                                               1000, 0))
              for m in heads for atlas in ATLASES]
    tables_s = time.perf_counter() - start

    content = ReportContent(title="benchmark", subject="01", run="bench", split="test", maps=maps, roi_tables=tables,
                            methods={"n_surrogates": args.surrogates, "attention_measure": "read-vs-permuted"},
                            methods_text="benchmark", provenance={})
    with tempfile.TemporaryDirectory() as tmp:
        path, html_s = _timed(write_report, content, Path(tmp) / "report.html")
        html_mb = path.stat().st_size / 1e6

    result = {
        "device": device, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "encoder_parameters": sum(p.numel() for p in encoder.parameters()),
        "attention_windows": args.windows, "attention_s": attention_s, "attention_s_per_window": per_window,
        "attention_s_wen_extrapolated": per_window * WEN_WINDOWS * STAGES,
        "attribution_windows": args.attribution_windows, "attribution_s_per_window": attribution_per_window,
        "attribution_s_wen_extrapolated": attribution_per_window * WEN_WINDOWS * 2,
        "surrogates": args.surrogates, "surrogates_first_s": surrogates_s, "surrogates_cached_s": surrogates_cached_s,
        "maps": len(maps), "maps_s": maps_s, "roi_tables": len(tables), "roi_tables_s": tables_s,
        "html_s": html_s, "html_mb": html_mb,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "token_shape": list(importance[("received", 24)].shape),
    }
    for key, value in result.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
