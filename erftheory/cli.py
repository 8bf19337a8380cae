"""The ``erftheory`` command: a thin layer over the public API.

Exit status: 0 ok, 1 a check failed, 2 bad input (one line on stderr).

This module is the entry point (``main``); the arguments are in :mod:`.cli_parser` (with their
value types in :mod:`.cli_arguments`), the handlers in :mod:`.cli_theory` and
:mod:`.cli_empirical`, and what they write in :mod:`.cli_output`.
"""

from __future__ import annotations

import re
import sys

from .cli_empirical import _cmd_check, _cmd_validate
from .cli_parser import _parser
from .cli_theory import _cmd_borders, _cmd_erf, _cmd_rf, _cmd_sweep, _cmd_zoo
from .errors import ERFError

__all__ = ["main"]


_COMMANDS = {
    "rf": _cmd_rf,
    "erf": _cmd_erf,
    "sweep": _cmd_sweep,
    "check": _cmd_check,
    "borders": _cmd_borders,
    "validate": _cmd_validate,
    "zoo": _cmd_zoo,
}


def _negative_values_attached(argv: list[str]) -> list[str]:
    """``--input -5,10`` as ``--input=-5,10``: argparse takes ``-5,10`` for an option.

    Then the value reaches its own check, which names it, instead of argparse's "expected
    one argument".
    """
    out = []
    for item in argv:
        if (
            out
            and out[-1].startswith("--")
            and "=" not in out[-1]
            and re.fullmatch(r"-[\d.][\w.,:-]*", item)
        ):
            out[-1] = f"{out[-1]}={item}"
        else:
            out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> main(["rf", "conv3*10", "--json"])  # doctest: +ELLIPSIS
    {
      "receptive_field": [
        21,
    ...
    0
    """
    try:
        args = _parser().parse_args(
            _negative_values_attached(sys.argv[1:] if argv is None else argv)
        )
        return _COMMANDS[args.command](args)
    except ERFError as err:
        print(f"erftheory: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("erftheory: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`erftheory erf ... | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
