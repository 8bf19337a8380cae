"""The JSON format of an architecture: :func:`from_dict` reads it, :func:`to_dict` writes it.

A network is an object ``{"dims": 2, "padding": "zeros", "layers": [...]}``; every layer is
an object with a ``"type"`` (``conv``, ``maxpool``, ``relu``, ``residual``, ``branches``, ...)
and that type's keys (:data:`_KEYS`). The compact string (:mod:`erftheory.compact`) is parsed
into these layer objects too, so both formats share one validation.
"""

from __future__ import annotations

from .architecture import Network, _check_dims, with_padding_mode
from .blocks import Block, Branches, Residual
from .errors import ERFError
from .layers import (
    PADDING_MODES,
    AdaptiveAvgPool,
    AvgPool,
    Conv,
    ConvTranspose,
    GlobalAvgPool,
    LocallyConnected,
    MaxPool,
    PixelShuffle,
    Upsample,
    _Spatial,
)
from .pointwise import GELU, BatchNorm, Dropout, Identity, LayerNorm, ReLU, Sigmoid, SiLU, Tanh

__all__ = ["from_dict", "to_dict"]

_SPATIAL = {
    "conv": Conv,
    "avgpool": AvgPool,
    "maxpool": MaxPool,
    "convtranspose": ConvTranspose,
    "local": LocallyConnected,
}
_POINTWISE = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
    "silu": SiLU,
    "identity": Identity,
    "batchnorm": BatchNorm,
    "layernorm": LayerNorm,
}
_KEYS = {
    "conv": {
        "kernel",
        "stride",
        "dilation",
        "padding",
        "padding_mode",
        "weights",
        "groups",
        "repeat",
    },
    "avgpool": {"kernel", "stride", "dilation", "padding", "padding_mode", "repeat"},
    "maxpool": {"kernel", "stride", "dilation", "padding", "padding_mode", "repeat"},
    "relu": {"repeat"},
    "tanh": {"repeat"},
    "sigmoid": {"repeat"},
    "gelu": {"repeat"},
    "silu": {"repeat"},
    "dropout": {"p", "repeat"},
    "identity": {"repeat"},
    "batchnorm": {"repeat"},
    "layernorm": {"repeat"},
    "residual": {"layers", "repeat"},
    "block": {"layers", "repeat"},
    "branches": {"branches", "join", "repeat"},
    "upsample": {"factor", "mode", "repeat"},
    "pixelshuffle": {"factor", "repeat"},
    "local": {"kernel", "stride", "dilation", "padding", "padding_mode", "weights", "repeat"},
    "globalavgpool": {"repeat"},
    "adaptiveavgpool": {"output", "repeat"},
    "convtranspose": {"kernel", "stride", "dilation", "padding", "weights", "repeat"},
}
# layers people use that the linear model does not cover yet, with the reason
_UNMODELLED = {
    "linear": "a fully connected layer sees its whole input; describe the convolutional part",
    "flatten": "flattening ends the spatial part of a network; describe the part before it",
    "attention": "attention is a data-dependent global operator; measure its ERF and check it "
    "with `erftheory validate`",
    "se": "squeeze-and-excitation gates channels by a global average (data-dependent)",
}


def from_dict(spec: dict, identity=()) -> Network:
    """Build a network from a dict in the JSON format.

    ``identity`` names layer types to treat as pass-through (an explicit opt-in for layers
    the linear model does not cover; the network records them in ``treated_as_identity``).

    Examples
    --------
    >>> net = from_dict({"dims": 1, "layers": [{"type": "conv", "kernel": 3, "repeat": 2}]})
    >>> net.layers[0].repeat
    2
    """
    if not isinstance(spec, dict):
        raise ERFError(f"an architecture must be a JSON object, not {type(spec).__name__}")
    unknown = set(spec) - {"dims", "layers", "padding"}
    if unknown:
        raise ERFError(
            f"unknown top-level key(s) {sorted(unknown)}; valid: 'dims', 'layers', 'padding'"
        )
    if "layers" not in spec:
        raise ERFError("the architecture has no 'layers' list")
    dims = spec.get("dims", 2)
    layers = _layers(spec["layers"], "layers", frozenset(identity), dims)
    return with_padding_mode(Network(layers, dims), spec.get("padding"))


def _layers(items, where: str, identity: frozenset = frozenset(), dims=None) -> tuple:
    """The layers of a list of layer objects; a network's (``dims`` given) in order.

    A layer refuses its own bad values when it is made, and what depends on dims when the
    network is built; for a network's list, the dims are checked first and a refused layer
    is reported only after the layers before it are built, so the first mistake is the one
    named.
    """
    if dims is not None:
        _check_dims(dims)
    if not isinstance(items, list):
        raise ERFError(f"{where} must be a list of layer objects")
    done = []
    for i, item in enumerate(items):
        try:
            done.append(_layer(item, f"{where}[{i}]", identity))
        except ERFError:
            if dims is not None and done:
                Network(tuple(done), dims)  # an earlier layer's error, if any, comes first
            raise
    return tuple(done)


