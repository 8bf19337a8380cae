"""Plain-text, Markdown and CSV renderings of tables (computation stays elsewhere)."""

from __future__ import annotations

__all__ = ["table"]


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
