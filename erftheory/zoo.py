"""The model zoo: named architectures in our own format, each citing what it follows.

Every entry is the feature extractor of a published network (up to the last conv or pool before
global pooling and the classifier), written as a compact string that follows its reference
implementation layer by layer, within the limits listed below. Entries named as in Araujo et
al.'s library (``alexnet_v2``, ``vgg_16``, ``inception_v3``, ``resnet_v1_50``, ...) follow the
TF-Slim definitions and reproduce its published table exactly (TF ``'SAME'`` padding of a strided
layer resolved as at an input of 224, as that table does); the torchvision definitions keep their
usual names (``resnet50``, ``vgg16``, ...). Where a ResNet puts its stride changes the field:
``resnet_v1_50`` (stride in the last unit of a stage) has 483, torchvision's ``resnet50``
(stride in the first unit) 427. Names are case-insensitive.

Modelled, where the reference code puts it:

- every convolution and pooling layer with its kernel, stride, dilation and padding; depthwise,
  grouped and 1x1 convs are plain kernels of their size;
- every ReLU: after each conv that has one (TF-Slim's ``arg_scope``, torchvision's conv-BN-ReLU;
  a top-level unit ``(conv3, relu)`` keeps one table row per end point), inside residual
  branches, and after the addition that ends a residual unit (torchvision's
  ``relu(out + identity)``, written ``(res(...), relu)``); none after the linear convs that end a
  branch (the last conv of a ResNet branch, MobileNetV2's projection, Inception-ResNet's ``up``
  1x1). ReLU6 (the MobileNets) is a ReLU here. The theory makes each ReLU an independent
  Bernoulli(1/2) gate, a factor 1/2 on ``E[g]`` and on ``E[g^2]`` along every path through it, so
  a ReLU inside a residual branch halves that branch's weight against the identity (THEORY.md
  section 4);
- shortcuts: identity, 1x1 projections, TF-Slim's strided 1x1 max pool (``subsample``);
  a concatenation feeding a conv is the sum of its branches (the same spatial kernel as an
  addition);
- fixed constants: Inception-ResNet-v2's residual scales (0.17, 0.10, 0.20) as a fixed 1x1
  kernel ``conv1/w[[0.17]]`` (factor s on ``E[g]``, s^2 on ``E[g^2]``); RepLKNet's parallel 5x5
  conv beside its large kernel, as trained before re-parameterisation (``add(conv31 | conv5)``);
- max pooling as the theory's uniform-routing kernel (THEORY.md sections 2 and 4).

Not modelled:

- batch and layer norms: per-channel affine maps, pass-through in the theory; they are written
  only where they show a pre-activation order (DenseNet, ConvNeXt, RepLKNet). Biases do not reach
  the input gradient;
- channel widths and the real initialisation: every conv has unit weights (``weights="ones"``)
  or unit variances (``"random"``), so the weight of a residual branch against its shortcut, and
  of concatenated branches of different widths, is that of one-channel networks;
- GELU (ConvNeXt's blocks, RepLKNet's ConvFFN): the analytic ERF has no closed form for it and
  refuses it, so these entries leave it out; add ``gelu`` to the string to measure it with
  ``erftheory check``;
- learned per-channel scales (ConvNeXt's layer scale, initialised to 1e-6, which nearly switches
  a branch off at initialisation), stochastic depth and dropout (identity at inference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ERFError

__all__ = ["ZooEntry", "ZOO", "zoo_network", "zoo_names"]

_SLIM = "TF-Slim, tensorflow/models research/slim/nets"
_TV = "torchvision.models"


@dataclass(frozen=True)
class ZooEntry:
    """A named architecture with its provenance.

    Attributes
    ----------
    name : str
        The name users type (``erftheory rf resnet50``).
    arch : str
        The architecture as a compact string (see :mod:`erftheory.compact`).
    reference : str
        The paper and the reference implementation the layers follow.
    notes : str
        Which variant this is and what is left out.
    """

    name: str
    arch: str
    reference: str
    notes: str = ""

    def network(self):
        """The entry as a :class:`~erftheory.Network`."""
        from .compact import from_compact

        return from_compact(self.arch)


ZOO: dict[str, ZooEntry] = {}


def _register(*entries: ZooEntry) -> None:
    for entry in entries:
        ZOO[entry.name.lower()] = entry


def zoo_names() -> list[str]:
    """The names of all zoo entries, sorted.

    Examples
    --------
    >>> "resnet18" in zoo_names() and zoo_names() == sorted(zoo_names())
    True
    """
    return sorted(ZOO)


def zoo_network(name: str):
    """The network of a zoo entry.

    Raises
    ------
    ERFError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> from erftheory import receptive_field
    >>> receptive_field(zoo_network("resnet50")).size
    (427, 427)
    """
    entry = ZOO.get(name.lower())
    if entry is None:
        raise ERFError(f"unknown zoo entry {name!r}; valid: {', '.join(zoo_names())}")
    return entry.network()


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


_CONV = re.compile(r"\b(conv[0-9x]+(?:/[0-9a-z-]+)*)(\*\d+)?")


def _in_join(prefix: str) -> bool:
    """Whether the end of ``prefix`` lies inside a ``res(``, ``add(`` or ``cat(``."""
    stack = []
    for i, char in enumerate(prefix):
        if char == "(":
            stack.append(prefix[max(0, i - 3) : i] in ("res", "add", "cat"))
        elif char == ")":
            stack.pop()
    return any(stack)


def _gated(text: str) -> str:
    """Put a ReLU after every conv of a compact string.

    At the top level each pair is one unit, ``conv3*2`` -> ``(conv3, relu)*2``, so that the
    receptive-field table keeps one row per end point; inside a branch it is ``conv3, relu``.
    """

    def gate(m: re.Match) -> str:
        if m[2] or not _in_join(text[: m.start()]):
            return f"({m[1]}, relu){m[2] or ''}"
        return f"{m[1]}, relu"

    return _CONV.sub(gate, text)


# ------------------------------------------------------------------ ResNets
def _resnet(units, bottleneck: bool, stride_first: bool, stem_pool: str) -> str:
    """A ResNet feature extractor: stem, four stages of residual units.

    A unit is ``relu(shortcut + branch)``; the branch is conv-ReLU-conv (basic) or
    conv1-ReLU-conv3-ReLU-conv1 (bottleneck), its last conv linear.
    """
    units_out = []
    for stage, n in enumerate(units):
        stride = 1 if stage == 0 else 2
        if not stride_first:  # TF-Slim v1: the stride sits in the last unit of stages 1-3
            stride = 2 if stage < 3 else 1
        for u in range(n):
            is_strided = (u == 0) if stride_first else (u == n - 1)
            s = stride if is_strided else 1
            body = (
                f"conv1, relu, conv3/s{s}/p1, relu, conv1"
                if bottleneck
                else f"conv3/s{s}/p1, relu, conv3"
            )
            if u == 0 and (bottleneck or stage > 0):  # the width changes: 1x1 projection
                unit = f"add({body} | conv1/s{s})"
            elif s > 1:  # TF-Slim's subsample of an unchanged width: a strided 1x1 max pool
                unit = f"add({body} | maxpool1/s{s})"
            else:
                unit = f"res({body})"
            units_out.append(f"({unit}, relu)")
    return _join(f"(conv7/s2/p3, relu), maxpool3/s2/{stem_pool}", ", ".join(units_out))


_RESNET_PAPER = "He, Zhang, Ren, Sun, 'Deep Residual Learning for Image Recognition', CVPR 2016"
_RESNET_UNIT = "ReLU after the first conv(s) of each branch and after each addition"
for _name, _units in (
    ("50", (3, 4, 6, 3)),
    ("101", (3, 4, 23, 3)),
    ("152", (3, 8, 36, 3)),
    ("200", (3, 24, 36, 3)),
):
    _register(
        ZooEntry(
            f"resnet_v1_{_name}",
            _resnet(_units, True, False, "p0-1"),
            f"{_RESNET_PAPER}; {_SLIM}/resnet_v1.py",
            "TF-Slim v1: stride 2 in the 3x3 of the last unit of stages 1-3, whose shortcut is "
            f"a strided 1x1 max pool; {_RESNET_UNIT}; max pool 'SAME' (padding 0 before, 1 "
            "after at an even input); end point block4",
        )
    )
for _name, _units, _bottle in (
    ("18", (2, 2, 2, 2), False),
    ("34", (3, 4, 6, 3), False),
    ("50", (3, 4, 6, 3), True),
    ("101", (3, 4, 23, 3), True),
):
    _register(
        ZooEntry(
            f"resnet{_name}",
            _resnet(_units, _bottle, True, "p1"),
            f"{_RESNET_PAPER}; {_TV}.resnet",
            (
                "v1.5 bottlenecks: stride 2 in the 3x3 of the first unit of stages 2-4"
                if _bottle
                else "basic blocks, stride 2 in the first unit of stages 2-4"
            )
            + f"; {_RESNET_UNIT}; end point layer4",
        )
    )

# ------------------------------------------------------------------ VGG, AlexNet
_VGG_PAPER = "Simonyan, Zisserman, 'Very Deep Convolutional Networks', ICLR 2015"


def _vgg(counts) -> str:
    return ", ".join(
        _gated(f"conv3/p1*{n}" if n > 1 else "conv3/p1") + ", maxpool2" for n in counts
    )


_register(
    ZooEntry(
        "vgg_16",
        _vgg((2, 2, 3, 3, 3)),
        f"{_VGG_PAPER}; {_SLIM}/vgg.py",
        "TF-Slim vgg_16 up to pool5, a ReLU after every conv (the fully connected layers are "
        "left out)",
    ),
    ZooEntry(
        "vgg11", _vgg((1, 1, 2, 2, 2)), f"{_VGG_PAPER}; {_TV}.vgg", "features (config A), conv-ReLU"
    ),
    ZooEntry(
        "vgg16", _vgg((2, 2, 3, 3, 3)), f"{_VGG_PAPER}; {_TV}.vgg", "features (config D), conv-ReLU"
    ),
    ZooEntry(
        "vgg19", _vgg((2, 2, 4, 4, 4)), f"{_VGG_PAPER}; {_TV}.vgg", "features (config E), conv-ReLU"
    ),
    ZooEntry(
        "alexnet_v2",
        _gated("conv11/s4, maxpool3/s2, conv5/p2, maxpool3/s2, conv3/p1*3, maxpool3/s2"),
        f"Krizhevsky, 'One weird trick for parallelizing CNNs', 2014; {_SLIM}/alexnet.py",
        "TF-Slim alexnet_v2 up to pool5 (conv1 'VALID'), a ReLU after every conv",
    ),
    ZooEntry(
        "alexnet",
        _gated("conv11/s4/p2, maxpool3/s2, conv5/p2, maxpool3/s2, conv3/p1*3, maxpool3/s2"),
        f"Krizhevsky, Sutskever, Hinton, NeurIPS 2012 (one-GPU variant); {_TV}.alexnet",
        "features (conv1 padded by 2), a ReLU after every conv",
    ),
)

# ------------------------------------------------------------------ MobileNets
_dw_strides = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
_register(
    ZooEntry(
        "mobilenet_v1",
        _gated(
            _join(
                "conv3/s2/p0-1",
                ", ".join(f"conv3/{'p1' if s == 1 else 's2/p0-1'}, conv1" for s in _dw_strides),
            )
        ),
        "Howard et al., 'MobileNets', 2017; " + _SLIM + "/mobilenet_v1.py",
        "depthwise 3x3 + pointwise 1x1 per layer, each with BN and ReLU6 (a ReLU here); strided "
        "'SAME' layers padded 0 before, 1 after; end point Conv2d_13_pointwise",
    )
)
_v2_settings = ((1, 1, 1), (6, 2, 2), (6, 3, 2), (6, 4, 2), (6, 3, 1), (6, 3, 2), (6, 1, 1))


def _mobilenet_v2() -> str:
    parts = ["(conv3/s2/p1, relu)"]
    for t, n, s in _v2_settings:
        for i in range(n):
            stride = s if i == 0 else 1
            expand = "conv1, relu, " if t != 1 else ""
            body = f"{expand}conv3/s{stride}/p1, relu, conv1"  # the projection is linear
            parts.append(f"res({body})" if stride == 1 and i > 0 else f"({body})")
    parts.append("(conv1, relu)")
    return ", ".join(parts)


_register(
    ZooEntry(
        "mobilenet_v2",
        _mobilenet_v2(),
        f"Sandler et al., 'MobileNetV2', CVPR 2018; {_TV}.mobilenetv2",
        "inverted residuals (expand 1x1-ReLU6, depthwise 3x3-ReLU6, linear project 1x1; ReLU6 "
        "a ReLU here); residual when stride 1 and the width repeats, no ReLU after the "
        "addition; features up to the last 1x1-ReLU6",
    )
)

# ------------------------------------------------------------------ Inception
# a ReLU after every conv (TF-Slim's arg_scope); the pools inside modules have none
_A = _gated("cat(conv1 | conv1, conv5 | conv1, conv3, conv3 | avgpool3/s1, conv1)")
_B = _gated(
    "cat(conv1 | conv1, conv1x7, conv7x1 | conv1, conv7x1, conv1x7, conv7x1, conv1x7 | "
    "avgpool3/s1, conv1)"
)
_C3 = _gated(
    "cat(conv1 | conv1, cat(conv1x3 | conv3x1) | conv1, conv3, cat(conv1x3 | conv3x1) | "
    "avgpool3/s1, conv1)"
)
_RA = _gated("cat(conv3/s2/p0 | conv1, conv3, conv3/s2/p0 | maxpool3/s2/p0)")
_RB = _gated("cat(conv1, conv3/s2/p0 | conv1, conv1x7, conv7x1, conv3/s2/p0 | maxpool3/s2/p0)")
_STEM = _gated("conv3/s2, conv3, conv3/p1, maxpool3/s2, conv1, conv3, maxpool3/s2")
_INCEPTION_V3 = _join(_STEM, *[_A] * 3, _RA, *[_B] * 4, _RB, *[_C3] * 2)
_register(
    ZooEntry(
        "inception_v3",
        _INCEPTION_V3,
        "Szegedy et al., 'Rethinking the Inception Architecture', CVPR 2016; "
        f"{_SLIM}/inception_v3.py (torchvision.models.inception_v3 has the same geometry)",
        "end point Mixed_7c; a ReLU after every conv; concatenations as sums of branches",
    ),
)
_V2_A = "cat(conv1 | conv1, conv3 | conv1, conv3, conv3 | {pool}3/s1, conv1)"
_V2_R = _gated("cat(conv1, conv3/s2/p0-1 | conv1, conv3, conv3/s2/p0-1 | maxpool3/s2/p0-1)")
_V2_AVG = _gated(_V2_A.format(pool="avgpool"))
_register(
    ZooEntry(
        "inception_v2",
        _join(
            _gated("conv7/s2/p2-3, maxpool3/s2/p0-1, conv1, conv3/p1, maxpool3/s2/p0-1"),
            _V2_AVG,
            _V2_AVG,
            _V2_R,
            *[_V2_AVG] * 4,
            _V2_R,
            _V2_AVG,
            _gated(_V2_A.format(pool="maxpool")),
        ),
        f"Ioffe, Szegedy, 'Batch Normalization', ICML 2015; {_SLIM}/inception_v2.py",
        "end point Mixed_5c, whose fourth branch pools by max, not average; the separable 7x7 "
        "stem conv is spatially a 7x7; a ReLU after every conv; strided 'SAME' layers padded as "
        "at an input of 224",
    )
)
_V4_A = _gated("cat(conv1 | conv1, conv3 | conv1, conv3, conv3 | avgpool3/s1, conv1)")
_V4_C = _gated(
    "cat(conv1 | conv1, cat(conv1x3 | conv3x1) | conv1, conv3x1, conv1x3, "
    "cat(conv1x3 | conv3x1) | avgpool3/s1, conv1)"
)
_register(
    ZooEntry(
        "inception_v4",
        _join(
            _gated("conv3/s2, conv3, conv3/p1"),
            _gated("cat(maxpool3/s2/p0 | conv3/s2/p0)"),
            _gated("cat(conv1, conv3/p0 | conv1, conv1x7, conv7x1, conv3/p0)"),
            _gated("cat(conv3/s2/p0 | maxpool3/s2/p0)"),
            *[_V4_A] * 4,
            _RA,
            *[_B] * 7,
            _RB,
            *[_V4_C] * 3,
        ),
        "Szegedy et al., 'Inception-v4, Inception-ResNet', AAAI 2017; "
        + _SLIM
        + "/inception_v4.py",
        "end point Mixed_7d; a ReLU after every conv",
    )
)


def _scaled_unit(towers: str, scale: float | None) -> str:
    """An Inception-ResNet unit: ``net + scale * up(concat(towers))``, then a ReLU.

    ``up`` is a linear 1x1; the constant scale is a fixed 1x1 kernel. ``scale=None`` is the
    last Block8: unscaled, and no ReLU after the addition.
    """
    scaled = f", conv1/w[[{scale}]]" if scale is not None else ""
    unit = f"res({_gated(towers)}, conv1{scaled})"
    return f"({unit}, relu)" if scale is not None else unit


_register(
    ZooEntry(
        "inception_resnet_v2",
        _join(
            _STEM,
            _gated("cat(conv1 | conv1, conv5 | conv1, conv3, conv3 | avgpool3/s1, conv1)"),
            _scaled_unit("cat(conv1 | conv1, conv3 | conv1, conv3, conv3)", 0.17) + "*10",
            _gated("cat(conv3/s2/p0 | conv1, conv3, conv3/s2/p0 | maxpool3/s2/p0)"),
            _scaled_unit("cat(conv1 | conv1, conv1x7, conv7x1)", 0.10) + "*20",
            _gated(
                "cat(conv1, conv3/s2/p0 | conv1, conv3/s2/p0 | conv1, conv3, conv3/s2/p0 | "
                "maxpool3/s2/p0)"
            ),
            _scaled_unit("cat(conv1 | conv1, conv1x3, conv3x1)", 0.20) + "*9",
            _scaled_unit("cat(conv1 | conv1, conv1x3, conv3x1)", None),
            _gated("conv1"),
        ),
        "Szegedy et al., 'Inception-v4, Inception-ResNet', AAAI 2017; "
        + _SLIM
        + "/inception_resnet_v2.py",
        "end point Conv2d_7b_1x1; a ReLU after every conv but each unit's linear 1x1 'up', and "
        "after each residual addition but the last Block8's; residual scales 0.17 (Block35), "
        "0.10 (Block17), 0.20 (Block8, the last one unscaled) as fixed 1x1 kernels",
    )
)


# ------------------------------------------------------------------ DenseNet, ConvNeXt, ...
def _densenet(blocks=(6, 12, 24, 16)) -> str:
    parts = ["(conv7/s2/p3, bn, relu), maxpool3/s2/p1"]
    for i, n in enumerate(blocks):
        parts.append(f"cat(id | bn, relu, conv1, bn, relu, conv3)*{n}")
        if i < len(blocks) - 1:
            parts.append("bn, relu, conv1, avgpool2")
    parts.append("bn")  # norm5, the end of torchvision's features
    return ", ".join(parts)


_register(
    ZooEntry(
        "densenet121",
        _densenet(),
        f"Huang et al., 'Densely Connected Convolutional Networks', CVPR 2017; {_TV}.densenet",
        "stem conv-BN-ReLU and max pool; each dense layer concatenates its input with "
        "BN-ReLU-1x1-BN-ReLU-3x3 (a sum of the two paths spatially); transitions BN-ReLU-1x1 "
        "+ 2x2 average pool; features end at norm5",
    )
)


def _convnext(depths=(3, 3, 9, 3)) -> str:
    parts = ["conv4/s4, ln"]
    for i, n in enumerate(depths):
        if i:
            parts.append("ln, conv2/s2")
        parts.append(f"res(conv7, ln, conv1, conv1)*{n}")  # GELU between the 1x1s left out
    return ", ".join(parts)


_register(
    ZooEntry(
        "convnext_tiny",
        _convnext(),
        f"Liu et al., 'A ConvNet for the 2020s', CVPR 2022; {_TV}.convnext",
        "patchify 4x4/s4 stem, 7x7 depthwise blocks, 2x2/s2 downsampling; depths 3-3-9-3; the "
        "GELU between the block's 1x1s is left out (no closed form), and so are layer scale "
        "(learned, initialised to 1e-6) and stochastic depth",
    )
)


def _replknet(kernels=(31, 29, 27, 13), layers=(2, 2, 18, 2)) -> str:
    parts = [_gated("conv3/s2/p1, conv3/p1, conv1, conv3/s2/p1")]
    for i, (k, n) in enumerate(zip(kernels, layers)):
        if i:
            parts.append(_gated("conv1, conv3/s2/p1"))
        replk = f"res(bn, conv1, relu, add(conv{k} | conv5), relu, conv1)"
        ffn = "res(bn, conv1, conv1)"  # the GELU between the 1x1s left out
        parts.append(f"({replk}, {ffn})*{n}")
    return ", ".join(parts)


_register(
    ZooEntry(
        "replknet_31b",
        _replknet(),
        "Ding et al., 'Scaling Up Your Kernels to 31x31', CVPR 2022; DingXiaoH/RepLKNet-pytorch "
        "replknet.py",
        "stem and transitions conv-BN-ReLU (stem 3x3/s2, dw 3x3, 1x1, dw 3x3/s2; transitions "
        "1x1, dw 3x3/s2); stages of RepLK blocks (1x1-ReLU, KxK depthwise with K = 31, 29, 27, "
        "13 plus its parallel 5x5, ReLU, linear 1x1) and ConvFFN (1x1, GELU left out, 1x1); "
        "no ReLU after the additions",
    )
)
_register(
    ZooEntry(
        "unet_encoder",
        _gated("(conv3*2, maxpool2)*4, conv3*2"),
        "Ronneberger, Fischer, Brox, 'U-Net', MICCAI 2015",
        "the contracting path: unpadded 3x3-ReLU pairs and 2x2 max pools, down to the bottleneck",
    )
)
