"""Import an fMRI-encoder checkpoint users already have: :func:`import_checkpoint`, step by step.

The steps are those of the other modules here: read the file or folder and recognise its format
(:mod:`.formats`, loading torch files safely with :mod:`.safe_load`), set aside pre-training keys
and read the architecture from the weights' shapes (:mod:`.architecture`), build the
:class:`FMRIEncoder`, map every key onto it (:mod:`.mapping`), load the completed state dict with
``strict=True`` and log the :class:`ImportReport` (:mod:`.report`).
"""

from pathlib import Path

from ...errors import NeurocineError
from ..fmri_encoder import FMRIEncoder
from .architecture import _ENCODER_ARGS, _resolve_config
from .formats import _read
from .mapping import _complete_state, _rename
from .report import ImportReport, print_report


def import_checkpoint(source, num_voxels, window_size=None, **encoder_overrides):
    """Build an :class:`FMRIEncoder` for ``num_voxels`` columns from a checkpoint users already have.

    Parameters
    ----------
    source : str or Path
        A pre-training torch file (``MAEforFMRIContrast``: ``{"model": …, "config": …}``), a
        MinD-Video ``fMRIEncoder`` folder (``config.json`` + ``model.pth`` /
        ``diffusion_pytorch_model.bin`` / safetensors), a bare state-dict file, or a neurocine
        ``save_pretrained`` folder.
    num_voxels : int
        Columns of the store the encoder will read. When it gives another patch count than the
        checkpoint's, ``pos_embed`` is interpolated and the projection head's ``channel_mapper``
        is left as initialised (both reported); the per-patch weights load as they are.
    window_size : int, optional
        TRs per window. Default: the checkpoint's (MinD-Video and neurocine record it), else
        :class:`FMRIEncoder`'s.
    **encoder_overrides
        Other :class:`FMRIEncoder` arguments. Those the weights fix (``embed_dim``, ``depth``,
        ``patch_size``, ``mlp_ratio``, and the head's ``out_tokens``, ``out_dim``, ``head_norm``,
        ``clip_dim`` when the checkpoint has them) and a recorded ``num_heads`` must agree with
        the checkpoint; ``temporal_attention`` and ``dropout`` may differ.

    Returns
    -------
    encoder : FMRIEncoder
        In eval mode.
    report : ImportReport
        Also logged, line by line, at INFO on the ``neurocine`` logger.

    Raises
    ------
    NeurocineError
        The path does not exist or is not a readable checkpoint, the file references pickled
        functions or classes that are not stood in for (:func:`stand_in_allowed`), or the
        checkpoint contradicts the arguments.
    """
    path = Path(source)
    if not path.exists():
        raise NeurocineError("no such checkpoint file or folder", path)
    unknown = sorted(set(encoder_overrides) - set(_ENCODER_ARGS))
    if unknown:
        raise NeurocineError(f"unknown encoder argument(s) {', '.join(unknown)}; FMRIEncoder takes "
                             f"{', '.join(sorted(_ENCODER_ARGS))}")
    fmt, state, source_config, weights_file, read_notes = _read(path)

    if fmt == "neurocine FMRIEncoder folder":
        wanted = {**_public(source_config), "num_voxels": int(num_voxels), **encoder_overrides}
        if window_size is not None:
            wanted["window_size"] = int(window_size)
        if wanted == _public(source_config):
            model = FMRIEncoder.from_pretrained(path).eval()
            report = ImportReport(str(path), fmt, _public(model.config), loaded=list(model.state_dict()),
                                  notes=["same configuration: loaded with FMRIEncoder.from_pretrained", *read_notes])
            print_report(report)
            return model, report

    report = ImportReport(str(path), fmt)
    if weights_file is not None:
        report.notes.append(f"weights read from {weights_file.name}")
    report.notes += read_notes
    state = _rename(state, fmt, report)
    config, n_source_patches = _resolve_config(state, source_config, fmt, int(num_voxels), window_size,
                                               encoder_overrides, report)
    try:
        model = FMRIEncoder(**config)
    except ValueError as err:
        raise NeurocineError(f"cannot build the encoder: {err}", path) from None
    report.config = _public(model.config)

    model.load_state_dict(_complete_state(state, model, n_source_patches, path, report), strict=True)
    print_report(report)
    return model.eval(), report


def _public(config):
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}
