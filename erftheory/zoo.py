"""The model zoo: named architectures in our own format, each citing what it follows.

Every entry is the feature extractor of a published network, layer by layer as its reference
implementation builds it (up to the last conv or pool before global pooling and the
classifier), written as a compact string. Entries named as in Araujo et al.'s library
(``alexnet_v2``, ``vgg_16``, ``inception_v3``, ``resnet_v1_50``, ...) follow the TF-Slim
definitions and reproduce its published table exactly (TF ``'SAME'`` padding of a strided layer
resolved as at an input of 224, as that table does); the torchvision definitions keep their
usual names (``resnet50``, ``vgg16``, ...). Where a ResNet puts its stride changes the field:
``resnet_v1_50`` (stride in the last unit of a stage) has 483, torchvision's ``resnet50``
(stride in the first unit) 427. Names are case-insensitive.

Spatial modelling choices: depthwise, grouped and 1x1 convs are plain kernels of their size;
batch and layer norms are pass-through; a concatenation feeding a conv is a sum over its
branches (the same spatial kernel as an addition).
"""

from __future__ import annotations

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
        The architecture as a compact string (see :mod:`erftheory.parse`).
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
        from .parse import from_compact

        return from_compact(self.arch)


ZOO: dict[str, ZooEntry] = {}


def _register(*entries: ZooEntry) -> None:
    for entry in entries:
        ZOO[entry.name.lower()] = entry


def zoo_names() -> list[str]:
    """The names of all zoo entries, sorted."""
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


# ------------------------------------------------------------------ ResNets
def _resnet(units, bottleneck: bool, stride_first: bool, stem_pool: str) -> str:
    """A ResNet feature extractor: stem, four stages of residual units with projections."""
    blocks = []
    for stage, n in enumerate(units):
        stride = 1 if stage == 0 else 2
        if not stride_first:  # TF-Slim v1: the stride sits in the last unit of stages 1-3
            stride = 2 if stage < 3 else 1
        for u in range(n):
            is_strided = (u == 0) if stride_first else (u == n - 1)
            s = stride if is_strided else 1
            body = f"conv1, conv3/s{s}/p1, conv1" if bottleneck else f"conv3/s{s}/p1, conv3"
            if s > 1 or (u == 0 and (bottleneck or stage > 0)):
                blocks.append(f"add({body} | conv1/s{s})")  # projection shortcut
            else:
                blocks.append(f"res({body})")
    return _join(f"conv7/s2/p3, maxpool3/s2/{stem_pool}", ", ".join(blocks))


_RESNET_PAPER = "He, Zhang, Ren, Sun, 'Deep Residual Learning for Image Recognition', CVPR 2016"
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
            "TF-Slim v1: stride 2 in the 3x3 of the last unit of stages 1-3; max pool 'SAME' "
            "(padding 0 before, 1 after at an even input); end point block4",
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
                "v1.5: stride 2 in the 3x3 of the first unit of stages 2-4"
                if _bottle
                else "basic blocks, stride 2 in the first unit of stages 2-4"
            )
            + "; end point layer4",
        )
    )

# ------------------------------------------------------------------ VGG, AlexNet
_VGG_PAPER = "Simonyan, Zisserman, 'Very Deep Convolutional Networks', ICLR 2015"


def _vgg(counts, pad: str = "p1") -> str:
    return ", ".join(f"conv3/{pad}*{n}, maxpool2" for n in counts)


_register(
    ZooEntry(
        "vgg_16",
        _vgg((2, 2, 3, 3, 3)),
        f"{_VGG_PAPER}; {_SLIM}/vgg.py",
        "TF-Slim vgg_16 up to pool5 (the fully connected layers are left out)",
    ),
    ZooEntry("vgg11", _vgg((1, 1, 2, 2, 2)), f"{_VGG_PAPER}; {_TV}.vgg", "features (config A)"),
    ZooEntry("vgg16", _vgg((2, 2, 3, 3, 3)), f"{_VGG_PAPER}; {_TV}.vgg", "features (config D)"),
    ZooEntry("vgg19", _vgg((2, 2, 4, 4, 4)), f"{_VGG_PAPER}; {_TV}.vgg", "features (config E)"),
    ZooEntry(
        "alexnet_v2",
        "conv11/s4, maxpool3/s2, conv5/p2, maxpool3/s2, conv3/p1*3, maxpool3/s2",
        f"Krizhevsky, 'One weird trick for parallelizing CNNs', 2014; {_SLIM}/alexnet.py",
        "TF-Slim alexnet_v2 up to pool5 (conv1 'VALID')",
    ),
    ZooEntry(
        "alexnet",
        "conv11/s4/p2, maxpool3/s2, conv5/p2, maxpool3/s2, conv3/p1*3, maxpool3/s2",
        f"Krizhevsky, Sutskever, Hinton, NeurIPS 2012 (one-GPU variant); {_TV}.alexnet",
        "features (conv1 padded by 2)",
    ),
)