def _layer(item, where: str, identity: frozenset = frozenset()):
    if not isinstance(item, dict) or "type" not in item:
        raise ERFError(f'{where}: a layer is an object with a "type", got {item!r}')
    kind = item["type"]
    if not isinstance(kind, str):
        raise ERFError(f'{where}: a layer\'s "type" is a name such as "conv", got {kind!r}')
    if kind in identity and kind not in _KEYS:
        return _construct(Identity, where, repeat=item.get("repeat", 1), origin=str(kind))
    if kind in _UNMODELLED:
        raise ERFError(
            f"{where}: {kind!r} is not modelled: {_UNMODELLED[kind]} (to treat it as identity "
            f"anyway, opt in with --as-identity {kind})"
        )
    if kind not in _KEYS:
        raise ERFError(
            f"{where}: unknown layer type {kind!r}; valid types: {sorted(_KEYS)} (to treat "
            f"it as identity, opt in with --as-identity {kind})"
        )
    args = {k: v for k, v in item.items() if k != "type"}
    unknown = set(args) - _KEYS[kind]
    if unknown:
        raise ERFError(
            f"{where}: unknown key(s) {sorted(unknown)} for {kind!r}; "
            f"valid keys: {sorted(_KEYS[kind])}"
        )
    args = {k: _tuples(v) if k != "weights" else v for k, v in args.items()}
    if args.get("padding") in PADDING_MODES:  # "padding": "circular": the mode, 'same' size
        if "padding_mode" in args:
            raise ERFError(f"{where}: give the padding mode once ('padding' or 'padding_mode')")
        args["padding_mode"], args["padding"] = args["padding"], "same"
    if kind == "upsample":
        return _construct(Upsample, where, **args)
    if kind == "pixelshuffle":
        return _construct(PixelShuffle, where, **args)
    if kind == "globalavgpool":
        return _construct(GlobalAvgPool, where, **args)
    if kind == "adaptiveavgpool":
        return _construct(AdaptiveAvgPool, where, **args)
    if kind in _SPATIAL:
        if "kernel" not in args:
            raise ERFError(f"{where}: {kind!r} needs a 'kernel'")
        if "weights" in args:
            args["weights"] = _weights(args["weights"], where)
        return _construct(_SPATIAL[kind], where, **args)
    if kind in _POINTWISE:
        return _construct(_POINTWISE[kind], where, **args)
    if kind == "dropout":
        return _construct(Dropout, where, **args)
    if kind == "branches":
        branches = item.get("branches")
        if not isinstance(branches, list):
            raise ERFError(f"{where}.branches must be a list of branches (lists of layers)")
        paths = [_layers(b, f"{where}.branches[{i}]", identity) for i, b in enumerate(branches)]
        return _construct(Branches, where, paths, item.get("join", "add"), args.get("repeat", 1))
    layers = _layers(item.get("layers"), f"{where}.layers", identity)
    return _construct(
        Residual if kind == "residual" else Block, where, layers, args.get("repeat", 1)
    )


def _construct(cls, where: str, *args, **kwargs):
    """``cls(*args, **kwargs)``, a refusal placed at ``where`` instead of the class's name."""
    try:
        return cls(*args, **kwargs)
    except ERFError as err:
        raise ERFError(f"{where}: {str(err).removeprefix(cls.__name__ + ': ')}") from None


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _weights(value, where: str):
    import numpy as np

    try:
        entries = np.array(value, dtype=object).flat
    except ValueError:
        entries = ()
    entries = list(entries)
    if any(isinstance(v, (bool, np.bool_)) for v in entries):
        raise ERFError(f"{where}: weights must be numbers, not true/false")
    text = next((v for v in entries if isinstance(v, (str, bytes))), None)
    if text is not None:  # (numpy would read "1" as 1.0: the format says numbers)
        raise ERFError(f"{where}: weights must be numbers, not strings such as {text!r}")
    try:
        array = np.array(value, dtype=float)
    except (ValueError, TypeError):
        raise ERFError(f"{where}: weights must be a rectangular array of numbers") from None
    except OverflowError:
        raise ERFError(f"{where}: weights must be numbers within float64's range") from None
    return array


def to_dict(net: Network) -> dict:
    """The JSON-format dict of a network (round-trips through :func:`from_dict`).

    Examples
    --------
    >>> from erftheory import from_compact
    >>> d = to_dict(from_compact("1d: conv3/s2"))
    >>> d["dims"], d["layers"][0]["type"], d["layers"][0]["stride"]
    (1, 'conv', [2])
    >>> from_dict(d) == from_compact("1d: conv3/s2")
    True
    """
    if not isinstance(net, Network):  # any architecture description
        from .parse import as_network

        net = as_network(net)
    return {"dims": net.dims, "layers": [_layer_dict(layer) for layer in net.layers]}


def _layer_dict(layer) -> dict:
    out = {"type": layer.type}
    if isinstance(layer, _Spatial):
        out.update(
            kernel=list(layer.kernel),
            stride=list(layer.stride),
            dilation=list(layer.dilation),
            padding=[list(p) for p in layer.padding],
        )
        if layer.padding_mode is not None:
            out["padding_mode"] = layer.padding_mode
        if getattr(layer, "weights", None) is not None:
            out["weights"] = layer.weight_array.tolist()
        if isinstance(layer, Conv) and layer.groups != 1:
            out["groups"] = layer.groups
    elif isinstance(layer, Identity) and layer.origin:
        out["type"] = layer.origin
    elif isinstance(layer, PixelShuffle):
        out["factor"] = list(layer.factor)
    elif isinstance(layer, Upsample):
        out.update(factor=list(layer.factor), mode=layer.mode)
    elif isinstance(layer, AdaptiveAvgPool):
        out["output"] = list(layer.output)
    elif isinstance(layer, Dropout):
        out["p"] = layer.p
    elif isinstance(layer, Branches):
        out["join"] = layer.join
        out["branches"] = [[_layer_dict(inner) for inner in b] for b in layer.branches]
    elif isinstance(layer, Block):
        out["layers"] = [_layer_dict(inner) for inner in layer.layers]
    if layer.repeat != 1:
        out["repeat"] = layer.repeat
    return out
