"""Models: registry, FCN and both VGG11 variants (shapes, no biases, init laws), seeding, weight-layer roles."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.layers import weight_layers
from core.models import FCN, VGG11, build_model, model_builder, model_names, vgg11_channels
from core.spec import ModelSpec
from core.vocab import ARCHS

PAPER_CONVS = [64, 128, 256, 256, 512, 512, 512, 512]


def _convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def _pools(model):
    return sum(isinstance(m, nn.MaxPool2d) for m in model.modules())


# --- registry ---------------------------------------------------------------------------------------

def test_registry_names_equal_spec_archs():
    assert model_names() == ARCHS


def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError, match=r"model.arch: unknown value 'resnet' \(allowed: fcn, vgg11\)"):
        model_builder("resnet")


def test_bad_shape_or_classes_rejected():
    with pytest.raises(ValueError, match="n_classes"):
        build_model(ModelSpec(width=4, depth=2), (3,), 1, seed=0)
    with pytest.raises(ValueError, match="in_shape"):
        build_model(ModelSpec(width=4, depth=2), (0, 3), 10, seed=0)


# --- fcn ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [2, 3, 4, 6])
def test_fcn_layer_shapes_and_no_bias(depth):
    model = build_model(ModelSpec("fcn", depth=depth, width=16), (1, 28, 28), 10, seed=0)
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(16, 784)] + [(16, 16)] * (depth - 2) + [(10, 16)]
    assert all(name.endswith("weight") for name, _ in model.named_parameters())
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Linear))
    # ReLU between weight layers, none after the last: logits may be negative.
    kinds = [type(m) for m in model.net]
    assert kinds[0] is nn.Flatten and kinds[-1] is nn.Linear
    assert kinds[1:] == [nn.Linear] + [nn.ReLU, nn.Linear] * (depth - 1)


def test_fcn_defaults_are_the_papers_fcn4_2048():
    model = build_model(ModelSpec("fcn"), (1, 28, 28), 10, seed=0)
    assert [tuple(layer.shape) for layer in weight_layers(model)] == [(2048, 784), (2048, 2048), (2048, 2048), (10, 2048)]


def test_fcn_forward_is_relu_of_matmuls():
    model = build_model(ModelSpec("fcn", depth=3, width=7), (5,), 4, seed=3)
    w1, w2, w3 = (p.detach() for p in model.parameters())
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    expected = torch.relu(torch.relu(x @ w1.T) @ w2.T) @ w3.T
    torch.testing.assert_close(model(x), expected)


def test_fcn_flattens_image_inputs():
    model = build_model(ModelSpec("fcn", depth=2, width=8), (3, 32, 32), 10, seed=0)
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 10)
    assert model.net[1].in_features == 3072


def test_fcn_uses_pytorch_default_init():
    # nn.Linear's default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), sd 1/sqrt(3 fan_in).
    model = build_model(ModelSpec("fcn", depth=2, width=512), (784,), 10, seed=0)
    w = model.net[1].weight.detach()
    bound = 1 / math.sqrt(784)
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.99 * bound
    assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.01)


# --- vgg11 --------------------------------------------------------------------------------------------

def test_vgg11_cifar_matches_the_paper():
    model = build_model(ModelSpec("vgg11"), (3, 32, 32), 10, seed=0)
    assert isinstance(model, VGG11)
    assert [c.out_channels for c in _convs(model)] == PAPER_CONVS and _convs(model)[0].in_channels == 3
    assert _pools(model) == 5 and tuple(model.classifier.weight.shape) == (10, 512)
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is None for c in _convs(model))
    assert model.classifier.bias is None
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    # 9*(3*64 + 64*128 + 128*256 + 256*256 + 256*512 + 3*512*512) + 512*10
    assert sum(p.numel() for p in model.parameters()) == 9_222_848


def test_vgg11_conv_init_is_normal_two_over_nine_out():
    model = build_model(ModelSpec("vgg11"), (3, 32, 32), 10, seed=1)
    for conv in _convs(model)[2:]:  # >= 295k weights each: the sd is pinned to well under 1%
        w = conv.weight.detach()
        assert float(w.mean()) == pytest.approx(0.0, abs=3e-4)
        assert float(w.std()) == pytest.approx(math.sqrt(2 / (9 * conv.out_channels)), rel=0.01)
    # The classifier keeps nn.Linear's default uniform law.
    assert float(model.classifier.weight.detach().abs().max()) <= 1 / math.sqrt(512)


def test_vgg11_mnist_variant_drops_the_first_pool():
    model = build_model(ModelSpec("vgg11", width=8), (1, 28, 28), 10, seed=0)
    assert [c.out_channels for c in _convs(model)] == [c // 8 for c in PAPER_CONVS]
    assert _convs(model)[0].in_channels == 1 and _pools(model) == 4
    kinds = [type(m) for m in model.features]
    assert kinds[:4] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU] and kinds[4] is nn.MaxPool2d
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_vgg11_cifar_forward_shape_small_width():
    model = build_model(ModelSpec("vgg11", width=4), (3, 32, 32), 7, seed=0)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert model.features(torch.randn(2, 3, 32, 32)).shape == (2, 32, 1, 1)


@pytest.mark.parametrize("width,expected", [(64, PAPER_CONVS), (1, [1, 2, 4, 4, 8, 8, 8, 8]),
                                            (96, [96, 192, 384, 384, 768, 768, 768, 768]),
                                            (10, [10, 20, 40, 40, 80, 80, 80, 80])])
def test_vgg11_width_scales_every_channel_count(width, expected):
    config = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
    assert [c for c in vgg11_channels(config, width) if c != "M"] == expected
    model = build_model(ModelSpec("vgg11", width=width), (3, 32, 32), 10, seed=0)
    assert [c.out_channels for c in _convs(model)] == expected
    assert model.classifier.in_features == expected[-1]


@pytest.mark.parametrize("shape", [(3, 28, 28), (1, 32, 32), (784,), (3, 64, 64)])
def test_vgg11_other_input_shapes_rejected(shape):
    with pytest.raises(ValueError, match=r"vgg11 takes inputs of shape \(3, 32, 32\), \(1, 28, 28\)"):
        build_model(ModelSpec("vgg11", width=4), shape, 10, seed=0)


# --- seeding ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,shape", [(ModelSpec("fcn", depth=3, width=32), (1, 28, 28)),
                                        (ModelSpec("vgg11", width=8), (3, 32, 32))])
def test_same_seed_same_weights_other_seed_other_weights(spec, shape):
    a, b = build_model(spec, shape, 10, seed=5), build_model(spec, shape, 10, seed=5)
    c = build_model(spec, shape, 10, seed=6)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
        assert not torch.equal(pa, pc), name


def test_building_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(ModelSpec("vgg11", width=4), (1, 28, 28), 10, seed=0)
    build_model(ModelSpec("fcn", depth=2, width=4), (5,), 3, seed=1)
    assert torch.equal(torch.rand(3), expected)


# --- weight-layer view ----------------------------------------------------------------------------------

def test_weight_layers_of_fcn_in_order_with_roles():
    model = build_model(ModelSpec("fcn", depth=4, width=16), (1, 28, 28), 10, seed=0)
    layers = weight_layers(model)
    assert [(l.name, l.role, l.shape) for l in layers] == [
        ("net.1.weight", "first", (16, 784)), ("net.3.weight", "hidden", (16, 16)),
        ("net.5.weight", "hidden", (16, 16)), ("net.7.weight", "last", (10, 16))]
    assert all(l.weight is model.get_parameter(l.name) for l in layers)


def test_weight_layers_of_vgg11_in_order_with_roles():
    for shape in ((3, 32, 32), (1, 28, 28)):
        model = build_model(ModelSpec("vgg11", width=8), shape, 10, seed=0)
        layers = weight_layers(model)
        assert [l.role for l in layers] == ["first"] + ["hidden"] * 7 + ["last"]
        assert [l.shape[0] for l in layers] == [c // 8 for c in PAPER_CONVS] + [10]
        assert layers[0].shape == (8, shape[0], 3, 3) and layers[-1].name == "classifier.weight"
        assert [l.name for l in layers] == [n for n, _ in model.named_parameters()]


def test_fcn_is_an_fcn_instance():
    assert isinstance(build_model(ModelSpec("fcn", depth=2, width=3), (4,), 2, seed=0), FCN)
