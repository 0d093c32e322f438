"""The one exception type users see.

Anything raised as :class:`NeurocineError` is a problem with the user's input or set-up.
The command line prints its message as a single line (no traceback unless ``--debug``).
"""


class NeurocineError(Exception):
    """Bad input or set-up, explained in one line that names the file and the problem."""

    def __init__(self, message, path=None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
