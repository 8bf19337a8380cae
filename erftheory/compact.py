"""The compact architecture string: a one-line grammar, parsed to a network and described back.

:func:`from_compact` parses a string into layer objects of the JSON format
(:mod:`erftheory.json_format`), which build the network; :func:`describe` and
:func:`to_compact` write a layer and a network back as tokens.

The grammar (whitespace is ignored)::

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
import re

from .architecture import Network, with_padding_mode
from .blocks import Block, Branches, Residual
from .errors import ERFError
from .json_format import _POINTWISE, _SPATIAL, _UNMODELLED, _layers
from .layers import (
    PADDING_MODES,
    AdaptiveAvgPool,
    Conv,
    ConvTranspose,
    GlobalAvgPool,
    PixelShuffle,
    Upsample,
    _Spatial,
)
from .pointwise import Dropout, Identity

__all__ = ["from_compact", "to_compact", "describe"]

_SHORT = {"convt": "convtranspose"}
_ALIASES = {
    "bn": "batchnorm",
    "ln": "layernorm",
    "gn": "layernorm",
    "id": "identity",
    "swish": "silu",
}


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
        if name in ("res", "residual", "add", "cat"):
            return self.container(name)
        return self.layer(name, start)

    def container(self, name: str) -> dict:
        """A residual block ``res(...)`` or branches ``add(... | ...)``, ``cat(... | ...)``."""
        if name in ("res", "residual"):
            self.expect("(")
            layers = self.seq()
            self.expect(")")
            return {"type": "residual", "layers": layers}
        self.expect("(")
        branches = [self.seq()]
        while self.match(r"\|"):
            branches.append(self.seq())
        self.expect(")")
        join = "add" if name == "add" else "concat"
        return {"type": "branches", "join": join, "branches": branches}

    def layer(self, name: str, start: int) -> dict:
        """The layer named ``name`` (read from ``start``) with its sizes and options."""
        if name in ("gap", "globalavgpool"):
            return {"type": "globalavgpool"}
        if name in ("adaptiveavgpool", "aap"):
            return {"type": "adaptiveavgpool", "output": self.axes("aap needs its output size")}
        if name == "up":
            factor = self.axes("up needs a factor, as in up2")
            layer = {"type": "upsample", "factor": factor}
            if mode := self.match(r"/\s*(nearest|bilinear)"):
                layer["mode"] = mode.group(1)
            return layer
        if name == "pixelshuffle":
            return {
                "type": name,
                "factor": self.axes("pixelshuffle needs a factor, as in pixelshuffle2"),
            }
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
            self.unknown(name, start)
        layer = {"type": name, "kernel": self.axes(f"{name} needs a kernel size, as in {name}3")}
        while self.match("/"):
            self.option(layer)
        return layer

    def unknown(self, name: str, start: int):
        """Refuse an unknown layer name, listing the valid ones."""
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
                "pixelshuffle",
                "gap",
                "aap",
            ]
        )
        self.fail(
            f"unknown layer {name!r} (valid: {', '.join(valid)}; to treat it as identity, "
            f"opt in with --as-identity {name})",
            start,
        )

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
    if not isinstance(text, str):
        raise ERFError(f"a compact architecture is a string such as 'conv3*10', not {text!r}")
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
        net = Network(_layers([_strip(item) for item in items], "layers", identity, dims), dims)
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
        text = _describe_spatial(layer, inside_residual)
    elif isinstance(layer, PixelShuffle):
        text = "pixelshuffle" + _axes(layer.factor)
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


def _describe_spatial(layer, inside_residual: bool) -> str:
    """The token of a conv or pool: its kernel, then each option that is not the default."""
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
    return text


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
    if not isinstance(net, Network):  # any architecture description: its canonical string
        from .parse import as_network

        net = as_network(net)
    return f"{net.dims}d: " + ", ".join(describe(layer) for layer in net.layers)
