"""What the Monte-Carlo network should measure, by the analytic ERF.

For each statistic (E[g], E[g^2], E|g|) the theory's map of the network as
:func:`~erftheory.montecarlo.monte_carlo` runs it: the ``weights="ones"`` ERF for fixed
weights, the ``weights="random"`` ERF with each random conv's gain as the network draws it
(:func:`_variance_kernels`) for random ones, the random-mode ERF of the network with its convs
fixed for dropout masks, and the linear network's map for activations without a closed form
(:func:`_reference`). See :func:`erftheory.crosscheck.check` for the rules.
"""

from __future__ import annotations

import numpy as np

from .architecture import Network
from .errors import ERFError
from .pointwise import Dropout, Smooth
from .rewrites import (
    _fixed_convs,
    _layers,
    _non_negative,
    _unrolled,
    _without_random_convs,
    with_activation,
)
from .sampler import _channels, _groups, _Sampler


def _reference(net: Network) -> tuple[Network, str]:
    """The network the theory describes, and a label for the theory's description.

    tanh, sigmoid, GELU and SiLU have no closed form: a network with them is described by its
    linear network (the label says so), and the gap is reported.
    """
    reference = (
        net
        if not any(isinstance(x, Smooth) for x in _layers(net))
        else (with_activation(net, "linear"))
    )
    label = (
        ""
        if reference is net
        else " of the linear network (no closed form for tanh, sigmoid, GELU, SiLU)"
    )
    return reference, label


def _predict(
    net: Network,
    reference: Network,
    label: str,
    init: str,
    channels: int,
    statistic: str,
    variance_map,
) -> tuple[np.ndarray, str, bool]:
    """The theory's map of ``statistic`` for ``net`` run with ``init``.

    See :func:`~erftheory.crosscheck.check` for the rules.

    Returns
    -------
    tuple of (numpy.ndarray, str, bool)
        The predicted map (at any scale), the theory's description, and whether it is
        approximate (E|g| against sqrt(E[g^2]): reported, never failed).

    Raises
    ------
    ERFError
        Where the analytic ERF does not model the network.
    """
    from .erf import erf

    random = init != "ones"
    dropout = any(isinstance(x, Dropout) for x in _layers(net))
    approximate = False  # E|g| against sqrt(E[g^2]): reported, never failed
    if statistic == "mean":
        # E[g]: the paths without a random conv (each random one has mean zero); inverted
        # dropout keeps every mask's mean at 1
        predicted = erf(_without_random_convs(reference) if random else reference).values
        theory = "E[g], ones weights" + label
        if random and not predicted.any():
            theory = "E[g] = 0 (zero-mean weights)" + label
    elif random:
        sampler = _Sampler(init, channels, None, variance_map)
        unrolled, gain = _variance_kernels(sampler, reference)
        var = erf(unrolled, weights="random", normalize="sum", variance=gain).values
        predicted = var if statistic == "sq" else np.sqrt(var)
        approximate = statistic == "abs"
        theory = (
            "E[g^2], random weights" if statistic == "sq" else "sqrt(E[g^2]), random weights"
        ) + label
    elif dropout:
        if statistic == "abs" and _non_negative(reference):
            predicted = erf(reference).values  # g >= 0, so E|g| = E[g]
            theory = "E|g| = E[g] (non-negative kernels), ones weights" + label
        else:
            try:
                var = erf(_fixed_convs(reference), weights="random", normalize="sum").values
            except ERFError as err:
                raise ERFError(
                    "E[g^2] of fixed weights through dropout masks is the random-mode ERF "
                    f"of the network with every conv fixed, which refuses it: {err}"
                ) from None
            predicted = var if statistic == "sq" else np.sqrt(var)
            approximate = statistic == "abs"
            theory = (
                ("E[g^2]" if statistic == "sq" else "sqrt(E[g^2]) (a kernel has signs)")
                + ", ones weights with dropout masks"
                + label
            )
    else:
        g = erf(reference).values
        predicted = g * g if statistic == "sq" else np.abs(g)
        theory = ("E[g]^2" if statistic == "sq" else "|E[g]|") + ", ones weights" + label
    return predicted, theory, approximate


def _variance_kernels(sampler: _Sampler, net: Network):
    """Each random conv's variance kernel as the Monte-Carlo network draws it, with its gain.

    Summed over channels, E[g^2] passes a random conv with the factor ``C_in Var(w)`` per
    tap, while identities and fixed kernels pass it unchanged: in residual and branching
    networks the theory must carry that gain, or the identity is misweighted against the
    body (for plain stacks it is a global factor and cancels). After a concatenation the conv
    reads ``channels`` channels per branch, each group through its own weights: the analytic
    model adds the branches with unit weight, so the gain per group is ``C Var(w)``, with
    ``Var(w)`` the variance at the conv's own fan-in (Xavier and He scale it). A grouped conv
    reads ``C / groups`` channels per output: its gain is ``C / groups Var(w)``.

    Returns
    -------
    tuple of (Network, callable)
        ``net``, its repeats written out where a conv runs at different fan-ins (see
        :func:`_unrolled`), and the variance function to give the theory for it.
    """
    fan_ins: dict = {}
    _channels(net.layers, sampler.channels, sampler.channels, True, fan_ins)
    if sampler.init in ("xavier", "he") and any(len(f) > 1 for f in fan_ins.values()):
        net = _unrolled(net)
        fan_ins = {}
        _channels(net.layers, sampler.channels, sampler.channels, True, fan_ins)
    fan = {key: max(counts) for key, counts in fan_ins.items()}

    def gain(layer):  # a grouped conv reads channels / groups of them, at that fan-in
        g = _groups(layer, fan[id(layer)], sampler.channels)
        return sampler.channels // g * sampler.variance(layer, fan[id(layer)] // g)

    return net, gain
