"""Tiny stand-ins for CLIP, BLIP, Stable Diffusion, ViT and VideoMAE, trained on drawings of the simulated world.

The demo and the tests cannot download the real pretrained models, so these build CPU-sized
ones, seeded, saved as ordinary Hugging Face / diffusers folders and loaded through the same
``from_pretrained`` path as the real ones:

- :mod:`.clip` ``tiny-clip``, trained on captioned drawings (:mod:`.world_clip`);
- :mod:`.blip` ``tiny-blip``, random weights;
- :mod:`.diffusion` ``tiny-sd`` (a UNet and VAE pre-trained on captioned drawings,
  :mod:`.world_diffusion`) and ``tiny-sd-random``;
- :mod:`.vit` ``tiny-vit`` and :mod:`.videomae` ``tiny-videomae``, frame and clip classifiers
  for the N-way evaluation, trained on labelled drawings (:mod:`.world_labels`);
- ``tiny-clip-natural``, ``tiny-sd-natural``, ``tiny-vit-natural`` and ``tiny-videomae-natural``:
  the same, trained on frames of the natural world (shapes in front of photographs,
  :mod:`.world_natural`);
- :mod:`.vocabulary`, the small caption corpus their tokenizers are made from.

This subpackage depends on :mod:`neurocine_toolbox.models` and :mod:`neurocine_toolbox.simulate`,
never the other way round. :func:`neurocine_toolbox.models.pretrained.resolve_pretrained` finds
the builders by name through the ``neurocine.builtin_models`` entry points declared in
``setup.py``, without importing this package, and builds each one once into
``$NEUROCINE_CACHE/tiny/<name>``.
"""

def builtin_model(version, duration, what):
    """Mark a function as the builder of a built-in model.

    A builder is called as ``builder(folder, progress=bool)`` and writes the model's files into
    ``folder``.

    Parameters
    ----------
    version : int
        Bump it when the files the builder writes change, so cached builds are redone.
    duration : str
        How long a build takes, for the log line (e.g. ``"~20 s on 2 CPU cores"``).
    what : str
        What the build does, for the log line.

    Returns
    -------
    callable
        A decorator that sets ``builder_version``, ``build_duration`` and ``build_description``.
    """

    def mark(function):
        function.builder_version = int(version)
        function.build_duration = duration
        function.build_description = what
        return function

    return mark
