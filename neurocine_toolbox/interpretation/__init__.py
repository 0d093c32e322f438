"""Where in the brain the decoder looks: encoder attention back to voxels, grayordinates and surfaces.

Today: :mod:`.surface_resampling`, fs_LR 32k → fsaverage5 through the HCP's registration spheres
(a shipped table of adaptive, area-weighted barycentric weights).
"""
