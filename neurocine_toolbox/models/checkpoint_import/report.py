"""The :class:`ImportReport`: what an import did with every key, and logging it line by line."""

import logging
from dataclasses import dataclass, field

log = logging.getLogger("neurocine")


@dataclass
class ImportReport:
    """What :func:`import_checkpoint` did with every key.

    Attributes
    ----------
    source : str
    format : str
        The kind of checkpoint recognised.
    config : dict
        The :class:`FMRIEncoder` configuration the weights were loaded into.
    loaded : list of str
        Keys copied unchanged from the checkpoint.
    interpolated : dict
        ``key: (checkpoint shape, our shape)``, resampled to our patch count.
    mismatched : dict
        ``key: (checkpoint shape, our shape)`` that cannot be mapped; ours left as initialised.
    missing : list of str
        Our keys the checkpoint does not have; left as initialised.
    dropped : list of str
        Checkpoint keys only pre-training uses.
    unexpected : list of str
        Checkpoint keys :class:`FMRIEncoder` has no place for; ignored.
    renamed : dict
        ``checkpoint key: our key`` where a prefix was removed.
    notes : list of str
        Assumptions and differences worth knowing.
    """

    source: str
    format: str
    config: dict = field(default_factory=dict)
    loaded: list = field(default_factory=list)
    interpolated: dict = field(default_factory=dict)
    mismatched: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    renamed: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def lines(self):
        """The report as lines of text, every key on its own line."""
        shape = lambda s: "[" + ", ".join(map(str, s)) + "]"  # noqa: E731
        out = [f"checkpoint import: {self.source} ({self.format})",
               "encoder: " + " ".join(f"{k}={v}" for k, v in self.config.items()),
               f"loaded {len(self.loaded)}, interpolated {len(self.interpolated)}, "
               f"not loaded (shape mismatch) {len(self.mismatched)}, missing {len(self.missing)}, "
               f"dropped {len(self.dropped)}, unexpected {len(self.unexpected)}"]
        out += [f"note: {note}" for note in self.notes]
        sections = [
            ("loaded", [f"{k} <- {self.renamed[k]}" if k in self.renamed else k for k in self.loaded]),
            ("interpolated (patch rows resampled linearly, CLS row kept)",
             [f"{k}: {shape(a)} -> {shape(b)}" for k, (a, b) in self.interpolated.items()]),
            ("not loaded: shape mismatch (left as initialised)",
             [f"{k}: {shape(a)} in the checkpoint, {shape(b)} here" for k, (a, b) in self.mismatched.items()]),
            ("missing (left as initialised)", self.missing),
            ("dropped (pre-training only)", self.dropped),
            ("unexpected (ignored)", self.unexpected),
        ]
        for title, keys in sections:
            if keys:
                out.append(f"{title}:")
                out += [f"  {k}" for k in keys]
        return out

    def __str__(self):
        return "\n".join(self.lines())


def print_report(report, logger=None):
    """Log every line of ``report`` at INFO on the ``neurocine`` logger (or ``logger``)."""
    logger = logger or log
    for line in report.lines():
        logger.info("%s", line)
