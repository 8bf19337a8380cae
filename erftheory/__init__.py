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

from .architecture import (
    AvgPool,
    Block,
    Branches,
    Conv,
    ConvTranspose,
    Dropout,
    Identity,
    MaxPool,
    Network,
    ReLU,
    Residual,
    Sigmoid,
    Tanh,
    Upsample,
)
from .erf import ERFResult, erf
from .errors import ERFError
from .parse import as_network, from_compact, from_dict, to_compact, to_dict
from .receptive_field import ReceptiveField, receptive_field

__version__ = "0.1.0"

__all__ = [
    "AvgPool",
    "Block",
    "Branches",
    "Conv",
    "ConvTranspose",
    "Dropout",
    "ERFError",
    "ERFResult",
    "Identity",
    "MaxPool",
    "Network",
    "ReLU",
    "ReceptiveField",
    "Residual",
    "Sigmoid",
    "Tanh",
    "Upsample",
    "as_network",
    "erf",
    "from_compact",
    "from_dict",
    "receptive_field",
    "to_compact",
    "to_dict",
]
