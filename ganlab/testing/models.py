"""Checks of the model hooks: ``ganlab_generator``, ``ganlab_discriminator`` and ``ganlab_conditioner``.

The networks are built straight from the hooks on made-up data descriptions
(no data set is loaded), so an architecture is checked on images and on 2-D
points, with and without a class condition.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ganlab.conditioning import Conditioner
from ganlab.datasets import DataSpec
from ganlab.errors import PluginError
from ganlab.testing.results import Results, describe, require

LATENT = 8
CLASSES = 10
IMAGES = DataSpec("conformance-images", (1, 28, 28), CLASSES, "image")
POINTS = DataSpec("conformance-points", (2,), CLASSES, "points")
# Scaling every parameter drives pre-activations far out: a squashing output
# layer (tanh, sigmoid) then shows its bound, an unbounded one leaves it.
SCALE = 10.0


def _scaled(module: nn.Module) -> nn.Module:
    big = copy.deepcopy(module)
    with torch.no_grad():
        for p in big.parameters():
            if p.is_floating_point():
                p.mul_(SCALE)
    return big


def _samples(spec: DataSpec, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if spec.is_image:
        return torch.rand((n, *spec.shape), generator=gen) * 2 - 1
    return torch.randn((n, *spec.shape), generator=gen) * 2  # the grid spans ±4


def _call(module: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> Any:
    return module(x) if labels is None else module(x, labels)


def _require_tensor(value: Any, what: str) -> torch.Tensor:
    require(isinstance(value, torch.Tensor) and value.is_floating_point(),
            f"{what} returned {describe(value)}; return a floating-point tensor")
    require(bool(torch.isfinite(value).all()), f"{what} returned non-finite values")
    return value


def _scores(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None, what: str) -> torch.Tensor:
    scores = _require_tensor(_call(D, x, labels), what)
    n = len(x)
    require(tuple(scores.shape) in ((n,), (n, 1)),
            f"{what} returned scores of shape {tuple(scores.shape)} for {n} samples; return one raw score "
            f"per sample, shape ({n},) or ({n}, 1)")
    return scores.reshape(n)


class Builder:
    """Builds G and D through the selection's hooks, as ``build_setup`` does."""

    def __init__(self, selection, options):
        self.hook, self.options = selection.hook, options

    def generator(self, spec: DataSpec, conditioner: Conditioner | None) -> nn.Module:
        G = self.hook.ganlab_generator(data=spec, latent_dim=LATENT, conditioner=conditioner, options=self.options)
        require(isinstance(G, nn.Module), f"ganlab_generator returned {describe(G)}, not an nn.Module")
        return G

    def discriminator(self, spec: DataSpec, conditioner: Conditioner | None) -> nn.Module:
        D = self.hook.ganlab_discriminator(data=spec, conditioner=conditioner, options=self.options)
        require(isinstance(D, nn.Module), f"ganlab_discriminator returned {describe(D)}, not an nn.Module")
        return D


def _check_generator(G: nn.Module, spec: DataSpec) -> None:
    torch.manual_seed(0)
    want = lambda n: (n, *spec.shape)  # noqa: E731
    with torch.no_grad():
        out = _require_tensor(G.train()(torch.randn(4, LATENT)), "G")
        require(tuple(out.shape) == want(4), f"G maps z of shape (4, {LATENT}) to {tuple(out.shape)}; "
                                             f"the samples of {spec.kind} data have shape {want(4)}")
        one = _require_tensor(G.eval()(torch.randn(1, LATENT)), "G in eval mode")
        require(tuple(one.shape) == want(1), f"G in eval mode at batch size 1 gives shape {tuple(one.shape)}")
        big = _scaled(G).eval()(torch.randn(16, LATENT))
    if spec.is_image:
        require(bool(out.abs().max() <= 1) and bool(big.abs().max() <= 1),
                f"G's images reach {float(big.abs().max()):.3g} (with its weights scaled by {SCALE}); images "
                "are in [-1, 1], so an image generator ends in tanh")
    else:
        require(bool(big.abs().max() > 1),
                f"G's 2-D points stay within [-1, 1] even with its weights scaled by {SCALE}: its output is "
                "squashed (a tanh?), but point data is not bounded (the grid's modes sit at ±4); "
                "end a points generator in a linear layer")


def _check_discriminator(D: nn.Module, spec: DataSpec) -> None:
    with torch.no_grad():
        _scores(D.train(), _samples(spec, 4, 0), None, "D")
        _scores(D.eval(), _samples(spec, 1, 1), None, "D in eval mode at batch size 1")
        big = _scores(_scaled(D).eval(), _samples(spec, 16, 2), None, "D")
    require(bool(big.min() < 0) or bool(big.max() > 1),
            f"D's scores stay in [0, 1] even with its weights scaled by {SCALE}: they look like "
            "probabilities; return raw scores (no sigmoid; a loss squashes them itself if it needs to)")


