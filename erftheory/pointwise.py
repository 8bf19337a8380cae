"""Pointwise layers: activations, normalisations, identity and dropout.

They have no spatial extent, so the theoretical receptive field passes through them; how
the linear ERF model treats each (ReLU's Bernoulli(1/2) gate, dropout's rescaling, the
smooth activations it refuses and Monte Carlo measures) is in the class's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import ERFError
from .layers import _Layer

__all__ = [
    "ReLU",
    "Smooth",
    "Tanh",
    "Sigmoid",
    "GELU",
    "SiLU",
    "Identity",
    "BatchNorm",
    "LayerNorm",
    "Dropout",
]


@dataclass(frozen=True)
class _Activation(_Layer):
    repeat: int = 1


@dataclass(frozen=True)
class ReLU(_Activation):
    """ReLU; its gate is modelled as an independent Bernoulli(1/2) switch (factor 1/2)."""


@dataclass(frozen=True)
class Smooth(_Activation):
    """An activation without a closed-form gate (tanh, sigmoid, GELU, SiLU).

    Pass-through for the TRF; the analytic ERF refuses it (no closed form exists),
    and ``erftheory check`` measures it.
    """


@dataclass(frozen=True)
class Tanh(Smooth):
    """tanh: no closed-form gate; the analytic ERF refuses it, Monte Carlo measures it."""


@dataclass(frozen=True)
class Sigmoid(Smooth):
    """Sigmoid: no closed-form gate; the analytic ERF refuses it, Monte Carlo measures it."""


@dataclass(frozen=True)
class GELU(Smooth):
    """GELU ``x Phi(x)`` (the exact, erf-based form): no closed-form gate, like tanh."""


@dataclass(frozen=True)
class SiLU(Smooth):
    """SiLU / swish ``x sigmoid(x)``: no closed-form gate, like tanh."""


@dataclass(frozen=True)
class Identity(_Activation):
    """A pass-through layer (also the identity branch of a multi-branch join).

    ``origin`` names the layer type a user asked to treat as identity (an opt-in for layers
    erftheory does not model); reports list those.
    """

    origin: str = ""

    def _check(self, where):
        super()._check(where)
        if not isinstance(self.origin, str):
            raise ERFError(f"{where}: origin={self.origin!r} is not a layer type's name")


@dataclass(frozen=True)
class BatchNorm(_Activation):
    """Batch normalisation: a per-channel affine map, so a pass-through for the spatial ERF."""


@dataclass(frozen=True)
class LayerNorm(_Activation):
    """Layer/group normalisation, taken as a pass-through in the linear model.

    At inference it rescales by statistics of the input (which couples positions); the
    linear model ignores that coupling, as it ignores the data dependence of every gate.
    """


@dataclass(frozen=True)
class Dropout(_Layer):
    """Dropout as frameworks do it: keep with probability ``1 - p``, scale by ``1 / (1 - p)``."""

    p: float = 0.5
    repeat: int = 1

    def _check(self, where):
        super()._check(where)
        p = self.p
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ERFError(f"{where}: dropout p={p!r} is outside [0, 1)")

    def _resolve(self, dims, where, inside_residual):
        super()._resolve(dims, where, inside_residual)
        self._check(where)
        return replace(self, p=float(self.p))