# ------------------------------------------------------------------ MobileNets
_dw_strides = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
_register(
    ZooEntry(
        "mobilenet_v1",
        _join(
            "conv3/s2/p0-1",
            ", ".join(f"conv3/{'p1' if s == 1 else 's2/p0-1'}, conv1" for s in _dw_strides),
        ),
        "Howard et al., 'MobileNets', 2017; " + _SLIM + "/mobilenet_v1.py",
        "depthwise 3x3 + pointwise 1x1 per layer; strided 'SAME' layers padded 0 before, 1 after; "
        "end point Conv2d_13_pointwise",
    )
)
_v2_settings = ((1, 1, 1), (6, 2, 2), (6, 3, 2), (6, 4, 2), (6, 3, 1), (6, 3, 2), (6, 1, 1))


def _mobilenet_v2() -> str:
    parts = ["conv3/s2/p1"]
    for t, n, s in _v2_settings:
        for i in range(n):
            stride = s if i == 0 else 1
            expand = "conv1, " if t != 1 else ""
            body = f"{expand}conv3/s{stride}/p1, conv1"
            parts.append(f"res({body})" if stride == 1 and i > 0 else body)
    parts.append("conv1")
    return ", ".join(parts)


_register(
    ZooEntry(
        "mobilenet_v2",
        _mobilenet_v2(),
        f"Sandler et al., 'MobileNetV2', CVPR 2018; {_TV}.mobilenetv2",
        "inverted residuals (expand 1x1, depthwise 3x3, project 1x1); residual when stride 1 and "
        "the width repeats; features up to the last 1x1",
    )
)

# ------------------------------------------------------------------ Inception
_A = "cat(conv1 | conv1, conv5 | conv1, conv3, conv3 | avgpool3/s1, conv1)"
_B = (
    "cat(conv1 | conv1, conv1x7, conv7x1 | conv1, conv7x1, conv1x7, conv7x1, conv1x7 | "
    "avgpool3/s1, conv1)"
)
_C3 = (
    "cat(conv1 | conv1, cat(conv1x3 | conv3x1) | conv1, conv3, cat(conv1x3 | conv3x1) | "
    "avgpool3/s1, conv1)"
)
_RA = "cat(conv3/s2/p0 | conv1, conv3, conv3/s2/p0 | maxpool3/s2/p0)"
_RB = "cat(conv1, conv3/s2/p0 | conv1, conv1x7, conv7x1, conv3/s2/p0 | maxpool3/s2/p0)"
_STEM = "conv3/s2, conv3, conv3/p1, maxpool3/s2, conv1, conv3, maxpool3/s2"
_INCEPTION_V3 = _join(_STEM, *[_A] * 3, _RA, *[_B] * 4, _RB, *[_C3] * 2)
_register(
    ZooEntry(
        "inception_v3",
        _INCEPTION_V3,
        "Szegedy et al., 'Rethinking the Inception Architecture', CVPR 2016; "
        f"{_SLIM}/inception_v3.py (torchvision.models.inception_v3 has the same geometry)",
        "end point Mixed_7c; concatenations as sums of branches",
    ),
)
_V2_A = "cat(conv1 | conv1, conv3 | conv1, conv3, conv3 | avgpool3/s1, conv1)"
_V2_R = "cat(conv1, conv3/s2/p0-1 | conv1, conv3, conv3/s2/p0-1 | maxpool3/s2/p0-1)"
_register(
    ZooEntry(
        "inception_v2",
        _join(
            "conv7/s2/p2-3, maxpool3/s2/p0-1, conv1, conv3/p1, maxpool3/s2/p0-1",
            _V2_A,
            _V2_A,
            _V2_R,
            *[_V2_A] * 4,
            _V2_R,
            _V2_A,
            _V2_A,
        ),
        f"Ioffe, Szegedy, 'Batch Normalization', ICML 2015; {_SLIM}/inception_v2.py",
        "end point Mixed_5c; the separable 7x7 stem conv is spatially a 7x7; strided 'SAME' layers "
        "padded as at an input of 224",
    )
)
_V4_A = "cat(conv1 | conv1, conv3 | conv1, conv3, conv3 | avgpool3/s1, conv1)"
_V4_C = (
    "cat(conv1 | conv1, cat(conv1x3 | conv3x1) | conv1, conv3x1, conv1x3, "
    "cat(conv1x3 | conv3x1) | avgpool3/s1, conv1)"
)
_register(
    ZooEntry(
        "inception_v4",
        _join(
            "conv3/s2, conv3, conv3/p1",
            "cat(maxpool3/s2/p0 | conv3/s2/p0)",
            "cat(conv1, conv3/p0 | conv1, conv1x7, conv7x1, conv3/p0)",
            "cat(conv3/s2/p0 | maxpool3/s2/p0)",
            *[_V4_A] * 4,
            _RA,
            *[_B] * 7,
            _RB,
            *[_V4_C] * 3,
        ),
        "Szegedy et al., 'Inception-v4, Inception-ResNet', AAAI 2017; "
        + _SLIM
        + "/inception_v4.py",
        "end point Mixed_7d",
    )
)
_register(
    ZooEntry(
        "inception_resnet_v2",
        _join(
            _STEM,
            "cat(conv1 | conv1, conv5 | conv1, conv3, conv3 | avgpool3/s1, conv1)",
            "res(cat(conv1 | conv1, conv3 | conv1, conv3, conv3), conv1)*10",
            "cat(conv3/s2/p0 | conv1, conv3, conv3/s2/p0 | maxpool3/s2/p0)",
            "res(cat(conv1 | conv1, conv1x7, conv7x1), conv1)*20",
            "cat(conv1, conv3/s2/p0 | conv1, conv3/s2/p0 | conv1, conv3, conv3/s2/p0 | "
            "maxpool3/s2/p0)",
            "res(cat(conv1 | conv1, conv1x3, conv3x1), conv1)*10",
            "conv1",
        ),
        "Szegedy et al., 'Inception-v4, Inception-ResNet', AAAI 2017; "
        + _SLIM
        + "/inception_resnet_v2.py",
        "end point Conv2d_7b_1x1; the residual scale factors do not change the field",
    )
)


