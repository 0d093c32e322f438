"""Import fMRI-encoder checkpoints users already have into :class:`FMRIEncoder`.

:func:`import_checkpoint` reads an MAE pre-training file (``MAEforFMRIContrast``, MinD-Vis), a
MinD-Video ``fMRIEncoder`` folder or a neurocine ``save_pretrained`` folder and returns the encoder
with an :class:`ImportReport` of what was done with every key. Each step is a module of its own:
:mod:`.safe_load` (torch files read with ``weights_only=True`` and code-free stand-ins for pickled
config classes), :mod:`.formats` (recognising the source), :mod:`.architecture` (the encoder the
weights' shapes imply), :mod:`.mapping` (key by key, with position-table interpolation),
:mod:`.report` (the report and its logging) and :mod:`.importer` (the steps in order).
"""

from .formats import WEIGHT_FILES
from .importer import import_checkpoint
from .mapping import PRETRAINING_ONLY, interpolate_positions
from .report import ImportReport, print_report
from .safe_load import _CAN_STAND_IN, REFUSED_MODULES, PickledObject, _torch_load, stand_in_allowed

__all__ = ["import_checkpoint", "ImportReport", "print_report", "interpolate_positions", "PRETRAINING_ONLY",
           "WEIGHT_FILES", "PickledObject", "stand_in_allowed", "REFUSED_MODULES"]
