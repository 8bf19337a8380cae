"""erftheory: exact, fast, framework-free effective receptive fields of convolutional networks.

Layers are modelled as linear kernels; their composition gives the ERF of a network
(Luo, Li, Urtasun, Zemel, NeurIPS 2016), exactly or by FFT, with the theoretical receptive
field beside it.

Examples
--------
>>> import erftheory as et
>>> et.receptive_field("conv3*10").size
(21, 21)
>>> et.erf("1d: conv3*2").values.tolist()
[1.0, 2.0, 3.0, 2.0, 1.0]
"""

from .architecture import Network
from .blocks import Block, Branches, Residual
from .borders import border_maps
from .compact import from_compact, to_compact
from .crosscheck import check
from .erf import erf
from .errors import ERFError
from .finite import finite_erf
from .json_format import from_dict, to_dict
from .layers import (
    AdaptiveAvgPool,
    AvgPool,
    Conv,
    ConvTranspose,
    GlobalAvgPool,
    LocallyConnected,
    MaxPool,
    PixelShuffle,
    Upsample,
)
from .moments import predicted_moments
from .montecarlo import monte_carlo
from .parse import as_network
from .paths import path_lengths
from .pointwise import GELU, BatchNorm, Dropout, Identity, LayerNorm, ReLU, Sigmoid, SiLU, Tanh
from .receptive_field import ReceptiveField, receptive_field
from .resolution import resolution_report
from .result import ERFResult
from .sweep import sweep
from .validate import validate

__version__ = "0.1.0"

__all__ = [
    "AdaptiveAvgPool",
    "AvgPool",
    "BatchNorm",
    "Block",
    "Branches",
    "Conv",
    "ConvTranspose",
    "Dropout",
    "ERFError",
    "ERFResult",
    "GlobalAvgPool",
    "Identity",
    "LayerNorm",
    "LocallyConnected",
    "MaxPool",
    "Network",
    "ReLU",
    "ReceptiveField",
    "Residual",
    "Sigmoid",
    "Tanh",
    "GELU",
    "SiLU",
    "Upsample",
    "PixelShuffle",
    "as_network",
    "border_maps",
    "check",
    "erf",
    "finite_erf",
    "from_compact",
    "from_dict",
    "monte_carlo",
    "path_lengths",
    "predicted_moments",
    "receptive_field",
    "resolution_report",
    "sweep",
    "to_compact",
    "to_dict",
    "validate",
]
