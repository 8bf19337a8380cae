"""The vocabulary of the ``erftheory`` command line: argument value types, the ARCH help.

Also the parser class that turns argparse's complaints into one line and exit status 2, and the
architecture an ARCH argument names.
"""

from __future__ import annotations

import argparse
import math
import re

from .errors import ERFError

_ARCH_HELP = """\
ARCH is a zoo name (erftheory zoo), a JSON file (a name without .json is read as a file
only where it is no description: ./conv3), inline JSON, or a compact string such as
"conv3*10" or "conv7/s2/p3, maxpool3/s2/p1, res(conv3, relu, conv3)*2":

  [1d|2d|3d] [MODE]: layer, ...        dims default to 2; MODE: network-wide padding mode
  conv K | avgpool K | maxpool K        K = 3 or 3x5 (per axis)
     /sS stride   /dD dilation   /pP padding (1, 1x2, 0-1 before-after, same, valid)
     /w[[...]] explicit weights (JSON array)   /gG groups   /zeros /circular /reflect /replicate
  convtranspose K | upN[/bilinear]      transposed conv (stride 1 unless /s), upsampling
  pixelshuffleN                         pixel shuffle (depth to space), as nearest upN
  local K /w[...]                       locally connected (weights: positions, then kernel)
  gap | aapN                            global / adaptive average pooling (need --input)
  relu | tanh | sigmoid | gelu | silu   pointwise; dropoutP, e.g. dropout0.5
  bn | ln | id                          pass-through layers
  res(layer, ...)                       residual block y = x + F(x), F centred
  add(a, b | c) | cat(a | b | id)       aligned branches, added or concatenated
  (layer, ...)                          a group
  ITEM*N                                repeat N times
"""


def _memory(text: str) -> float:
    # a number, then bytes (b or nothing) or a prefix with an optional i and b: 4gb, 4GiB, 4g
    m = re.fullmatch(r"\s*([0-9.]+)\s*(?:([kmgt])i?)?b?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 4GB or 512MiB")
    unit = m.group(2) or ""
    try:  # (a malformed number such as 1.2.3)
        size = float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 4GB or 512MiB") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the memory budget must be positive")
    return size


def _pixel_size(text: str) -> tuple[float, str | None]:
    """A pixel's size and the name of its unit: ``0.5mm`` -> (0.5, "mm"); ``0.5`` -> (0.5, None)."""
    m = re.fullmatch(r"\s*([-+0-9.eE]+|inf|nan)\s*([^\W\d][\w/]*)?\s*", text)
    try:
        size = float(m.group(1)) if m else None
    except ValueError:
        size = None
    if size is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a pixel size such as 0.5mm, 20um or 0.5 (a number, then its unit)"
        )
    return size, m.group(2)


def _out_path(text: str) -> str:
    """A file to write: refused when empty (``--save ""`` used to write nothing, silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty file name; give the file to write")
    return text


def _add_identity(parser: argparse.ArgumentParser) -> None:
    """The ``--as-identity`` option every command that reads an architecture takes."""
    parser.add_argument(
        "--as-identity",
        type=_names,
        default=(),
        metavar="TYPES",
        help="treat these layer types as identity (opt-in, reported), e.g. se,attention",
    )


def _add_memory(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--max-memory`` option: ``what`` says what the budget bounds."""
    parser.add_argument(
        "--max-memory",
        type=_memory,
        default=None,
        metavar="SIZE",
        help=f"{what}, e.g. 8GB (default 4GiB)",
    )


def _ints(text: str) -> tuple[int, ...]:
    """Integers separated by commas or by x, as sizes are written: ``224,224`` or ``224x224``."""
    try:
        return tuple(int(v) for v in re.split(r"[,xX]", text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of integers such as 224,224 or 224x224"
        ) from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated position of finite numbers"
        )
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _arch(args):
    """The architecture named on the command line, with the identity opt-in applied."""
    from .parse import as_network

    return as_network(args.arch, args.as_identity)


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit status 2."""

    def error(self, message):
        raise ERFError(f"{self.prog.removeprefix('erftheory').strip() or 'usage'}: {message}")
