"""The Monte-Carlo network's conv weights, drawn per sample, and the channels each conv reads.

Every conv outputs ``channels`` channels. A random-weight conv reads every channel its input
has, through independent weights (after a concatenation, ``channels`` per branch), grouped
convs block-diagonally (:func:`_groups`); a fixed conv (explicit weights, or every conv under
``init="ones"``) runs depthwise (:func:`_fixed_weights`). :func:`_channels` follows those
counts through a network, checks that added branches and residual blocks have equal counts,
and records each conv's fan-in, which sets its weights' variance under Xavier and He
(:meth:`_Sampler.variance`).
"""

from __future__ import annotations

import math

import numpy as np

from .blocks import Block, Branches, Residual
from .errors import ERFError
from .layers import Conv

INITS = ("ones", "normal", "uniform", "xavier", "he")


class _Sampler:
    """Draws per-sample conv weights ``(B, C, C_in, *k)`` for an initialisation scheme.

    ``C`` is ``channels`` (every conv's output), ``C_in`` the channels the conv reads
    (``channels``, or more after a concatenation).
    """

    def __init__(self, init: str, channels: int, rng, variance_map=None):
        if init not in INITS:
            raise ERFError(f"init={init!r} is not one of {', '.join(INITS)}")
        if variance_map is not None:
            vmap = _float_array(variance_map, "the variance map")
            bad = vmap[~(np.isfinite(vmap) & (vmap >= 0))]
            if bad.size:
                raise ERFError(
                    f"the variance map holds {float(bad[0])!r}: variances are finite and "
                    "non-negative (a multiplier per kernel offset)"
                )
        self.init, self.channels, self.rng, self.variance_map = init, channels, rng, variance_map

    def variance(self, layer: Conv, fan_in: int | None = None) -> np.ndarray:
        """Per-tap variance of the weights this scheme draws for ``layer`` (one channel pair).

        Parameters
        ----------
        layer : Conv
        fan_in : int, optional
            The channels the conv reads (default ``channels``). Xavier draws variance
            ``2 / (fan_in + fan_out)``, He ``2 / fan_in``, with the fans counted as channels
            times taps (PyTorch's ``fan_in`` mode).
        """
        k = layer.kernel
        taps = math.prod(k)
        fan = (self.channels if fan_in is None else fan_in) * taps
        fan_out = self.channels * taps
        var = {"normal": 1.0, "uniform": 1.0, "xavier": 2 / (fan + fan_out), "he": 2 / fan}
        out = np.full(k, var[self.init])
        if self.variance_map is not None:
            vmap = np.asarray(self.variance_map, dtype=float)
            if vmap.shape != tuple(k):
                raise ERFError(
                    f"the variance map has shape {list(vmap.shape)} but a conv kernel is {list(k)}"
                )
            out = out * vmap
        return out

    def __call__(self, layer: Conv, batch: int, fan_in: int | None = None) -> np.ndarray:
        """``batch`` draws of the weights of ``layer`` reading ``fan_in`` channels.

        A fixed kernel (explicit weights, or any conv under ``init="ones"``) runs depthwise
        (:func:`_fixed_weights`), whatever its groups. A grouped random conv (:func:`_groups`)
        gets block-diagonal weights: each output channel reads the input channels of its group
        only, at that fan-in.
        """
        c, k = self.channels, layer.kernel
        c_in = c if fan_in is None else fan_in
        if layer.weights is not None or self.init == "ones":
            kernel = layer.weight_array if layer.weights is not None else np.ones(k)
            return np.broadcast_to(_fixed_weights(kernel, c, c_in), (batch, c, c_in, *k))
        g = _groups(layer, c_in, c)
        shape = (batch, c, c_in // g, *k)
        if self.init == "uniform":  # unit variance, scaled below like the normal draws
            w = self.rng.uniform(-math.sqrt(3), math.sqrt(3), size=shape)
        else:
            w = self.rng.normal(0.0, 1.0, size=shape)
        w = w * np.sqrt(self.variance(layer, c_in // g))
        if g == 1:
            return w
        full = np.zeros((batch, c, c_in, *k))
        out, read = c // g, c_in // g
        for j in range(g):
            rows = slice(j * out, (j + 1) * out)
            full[:, rows, j * read : (j + 1) * read] = w[:, rows]
        return full


def _fixed_weights(kernel: np.ndarray, channels: int, c_in: int) -> np.ndarray:
    """A fixed kernel as dense ``(channels, c_in, *k)`` weights, run depthwise.

    Output channel ``o`` reads the input channels ``i`` with ``i % channels == o`` through
    ``kernel``: ``channels`` copies of the one-channel conv, and after a concatenation of
    ``m`` blocks of ``channels`` the sum of the blocks' channel ``o``.
    """
    dense = np.zeros((channels, c_in, *kernel.shape))
    for o in range(channels):
        dense[o, o::channels] = kernel
    return dense


def _float_array(value, what: str) -> np.ndarray:
    """``value`` as a float array, or a one-line ERFError naming it."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        raise ERFError(f"{what} {text} is not an array of numbers") from None


def _groups(layer: Conv, c_in: int, channels: int) -> int:
    """The groups a conv runs with on ``channels`` channels (the Monte-Carlo network's width).

    Its own count where that divides the channels; one group per channel (depthwise) where
    the count is a multiple of them, as a depthwise conv of a wider network is.

    Raises
    ------
    ERFError
        A count that is neither, or a grouped conv reading a concatenation (each group would
        read some of its branches only, which the analytic ERF does not model).
    """
    g = layer.groups
    if g == 1:
        return 1
    if c_in != channels:
        raise ERFError(
            f"a grouped conv (groups={g}) reads a concatenation of {c_in} channels: each group "
            "would read some of its branches only, which the analytic ERF does not model"
        )
    if channels % g == 0:
        return g
    if g % channels == 0:
        return channels  # depthwise, as the wider network's conv is
    raise ERFError(
        f"a conv with groups={g} cannot run on channels={channels}: use channels that are a "
        f"multiple of {g} or divide it (channels=1 runs every grouped conv depthwise)"
    )


def _channels(layers, c: int, channels: int, concat: bool, fan_ins=None, where="layers") -> int:
    """The channels out of ``layers`` fed ``c`` channels, as the Monte-Carlo network runs them.

    Every conv outputs ``channels``; a concatenation (with ``concat``, i.e. random weights)
    gives the sum of its branches' channels, an add join its branches' common count; pools,
    gates and normalisations keep theirs.

    Parameters
    ----------
    layers : sequence of layers
    c : int
        Channels into the first layer.
    channels : int
        Channels out of every conv.
    concat : bool
        Whether concatenations join channels (random weights) or run as sums (``"ones"``).
    fan_ins : dict, optional
        Filled with the channels each conv reads: ``id(layer)`` to a set of counts (one per
        count it is run with; a repeated conv after a concatenation reads two).
    where : str
        The layers' position in the network, for error messages.

    Raises
    ------
    ERFError
        Where an add join or a residual block adds different channel counts (a real network
        cannot either).
    """
    for i, layer in enumerate(layers):
        here = f"{where}[{i}]"
        for _ in range(layer.repeat):
            if isinstance(layer, Branches):
                outs = [
                    _channels(path, c, channels, concat, fan_ins, f"{here}.branches[{b}]")
                    for b, path in enumerate(layer.branches)
                ]
                if concat and layer.join == "concat":
                    c = sum(outs)
                    continue
                for b, n in enumerate(outs[1:], 1):
                    if n != outs[0]:
                        raise ERFError(
                            f"{here}: an add join cannot sum branch 0 ({_count(outs[0])}) and "
                            f"branch {b} ({_count(n)}); added branches need equal channel "
                            f"counts, as in a real network (a conv outputs channels={channels}, "
                            "a concatenation the sum of its branches' channels): end the "
                            "branches with a conv, or join them with cat(...)"
                        )
                c = outs[0]
            elif isinstance(layer, Residual):
                body = _channels(layer.layers, c, channels, concat, fan_ins, f"{here}.layers")
                if body != c:
                    raise ERFError(
                        f"{here}: a residual block cannot add its input ({_count(c)}) to its "
                        f"body's output ({_count(body)}); they need equal channel counts, as "
                        f"in a real network (a conv outputs channels={channels}, a "
                        "concatenation the sum of its branches' channels)"
                    )
            elif isinstance(layer, Block):
                c = _channels(layer.layers, c, channels, concat, fan_ins, f"{here}.layers")
            elif isinstance(layer, Conv):
                if fan_ins is not None:
                    fan_ins.setdefault(id(layer), set()).add(c)
                c = channels
    return c


def _count(n: int) -> str:
    return f"{n} channel" + ("" if n == 1 else "s")
