"""The conformance kit's checks for architectures, conditioners, optimizers and datasets:
the built-ins pass them, and a plugin with the bug each check is about fails it."""

from __future__ import annotations

import types
from math import prod

import pytest
import torch
from torch import nn

from ganlab import hookimpl
from ganlab.conditioning import Conditioner
from ganlab.datasets import DataSpec, LoadedData
from ganlab.plugins.mlp import MLPDiscriminator, MLPGenerator, MLPOptions
from ganlab.testing import check_plugin

TINY = MLPOptions(g_hidden=(16,), d_hidden=(16,))


def plugin(**hooks):
    module = types.ModuleType("kind_under_test")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


def failed(results) -> dict[str, str]:
    return {r.check: r.message for r in results if r.failed}


class IgnoresLabels(MLPDiscriminator):
    def forward(self, x, labels=None):
        # Built with the conditioner's modules, but fed one fixed class: the label never matters.
        return super().forward(x, None if labels is None else torch.zeros_like(labels))


class ShufflesLabels(MLPDiscriminator):
    def forward(self, x, labels=None):
        return super().forward(x, None if labels is None else labels.roll(1))  # sample i scored with y[i-1]


class SigmoidD(MLPDiscriminator):
    def forward(self, x, labels=None):
        return torch.sigmoid(super().forward(x, labels))


def _d_plugin(cls):
    return plugin(ganlab_discriminator=lambda data, conditioner: cls(data.shape, TINY, conditioner))


@pytest.mark.parametrize("cls", [IgnoresLabels, ShufflesLabels])
def test_a_d_that_ignores_or_shuffles_labels_fails(cls):
    bad = failed(check_plugin(_d_plugin(cls), name="bad-d"))
    assert {"conditional.concat", "conditional.projection"} <= set(bad)
    want = "do not change when their labels change" if cls is IgnoresLabels else "shuffled"
    assert want in bad["conditional.concat"]


def test_the_same_d_using_its_labels_passes():
    results = check_plugin(_d_plugin(MLPDiscriminator), name="good-d")
    assert not failed(results)
    assert {"conditional.concat", "conditional.projection", "discriminator.image"} <= {
        r.check for r in results if r.passed}


def test_a_d_ending_in_sigmoid_fails():
    bad = failed(check_plugin(_d_plugin(SigmoidD), name="sigmoid-d"))
    assert "probabilities" in bad["discriminator.image"] and "probabilities" in bad["discriminator.points"]


def test_a_generator_with_tanh_on_points_fails_and_one_without_tanh_on_images_fails():
    always_tanh = plugin(ganlab_generator=lambda data, latent_dim, conditioner: MLPGenerator(
        latent_dim, data.shape, TINY, conditioner, tanh=True))
    assert "squashed" in failed(check_plugin(always_tanh, name="tanh-g"))["generator.points"]
    never_tanh = plugin(ganlab_generator=lambda data, latent_dim, conditioner: MLPGenerator(
        latent_dim, data.shape, TINY, conditioner, tanh=False))
    assert "ends in tanh" in failed(check_plugin(never_tanh, name="linear-g"))["generator.image"]


def test_a_generator_with_the_wrong_shape_fails():
    flat = plugin(ganlab_generator=lambda data, latent_dim: nn.Sequential(nn.Linear(latent_dim, prod(data.shape)),
                                                                       nn.Tanh()))
    bad = failed(check_plugin(flat, name="flat-g"))
    assert "(4, 1, 28, 28)" in bad["generator.image"]


def test_a_conditioner_for_unlabelled_data_fails():
    def conditioner(data):
        return Conditioner(data.num_classes or 10)  # invents classes the data does not have

    bad = failed(check_plugin(plugin(ganlab_conditioner=conditioner), name="inventive"))
    assert set(bad) == {"conditioner.unlabelled"}


def test_an_optimizer_over_other_parameters_fails():
    extra = nn.Parameter(torch.zeros(1))

    def optimizer(params, train):
        return torch.optim.SGD([*params, extra], lr=train.lr)

    bad = failed(check_plugin(plugin(ganlab_optimizer=optimizer), name="greedy-opt"))
    assert "not exactly the 2" in bad["optimizer.params"]


def test_a_dataset_whose_spec_disagrees_with_its_data_fails():
    def factory(request):
        return LoadedData(torch.zeros(5, 3), None, DataSpec("odd", (2,), None, "points"), source="test")

    bad = failed(check_plugin(plugin(ganlab_datasets=lambda: {"odd": factory}), name="odd-data"))
    assert "spec says (2,)" in bad["datasets.load"]
