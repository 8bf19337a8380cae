"""The empirical subcommands of ``erftheory``: ``check`` and ``validate``, arguments and handlers.

``check`` runs the real network over random weights and inputs against the analytic ERF;
``validate`` compares a measured ERF with it. Each adds its subparser and arguments (called by
:func:`.cli_parser._parser`, in the order ``--help`` lists them) and has one handler.
"""

from __future__ import annotations

import argparse

from .cli_arguments import (
    _ARCH_HELP,
    _add_identity,
    _add_memory,
    _arch,
    _floats,
    _ints,
    _out_path,
)
from .cli_output import _finish, _save_array
from .normalization import NORMALIZATIONS


def _add_check(sub: argparse._SubParsersAction) -> None:
    """``check``: the Monte-Carlo cross-check of the theory."""
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
    _add_identity(c)
    _add_check_sampling_options(c)
    _add_check_output_options(c)


def _add_check_sampling_options(c: argparse.ArgumentParser) -> None:
    """The random networks and inputs ``check`` runs, and its memory budget."""
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
        help="relu, tanh, sigmoid, gelu, silu, linear: the architecture's activations removed "
        "and this one put after every conv (linear: none)",
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
    _add_memory(c, "memory budget of the runs")


def _add_check_output_options(c: argparse.ArgumentParser) -> None:
    """What ``check`` prints, saves and plots."""
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument(
        "--save-empirical",
        type=_out_path,
        metavar="OUT.npy",
        help="the Monte-Carlo estimate, aligned like `erftheory erf --save`",
    )
    c.add_argument(
        "--save-z",
        type=_out_path,
        metavar="OUT.npy",
        help="the per-pixel z-score map (estimate minus theory over its standard error)",
    )
    c.add_argument(
        "--plot",
        type=_out_path,
        metavar="OUT.png",
        help="estimate with theory contours and profiles",
    )
    c.add_argument(
        "--display",
        choices=list(NORMALIZATIONS),
        default="sum",
        help="how --plot shows the two maps (after normalising both to sum 1)",
    )


def _add_validate(sub: argparse._SubParsersAction) -> None:
    """``validate``: an empirical ERF against the theory."""
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
    _add_validate_alignment_options(v)
    _add_validate_output_options(v)


def _add_validate_alignment_options(v: argparse.ArgumentParser) -> None:
    """Where the measured field sits: its centre, channel axis and output unit."""
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


def _add_validate_output_options(v: argparse.ArgumentParser) -> None:
    """Identity opt-in, memory budget, .npz key, and what ``validate`` prints and plots."""
    _add_identity(v)
    _add_memory(v, "refuse a map whose working memory would exceed this")
    v.add_argument("--key", default=None, help="array name inside an .npz file")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.add_argument(
        "--plot", type=_out_path, metavar="OUT.png", help="empirical map, theory contours, profiles"
    )
    v.add_argument(
        "--display",
        choices=list(NORMALIZATIONS),
        default="sum",
        help="how --plot shows the two maps (after normalising both to sum 1)",
    )


def _cmd_check(args) -> int:
    from .crosscheck import check
    from .erf import DEFAULT_MAX_BYTES
    from .map_files import load_map

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
