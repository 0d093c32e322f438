"""fMRI and video data: CIFTI cleaning, voxel selection, frames, the store, torch Datasets."""

from .store import Store, open_store, store_path

__all__ = ["Store", "open_store", "store_path"]
