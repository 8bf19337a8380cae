"""Plain-text, Markdown and CSV renderings of tables (computation stays elsewhere)."""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["table", "to_json", "json_ready"]


def json_ready(values):
    """A float, or nested lists of floats from an array, with NaN and +-inf as None.

    For a result's ``to_dict``: strict JSON has no NaN or Infinity, and an undefined or
    out-of-range quantity is ``null``.

    Examples
    --------
    >>> json_ready(float("nan")), json_ready(np.float64(2.5))
    (None, 2.5)
    >>> json_ready(np.array([[1.0, np.inf], [np.nan, -0.5]]))
    [[1.0, None], [None, -0.5]]
    """
    a = np.asarray(values, dtype=float)
    if a.ndim == 0:
        x = float(a)
        return x if math.isfinite(x) else None
    return np.where(np.isfinite(a), a, None).tolist()


def to_json(obj, indent: int | None = 2) -> str:
    """Strict JSON text of a result's dict: numpy values as Python ones, NaN and inf as null.

    Python's ``json`` writes ``NaN`` and ``Infinity``, which are not JSON (strict parsers, and
    ``jq``, reject them); a quantity that is undefined or out of range is ``null`` instead.

    Examples
    --------
    >>> to_json({"a": np.int64(3), "b": [float("nan"), np.float64(1.5)]}, indent=None)
    '{"a": 3, "b": [null, 1.5]}'
    """
    return json.dumps(_plain(obj), indent=indent, allow_nan=False)


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def table(header: list, rows: list[list], style: str = "text") -> str:
    r"""Render rows under a header as aligned text, a Markdown table or CSV.

    Examples
    --------
    >>> print(table(["a", "bb"], [[1, 2], [10, 20]]))
    a   bb
    --  --
    1   2
    10  20
    >>> print(table(["layer"], [["add(a | b)"]], "markdown"))
    | layer |
    |---|
    | add(a \| b) |
    """
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    if style == "csv":
        import csv
        import io

        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(cells)
        return out.getvalue().rstrip("\n")
    if style == "markdown":
        # a literal | (as in add(a | b)) would end the cell: escape it
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        lines.insert(1, "|" + "|".join("---" for _ in header) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