# ------------------------------------------------------------------ DenseNet, ConvNeXt, ...
def _densenet(blocks=(6, 12, 24, 16)) -> str:
    parts = ["conv7/s2/p3, maxpool3/s2/p1"]
    for i, n in enumerate(blocks):
        parts.append(f"cat(id | bn, relu, conv1, bn, relu, conv3)*{n}")
        if i < len(blocks) - 1:
            parts.append("bn, relu, conv1, avgpool2")
    return ", ".join(parts)


_register(
    ZooEntry(
        "densenet121",
        _densenet(),
        f"Huang et al., 'Densely Connected Convolutional Networks', CVPR 2017; {_TV}.densenet",
        "each dense layer concatenates its input with BN-ReLU-1x1-BN-ReLU-3x3 (a sum of the two "
        "paths spatially); transitions 1x1 + 2x2 average pool",
    )
)


def _convnext(depths=(3, 3, 9, 3)) -> str:
    parts = ["conv4/s4, ln"]
    for i, n in enumerate(depths):
        if i:
            parts.append("ln, conv2/s2")
        parts.append(f"res(conv7, ln, conv1, conv1)*{n}")
    return ", ".join(parts)


_register(
    ZooEntry(
        "convnext_tiny",
        _convnext(),
        f"Liu et al., 'A ConvNet for the 2020s', CVPR 2022; {_TV}.convnext",
        "patchify 4x4/s4 stem, 7x7 depthwise blocks, 2x2/s2 downsampling; depths 3-3-9-3",
    )
)


def _replknet(kernels=(31, 29, 27, 13), layers=(2, 2, 18, 2)) -> str:
    parts = ["conv3/s2/p1, conv3/p1, conv1, conv3/s2/p1"]
    for i, (k, n) in enumerate(zip(kernels, layers)):
        if i:
            parts.append("conv1, conv3/s2/p1")
        parts.append(f"(res(bn, conv1, conv{k}, conv1), res(bn, conv1, conv1))*{n}")
    return ", ".join(parts)


_register(
    ZooEntry(
        "replknet_31b",
        _replknet(),
        "Ding et al., 'Scaling Up Your Kernels to 31x31', CVPR 2022; DingXiaoH/RepLKNet-pytorch "
        "replknet.py",
        "stem 3x3/s2, dw 3x3, 1x1, dw 3x3/s2; stages of RepLK blocks (1x1, KxK depthwise with "
        "K = 31, 29, 27, 13, 1x1) and ConvFFN; the parallel 5x5 of re-parameterisation lies inside "
        "the KxK field",
    )
)
_register(
    ZooEntry(
        "unet_encoder",
        "(conv3*2, maxpool2)*4, conv3*2",
        "Ronneberger, Fischer, Brox, 'U-Net', MICCAI 2015",
        "the contracting path: unpadded 3x3 pairs and 2x2 max pools, down to the bottleneck",
    )
)
