"""The model zoo against published receptive fields, with citations."""

from __future__ import annotations

import json

import pytest

import erftheory as et
from erftheory.cli import main
from erftheory.zoo import ZOO, zoo_names

# Araujo, Norris, Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill
# 2019; google-research/receptive_field, README.md table (final end points; effective padding
# as at an input of 224, as receptive_field/RECEPTIVE_FIELD_TABLE.md lists it).
GOOGLE_RESEARCH_TABLE = {
    "alexnet_v2": (195, 32, 64),
    "vgg_16": (212, 32, 90),
    "inception_v2": (699, 32, 318),
    "inception_v3": (1311, 32, 618),
    "inception_v4": (2071, 32, 998),
    "inception_resnet_v2": (3039, 32, 1482),
    "mobilenet_v1": (315, 32, 126),
    "resnet_v1_50": (483, 32, 239),
    "resnet_v1_101": (1027, 32, 511),
    "resnet_v1_152": (1507, 32, 751),
    "resnet_v1_200": (1763, 32, 879),
}

# RECEPTIVE_FIELD_TABLE.md, intermediate end points (resolution 224)
END_POINTS = {
    "inception_v3": {7: (63, 8, 18), 10: (159, 16, 58), 14: (927, 16, 442), 15: (1055, 32, 490)},
    "inception_v4": {4: (47, 4, 14), 5: (55, 8, 14), 10: (215, 16, 86), 18: (1687, 32, 806)},
    "inception_v2": {4: (27, 8, 6), 5: (59, 8, 22), 7: (123, 16, 46), 12: (443, 32, 190)},
    "inception_resnet_v2": {7: (63, 8, 18), 9: (415, 16, 186), 10: (2335, 16, 1146)},
    "vgg_16": {1: (6, 2, 2), 3: (16, 4, 6), 7: (100, 16, 42)},
}


@pytest.mark.parametrize("name", sorted(GOOGLE_RESEARCH_TABLE))
def test_tf_slim_entries_match_the_published_table(name):
    rf = et.receptive_field(name)
    size, stride, padding = GOOGLE_RESEARCH_TABLE[name]
    assert rf.size == (size, size)
    assert rf.effective_stride == (stride, stride)
    assert rf.effective_padding == (padding, padding)
    for row, (size, stride, padding) in END_POINTS.get(name, {}).items():
        r = rf.rows[row]
        assert (r.size[0], r.jump[0], -r.start[0]) == (size, stride, padding), (name, row)


def test_torchvision_resnet50_differs_where_its_stride_sits():
    # nashory/DeLF-pytorch#15: ResNet-50 layer4 has a field of 483 in TF-Slim v1 and 427 in
    # torchvision (v1.5), with effective padding 239 vs 213
    rf = et.receptive_field("resnet50")
    assert rf.size == (427, 427) and rf.effective_padding == (213, 213)
    assert et.receptive_field("resnet_v1_50").size == (483, 483)


def _plain(layers):
    """1 + sum (k - 1) J and sum p J over a plain chain, by hand: (kernel, stride, pad)."""
    size, jump, pad = 1, 1, 0
    for k, s, p in layers:
        size += (k - 1) * jump
        pad += p * jump
        jump *= s
    return size, jump, pad


def test_plain_torchvision_nets_against_hand_computation():
    vgg16 = (
        [(3, 1, 1)] * 2
        + [(2, 2, 0)]
        + [(3, 1, 1)] * 2
        + [(2, 2, 0)]
        + (([(3, 1, 1)] * 3 + [(2, 2, 0)]) * 3)
    )
    vgg19 = (
        [(3, 1, 1)] * 2
        + [(2, 2, 0)]
        + [(3, 1, 1)] * 2
        + [(2, 2, 0)]
        + (([(3, 1, 1)] * 4 + [(2, 2, 0)]) * 3)
    )
    alexnet = [
        (11, 4, 2),
        (3, 2, 0),
        (5, 1, 2),
        (3, 2, 0),
        (3, 1, 1),
        (3, 1, 1),
        (3, 1, 1),
        (3, 2, 0),
    ]
    unet = ([(3, 1, 0)] * 2 + [(2, 2, 0)]) * 4 + [(3, 1, 0)] * 2
    for name, layers in (
        ("vgg16", vgg16),
        ("vgg19", vgg19),
        ("alexnet", alexnet),
        ("unet_encoder", unet),
    ):
        size, jump, pad = _plain(layers)
        rf = et.receptive_field(name)
        assert (rf.size[0], rf.effective_stride[0], rf.effective_padding[0]) == (size, jump, pad)
    # VGG-11 (config A) is TF-Slim's vgg_a: 150, 32, 59 in RECEPTIVE_FIELD_TABLE.md
    assert et.receptive_field("vgg11").size == (150, 150)


def test_residual_and_dense_nets_against_hand_computation():
    # ResNet-18: stem 7/s2 + pool 3/s2 gives 11 at jump 4; every basic block adds two 3x3
    # (2 (3-1) J), the first of stages 2-4 at the stride of its first conv
    size, jump = 11, 4
    for stage in range(4):
        for unit in range(2):
            if stage and unit == 0:
                size += 2 * jump
                jump *= 2
                size += 2 * jump
            else:
                size += 4 * jump
    assert et.receptive_field("resnet18").size == (size, size) == (435, 435)
    # DenseNet-121: every dense layer adds one 3x3; transitions a 2x2/s2 pool
    size, jump = 11, 4
    for i, n in enumerate((6, 12, 24, 16)):
        size += n * 2 * jump
        if i < 3:
            size += jump
            jump *= 2
    assert et.receptive_field("densenet121").size == (size, size)
    # ConvNeXt-T: 4/s4 stem, 7x7 blocks (3, 3, 9, 3), 2/s2 downsampling
    size, jump = 4, 4
    for i, n in enumerate((3, 3, 9, 3)):
        if i:
            size += jump
            jump *= 2
        size += n * 6 * jump
    assert et.receptive_field("convnext_tiny").size == (size, size)


def test_every_entry_cites_and_runs():
    assert len(ZOO) >= 20
    for name in zoo_names():
        entry = ZOO[name]
        assert entry.reference and entry.notes
        assert et.as_network(name.upper()) == entry.network()  # names are case-insensitive
    assert et.erf("resnet50", normalize="sum").values.shape == (427, 427)


def test_cli_zoo_and_rf_by_name(capsys):
    assert main(["zoo", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["resnet_v1_50"]["receptive_field"] == [483, 483]
    assert listed["resnet_v1_50"]["effective_padding"] == [239, 239]
    assert main(["rf", "resnet50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["receptive_field"] == [427, 427] and data["effective_padding"] == [213, 213]
    assert main(["rf", "resnet5"]) == 2
