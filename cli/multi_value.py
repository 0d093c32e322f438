"""Options that take several values after one flag, as BIDS apps' ``--participant-label 01 02``."""

import re

import click


class MultiValueCommand(click.Command):
    """A command whose listed options accept ``--flag a b c`` as well as ``--flag a --flag b``.

    click options take one value per flag, so the tokens after such a flag that match its
    pattern are rewritten as repeated flags before parsing (``--flag a,b`` works too).

    Parameters
    ----------
    multi_value : dict
        Option name (e.g. ``"--participant-label"``) → regular expression a value must match.
    """

    def __init__(self, *args, multi_value=None, **kwargs):
        self.multi_value = {name: re.compile(pattern) for name, pattern in (multi_value or {}).items()}
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, expand_multi_value(args, self.multi_value))


def expand_multi_value(args, options):
    """Rewrite ``--flag a b`` (or ``--flag=a,b``) into ``--flag a --flag b`` for ``options``."""
    out, args = [], list(args)
    while args:
        token = args.pop(0)
        if token == "--":
            return out + [token] + args
        name = token.split("=", 1)[0]
        if name not in options:
            out.append(token)
            continue
        if "=" in token:
            args.insert(0, token.split("=", 1)[1])
        pattern = options[name]
        values = []
        while args and all(pattern.fullmatch(v) for v in args[0].split(",")):
            values += args.pop(0).split(",")
        for value in values or [None]:
            out += [name] + ([] if value is None else [value])
    return out
