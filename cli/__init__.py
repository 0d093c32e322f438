"""The ``neurocine`` command line (installed as ``neurocine_toolbox.cli``).

Thin by design: parse options, call the library, print. All logic lives in
``neurocine_toolbox``.
"""
