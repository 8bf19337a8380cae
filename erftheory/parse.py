"""Reading architectures: the JSON format, the compact string, and back.

The compact one-line grammar (whitespace is ignored)::

    arch    := [["1d" | "2d" | "3d"] [MODE] ":"] seq   MODE: zeros, circular, reflect,
                                                   replicate (network-wide padding mode)
    seq     := item ("," item)*
    item    := atom ["*" INT]                     repeat the atom INT times
    atom    := "conv" AXES {opt} | "avgpool" AXES {opt} | "maxpool" AXES {opt}
             | "relu" | "tanh" | "sigmoid" | "gelu" | "silu" | "swish" | "dropout" FLOAT
             | "id"                               identity (pass-through)
             | "res(" seq ")"                     residual block y = x + F(x)
             | ("add(" | "cat(") seq ("|" seq)+ ")"  aligned branches, added or concatenated
             | "(" seq ")"                        a group, e.g. (conv3, relu)*10
    opt     := "/s" AXES | "/d" AXES | "/p" PAD | "/w" JSON-ARRAY
             | "/zeros" | "/circular" | "/reflect" | "/replicate"
    AXES    := INT ("x" INT)*                     one int, or one per axis
    PAD     := "same" | "valid" | P ("x" P)*      P := INT | INT "-" INT (before-after)

``conv7/s2/p3, maxpool3/s2/p1, res(conv3, relu, conv3)*2`` is a ResNet stem and two blocks.
Without a dims prefix the dims are the longest per-axis list or weights array, else 2.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

from .architecture import (
    GELU,
    PADDING_MODES,
    AdaptiveAvgPool,
    AvgPool,
    BatchNorm,
    Block,
    Branches,
    Conv,
    ConvTranspose,
    Dropout,
    GlobalAvgPool,
    Identity,
    LayerNorm,
    LocallyConnected,
    MaxPool,
    Network,
    ReLU,
    Residual,
    Sigmoid,
    SiLU,
    Tanh,
    Upsample,
    _Spatial,
    with_padding_mode,
)
from .errors import ERFError
from .zoo import ZOO, zoo_network  # (zoo reads this module only inside its functions)

__all__ = ["as_network", "from_dict", "from_compact", "to_dict", "to_compact", "describe"]

_SPATIAL = {
    "conv": Conv,
    "avgpool": AvgPool,
    "maxpool": MaxPool,
    "convtranspose": ConvTranspose,
    "local": LocallyConnected,
}
_SHORT = {"convt": "convtranspose"}
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
    "local": {"kernel", "stride", "dilation", "padding", "padding_mode", "weights", "repeat"},
    "globalavgpool": {"repeat"},
    "adaptiveavgpool": {"output", "repeat"},
    "convtranspose": {"kernel", "stride", "dilation", "padding", "weights", "repeat"},
}
_ALIASES = {
    "bn": "batchnorm",
    "ln": "layernorm",
    "gn": "layernorm",
    "id": "identity",
    "swish": "silu",
}
# the layer types (and aliases) that --as-identity may not name
_MODELLED = frozenset(_KEYS) | frozenset(_ALIASES) | frozenset(_SPATIAL)
# layers people use that the linear model does not cover yet, with the reason
_UNMODELLED = {
    "pixelshuffle": "pixel shuffle has a fractional stride (phase-dependent ERF); not modelled yet",
    "linear": "a fully connected layer sees its whole input; describe the convolutional part",
    "flatten": "flattening ends the spatial part of a network; describe the part before it",
    "attention": "attention is a data-dependent global operator; measure its ERF and check it "
    "with `erftheory validate`",
    "se": "squeeze-and-excitation gates channels by a global average (data-dependent)",
}


# ---------------------------------------------------------------- JSON format
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
    layers = _layers(spec["layers"], "layers", frozenset(identity))
    return with_padding_mode(Network(layers, dims), spec.get("padding"))


def _layers(items, where: str, identity: frozenset = frozenset()) -> tuple:
    if not isinstance(items, list):
        raise ERFError(f"{where} must be a list of layer objects")
    return tuple(_layer(item, f"{where}[{i}]", identity) for i, item in enumerate(items))


def _layer(item, where: str, identity: frozenset = frozenset()):
    if not isinstance(item, dict) or "type" not in item:
        raise ERFError(f'{where}: a layer is an object with a "type", got {item!r}')
    kind = item["type"]
    if not isinstance(kind, str):
        raise ERFError(f'{where}: a layer\'s "type" is a name such as "conv", got {kind!r}')
    if kind in identity and kind not in _KEYS:
        return Identity(repeat=item.get("repeat", 1), origin=str(kind))
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
        return Upsample(**args)
    if kind == "globalavgpool":
        return GlobalAvgPool(**args)
    if kind == "adaptiveavgpool":
        return AdaptiveAvgPool(**args)
    if kind in _SPATIAL:
        if "kernel" not in args:
            raise ERFError(f"{where}: {kind!r} needs a 'kernel'")
        if "weights" in args:
            args["weights"] = _weights(args["weights"], where)
        return _SPATIAL[kind](**args)
    if kind in _POINTWISE:
        return _POINTWISE[kind](**args)
    if kind == "dropout":
        return Dropout(**args)
    if kind == "branches":
        branches = item.get("branches")
        if not isinstance(branches, list):
            raise ERFError(f"{where}.branches must be a list of branches (lists of layers)")
        paths = [_layers(b, f"{where}.branches[{i}]", identity) for i, b in enumerate(branches)]
        return Branches(paths, item.get("join", "add"), args.get("repeat", 1))
    layers = _layers(item.get("layers"), f"{where}.layers", identity)
    return (Residual if kind == "residual" else Block)(layers, args.get("repeat", 1))


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _weights(value, where: str):
    import numpy as np

    try:
        entries = np.array(value, dtype=object).flat
    except ValueError:
        entries = ()
    if any(isinstance(v, (bool, np.bool_)) for v in entries):
        raise ERFError(f"{where}: weights must be numbers, not true/false")
    try:
        array = np.array(value, dtype=float)
    except (ValueError, TypeError):
        raise ERFError(f"{where}: weights must be a rectangular array of numbers") from None
    return array


def to_dict(net: Network) -> dict:
    """The JSON-format dict of a network (round-trips through :func:`from_dict`).

    Examples
    --------
    >>> d = to_dict(from_compact("1d: conv3/s2"))
    >>> d["dims"], d["layers"][0]["type"], d["layers"][0]["stride"]
    (1, 'conv', [2])
    >>> from_dict(d) == from_compact("1d: conv3/s2")
    True
    """
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


# ---------------------------------------------------------------- compact string
class _Parser:
    """Recursive descent over the compact string; errors point at the offending column."""

    def __init__(self, text: str, identity: frozenset = frozenset()):
        self.text = text
        self.pos = 0
        self.identity = identity

    def fail(self, message: str, pos: int | None = None):
        pos = self.pos if pos is None else pos
        near = self.text[pos : pos + 12].strip() or "the end"
        raise ERFError(f"{message}, at column {pos + 1} (near {near!r}) of {self.text!r}")

    def skip(self):
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def match(self, pattern: str):
        self.skip()
        m = re.compile(pattern, re.ASCII).match(self.text, self.pos)  # (digits 0-9 only)
        if m:
            self.pos = m.end()
        return m

    def expect(self, literal: str):
        if not self.match(re.escape(literal)):
            self.fail(f"expected {literal!r}")

    def seq(self) -> list:
        items = [self.item()]
        while self.match(","):
            items.append(self.item())
        return items

    def item(self) -> dict:
        self.skip()
        start = self.pos
        layer = self.atom()
        if self.match(r"\*"):
            m = self.match(r"\d+")
            if not m or int(m.group()) < 1:
                self.fail("a repeat count after '*' must be a positive integer")
            layer["repeat"] = layer.get("repeat", 1) * int(m.group())
        layer["_pos"] = start
        return layer

    def atom(self) -> dict:
        self.skip()
        start = self.pos
        if self.match(r"\("):
            layers = self.seq()
            self.expect(")")
            return {"type": "block", "layers": layers}
        m = self.match(r"[a-z]+")
        if not m:
            self.fail("expected a layer name (conv, avgpool, maxpool, relu, dropout, res, ...)")
        name = m.group()
        if name in ("res", "residual"):
            self.expect("(")
            layers = self.seq()
            self.expect(")")
            return {"type": "residual", "layers": layers}
        if name in ("add", "cat"):
            self.expect("(")
            branches = [self.seq()]
            while self.match(r"\|"):
                branches.append(self.seq())
            self.expect(")")
            join = "add" if name == "add" else "concat"
            return {"type": "branches", "join": join, "branches": branches}
        if name in ("gap", "globalavgpool"):
            return {"type": "globalavgpool"}
        if name in ("adaptiveavgpool", "aap"):
            return {"type": "adaptiveavgpool", "output": self.axes("aap needs its output size")}
        if name == "up":
            factor = self.axes("up needs a factor, as in up2")
            layer = {"type": "upsample", "factor": factor}
            if self.match(r"/\s*(nearest|bilinear)"):
                layer["mode"] = self.text[self.pos - 8 : self.pos].split("/")[-1].strip()
            return layer
        name = _SHORT.get(name, name)
        if name in _POINTWISE or name in _ALIASES:
            return {"type": _ALIASES.get(name, name)}
        if name in self.identity:
            return {"type": name}
        if name in _UNMODELLED:
            self.fail(
                f"{name!r} is not modelled: {_UNMODELLED[name]} (opt in with --as-identity "
                f"{name} to treat it as identity)",
                start,
            )
        if name == "dropout":
            p = self.match(r"\d*\.?\d+(e-?\d+)?")
            if not p:
                self.fail("dropout needs its probability, as in dropout0.5")
            return {"type": "dropout", "p": float(p.group())}
        if name not in _SPATIAL:
            valid = sorted(
                [
                    *_SPATIAL,
                    *_POINTWISE,
                    *_ALIASES,
                    "dropout",
                    "res",
                    "add",
                    "cat",
                    "up",
                    "gap",
                    "aap",
                ]
            )
            self.fail(
                f"unknown layer {name!r} (valid: {', '.join(valid)}; to treat it as identity, "
                f"opt in with --as-identity {name})",
                start,
            )
        layer = {"type": name, "kernel": self.axes(f"{name} needs a kernel size, as in {name}3")}
        while self.match("/"):
            self.option(layer)
        return layer

    def axes(self, message: str):
        m = self.match(r"\d+(x\d+)*")
        if not m:
            self.fail(message)
        values = [int(v) for v in m.group().split("x")]
        return values[0] if len(values) == 1 else values

    def option(self, layer: dict):
        start = self.pos
        m = self.match(r"(zeros|circular|reflect|replicate|same|valid|[sdpwg])")
        key = m.group() if m else None
        field = {"s": "stride", "d": "dilation", "p": "padding", "w": "weights", "g": "groups"}
        name = "padding_mode" if key in PADDING_MODES else field.get(key, key)
        if key in ("same", "valid"):
            name = "padding"
        if name in layer and name != "kernel":
            self.fail(f"/{key}: the layer's {name} is given twice", start)
        if key in PADDING_MODES:
            layer["padding_mode"] = key
        elif key in ("s", "d"):
            name = {"s": "stride", "d": "dilation"}[key]
            layer[name] = self.axes(f"/{key} needs an integer or one per axis, as in /{key}2")
        elif key == "p":
            layer["padding"] = self.padding()
        elif key == "g":
            layer["groups"] = self.axes("/g needs the number of groups, as in /g32")
        elif key == "w":
            layer["weights"] = self.json_array()
        else:
            self.fail(
                "unknown option; valid: /s (stride), /d (dilation), /p (padding), "
                "/w (weights), /g (groups), /zeros, /circular, /reflect, /replicate",
                start,
            )

    def padding(self):
        m = self.match(r"(same|valid|\d+(-\d+)?(x\d+(-\d+)?)*)")
        if not m:
            self.fail("/p needs 'same', 'valid' or amounts, as in /p1, /p1x2 or /p0-1")
        text = m.group()
        if text in ("same", "valid"):
            return text
        parts = [[int(v) for v in part.split("-")] for part in text.split("x")]
        if len(parts) == 1:  # one amount, or one before-after pair, for every axis
            return parts[0][0] if len(parts[0]) == 1 else [parts[0]]
        return [p[0] if len(p) == 1 else p for p in parts]

    def json_array(self):
        self.skip()
        if not self.text.startswith("[", self.pos):
            self.fail("/w needs a JSON array of weights, as in /w[1,2,1]")
        depth, end = 0, self.pos
        for end in range(self.pos, len(self.text)):
            depth += {"[": 1, "]": -1}.get(self.text[end], 0)
            if depth == 0:
                break
        if depth:
            self.fail("unbalanced '[' in the weights")
        try:
            value = json.loads(self.text[self.pos : end + 1])
        except json.JSONDecodeError as err:
            self.fail(f"the weights are not a JSON array ({err.msg})", self.pos + err.pos)
        self.pos = end + 1
        return value


def from_compact(text: str, identity=()) -> Network:
    """Build a network from the compact one-line string (grammar in the module docstring).

    Examples
    --------
    >>> net = from_compact("1d: conv3*2, maxpool2")
    >>> net.dims, len(net.layers)
    (1, 2)
    """
    return _from_compact(text, frozenset(identity))


@functools.lru_cache(maxsize=256)
def _from_compact(text: str, identity: frozenset) -> Network:
    """:func:`from_compact`, memoised.

    Networks are immutable, and a notebook or a sweep parses the same few strings again and
    again (a parse costs more than a small ERF). Errors are raised afresh every time.
    """
    parser = _Parser(text, identity)
    dims, mode = None, None
    m = parser.match(r"(?:([123])d)?\s*(zeros|circular|reflect|replicate)?\s*:")
    if m and (m.group(1) or m.group(2)):
        dims = int(m.group(1)) if m.group(1) else None
        mode = m.group(2)
    elif m:
        parser.fail("a prefix is '2d:', 'circular:' or '2d circular:'", 0)
    else:
        other = parser.match(r"(\d+)\s*d\b[^:,()]*:")
        if other:  # '4d:', '0d:': a prefix, but no dims we model
            parser.fail(
                f"dims must be 1, 2 or 3 (a prefix '1d:', '2d:' or '3d:'), got '{other.group(1)}d'",
                0,
            )
    items = parser.seq()
    parser.skip()
    if parser.pos != len(text):
        parser.fail("unexpected text")
    if dims is None:
        dims = max([_axes_needed(item) for item in items] + [2])
    try:
        net = Network(_layers([_strip(item) for item in items], "layers", identity), dims)
        return with_padding_mode(net, mode)
    except ERFError as err:
        # name the token of the offending layer: "layers[2]..." -> the item's column
        m = re.match(r"layers\[(\d+)\]", str(err))
        if m and int(m.group(1)) < len(items):
            parser.fail(str(err), items[int(m.group(1))]["_pos"])
        raise


def _strip(item: dict) -> dict:
    out = {k: v for k, v in item.items() if k != "_pos"}
    if "layers" in out:
        out["layers"] = [_strip(inner) for inner in out["layers"]]
    if "branches" in out:
        out["branches"] = [[_strip(inner) for inner in b] for b in out["branches"]]
    return out


def _axes_needed(item: dict) -> int:
    need = 0
    for key in ("kernel", "stride", "dilation", "padding"):
        if isinstance(item.get(key), list):
            need = max(need, len(item[key]))
    weights = item.get("weights")
    depth = 0
    while isinstance(weights, list):
        depth, weights = depth + 1, weights[0] if weights else None
    need = max(need, depth // 2 if item.get("type") == "local" else depth)
    for inner in item.get("layers", []) + sum(item.get("branches", []), []):
        need = max(need, _axes_needed(inner))
    return need


def describe(layer, inside_residual: bool = False) -> str:
    """The compact-string token of one layer (with its repeat).

    Examples
    --------
    >>> describe(from_compact("conv3/s2*4").layers[0])
    'conv3/s2*4'
    """
    if isinstance(layer, Branches):
        paths = [", ".join(describe(x, True) for x in path) for path in layer.branches]
        text = ("add" if layer.join == "add" else "cat") + "(" + " | ".join(paths) + ")"
    elif isinstance(layer, Block):
        inner = ", ".join(
            describe(x, inside_residual or isinstance(layer, Residual)) for x in layer.layers
        )
        text = f"res({inner})" if isinstance(layer, Residual) else f"({inner})"
    elif isinstance(layer, _Spatial):
        text = layer.type + _axes(layer.kernel)
        # the class's own default (an int for convs; None, meaning the kernel, for pools)
        default = type(layer).__dataclass_fields__["stride"].default
        default_stride = layer.kernel if default is None else (default,) * len(layer.kernel)
        if layer.stride != default_stride:
            text += "/s" + _axes(layer.stride)
        if any(d != 1 for d in layer.dilation):
            text += "/d" + _axes(layer.dilation)
        span = [d * (k - 1) for k, d in zip(layer.kernel, layer.dilation)]
        same = tuple((t // 2, t - t // 2) for t in span)
        # (a transposed conv pads 0 inside a residual too: its padding crops the output)
        residual_same = inside_residual and not isinstance(layer, ConvTranspose)
        default_padding = same if residual_same else ((0, 0),) * len(span)
        if layer.padding != default_padding:
            text += "/p" + "x".join(
                str(b) if b == a else f"{b}-{a}" for b, a in _uniform(layer.padding)
            )
        if layer.padding_mode is not None:
            text += "/" + layer.padding_mode
        if isinstance(layer, Conv) and layer.groups != 1:
            text += f"/g{layer.groups}"
        if getattr(layer, "weights", None) is not None:
            text += "/w" + json.dumps(layer.weight_array.tolist(), separators=(",", ":"))
    elif isinstance(layer, Upsample):
        text = "up" + _axes(layer.factor) + ("" if layer.mode == "nearest" else "/bilinear")
    elif isinstance(layer, GlobalAvgPool):
        text = "gap"
    elif isinstance(layer, AdaptiveAvgPool):
        text = "aap" + _axes(layer.output)
    elif isinstance(layer, Dropout):
        text = f"dropout{layer.p!r}"
    elif isinstance(layer, Identity):
        text = layer.origin or "id"
    else:
        text = layer.type
    return text + (f"*{layer.repeat}" if layer.repeat != 1 else "")


def _axes(values) -> str:
    return "x".join(str(v) for v in _uniform(values))


def _uniform(values):
    return values[:1] if len(set(values)) == 1 else values


def to_compact(net: Network) -> str:
    """The compact string of a network (round-trips through :func:`from_compact`).

    Examples
    --------
    >>> to_compact(from_compact("conv3*10, maxpool2"))
    '2d: conv3*10, maxpool2'
    """
    return f"{net.dims}d: " + ", ".join(describe(layer) for layer in net.layers)


# ---------------------------------------------------------------- any of them
_MAX_NESTING = 100  # blocks within blocks: real networks nest a few levels


def as_network(arch, identity=()) -> Network:
    """Turn any architecture description into a :class:`Network`.

    Blocks may nest up to 100 levels (a deeper description is refused, not left to overflow
    Python's stack in the walks over the network).

    Parameters
    ----------
    arch : Network, dict, str or os.PathLike
        A network; a dict in the JSON format (or its text, starting with ``{``); a path to a
        JSON file; a zoo name; or a compact string.
    identity : sequence of str
        Layer types to treat as identity (an explicit opt-in, recorded in the network).

    Examples
    --------
    >>> as_network("1d: conv3").dims
    1
    """
    if isinstance(arch, Network) and not identity:
        return arch
    try:
        net = _as_network(arch, identity)
    except RecursionError:
        net = None
    # (a string nests no deeper than its brackets: most need no walk, a repeated call none)
    shallow = isinstance(arch, str) and max(arch.count("("), arch.count("{")) <= _MAX_NESTING
    if net is None or (not shallow and _nesting(net.layers) > _MAX_NESTING):
        raise ERFError(
            f"the architecture nests blocks (parentheses, residual or branch bodies) over "
            f"{_MAX_NESTING} levels deep; describe it with fewer levels (a repeated block, "
            "'(conv3, relu)*10', need not be nested)"
        )
    return net


def _nesting(layers) -> int:
    """How many levels of blocks a sequence of layers nests (0: none), without recursion."""
    deepest, stack = 0, [(layers, 0)]
    while stack:
        seq, level = stack.pop()
        deepest = max(deepest, level)
        for layer in seq:
            if isinstance(layer, Branches):
                stack += [(b, level + 1) for b in layer.branches]
            elif isinstance(layer, Block):
                stack.append((layer.layers, level + 1))
    return deepest


def _as_network(arch, identity=()) -> Network:
    modelled = sorted(set(identity) & _MODELLED) if identity else ()
    if modelled:
        raise ERFError(
            f"--as-identity {','.join(modelled)}: modelled layer types cannot be treated as "
            "identity; the opt-in is for types erftheory refuses (se, attention, ...) or does "
            "not know"
        )
    if isinstance(arch, Network):
        return arch
    if isinstance(arch, dict):
        return from_dict(arch, identity)
    if isinstance(arch, os.PathLike) or (
        isinstance(arch, str) and (arch.endswith(".json") or os.path.isfile(arch))
    ):
        return from_dict(_load_json(Path(arch)), identity)
    if isinstance(arch, str) and arch.lstrip().startswith("{"):
        try:
            spec = json.loads(arch)
        except json.JSONDecodeError as err:
            raise ERFError(
                f"inline JSON architecture: malformed at line {err.lineno}, column {err.colno}: "
                f"{err.msg}"
            ) from None
        return from_dict(spec, identity)
    if isinstance(arch, str):
        if arch.strip().lower() in ZOO:
            return zoo_network(arch.strip())
        try:
            return from_compact(arch, identity)
        except ERFError as err:
            hint = _zoo_hint(arch, identity)
            if hint is None:
                raise
            raise ERFError(hint) from err
    raise ERFError(
        f"cannot read an architecture from {type(arch).__name__}; give a Network, a dict in "
        "the JSON format, a path to a JSON file or a compact string such as 'conv3*10'"
    )


def _zoo_hint(text: str, identity=()) -> str | None:
    """The error for a single word that failed as a compact string but names a model.

    A word is taken for a model name when its leading letters are no layer name (the parser
    stopped at an unknown layer) and it begins a zoo name or is close to one (``difflib``), or
    it looks like a model name (a digit, ``_``, ``-`` or a ``net`` ending, as in
    ``efficientnet_b0``) while its leading letters are not close to a layer name (``conb3``
    stays a layer error). None keeps the parser's error.
    """
    import difflib

    from .zoo import zoo_names

    word = text.strip()
    if not re.fullmatch(r"[A-Za-z][\w.\-]*", word):
        return None
    lead = re.match(r"[a-z]*", word.lower()).group()
    layers = {*_KEYS, *_ALIASES, *_SPATIAL, *_SHORT, *_UNMODELLED, *identity}
    layers |= {"res", "add", "cat", "up", "gap", "aap"}
    if lead in layers:
        return None
    names = zoo_names()
    prefixed = [name for name in names if len(lead) > 2 and name.startswith(word.lower())]
    close = difflib.get_close_matches(word.lower(), names, n=3, cutoff=0.7)
    close = list(dict.fromkeys(prefixed + close))[:3]
    model_like = re.search(r"[\d_\-]|net$", word.lower()) and not difflib.get_close_matches(
        lead, sorted(layers), n=1, cutoff=0.7
    )
    if not close and not model_like:
        return None
    suggestion = ";"
    if close:
        quoted = [repr(name) for name in close]
        choices = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        suggestion = f"; did you mean {choices}?"
    return (
        f"unknown architecture {word!r}{suggestion} zoo names: {', '.join(names)} "
        "(or give a compact string such as 'conv3*10', or a JSON file)"
    )


def _load_json(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as err:
        raise ERFError(f"cannot read the architecture file {str(path)!r}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ERFError(
            f"the architecture file {str(path)!r} is not UTF-8 text (byte {err.start}): "
            "give a JSON file"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ERFError(
            f"{path}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
