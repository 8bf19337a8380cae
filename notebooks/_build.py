"""Build the teaching notebooks from their sources here, then execute them with outputs.

    python notebooks/_build.py            # write every notebook and run it in place

Each lesson is a list of ("md" | "code", text) cells; the executed notebooks are committed
so that they read well on a code host, and the test suite runs them again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent


def build(name: str, cells: list[tuple[str, str]], execute: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for kind, text in cells:
        text = text.strip("\n")
        nb.cells.append(
            nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text)
        )
    path = HERE / f"{name}.ipynb"
    if execute:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
        ).execute()
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    import lessons

    wanted = set(sys.argv[1:])
    for name, cells in lessons.LESSONS.items():
        if not wanted or name in wanted:
            print("built", build(name, cells))
