"""What the ``erftheory`` commands write: saved arrays, figures, reports, table cells.

Reports go to stdout (text, or clean JSON); the name of each file written goes to stderr.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .errors import ERFError
from .report import to_json


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


def _rounded(x: float):
    """A coordinate for the text report: rounded, or 'undefined' (no mass, no centre)."""
    return round(x, 3) if math.isfinite(x) else "undefined"


def _cell(value, rounded: bool = False) -> str:
    if isinstance(value, list):
        return "x".join(_cell(v, rounded) for v in value)
    if rounded and isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
