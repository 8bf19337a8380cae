"""The argument parser of the ``erftheory`` command: the top level and the theory subcommands.

One small function per subcommand adds its subparser and arguments, in the order ``--help`` lists
them; the empirical subcommands (``check``, ``validate``) add theirs in :mod:`.cli_empirical`.
"""

from __future__ import annotations

import argparse

from .cli_arguments import (
    _ARCH_HELP,
    _add_identity,
    _add_memory,
    _floats,
    _ints,
    _out_path,
    _Parser,
    _pixel_size,
)
from .cli_empirical import _add_check, _add_validate
from .normalization import NORMALIZATIONS


def _parser() -> argparse.ArgumentParser:
    """The ``erftheory`` parser, its subcommands in the order ``--help`` lists them."""
    parser = _Parser(
        prog="erftheory",
        description="Theoretical and effective receptive fields of convolutional networks.",
        epilog=_ARCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _add_rf(sub)
    _add_erf(sub)
    _add_sweep(sub)
    _add_check(sub)
    _add_validate(sub)
    _add_borders(sub)
    _add_zoo(sub)
    return parser


def _version() -> str:
    from . import __version__

    return f"erftheory {__version__}"


def _command(sub, name: str, help: str, epilog: str = _ARCH_HELP) -> argparse.ArgumentParser:
    """A subcommand that reads an architecture: ARCH, --as-identity and the grammar below."""
    parser = sub.add_parser(
        name, help=help, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("arch", metavar="ARCH")
    _add_identity(parser)
    return parser


def _add_rf(sub: argparse._SubParsersAction) -> None:
    """``rf``: the theoretical receptive field, per layer."""
    rf = _command(sub, "rf", "theoretical receptive field, per layer")
    rf.add_argument("--json", action="store_true", help="print JSON")
    rf.add_argument(
        "--format",
        choices=["text", "markdown", "csv"],
        default="text",
        help="per-layer table format",
    )
    rf.add_argument(
        "--input",
        type=_ints,
        default=None,
        metavar="H,W",
        help="input size: per-layer TRF/ERF coverage, unproductive layers",
    )
    rf.add_argument(
        "--pixel-size",
        type=_pixel_size,
        default=None,
        metavar="X[UNIT]",
        help="physical size of one input pixel, with its unit: 0.5mm, 20um, 0.01s (with --input)",
    )
    # (the unit's name used to be a separate --unit, which erf and validate use for the output
    # unit: still read, not shown)
    rf.add_argument("--unit", default=None, help=argparse.SUPPRESS)
    rf.add_argument(
        "--plot", type=_out_path, metavar="OUT.png", help="TRF and ERF growth through the layers"
    )


def _add_erf(sub: argparse._SubParsersAction) -> None:
    """``erf``: the effective receptive field of the centre unit."""
    e = _command(sub, "erf", "effective receptive field of the centre unit")
    e.add_argument(
        "--weights",
        choices=["ones", "random"],
        default="ones",
        help="ones: E[dy/dx] (path counts); random: E[(dy/dx)^2]",
    )
    e.add_argument(
        "--normalize",
        choices=["sum", "peak"],
        default=None,
        help="divide by the total or the peak (any depth)",
    )
    e.add_argument("--exact", action="store_true", help="exact integer / rational arithmetic")
    e.add_argument(
        "--method",
        choices=["auto", "direct", "fft"],
        default="auto",
        help="direct: a proven relative bound for every entry above the underflow floor "
        "(non-negative kernels); fft: an absolute bound; auto: direct where cheap",
    )
    e.add_argument(
        "--save", type=_out_path, metavar="OUT", help="write the array (.npy, or .csv for 1-D/2-D)"
    )
    e.add_argument(
        "--plot", type=_out_path, metavar="OUT.png", help="heat map with centre profiles"
    )
    e.add_argument("--log", action="store_true", help="logarithmic colour scale in --plot")
    e.add_argument(
        "--display",
        choices=list(NORMALIZATIONS),
        default="raw",
        help="normalisation of the map in --plot (log = log10(x+1), as RepLKNet)",
    )
    e.add_argument("--json", action="store_true", help="print JSON")
    _add_erf_finite_options(e)
    _add_erf_analysis_options(e)


def _add_erf_finite_options(e: argparse.ArgumentParser) -> None:
    """The options of ``erf`` that describe a finite input."""
    e.add_argument(
        "--input",
        type=_ints,
        default=None,
        metavar="H,W",
        help="a finite input of this size: the ERF of one unit, shaped like it (all-ones "
        "weights, raw; --weights, --normalize, --exact, --method and the metric options are "
        "refused with it)",
    )
    e.add_argument(
        "--padding",
        default=None,
        metavar="MODE",
        help="with --input: zeros, circular, reflect or replicate for layers that declare no mode",
    )
    e.add_argument(
        "--unit",
        type=_ints,
        default=None,
        metavar="I,J",
        help="with --input: the output unit (default the centre, n // 2)",
    )


def _add_erf_analysis_options(e: argparse.ArgumentParser) -> None:
    """The metrics and closed forms of the ``erf`` report, and its memory budget."""
    e.add_argument(
        "--thresholds",
        type=_floats,
        default=(0.2, 0.3, 0.5, 0.99),
        metavar="T,...",
        help="area-ratio thresholds in (0, 1] (RepLKNet: 0.2,0.3,0.5,0.99)",
    )
    e.add_argument(
        "--luo-fraction",
        type=float,
        default=0.0455,
        metavar="F",
        help="Luo et al. size: pixels above F of the centre (0.0455)",
    )
    e.add_argument(
        "--mass-fraction",
        type=float,
        default=0.9545,
        metavar="F",
        help="smallest region holding F of the mass (0.9545)",
    )
    e.add_argument(
        "--symbolic",
        action="store_true",
        help="closed forms with sympy: generating function, mean and variance in n, "
        "Gaussian limit (LaTeX)",
    )
    _add_memory(e, "memory budget")


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    """``sweep``: an architecture over a range of depths."""
    sw = _command(
        sub,
        "sweep",
        "repeat an architecture (or its block marked *n) over a range of depths",
        _ARCH_HELP + '\nMark the block to repeat with *n, e.g. "conv7/s2/p3, (conv3, relu)*n".',
    )
    sw.add_argument(
        "--depth",
        required=True,
        metavar="START:STOP[:STEP]",
        help="depths, inclusive, e.g. 1:200 or 1:200:10 or 1,2,4,8",
    )
    sw.add_argument(
        "--weights",
        choices=["ones", "random"],
        default="ones",
        help="ones: E[dy/dx] with all-ones weights; random: E[(dy/dx)^2] (ones)",
    )
    sw.add_argument(
        "--plot", type=_out_path, metavar="OUT.png", help="log-log plot with the fitted slope"
    )
    sw.add_argument("--json", action="store_true", help='print {"rows": [...], "exponent": ...}')
    _add_memory(sw, "memory budget of each depth's ERF")


def _add_borders(sub: argparse._SubParsersAction) -> None:
    """``borders``: every output unit on a finite input."""
    b = _command(
        sub,
        "borders",
        "every output unit on a finite input: ERF mass lost to padding, pull of its centre",
    )
    b.add_argument("--input", type=_ints, required=True, metavar="H,W", help="the input size")
    b.add_argument(
        "--padding",
        default=None,
        metavar="MODE",
        help="zeros, circular, reflect or replicate for layers that declare no mode",
    )
    _add_memory(b, "memory budget of the passes")
    b.add_argument("--json", action="store_true", help="print JSON (with the maps)")
    b.add_argument(
        "--plot", type=_out_path, metavar="OUT.png", help="lost-mass and centre-pull maps"
    )


def _add_zoo(sub: argparse._SubParsersAction) -> None:
    """``zoo``: the built-in architectures."""
    z = sub.add_parser("zoo", help="list the built-in architectures (usable wherever ARCH is)")
    z.add_argument("--json", action="store_true", help="print JSON")
