"""fMRI and video data: CIFTI cleaning, voxel selection, frames, the store, torch Datasets."""