def check_architecture(selection, options, hooks: set[str], results: Results) -> None:
    build = Builder(selection, options)
    roles = [(r, fn) for r, fn in (("generator", _check_generator), ("discriminator", _check_discriminator))
             if f"ganlab_{r}" in hooks]
    for role, check in roles:
        built = []
        for spec in (IMAGES, POINTS):
            def one(role=role, check=check, spec=spec):
                try:
                    module = getattr(build, role)(spec, None)
                except PluginError as exc:  # the contract's way to refuse data: reported, not a failure
                    return f"refuses {spec.kind} data: {exc}"
                check(module, spec)
                built.append(spec.kind)
            results.run(f"{role}.{spec.kind}", one)
        results.run(f"{role}.supports_data", lambda role=role, built=built: require(
            bool(built), f"the {role} refuses both images and 2-D points (or fails on them)"))
    if roles:
        for mode in ("concat", "projection"):
            results.run(f"conditional.{mode}", lambda mode=mode: _check_conditional(
                build, Conditioner(CLASSES, g_embed_dim=6, d_embed_dim=5, d_mode=mode),
                {r for r, _ in roles}))


def _check_conditional(build: Builder, cond: Conditioner, roles: set[str]) -> str | None:
    """G and D must use each sample's own label: ignoring or mixing them up fails."""
    for spec in (IMAGES, POINTS):
        try:
            G = build.generator(spec, cond) if "generator" in roles else None
            D = build.discriminator(spec, cond) if "discriminator" in roles else None
        except PluginError as exc:
            refused = str(exc)
            continue
        break
    else:
        return f"refuses conditioning: {refused}"
    torch.manual_seed(0)
    a = torch.arange(CLASSES)
    b = (a + 1) % CLASSES  # every sample's label changes
    with torch.no_grad():
        if G is not None:
            _labels_matter(G.eval(), torch.randn(CLASSES, LATENT), a, b, "G", "samples")
        if D is not None:
            _labels_matter(D.eval(), _samples(spec, CLASSES, 3), a, b, "D", "scores")
    return f"{cond.d_mode} on {spec.kind} data"


def _labels_matter(module: nn.Module, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, who: str,
                   what: str) -> None:
    out = lambda inp, y: _require_tensor(_call(module, inp, y), who).reshape(len(inp), -1)  # noqa: E731
    with_a, with_b = out(x, a), out(x, b)
    same = [i for i in range(len(x)) if torch.allclose(with_a[i], with_b[i], rtol=1e-5, atol=1e-6)]
    require(not same, f"{who}'s {what} for samples {same[:5]} do not change when their labels change; "
                      f"a conditional {who} must use the labels it is given")
    # In eval mode each output depends on its own input and label only, so alone it is the same:
    # a module that permutes or mixes labels across the batch fails here.
    wrong = [i for i in range(len(x)) if not torch.allclose(out(x[i:i + 1], a[i:i + 1])[0], with_a[i],
                                                            rtol=1e-4, atol=1e-5)]
    require(not wrong, f"{who}'s {what} for samples {wrong[:5]} differ between the batch and the sample "
                       f"alone with its label (eval mode); {who} must pair sample i with labels[i], "
                       "not a shuffled or batch-wide label")


def check_conditioner(selection, options, results: Results) -> None:
    hook = selection.hook.ganlab_conditioner
    made: list[Conditioner] = []

    def labelled():
        cond = hook(data=IMAGES, options=options)
        require(isinstance(cond, Conditioner),
                f"ganlab_conditioner returned {describe(cond)} for data with {CLASSES} classes; "
                "return a ganlab.conditioning.Conditioner")
        require(cond.num_classes == CLASSES,
                f"the conditioner has {cond.num_classes} classes for data with {CLASSES}")
        made.append(cond)

    def unlabelled():
        try:
            cond = hook(data=DataSpec("conformance-unlabelled", (1, 28, 28), None), options=options)
        except PluginError as exc:
            require(bool(str(exc).strip()), "ganlab_conditioner raised PluginError without a message")
            return f"refuses: {exc}"
        require(cond is None, f"ganlab_conditioner returned {describe(cond)} for data without labels; "
                              "return None, or raise ganlab.errors.PluginError saying what to use instead")
        return "unconditional"

    results.run("conditioner.labelled", labelled)
    results.run("conditioner.unlabelled", unlabelled)
    if not made:
        results.skip("conditioner.models", "no conditioner to build the models with")
        return
    results.run("conditioner.models", lambda: _check_conditional(
        Builder(selection, options), made[0], {"generator", "discriminator"}))


def check_models(selection, options, hooks: set[str], results: Results) -> None:
    if hooks & {"ganlab_generator", "ganlab_discriminator"}:
        check_architecture(selection, options, hooks, results)
    else:
        results.skip("generator", "the plugin implements neither ganlab_generator nor ganlab_discriminator")
    if "ganlab_conditioner" in hooks:
        check_conditioner(selection, options, results)
    else:
        results.skip("conditioner", "the plugin does not implement ganlab_conditioner")


