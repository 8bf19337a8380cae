"""The zoo entries against their reference code: ReLUs, shortcuts and constants where it has them.

Expected counts come from reading the reference implementations (torchvision.models, TF-Slim
research/slim/nets, DingXiaoH/RepLKNet-pytorch); expected ERFs are composed here with numpy
from THEORY.md sections 2 and 4 (a ReLU is a factor 1/2 on every path through it), not with
erftheory's composition.
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

import erftheory as et
from erftheory.architecture import Block, Branches, Conv, MaxPool, ReLU, Residual
from erftheory.cli import main
from erftheory.zoo import ZOO


def _count(layers, kind) -> int:
    """How many times a forward pass applies a layer of ``kind`` (repeats and branches)."""
    total = 0
    for layer in layers:
        if isinstance(layer, Branches):
            inner = sum(_count(branch, kind) for branch in layer.branches)
        elif isinstance(layer, Block):
            inner = _count(layer.layers, kind)
        else:
            inner = isinstance(layer, kind)
        total += inner * layer.repeat
    return total


# ReLU applications in the reference forward pass, counted from the code:
RELUS = {
    # torchvision ResNet: stem relu, BasicBlock 2 (branch + after the add), Bottleneck 3
    "resnet18": 1 + 8 * 2,
    "resnet34": 1 + 16 * 2,
    "resnet50": 1 + 16 * 3,
    "resnet101": 1 + 33 * 3,
    # TF-Slim resnet_v1 bottleneck: conv1, conv2 and relu(shortcut + residual)
    "resnet_v1_50": 1 + 16 * 3,
    "resnet_v1_200": 1 + 66 * 3,
    # a ReLU after every conv: VGG 8 / 13 / 16 convs, AlexNet 5, U-Net 10
    "vgg11": 8,
    "vgg16": 13,
    "vgg19": 16,
    "vgg_16": 13,
    "alexnet": 5,
    "alexnet_v2": 5,
    "unet_encoder": 10,
    # MobileNet v1: stem + 13 x (depthwise, pointwise); v2: stem, one for the t = 1 block,
    # two for each of the other 16 (the projection is linear), the last 1x1
    "mobilenet_v1": 1 + 13 * 2,
    "mobilenet_v2": 1 + 1 + 16 * 2 + 1,
    # DenseNet-121: stem, 58 dense layers x 2, 3 transitions
    "densenet121": 1 + 58 * 2 + 3,
    # Inception v3 (slim, to Mixed_7c): 5 stem convs, 3 x 7, 4, 4 x 10, 6, 2 x 9
    "inception_v3": 5 + 3 * 7 + 4 + 4 * 10 + 6 + 2 * 9,
    # Inception v2: 3 stem convs (the separable 7x7 has one activation), 7 per module, 5 per
    # reduction: 3b, 3c, 4a, 4b-4e, 5a, 5b, 5c
    "inception_v2": 3 + 2 * 7 + 5 + 4 * 7 + 5 + 2 * 7,
    # Inception v4: stem 3, Mixed_3a 1, 4a 6, 5a 1, 4 x A(7), RA 4, 7 x B(10), RB 6, 3 x C(10)
    "inception_v4": 3 + 1 + 6 + 1 + 4 * 7 + 4 + 7 * 10 + 6 + 3 * 10,
    # Inception-ResNet-v2: stem 5, Mixed_5b 7, 10 x Block35 (6 + 1), Mixed_6a 4,
    # 20 x Block17 (4 + 1), Mixed_7a 7, 9 x Block8 (4 + 1), the last Block8 4, Conv2d_7b 1
    "inception_resnet_v2": 5 + 7 + 10 * 7 + 4 + 20 * 5 + 7 + 9 * 5 + 4 + 1,
    # RepLKNet-31B: stem 4, transitions 3 x 2, 24 RepLK blocks x 2 (ConvFFN has a GELU)
    "replknet_31b": 4 + 3 * 2 + 24 * 2,
    # ConvNeXt has no ReLU (its GELU has no closed form and is left out)
    "convnext_tiny": 0,
}


def test_every_entry_has_its_reference_relus():
    assert set(RELUS) <= set(ZOO)
    for name, expected in RELUS.items():
        assert _count(ZOO[name].network().layers, ReLU) == expected, name


def test_resnet_units_gate_inside_the_branch_and_after_the_addition():
    for name in ("resnet18", "resnet50", "resnet_v1_50"):
        net = ZOO[name].network()
        units = [layer for layer in net.layers if isinstance(layer, Block)]
        stem = net.layers[0]
        assert isinstance(stem.layers[1], ReLU)  # conv7 -> relu, before the max pool
        for unit in units[1:]:  # unit = (res(...) or add(... | shortcut), relu)
            join, relu = unit.layers
            assert isinstance(relu, ReLU)
            branch = join.layers if isinstance(join, Residual) else join.branches[0]
            assert isinstance(branch[-1], Conv)  # the branch ends linear
            assert _count(branch, ReLU) == (2 if "50" in name else 1)


def test_tf_slim_subsample_shortcut_is_a_strided_1x1_max_pool():
    net = ZOO["resnet_v1_50"].network()
    shortcuts = [
        layer.layers[0].branches[1][0]
        for layer in net.layers
        if isinstance(layer, Block) and isinstance(layer.layers[0], Branches)
    ]
    pools = [s for s in shortcuts if isinstance(s, MaxPool)]
    assert len(pools) == 3 and all(p.kernel == (1, 1) and p.stride == (2, 2) for p in pools)


def test_inception_resnet_scales_and_the_last_block8():
    net = ZOO["inception_resnet_v2"].network()
    scales = []
    for layer in net.layers:
        inner = layer.layers[0] if type(layer) is Block else layer  # (res(...), relu)
        if isinstance(inner, Residual):
            last = inner.layers[-1]
            scale = float(last.weight_array.ravel()[0]) if last.weights is not None else 1.0
            scales.append((scale, layer.repeat, not isinstance(layer, Residual)))
    # (scale, units, followed by a ReLU): slim's repeat(block35, 10, scale=0.17), ...,
    # block8(net, activation_fn=None)
    assert scales == [(0.17, 10, True), (0.10, 20, True), (0.20, 9, True), (1.0, 1, False)]


def test_replknet_adds_the_parallel_5x5_and_inception_v2_ends_with_a_max_pool_branch():
    net = ZOO["replknet_31b"].network()
    kernels = []
    for layer in net.layers:
        if isinstance(layer, Block) and isinstance(layer.layers[0], Residual):
            (join,) = [x for x in layer.layers[0].layers if isinstance(x, Branches)]
            kernels.append(tuple(branch[0].kernel[0] for branch in join.branches))
    assert kernels == [(31, 5), (29, 5), (27, 5), (13, 5)]
    mixed_5c = ZOO["inception_v2"].network().layers[-1]
    assert isinstance(mixed_5c.branches[-1][0], MaxPool)
    assert all(
        not isinstance(b[0], MaxPool) for b in ZOO["inception_v2"].network().layers[-2].branches
    )


# ---------------------------------------------------------------- the ERF, composed by hand
def _centred_sum(*arrays):
    """Add arrays of odd shapes, aligned at their centres."""
    shape = tuple(max(a.shape[i] for a in arrays) for i in range(arrays[0].ndim))
    out = np.zeros(shape)
    for a in arrays:
        cut = tuple(slice((n - m) // 2, (n - m) // 2 + m) for n, m in zip(shape, a.shape))
        out[cut] += a
    return out


@pytest.mark.parametrize("weights", ["ones", "random"])
@pytest.mark.parametrize("n", [1, 3, 6])
def test_relu_in_a_residual_branch_weights_the_branch_by_half(n, weights):
    # y = x + conv3(relu(conv3(x))): each block is delta + K / 2, K = [1, 2, 3, 2, 1]; n
    # blocks are the binomial mixture sum_j C(n, j) 2^-j K^(*j) (Veit et al.); a ReLU after
    # the addition scales all of it by 1/2 per block
    K = np.convolve(np.ones(3), np.ones(3))
    terms, power = [], np.ones(1)
    for j in range(n + 1):
        terms.append(comb(n, j) * 0.5**j * power)
        power = np.convolve(power, K)
    mixture = _centred_sum(*terms)
    got = et.erf(f"1d: res(conv3, relu, conv3)*{n}", weights=weights).values
    np.testing.assert_allclose(got, mixture, rtol=1e-12)
    gated = et.erf(f"1d: (res(conv3, relu, conv3), relu)*{n}", weights=weights).values
    np.testing.assert_allclose(gated, mixture * 0.5**n, rtol=1e-12)
    # without the ReLU the branch weighs twice as much: another shape, not just another scale
    plain = et.erf(f"1d: res(conv3, conv3)*{n}", normalize="sum").values
    assert np.abs(plain - mixture / mixture.sum()).max() > 1e-3


def _up(kernel, a):
    """The kernel with a - 1 zeros between taps (THEORY.md section 2)."""
    out = np.zeros(tuple((n - 1) * a + 1 for n in kernel.shape))
    out[::a, ::a] = kernel
    return out


def _full(a, b):
    from scipy.signal import fftconvolve

    return fftconvolve(a, b)


def _resnet18_by_hand():
    ones3, delta = np.ones((3, 3)), np.ones((1, 1))
    g = np.ones((7, 7)) / 2  # conv7/s2, relu
    g = _full(g, _up(np.ones((3, 3)) / 9, 2))  # maxpool3/s2 at jump 2: uniform routing
    jump = 4
    for stage in range(4):
        for unit in range(2):
            stride = 2 if stage and unit == 0 else 1
            branch = _full(_up(ones3, jump), _up(ones3, jump * stride)) / 2  # conv, relu, conv
            g = _full(g, _centred_sum(branch, delta) / 2)  # + shortcut (identity or 1x1), relu
            jump *= stride
    return g


def test_resnet18_erf_against_a_hand_composition():
    expected = _resnet18_by_hand()
    assert expected.shape == (435, 435)
    expected /= expected.sum()
    for weights in ("ones", "random"):  # unit variances: E[g^2] has the same map
        result = et.erf("resnet18", weights=weights, normalize="sum")
        np.testing.assert_allclose(result.values, expected, rtol=0, atol=1e-12 * expected.max())
        offsets = np.arange(435) - 217
        std = np.sqrt((expected.sum(axis=1) * offsets**2).sum())
        assert result.std[0] == pytest.approx(std, rel=1e-9)


# ---------------------------------------------------------------- zoo-name typos
@pytest.mark.parametrize(
    "word, needle",
    [
        ("resnet19", "unknown architecture 'resnet19'; did you mean 'resnet18'"),
        ("ResNet-50", "did you mean 'resnet50'"),
        ("vgg", "did you mean 'vgg11', 'vgg16' or 'vgg19'?"),
        ("unet", "did you mean 'unet_encoder'?"),
        ("efficientnet_b0", "unknown architecture 'efficientnet_b0'; zoo names: alexnet,"),
    ],
)
def test_a_model_name_typo_suggests_zoo_names(word, needle):
    with pytest.raises(et.ERFError) as info:
        et.as_network(word)
    assert needle in str(info.value) and "resnet18" in str(info.value)


@pytest.mark.parametrize(
    "arch, needle",
    [
        ("conb3", "unknown layer 'conb'"),
        ("relux", "unknown layer 'relux'"),
        ("maxpooling2", "unknown layer 'maxpooling'"),
        ("conv", "conv needs a kernel size"),
        ("relu6", "unexpected text"),
        ("se", "'se' is not modelled"),
        ("resnet19, conv3", "unknown layer 'resnet'"),  # not a single word: a compact string
    ],
)
def test_layer_name_errors_stay_layer_errors(arch, needle):
    with pytest.raises(et.ERFError) as info:
        et.as_network(arch)
    assert needle in str(info.value) and "unknown architecture" not in str(info.value)


def test_cli_reports_the_suggestion(capsys):
    assert main(["erf", "resnet19"]) == 2
    err = capsys.readouterr().err
    assert "unknown architecture 'resnet19'; did you mean 'resnet18'" in err
    assert err.count("\n") == 1
