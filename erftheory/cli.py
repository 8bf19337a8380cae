"""The ``erftheory`` command: a thin layer over the public API.

Exit status: 0 ok, 1 a check failed, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import math
import re
import sys

import numpy as np

from .errors import ERFError
from .normalization import NORMALIZATIONS
from .report import to_json

__all__ = ["main"]

_ARCH_HELP = """\
ARCH is a zoo name (erftheory zoo), a JSON file, inline JSON, or a compact string such as
"conv3*10" or "conv7/s2/p3, maxpool3/s2/p1, res(conv3, relu, conv3)*2":

  [1d|2d|3d] [MODE]: layer, ...        dims default to 2; MODE: network-wide padding mode
  conv K | avgpool K | maxpool K        K = 3 or 3x5 (per axis)
     /sS stride   /dD dilation   /pP padding (1, 1x2, 0-1 before-after, same, valid)
     /w[[...]] explicit weights (JSON array)   /gG groups   /zeros /circular /reflect /replicate
  convtranspose K | upN[/bilinear]      transposed conv (stride 1 unless /s), upsampling
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
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?i?b?)?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 4GB or 512MiB")
    unit = (m.group(2) or "b").rstrip("b").rstrip("i")
    try:
        size = float(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 4GB or 512MiB") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the memory budget must be positive")
    return size


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of sizes"
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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="erftheory",
        description="Theoretical and effective receptive fields of convolutional networks.",
        epilog=_ARCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    rf = sub.add_parser(
        "rf",
        help="theoretical receptive field, per layer",
        epilog=_ARCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rf.add_argument("arch", metavar="ARCH")
    rf.add_argument(
        "--as-identity",
        type=_names,
        default=(),
        metavar="TYPES",
        help="treat these layer types as identity (opt-in, reported), e.g. se,attention",
    )
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
        type=float,
        default=None,
        metavar="X",
        help="physical size of one input pixel (with --input)",
    )
    rf.add_argument("--unit", default="px", help="name of the physical unit, e.g. mm or s")
    rf.add_argument("--plot", metavar="OUT.png", help="TRF and ERF growth through the layers")

    e = sub.add_parser(
        "erf",
        help="effective receptive field of the centre unit",
        epilog=_ARCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("arch", metavar="ARCH")
    e.add_argument(
        "--as-identity",
        type=_names,
        default=(),
        metavar="TYPES",
        help="treat these layer types as identity (opt-in, reported), e.g. se,attention",
    )
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
    e.add_argument("--save", metavar="OUT", help="write the array (.npy, or .csv for 1-D/2-D)")
    e.add_argument("--plot", metavar="OUT.png", help="heat map with centre profiles")
    e.add_argument("--log", action="store_true", help="logarithmic colour scale in --plot")
    e.add_argument(
        "--display",
        choices=list(NORMALIZATIONS),
        default="raw",
        help="normalisation of the map in --plot (log = log10(x+1), as RepLKNet)",
    )
    e.add_argument("--json", action="store_true", help="print JSON")
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
    e.add_argument(
        "--max-memory",
        type=_memory,
        default=None,
        metavar="SIZE",
        help="memory budget, e.g. 8GB (default 4GiB)",
    )
    sw = sub.add_parser(
        "sweep",
        help="repeat an architecture (or its block marked *n) over a range of depths",
        epilog=_ARCH_HELP
        + '\nMark the block to repeat with *n, e.g. "conv7/s2/p3, (conv3, relu)*n".',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sw.add_argument("arch", metavar="ARCH")
    sw.add_argument(
        "--as-identity",
        type=_names,
        default=(),
        metavar="TYPES",
        help="treat these layer types as identity (opt-in, reported), e.g. se,attention",
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
    sw.add_argument("--plot", metavar="OUT.png", help="log-log plot with the fitted slope")
    sw.add_argument("--json", action="store_true", help='print {"rows": [...], "exponent": ...}')
    sw.add_argument(
        "--max-memory",
        type=_memory,
        default=None,
        metavar="SIZE",
        help="memory budget of each depth's ERF, e.g. 8GB (default 4GiB)",
    )

    c = sub.add_parser(
        "check",
        help="Monte-Carlo cross-check: run the real network (NumPy autograd) against the theory",
        description=(
            "Run the real network over random weights and inputs and compare its E[g^2],\n"
            "E|g| or E[g] with the analytic ERF. Verdicts:\n"
            "  agree        within the Monte-Carlo noise\n"
            "  disagree     a linear network outside it (exit status 1)\n"
            "  gap          a nonlinear network or approximate theory: the distance is reported\n"
            "  inconclusive too few samples to reject a wrong theory: the samples needed\n"
            "               (exit status 1)\n"
            "  unmodelled   the analytic ERF refuses the network: the measurement alone, and why"
        ),
        epilog=_ARCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("arch", metavar="ARCH")
    c.add_argument(
        "--as-identity",
        type=_names,
        default=(),
        metavar="TYPES",
        help="treat these layer types as identity (opt-in, reported)",
    )
    c.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="random networks/inputs, at least 2; the per-pixel z test needs 500, a conclusive "
        "verdict 30 and a noise level low enough (default 1000)",
    )
    c.add_argument("--seed", type=int, default=0, help="random seed, reported in the result (0)")
    c.add_argument("--channels", type=int, default=1, help="channels of every conv (1)")
    c.add_argument(
        "--init",
        default="normal",
        metavar="NAME",
        help="ones, normal, uniform, xavier, he (normal)",
    )
    c.add_argument(
        "--activation",
        default=None,
        metavar="NAME",
        help="relu, tanh, sigmoid, gelu, silu, linear: replaces the architecture's activations",
    )
    c.add_argument(
        "--statistic", choices=["sq", "abs", "mean"], default="sq", help="E[g^2], E|g| or E[g] (sq)"
    )
    c.add_argument(
        "--input-array",
        metavar="IN.npy",
        default=None,
        help="a fixed input instead of a fresh normal one per sample",
    )
    c.add_argument(
        "--variance-map",
        metavar="MAP.npy|.csv",
        default=None,
        help="per-offset variance multiplier of random conv weights (kernel-shaped)",
    )
    c.add_argument("--batch", type=int, default=64, help="samples per pass (64)")
    c.add_argument(
        "--max-memory",
        type=_memory,
        default=None,
        metavar="SIZE",
        help="memory budget of the runs, e.g. 8GB (default 4GiB)",
    )
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument(
        "--save-empirical",
        metavar="OUT.npy",
        help="the Monte-Carlo estimate, aligned like `erftheory erf --save`",
    )
    c.add_argument(
        "--save-z",
        metavar="OUT.npy",
        help="the per-pixel z-score map (estimate minus theory over its standard error)",
    )
    c.add_argument("--plot", metavar="OUT.png", help="estimate with theory contours and profiles")
    c.add_argument(
        "--display",
        choices=list(NORMALIZATIONS),
        default="sum",
        help="how --plot shows the two maps (after normalising both to sum 1)",
    )

    v = sub.add_parser(
        "validate",
        help="compare an empirical ERF (.npy/.npz/.csv/.png) with the theory",
        epilog=_ARCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument(
        "empirical", metavar="EMPIRICAL", help="map or stack (images, [channels,] *spatial)"
    )
    v.add_argument("--arch", required=True, metavar="ARCH", help="the architecture measured")
    v.add_argument(
        "--aggregate",
        choices=["abs", "sq", "relu", "raw", "none"],
        default="abs",
        help="per-sample transform before the mean over images (none: already aggregated)",
    )
    v.add_argument(
        "--theory",
        choices=["random", "random-sqrt", "ones"],
        default=None,
        help="override the analytic map the protocol implies",
    )
    v.add_argument(
        "--log-scale", action="store_true", help="log10(x + 1) as in the RepLKNet scripts"
    )
    v.add_argument(
        "--unit",
        type=_floats,
        default=None,
        metavar="I,J",
        help="input position of the field's centre (default: fitted near the centre of mass)",
    )
    v.add_argument(
        "--layout",
        choices=["channels-first", "channels-last"],
        default="channels-first",
        help="where a stack's channel axis is: (images, channels, *spatial) as PyTorch, or "
        "(images, *spatial, channels) as JAX/Flax and TensorFlow",
    )
    v.add_argument(
        "--output-unit",
        type=_ints,
        default=None,
        metavar="I,J",
        help="the output unit whose ERF the theory gives; matters only with upsampling or "
        "transposed convs (default: every phase is tried and the best is reported)",
    )
    v.add_argument(
        "--as-identity",
        type=_names,
        default=(),
        metavar="TYPES",
        help="treat these layer types as identity (opt-in, reported), e.g. se,attention",
    )
    v.add_argument(
        "--max-memory",
        type=_memory,
        default=None,
        metavar="SIZE",
        help="refuse a map whose working memory would exceed this, e.g. 8GB (default 4GiB)",
    )
    v.add_argument("--key", default=None, help="array name inside an .npz file")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.add_argument("--plot", metavar="OUT.png", help="empirical map, theory contours, profiles")
    v.add_argument(
        "--display",
        choices=list(NORMALIZATIONS),
        default="sum",
        help="how --plot shows the two maps (after normalising both to sum 1)",
    )

    b = sub.add_parser(
        "borders",
        help="every output unit on a finite input: ERF mass lost to padding, pull of its centre",
        epilog=_ARCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("arch", metavar="ARCH")
    b.add_argument(
        "--as-identity",
        type=_names,
        default=(),
        metavar="TYPES",
        help="treat these layer types as identity (opt-in, reported)",
    )
    b.add_argument("--input", type=_ints, required=True, metavar="H,W", help="the input size")
    b.add_argument(
        "--padding",
        default=None,
        metavar="MODE",
        help="zeros, circular, reflect or replicate for layers that declare no mode",
    )
    b.add_argument(
        "--max-memory",
        type=_memory,
        default=None,
        metavar="SIZE",
        help="memory budget of the passes, e.g. 8GB (default 4GiB)",
    )
    b.add_argument("--json", action="store_true", help="print JSON (with the maps)")
    b.add_argument("--plot", metavar="OUT.png", help="lost-mass and centre-pull maps")

    z = sub.add_parser("zoo", help="list the built-in architectures (usable wherever ARCH is)")
    z.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _cmd_sweep(args) -> int:
    from .sweep import sweep

    result = sweep(
        args.arch,
        args.depth,
        weights=args.weights,
        max_bytes=args.max_memory,
        identity=args.as_identity,
    )
    from .plot import plot_sweep

    _finish(args, result, plot_sweep)
    return 0


def _cmd_check(args) -> int:
    from .crosscheck import check
    from .empirical import load_map
    from .erf import DEFAULT_MAX_BYTES

    array = load_map(args.input_array) if args.input_array else None
    vmap = load_map(args.variance_map) if args.variance_map else None
    result = check(
        _arch(args),
        samples=args.samples,
        seed=args.seed,
        channels=args.channels,
        init=args.init,
        activation=args.activation,
        statistic=args.statistic,
        input=array,
        variance_map=vmap,
        batch=args.batch,
        max_bytes=args.max_memory or DEFAULT_MAX_BYTES,
    )
    if args.save_empirical:
        _save_array(result.empirical, args.save_empirical)
    if args.save_z:
        _save_array(result.z, args.save_z)
    from .plot import plot_check

    _finish(args, result, lambda r: plot_check(r, display=args.display))
    return 1 if result.verdict in ("disagree", "inconclusive") else 0


def _cmd_validate(args) -> int:
    from .erf import DEFAULT_MAX_BYTES
    from .validate import validate

    result = validate(
        args.empirical,
        _arch(args),
        aggregate=args.aggregate,
        unit=args.unit,
        log_scale=args.log_scale,
        key=args.key,
        theory=args.theory,
        layout=args.layout.replace("-", "_"),
        output_unit=args.output_unit,
        max_bytes=args.max_memory or DEFAULT_MAX_BYTES,
    )
    from .plot import plot_validation

    _finish(args, result, lambda r: plot_validation(r, display=args.display))
    return 0


def _cmd_zoo(args) -> int:
    from .receptive_field import _axes_text, receptive_field
    from .report import table
    from .zoo import ZOO, zoo_names

    entries = []
    for name in zoo_names():
        entry = ZOO[name]
        rf = receptive_field(entry.network())
        entries.append((name, rf, entry))
    if args.json:
        print(
            to_json(
                [
                    {
                        "name": name,
                        "receptive_field": list(rf.size),
                        "effective_stride": list(rf.effective_stride),
                        "effective_padding": list(rf.effective_padding),
                        "reference": entry.reference,
                        "notes": entry.notes,
                    }
                    for name, rf, entry in entries
                ]
            )
        )
    else:
        rows = [
            [
                name,
                _axes_text(rf.size),
                _axes_text(rf.effective_stride),
                _axes_text(rf.effective_padding),
                entry.reference.split(";")[0],
            ]
            for name, rf, entry in entries
        ]
        print(table(["name", "RF", "stride", "padding", "follows"], rows))
    return 0


def _version() -> str:
    from . import __version__

    return f"erftheory {__version__}"


def _cmd_rf(args) -> int:
    from .receptive_field import receptive_field

    if args.pixel_size is not None and args.input is None:
        raise ERFError(
            "--pixel-size scales the input-resolution report: give the input size too (--input H,W)"
        )
    if args.unit != "px" and args.pixel_size is None:
        raise ERFError(
            f"--unit {args.unit} names the unit of --pixel-size: give the pixel size too "
            "(--input H,W --pixel-size X)"
        )
    net = _arch(args)
    rf = receptive_field(net, args.input)
    if args.plot:
        from .plot import plot_growth

        _write_figure(plot_growth(rf, title=args.arch[:40]).figure, args.plot)
    if args.input is not None:
        from .resolution import resolution_report

        report = resolution_report(net, args.input, args.pixel_size, args.unit)
        if args.json:
            print(to_json({**rf.to_dict(), "resolution": report.to_dict()}))
        else:
            print(report if args.format == "text" else report.table(args.format))
        return 0
    if args.json:
        print(to_json(rf.to_dict()))
    elif args.format != "text":
        from .report import table

        rows = [row.to_dict() for row in rf.rows]
        header = list(rows[0])
        rounded = args.format == "markdown"  # (for reading; CSV keeps every digit, for machines)
        print(table(header, [[_cell(r[h], rounded) for h in header] for r in rows], args.format))
    else:
        print(rf)
    return 0


def _rounded(x: float):
    """A coordinate for the text report: rounded, or 'undefined' (no mass, no centre)."""
    return round(x, 3) if math.isfinite(x) else "undefined"


def _cell(value, rounded: bool = False) -> str:
    if isinstance(value, list):
        return "x".join(_cell(v, rounded) for v in value)
    if rounded and isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _cmd_finite(args) -> int:
    from .erf import DEFAULT_MAX_BYTES
    from .finite import finite_erf

    budget = args.max_memory or DEFAULT_MAX_BYTES
    net = _arch(args)
    result = finite_erf(net, args.input, args.unit, args.padding, max_bytes=budget)
    _note_unpadded(net, args.padding)
    if args.save:
        _save_array(result.values, args.save)
    if args.plot:
        from .plot import plot_map

        title = f"ERF of unit {list(result.unit)}, {args.padding or 'declared'} padding"
        _write_figure(plot_map(result.values, title, log=args.log).figure, args.plot)
    d = result.to_dict()
    if args.json:
        print(to_json(d))
    else:
        lost = d["lost_fraction"]
        print(
            f"ERF of output unit {d['unit']} of {d['output']} on a {d['input']} input "
            f"({args.padding or 'declared'} padding)\n"
            f"  mass              {d['mass']:.6g} of {d['unbounded_mass']:.6g} unbounded"
            + (f" ({lost:.1%} lost to padding)" if lost is not None else "")
            + f"\n  centre            {[_rounded(c) for c in d['centre']]}"
            f" (nominal {d['nominal_centre']})"
        )
    return 0


# options of `erf` that the finite-input ERF (all-ones weights, raw, one unit) does not take:
# given with --input they are refused by name, never ignored
_UNBOUNDED_ONLY = (
    "weights",
    "normalize",
    "exact",
    "method",
    "symbolic",
    "thresholds",
    "luo_fraction",
    "mass_fraction",
    "display",
)


def _refuse_with_input(args) -> None:
    defaults = vars(_parser().parse_args(["erf", "_"]))
    given = [
        "--" + dest.replace("_", "-")
        for dest in _UNBOUNDED_ONLY
        if getattr(args, dest) != defaults[dest]
    ]
    if given:
        raise ERFError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply with --input: "
            "the finite-input ERF is computed with all-ones weights, raw, for one unit "
            "(--unit, --padding, --max-memory, --save, --plot, --log and --json apply); drop "
            "--input for "
            "the unbounded ERF with these options"
        )


def _cmd_borders(args) -> int:
    from .erf import DEFAULT_MAX_BYTES
    from .finite import border_maps
    from .plot import plot_borders

    budget = args.max_memory or DEFAULT_MAX_BYTES
    net = _arch(args)
    result = border_maps(net, args.input, args.padding, max_bytes=budget)
    _note_unpadded(net, args.padding)
    _finish(args, result, plot_borders)
    return 0


def _note_unpadded(net, mode) -> None:
    """Say on stderr when --padding cannot matter: no layer of the network pads."""
    from .architecture import ConvTranspose, _all_layers, _Spatial

    pads = [  # (a transposed conv's padding crops its output: the mode never reaches it)
        x.padding
        for x in _all_layers(net.layers)
        if isinstance(x, _Spatial) and not isinstance(x, ConvTranspose)
    ]
    if mode is not None and not any(any(lo or hi for lo, hi in p) for p in pads):
        print(
            f"note: --padding {mode} changes nothing here: no layer of the network pads "
            "(give layers padding, e.g. conv3/p1 or conv3/psame, for the mode to act)",
            file=sys.stderr,
        )


def _cmd_erf(args) -> int:
    from .erf import DEFAULT_MAX_BYTES, erf

    if args.input is not None:
        _refuse_with_input(args)
        return _cmd_finite(args)
    if args.unit is not None or args.padding is not None:
        raise ERFError("--unit and --padding describe a finite input: give --input too")
    if args.exact and args.method != "auto":
        raise ERFError(
            f"--exact computes in exact arithmetic; --method {args.method} chooses a float "
            "method: give one or the other"
        )
    from .metrics import check_options

    options = dict(
        thresholds=args.thresholds, luo_fraction=args.luo_fraction, mass_fraction=args.mass_fraction
    )
    check_options(**options)  # bad options: exit 2 before anything is computed or written
    cf = None
    if args.symbolic:  # (first: a mode without closed forms is refused before any work)
        from .symbolic import closed_form

        cf = closed_form(_arch(args), weights=args.weights)

    result = erf(
        _arch(args),
        weights=args.weights,
        normalize=args.normalize,
        exact=args.exact,
        method=args.method,
        max_bytes=args.max_memory or DEFAULT_MAX_BYTES,
    )
    if args.save:
        _save(result, args.save)
    if args.plot:
        from .plot import plot_erf

        _write_figure(plot_erf(result, log=args.log, display=args.display).figure, args.plot)
    from .result import ANALYSIS_MAX

    report = result.to_dict(analysis=False)
    if args.json and result.values.size <= ANALYSIS_MAX:
        report.update(result.analysis(**options))
    elif args.json:
        report["analysis_skipped"] = f"the map has over {ANALYSIS_MAX:,} entries"
    if args.exact and args.json:  # as decimal strings ("p/q" for fractions): JSON numbers
        if hasattr(sys, "set_int_max_str_digits"):  # would round them, and counts may have
            sys.set_int_max_str_digits(0)  # thousands of digits
        report["exact_values"] = np.vectorize(str, otypes=[object])(result.exact_values).tolist()
    if cf is not None:
        report["symbolic"] = {
            "n": None if cf.n is None else str(cf.n),
            "generating_function": [str(g) for g in cf.generating_function],
            "mean": [str(m) for m in cf.mean],
            "variance": [str(v) for v in cf.variance],
            "latex": cf.latex().splitlines(),
        }
    if args.json:
        print(to_json(report))
    else:
        print(result.text(**options))
        if args.symbolic:
            print("closed forms (LaTeX):")
            print(cf.latex())
        if args.exact and result.values.size <= 400 and result.values.ndim <= 2:
            print("exact values:")
            if hasattr(sys, "set_int_max_str_digits"):  # counts may have thousands of digits
                sys.set_int_max_str_digits(0)
            print(result.exact_values)
    return 0


def _save(result, path: str) -> None:
    _save_array(result.values, path)


def _save_array(values: np.ndarray, path: str) -> None:
    try:
        if path.endswith(".csv"):
            if values.ndim > 2:
                raise ERFError(f"--save {path}: CSV holds 1-D and 2-D arrays; use .npy for 3-D")
            np.savetxt(path, np.atleast_2d(values), delimiter=",", fmt="%.17g")
        elif path.endswith(".npy"):
            np.save(path, values)
        else:
            raise ERFError(f"{path}: the file name must end in .npy or .csv")
    except OSError as err:
        raise ERFError(f"cannot write {path!r}: {err.strerror}") from None
    _wrote(path)


def _wrote(path: str) -> None:
    """Say on stderr which file a run wrote (stdout stays the report, or clean JSON)."""
    print(f"wrote {path}", file=sys.stderr)


def _finish(args, result, plot) -> None:
    """Write ``--plot`` with ``plot(result)``, then print ``--json`` or the text report."""
    if args.plot:
        _write_figure(plot(result).figure, args.plot)
    print(to_json(result.to_dict()) if args.json else result)


def _write_figure(fig, path: str) -> None:
    import os

    kinds = fig.canvas.get_supported_filetypes()
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    if suffix not in kinds:  # matplotlib would write path + ".png" without a word
        raise ERFError(
            f"--plot {path!r}: name the image file with its format, e.g. erf.png "
            f"({', '.join('.' + k for k in ('png', 'svg', 'pdf') if k in kinds)}, ...)"
        )
    if os.path.isdir(path):
        raise ERFError(f"--plot {path!r} is a directory: name the image file inside it")
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as err:
        raise ERFError(f"cannot write the plot {path!r}: {err}") from None
    _wrote(path)


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
