"""A synthetic movie-watching BIDS dataset with known ground truth (``neurocine simulate``)."""

from .dataset import simulate_dataset
from .presets import PRESETS, SimulationConfig, resolve_config

__all__ = ["simulate_dataset", "PRESETS", "SimulationConfig", "resolve_config"]
