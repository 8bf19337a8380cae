"""Weight variances of the random convs (``variance=``), checked where the user gives them.

``weights="random"`` takes unit variances per tap unless given an array (an initialisation
scheme's per-offset variances, for every random conv whose kernel has its shape) or a function
of the conv layer returning one; both must be finite and non-negative.
"""

from __future__ import annotations

import numpy as np

from .blocks import _all_layers
from .errors import ERFError
from .layers import Conv


def _float_array(value) -> np.ndarray | None:
    """``value`` as a float array (a copy), or None where it is not one."""
    try:
        return np.array(value, dtype=float)
    except (TypeError, ValueError):
        return None


def _refuse_bad_variances(array: np.ndarray, said: str) -> None:
    """Refuse variances that are not finite and non-negative; ``said`` names where they came."""
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ERFError(
            f"{said}{array.tolist()!r}: variances must be finite and non-negative "
            "(per-offset variances, with weights='random')"
        )


def _variance_kernel(v, layer) -> np.ndarray:
    """A variance kernel returned by a user's ``variance(layer)``, checked."""
    array = _float_array(v)
    if array is None or array.shape != tuple(layer.kernel):
        raise ERFError(
            f"variance(layer) returned {v!r} for a conv of kernel {list(layer.kernel)}: it must "
            "return an array of that shape (or None for unit variances)"
        )
    _refuse_bad_variances(array, "variance(layer) returned ")
    return array


def _checked_variance(variance, net):
    """``variance=`` of :func:`erftheory.erf` and ``predicted_moments``, checked once.

    A callable is returned as is (its kernels are checked per layer); an array is returned
    as a read-only float copy, after checking that it is finite, non-negative and shaped
    like the kernel of at least one conv without explicit weights (the random convs it
    applies to): one that fits none would be silently ignored.
    """
    if variance is None or callable(variance):
        return variance
    array = _float_array(variance)
    if array is None or array.ndim == 0:
        raise ERFError(
            f"variance={variance!r} is not a kernel-shaped numeric array (or a function of "
            "a conv layer returning one)"
        )
    _refuse_bad_variances(array, "variance=")
    shapes = sorted(
        {
            tuple(layer.kernel)
            for layer in _all_layers(net.layers)
            if isinstance(layer, Conv) and layer.weights is None
        }
    )
    if array.shape not in shapes:
        have = ", ".join(str(list(k)) for k in shapes) or "none (every conv has weights)"
        raise ERFError(
            f"variance= has shape {list(array.shape)}, which fits no conv of the network "
            f"(kernels of its random convs: {have}); give an array of one of those shapes"
        )
    array.flags.writeable = False
    return array
