"""A small progress bar for long runs: text on stderr, only when stderr is a terminal."""

from __future__ import annotations

import os
import sys
import time

__all__ = ["progress"]


def progress(iterable, total: int | None = None, label: str = "", enabled: bool | None = None):
    """Yield from ``iterable`` while drawing a one-line bar on stderr.

    The bar is drawn only when stderr is a terminal (never in CI or in captured output),
    unless ``enabled`` says otherwise; it is cleared when the loop ends or is interrupted.

    Examples
    --------
    >>> sum(progress(range(4), label="demo", enabled=False))
    6
    """
    if total is None:
        total = len(iterable) if hasattr(iterable, "__len__") else None
    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("CI")
    if not enabled:
        yield from iterable
        return
    start, last = time.monotonic(), 0.0
    try:
        for i, item in enumerate(iterable):
            now = time.monotonic()
            if now - last > 0.1:
                last = now
                _draw(label, i, total, now - start)
            yield item
    finally:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _draw(label: str, done: int, total: int | None, elapsed: float) -> None:
    if total:
        width = 30
        filled = int(width * done / total)
        eta = elapsed / done * (total - done) if done else 0.0
        bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} eta {eta:.0f}s"
    else:
        bar = f"{done} done, {elapsed:.0f}s"
    sys.stderr.write(f"\r{label} {bar}")
    sys.stderr.flush()
