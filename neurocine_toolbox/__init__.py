"""neurocine: reconstruct the videos a person watched from their fMRI (NeuroCine, Sun et al. 2024)."""

from ._version import __version__
from .errors import NeurocineError

__all__ = ["__version__", "NeurocineError"]
