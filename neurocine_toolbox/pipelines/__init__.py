"""The decoding pipeline: fMRI windows in, video frames out."""

from .neurocine_pipeline import NeuroCinePipeline, NeuroCinePipelineOutput

__all__ = ["NeuroCinePipeline", "NeuroCinePipelineOutput"]
