"""Checks of ``ganlab_optimizer``, ``ganlab_generator_average``, ``ganlab_datasets`` and ``ganlab_metrics``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from collections.abc import Mapping

import torch
from torch import nn

from ganlab.errors import DataError
from ganlab.testing.results import Results, describe, require


def _train_settings(selection, options):
    """The trainer settings a run of this selection resolves to (its plugins' suggestions included)."""
    from ganlab.config import RunRequest, resolve_train

    suggestions = [(p, dict(v)) for p, v in selection.call_each("ganlab_train_defaults", options=options) if v]
    return resolve_train(RunRequest(), suggestions)


def check_optimizer(selection, options, results: Results) -> None:
    def builds():
        train = _train_settings(selection, options)
        for player in ("G", "D"):
            torch.manual_seed(0)
            params = [nn.Parameter(torch.randn(3)), nn.Parameter(torch.randn(2, 2))]
            opt = selection.hook.ganlab_optimizer(player=player, params=list(params), train=train)
            require(isinstance(opt, torch.optim.Optimizer),
                    f"ganlab_optimizer returned {describe(opt)} for {player}; return a torch.optim.Optimizer")
            held = [p for group in opt.param_groups for p in group["params"]]
            require(len(held) == len(params) and {id(p) for p in held} == {id(p) for p in params},
                    f"the optimizer of {player} holds {len(held)} tensor(s), not exactly the {len(params)} "
                    "parameters it was given; a player's optimizer must update that player only")
            before = [p.detach().clone() for p in params]
            for p in params:
                p.grad = torch.ones_like(p)
            opt.step()
            require(all(not torch.equal(b, p.detach()) for b, p in zip(before, params)),
                    f"a step of {player}'s optimizer with non-zero gradients left a parameter unchanged")
        return f"{type(opt).__name__} (lr {train.lr})"

    results.run("optimizer.params", builds)


class _Net(nn.Module):
    """A small G with a float buffer and an integer one, as batch norm has."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 3)
        self.register_buffer("scale", torch.ones(3))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, z, labels=None):
        return self.linear(z) * self.scale


def _floats(module: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]


def check_average(selection, options, results: Results) -> None:
    """An average of G's weights: its interface, and that what it holds is an average of G's states."""
    from ganlab.runsetup import average_interface_problem

    def averages():
        torch.manual_seed(0)
        G = _Net()
        average = selection.hook.ganlab_generator_average(generator=G, options=options)
        require(average is not None, "ganlab_generator_average returned None for a generator")
        problem = average_interface_problem(average)
        require(problem is None, f"ganlab_generator_average {problem}")
        states = [_floats(G)]
        for _ in range(3):  # G moves, the average follows
            with torch.no_grad():
                for t in (*G.parameters(), G.scale):
                    t.add_(torch.randn_like(t))
                G.count += 1
            states.append(_floats(G))
            average.update_parameters(G)
        # Any average (SWA's mean, an EMA) is a convex combination of the states G went through,
        # so each entry lies within their range; float32 arithmetic leaves a few ulps outside it.
        for i, mine in enumerate(_floats(average.module)):
            seen = torch.stack([s[i] for s in states])
            low, high = seen.min(0).values, seen.max(0).values
            slack = 1e-5 * (1 + seen.abs().max())
            require(bool(((mine >= low - slack) & (mine <= high + slack)).all()),
                    "the averaged weights leave the range of the weights G had: not an average of G's states")
        require(all(not torch.equal(a, b) for a, b in zip(_floats(average.module), states[0])),
                "after three updates some averaged weights still equal G's initial ones: update_parameters "
                "does not move the average towards G")
        with torch.no_grad():
            G.linear.weight.add_(100.0)
        require(not torch.equal(average.module.linear.weight, G.linear.weight),
                "the average shares G's tensors instead of holding its own copy")
        z = torch.randn(4, 2)
        out = average.module(z)
        require(isinstance(out, torch.Tensor) and out.shape == (4, 3),
                f".module returned {describe(out)} for a batch of 4; it must be called like G")
        return f"{type(average).__name__}"

    results.run("average.follows", averages)


def check_datasets(selection, options, name: str, results: Results) -> None:
    from ganlab.datasets import DataRequest, LoadedData

    offered: dict = {}

    def declared():
        for plugin, answer in selection.call_each("ganlab_datasets", options=options):
            if plugin != name or answer is None:
                continue
            require(isinstance(answer, Mapping),
                    f"ganlab_datasets returned {describe(answer)}; return a mapping of names to factories")
            for key, factory in answer.items():
                require(isinstance(key, str) and key and callable(factory),
                        f"dataset {key!r} is offered as {describe(factory)}; offer a callable factory by name")
                offered[key] = factory
        return ", ".join(offered) or "offers no dataset"

    def loads():
        # Offline and in an empty folder: nothing is downloaded or read from the user's cache;
        # a dataset that needs either must say so with a DataError.
        notes = []
        saved = os.environ.get("GANLAB_OFFLINE")
        os.environ["GANLAB_OFFLINE"] = "1"
        try:
            with tempfile.TemporaryDirectory() as root:
                for key, factory in offered.items():
                    request = DataRequest(name=key, root=Path(root), image_size=None, seed=0, options=options)
                    try:
                        loaded = factory(request)
                    except DataError:
                        notes.append(f"{key}: not available offline")
                        continue
                    _check_loaded(key, loaded, LoadedData)
                    notes.append(f"{key}: {len(loaded.data)} x {tuple(loaded.spec.shape)}")
        finally:
            if saved is None:
                os.environ.pop("GANLAB_OFFLINE", None)
            else:
                os.environ["GANLAB_OFFLINE"] = saved
        return "; ".join(notes)

    if results.run("datasets.declared", declared):
        results.run("datasets.load", loads)


def _check_loaded(key: str, loaded, loaded_type) -> None:
    require(isinstance(loaded, loaded_type),
            f"dataset {key!r} returned {describe(loaded)}; return ganlab.datasets.LoadedData")
    data, labels, spec = loaded.data, loaded.labels, loaded.spec
    require(len(data) > 0, f"dataset {key!r} is empty")
    require(tuple(data.shape[1:]) == tuple(spec.shape),
            f"dataset {key!r} holds samples of shape {tuple(data.shape[1:])} but its spec says {spec.shape}")
    if spec.is_image:
        require(len(spec.shape) == 3 and data.dtype == torch.uint8,
                f"dataset {key!r}: images are uint8 (N, C, H, W), got {data.dtype} {tuple(data.shape)}")
    else:
        require(data.is_floating_point() and bool(torch.isfinite(data).all()),
                f"dataset {key!r}: points must be finite floats, got {data.dtype}")
    if labels is not None:
        require(labels.dtype == torch.int64 and labels.shape == (len(data),),
                f"dataset {key!r}: labels must be int64 of shape ({len(data)},), got {labels.dtype} "
                f"{tuple(labels.shape)}")
        require(spec.num_classes is not None and 0 <= int(labels.min()) and int(labels.max()) < spec.num_classes,
                f"dataset {key!r}: labels must lie in [0, num_classes={spec.num_classes})")


def check_metrics(selection, options, name: str, results: Results) -> None:
    """Each metric the plugin offers, on small random batches of a few kinds of data: named finite numbers."""
    from ganlab.datasets import DataSpec
    from ganlab.metrics import MetricBatch, MetricError

    specs = [DataSpec("mnist", (1, 28, 28), 10), DataSpec("ring", (2,), None, "points"),
             DataSpec("cifar10", (3, 32, 32), 10), DataSpec("grid", (2,), None, "points")]

    def one(spec: DataSpec) -> str:
        answers = [a for p, a in selection.call_each("ganlab_metrics", data=spec, options=options) if p == name]
        answer = answers[0] if answers else None
        if answer is None:
            return "none for this data"
        require(isinstance(answer, Mapping), f"ganlab_metrics returned {describe(answer)}; return a mapping "
                                             "of names to metrics, or None")
        gen = torch.Generator().manual_seed(0)
        n = 64
        real = torch.rand((n, *spec.shape), generator=gen) * 2 - 1
        fake = torch.rand((n, *spec.shape), generator=gen) * 2 - 1
        labels = torch.arange(n) % spec.num_classes if spec.num_classes else None
        shown = []
        for metric_name, metric in answer.items():
            require(isinstance(metric_name, str) and callable(metric),
                    f"ganlab_metrics must map names to callables, got {metric_name!r}: {describe(metric)}")
            values = []
            for _ in range(2):
                batch = MetricBatch(real, fake, spec, labels, labels)
                try:
                    out = metric(batch)
                except MetricError as exc:  # allowed: says why it cannot be computed here
                    values.append({"unavailable": str(exc)})
                    continue
                require(isinstance(out, Mapping) and all(isinstance(k, str) for k in out),
                        f"metric {metric_name!r} returned {describe(out)}; return {{name: number}}")
                values.append({k: float(v) for k, v in out.items()})
            require(repr(values[0]) == repr(values[1]), f"metric {metric_name!r} gave {values[0]} and then {values[1]} "
                                            f"on the same samples; a metric must be deterministic")
            shown.append(metric_name)
        return ", ".join(shown)

    for spec in specs:
        results.run(f"metrics.{spec.name}", lambda spec=spec: one(spec))
