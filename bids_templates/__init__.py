"""BIDS templates (dataset_description, sidecars, READMEs) shipped with neurocine.

Installed as ``neurocine_toolbox.bids_templates``; read them through
:mod:`neurocine_toolbox.bids.templates`.
"""
