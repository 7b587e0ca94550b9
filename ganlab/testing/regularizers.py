"""Checks of ``ganlab_regularizer``: what it returns, and each penalty on one batch of a tiny run."""

from __future__ import annotations

from typing import Any

import torch

from ganlab.errors import PluginError
from ganlab.testing.results import CheckFailed, Results, describe, num, require, require_scalar
from ganlab.testing.training import TrainContext


def own_regularizers(setup, name: str) -> list[Any]:
    """What the plugin under test's ganlab_regularizer returns for this run (other plugins' left out)."""
    from ganlab.runsetup import _flatten

    answers = setup.selection.call_each("ganlab_regularizer", data=setup.data,
                        conditioner=setup.conditioner, options=setup.options)
    return _flatten([result for plugin, result in answers if plugin == name])


def check_regularizers(context: TrainContext, results: Results) -> None:
    from ganlab.datasets import Batcher
    from ganlab.regularizers import PenaltyBatch, Regularizer
    from ganlab.stepstats import scores_of as _scores  # the trainer's own scoring, shape checks included

    setup = None
    own: list[Any] = []

    def declared():
        nonlocal setup, own
        try:
            setup = context.setup()
        except PluginError as exc:
            if "regularizer" not in str(exc):
                raise
            # build_setup rejects a nameless or player-less regularizer; say why it matters.
            raise CheckFailed(f"{exc} (the name labels its penalty in metrics.jsonl; the player says "
                              "whose loss and module it acts on)") from None
        own = own_regularizers(setup, context.name)
        for reg in own:
            require(
                isinstance(reg, Regularizer),
                f"ganlab_regularizer returned {describe(reg)}; return ganlab.regularizers.Regularizer "
                "instances (subclass it and override transform, penalty or after_step)",
            )
        names = [r.name for r in own]
        dupes = sorted({n for n in names if names.count(n) > 1})
        require(not dupes, f"regularizer name(s) {', '.join(dupes)} repeat; penalties are logged by name, "
                           "so give each a distinct name")
        return f"{len(own)} regularizer(s): {', '.join(names)}" if own else "returned no regularizer"

    if not results.run("regularizer.declared", declared):
        results.skip("regularizer.penalty", "the regularizers could not be built")
        return

    def penalties():
        # The plugin's regularizers in the built run (after transforms), found by name.
        live = {r.name: r for r in setup.regularizers if r.name in {o.name for o in own}}
        if not live:
            return "no regularizer to check"
        G, D, t, device = setup.generator, setup.discriminator, setup.train, setup.device
        conditional = setup.conditioner is not None
        batcher = Batcher(setup.loaded, t.batch_size, device, seed=t.seed, labels=conditional)
        real, real_labels = batcher.next()
        # z and fake labels on the run's device, where G and the batch live (as the trainer draws them).
        noise = torch.Generator(device=device).manual_seed(t.seed)
        z = torch.randn(t.batch_size, t.latent_dim, generator=noise, device=device)
        fake_labels = setup.conditioner.sample_labels(t.batch_size, noise, device) if conditional else None
        checked = []
        for reg in live.values():
            module = D if reg.player == "D" else G
            # As in the trainer: fakes are detached in D's update and carry G's graph in G's.
            with torch.set_grad_enabled(reg.player == "G"):
                fake = G(z) if fake_labels is None else G(z, fake_labels)
            batch = PenaltyBatch(real=real, fake=fake, real_labels=real_labels, fake_labels=fake_labels,
                                 real_scores=_scores(D, real, real_labels),
                                 fake_scores=_scores(D, fake, fake_labels), discriminator=D, generator=G)
            value = reg.penalty(batch)
            if value is None:
                continue
            value = require_scalar(value, f"penalty {reg.name!r}")
            require(
                value.requires_grad,
                f"penalty {reg.name!r} carries no gradient, so it cannot change {reg.player}'s parameters; "
                "compute it without .detach(), .item() or torch.no_grad() (a gradient penalty needs "
                "create_graph=True)",
            )
            if num(value) == 0.0:
                # Inactive here (e.g. a one-sided penalty below its threshold): no gradient to expect.
                checked.append(f"{reg.name} (0 in this run, gradient not checked)")
                continue
            params = [p for p in module.parameters() if p.requires_grad]
            grads = torch.autograd.grad(value, params, allow_unused=True)
            require(
                any(g is not None and bool(g.abs().sum() > 0) for g in grads),
                f"penalty {reg.name!r} gives no gradient to {reg.player}'s parameters; a {reg.player} "
                f"penalty must depend on the {'discriminator' if reg.player == 'D' else 'generator'}",
            )
            checked.append(reg.name)
        return f"checked {', '.join(checked)}" if checked else "no penalty in this run (every penalty() gave None)"

    results.run("regularizer.penalty", penalties)
