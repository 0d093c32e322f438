"""Derive the fs_LR 32k → fsaverage5 weight table that neurocine ships.

Reads the HCP's registration spheres and vertex areas (``../shared/data/hcp-resample-fsaverage``,
unmodified HCP Pipelines files; see their README and licence), computes adaptive barycentric
weights with areas for each hemisphere
(:func:`neurocine_toolbox.interpretation.surface_resampling.adaptive_area_weights`) and writes
``neurocine_toolbox/interpretation/data/fslr32k_to_fsaverage5.npz`` (sparse CSR arrays per
hemisphere, float32 weights). Run it again only if the method changes::

    python scripts/derive_fslr_to_fsaverage5.py [--source DIR]
"""

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np

from neurocine_toolbox.interpretation.surface_resampling import TABLE, adaptive_area_weights

ROOT = Path(__file__).resolve().parents[1]
HEMIS = {"left": "L", "right": "R"}


def _surface(path):
    image = nib.load(path)
    return image.darrays[0].data.astype(np.float64), image.darrays[1].data.astype(np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "hcp-resample-fsaverage")
    args = parser.parse_args()
    arrays = {}
    for hemi, h in HEMIS.items():
        deformed = _surface(args.source / f"fs_LR-deformed_to-fsaverage.{h}.sphere.32k_fs_LR.surf.gii")
        fsaverage5 = _surface(args.source / f"fsaverage5_std_sphere.{h}.10k_fsavg_{h}.surf.gii")
        areas = nib.load(args.source / f"fs_LR.{h}.midthickness_va_avg.32k_fs_LR.shape.gii").darrays[0].data
        weights = adaptive_area_weights(deformed, fsaverage5, areas)
        arrays.update({f"{hemi}_data": weights.data.astype(np.float32), f"{hemi}_indices": weights.indices.astype(np.int32),
                       f"{hemi}_indptr": weights.indptr.astype(np.int32)})
        print(f"{hemi}: {weights.shape}, {weights.nnz} weights, {np.diff(weights.indptr).mean():.1f} fs_LR vertices a row")
    out = ROOT / "neurocine_toolbox" / "interpretation" / "data" / TABLE
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
