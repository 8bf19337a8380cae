"""What random mode's model of a network leaves out, as notes on its result.

:func:`_model_notes` gives :attr:`erftheory.result.ERFResult.notes` for ``weights="random"``.
"""

from __future__ import annotations

import math

import numpy as np


def _model_notes(net) -> tuple[str, ...]:
    """What random mode's model leaves out for this network (:attr:`ERFResult.notes`).

    A max pool routes each window's gradient to one of its inputs, modelled as a random
    kernel of ``1/k`` per tap (THEORY.md section 4's literal rule): the routings of
    different windows get zero covariance, so where a later fixed kernel (an average pool,
    explicit weights) adds them up their cross terms are dropped. That is not a model of
    independent windows (which keeps ``E[r] E[r']`` between them) and real max pools over
    overlapping windows correlate them more: for iid inputs 1-D ``maxpool3/s1,
    avgpool3/s1`` has mass ``1/3`` here, ``0.457`` with independent windows and about
    ``0.60`` for the real pool. Layers are taken in order, blocks included.
    """
    from .blocks import _all_layers
    from .compact import describe
    from .layers import AvgPool, Conv, MaxPool

    pool = None
    for layer in _all_layers(net.layers):
        if isinstance(layer, MaxPool) and math.prod(layer.kernel) > 1:
            pool = pool or layer
        if pool is None:
            continue
        if isinstance(layer, AvgPool):
            taps = math.prod(layer.kernel)
        elif isinstance(layer, Conv) and layer.weights is not None:
            taps = int(np.count_nonzero(layer.weight_array))
        else:
            continue
        if taps > 1:
            return (
                f"{describe(pool)} routes each window to one input, modelled as a 1/k "
                "kernel with zero covariance between different windows' routings (THEORY.md "
                f"section 4), but {describe(layer)} after it adds routes of different "
                "windows, and a real max pool's overlapping windows correlate: the map "
                "leaves those cross terms out (low, for non-negative weights); `erftheory check` "
                "measures the gap",
            )
    return ()
