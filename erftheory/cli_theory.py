"""The theory subcommands of ``erftheory``: ``rf``, ``erf``, ``sweep``, ``borders``, ``zoo``.

One handler per subcommand, each a thin call of the public API; ``erf --input`` runs the
finite-input ERF. Their arguments are added in :mod:`.cli_parser`.
"""

from __future__ import annotations

import sys

import numpy as np

from .cli_arguments import _arch
from .cli_output import _cell, _finish, _rounded, _save, _save_array, _write_figure
from .cli_parser import _parser
from .errors import ERFError
from .report import to_json


def _cmd_rf(args) -> int:
    from .receptive_field import receptive_field

    if args.json and args.format != "text":  # (JSON would win, silently)
        raise ERFError(f"--json and --format {args.format} both choose the output: give one")
    size, unit = args.pixel_size or (None, None)
    if size is not None and args.input is None:
        raise ERFError(
            "--pixel-size scales the input-resolution report: give the input size too (--input H,W)"
        )
    if args.unit is not None and size is None:
        raise ERFError(
            f"--unit {args.unit} names the unit of --pixel-size: give the pixel size too "
            "(--input H,W --pixel-size X); or write both at once, as --pixel-size 0.5mm"
        )
    if args.unit is not None and unit is not None and unit != args.unit:
        raise ERFError(f"--pixel-size names the unit {unit!r}, --unit {args.unit!r}: give one")
    unit = unit or args.unit or "px"
    net = _arch(args)
    rf = receptive_field(net, args.input)
    if args.plot:
        from .plot import plot_growth

        # one point per layer: repeats unrolled (up to 2,000 copies; then one per entry)
        copies = sum(layer.repeat for layer in net.layers)
        rows = rf
        if len(net.layers) < copies <= 2000:
            from .resolution import _expanded

            rows = receptive_field(_expanded(net), args.input)
        growth = plot_growth(rows, None, args.arch[:40], size, unit, input_shape=args.input)
        _write_figure(growth.figure, args.plot)
    if args.input is not None:
        from .resolution import resolution_report

        report = resolution_report(net, args.input, size, unit)
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


def _cmd_erf(args) -> int:
    from .erf import DEFAULT_MAX_BYTES, erf

    if args.log and not args.plot:  # (it would change nothing, silently)
        raise ERFError("--log sets --plot's colour scale: give --plot OUT.png too")
    if args.input is not None:
        _refuse_with_input(args)
        return _cmd_finite(args)
    _refuse_contradictions(args)
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
    report = _erf_report(args, result, options, cf)
    if args.json:
        print(to_json(report))
    else:
        _print_erf_text(args, result, options, cf)
    return 0


def _refuse_contradictions(args) -> None:
    """Refuse ``erf`` options that need ``--input``, or ``--exact`` with a float ``--method``."""
    if args.unit is not None or args.padding is not None:
        raise ERFError("--unit and --padding describe a finite input: give --input too")
    if args.exact and args.method != "auto":
        raise ERFError(
            f"--exact computes in exact arithmetic; --method {args.method} chooses a float "
            "method: give one or the other"
        )


def _erf_report(args, result, options: dict, cf) -> dict:
    """The ``erf --json`` report: the map, its analysis, exact values and closed forms."""
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
    return report


def _print_erf_text(args, result, options: dict, cf) -> None:
    """Print the ``erf`` text report, with closed forms and small exact maps when asked."""
    print(result.text(**options))
    if args.symbolic:
        print("closed forms (LaTeX):")
        print(cf.latex())
        if cf.count is not None:  # what n stands for here (the forms hold for any n)
            print(f"(n = {cf.count} in this network)")
    if args.exact and result.values.size <= 400 and result.values.ndim <= 2:
        print("exact values:")
        if hasattr(sys, "set_int_max_str_digits"):  # counts may have thousands of digits
            sys.set_int_max_str_digits(0)
        print(result.exact_values)


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
    from .borders import border_maps
    from .erf import DEFAULT_MAX_BYTES
    from .plot import plot_borders

    budget = args.max_memory or DEFAULT_MAX_BYTES
    net = _arch(args)
    result = border_maps(net, args.input, args.padding, max_bytes=budget)
    _note_unpadded(net, args.padding)
    _finish(args, result, plot_borders)
    return 0


def _note_unpadded(net, mode) -> None:
    """Say on stderr when --padding cannot matter: no layer of the network pads."""
    from .blocks import _all_layers
    from .layers import ConvTranspose, _Spatial

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
