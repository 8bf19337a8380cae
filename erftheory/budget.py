"""Working memory of the NumPy autograd's passes, estimated before anything is allocated.

The Monte-Carlo cross-check (:mod:`erftheory.montecarlo`) and the finite-input ERFs
(:mod:`erftheory.finite_pass`) run real forward and backward passes whose im2col matrices and
gradients take 50-100 times their input; they walk their layers into a :class:`_Tally` and
refuse a run whose estimate is over the budget (``max_bytes``, ``--max-memory``).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ERFError

_DTYPE_BYTES = 8  # float64 values; int64 argmax indices count the same


def _check_budget(max_bytes) -> None:
    """Refuse a memory budget that is not a positive number of bytes."""
    if type(max_bytes) in (int, float) and max_bytes > 0:  # (the common case, on every call)
        return
    number = (int, float, np.integer, np.floating)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, number):
        raise ERFError(
            f"max_bytes={max_bytes!r}: the memory budget must be a positive size in bytes "
            "(a number, such as 4 * 2**30)"
        )
    if not max_bytes > 0:
        raise ERFError(f"max_bytes={max_bytes!r}: the memory budget must be a positive size")


def _estimated_bytes(values: float) -> int:
    """Bytes for ``values`` counted float64 values, with a margin.

    10% for what the count leaves out (small arrays, allocator slack) and 32 MiB for the
    interpreter's own objects and the modules a run imports on the way: measured peaks
    (tracemalloc, and the resident set in a fresh process) stay below this on every case
    tried.
    """
    return int(1.1 * _DTYPE_BYTES * values) + 32 * 2**20


def _bytes_text(n: float) -> str:
    """A byte count for a message: ``'1.5 GiB'``, ``'32.7 TiB'``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def _refuse_over_budget(what: str, needed: float, max_bytes: float, remedy: str) -> None:
    """Raise :class:`ERFError` when the estimated working memory ``needed`` is over budget."""
    if needed > max_bytes:
        raise ERFError(
            f"{what} needs about {_bytes_text(needed)} of working memory (estimated before "
            f"allocating), over the budget of {_bytes_text(max_bytes)} "
            f"(max_bytes={max_bytes:.0f}); {remedy}, or raise the budget with max_bytes= "
            "(--max-memory on the command line)"
        )


class _Tally:
    """The float64 values one pass of the NumPy autograd holds at its peak, layer by layer.

    ``kept`` counts what stays alive until the backward pass ends: the arrays each forward
    step keeps for its backward step (padded copies, im2col matrices, outputs, gates' slopes)
    and the gradient the backward pass leaves on every tensor (the graph is freed only at
    its end). ``passing`` is the largest temporary of a single step, counted on top of all
    kept arrays (conservative: the forward temporaries come before any gradient). With
    ``backward=False`` (a forward pass alone) gradients and backward temporaries are left
    out.
    """

    def __init__(self, backward: bool = True):
        self.backward, self.kept, self.passing = backward, 0, 0

    def add(self, forward=0, grads=0, forward_temp=0, backward_temp=0) -> None:
        """One step: its kept arrays, its gradients, its forward and backward temporaries."""
        self.kept += forward + (grads if self.backward else 0)
        self.passing = max(self.passing, forward_temp, backward_temp if self.backward else 0)

    def values(self, extra: int = 0) -> int:
        """The peak in values, with ``extra`` values held beside the pass (input, results)."""
        return self.kept + self.passing + extra

    def pad(self, n, layer, values: int, always: bool = False) -> int:
        """``ag._pad`` (or max pooling's ``np.pad``) of ``values`` maps of shape ``n``.

        The padded copy and its gradient are kept; the forward pass builds it one axis at a
        time (a copy and its masked copy) and the backward pass folds it back the same way
        (three arrays of up to its size). Returns the padded size.
        """
        padded = math.prod(m + b + a for m, (b, a) in zip(n, layer.padding))
        if always or any(b or a for b, a in layer.padding):
            self.add(values * padded, values * padded, 2 * values * padded, 3 * values * padded)
        return padded

    def conv(self, n, layer, batch: int = 1, cin: int = 1, cout: int = 1, weights: int = 0):
        """``ag.conv`` (im2col and matmul) of ``layer`` on ``batch`` x ``cin`` maps of ``n``.

        Kept: the im2col matrix (positions x taps x channels), the output and its gradient,
        and ``weights`` values of weights; temporaries: the channel-last copy of the input
        (forward, several channels only) and the im2col matrix's gradient (backward).
        Returns the output's spatial shape.
        """
        from .resolution import _out

        out = _out(n, layer)
        positions, taps = math.prod(out), math.prod(layer.kernel)
        padded = self.pad(n, layer, batch * cin)
        self.add(
            forward=batch * positions * (taps * cin + cout) + weights,
            grads=batch * positions * cout,
            forward_temp=batch * cin * padded if cin > 1 else 0,
            backward_temp=batch * positions * taps * cin,
        )
        return out
