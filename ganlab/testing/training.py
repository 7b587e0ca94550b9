"""The tiny end-to-end run: a D update moves only D, a G update only G, and a seed fixes both."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from ganlab.defaults import TINY_DATA, TINY_OPTIONS
from ganlab.errors import GanlabError
from ganlab.testing.results import CheckFailed, Results, num, require


@dataclass
class TrainContext:
    """The tiny run the end-to-end checks use."""

    pm: Any
    name: str
    with_plugins: list[str]
    data: str | None
    options: Mapping[str, Mapping[str, Any]]
    train: Mapping[str, Any]
    hooks: set[str]

    @property
    def plugins(self) -> list[str]:
        return [self.name, *[p for p in self.with_plugins if p != self.name]]

    def dataset(self) -> str:
        if self.data:
            return self.data
        model_hooks = {"ganlab_generator", "ganlab_discriminator", "ganlab_conditioner"}
        needs_images = bool(model_hooks & self.hooks) or bool(self.with_plugins)
        return TINY_DATA["image" if needs_images else "points"]

    def setup(self):
        from ganlab.config import RunRequest
        from ganlab.runsetup import build_setup

        active = self.pm.select(self.plugins).active
        opts = {k: dict(v) for k, v in TINY_OPTIONS.items() if k in active}
        for plugin, values in self.options.items():
            opts.setdefault(plugin, {}).update(values)
        train = {"batch_size": 8, "latent_dim": 8, "steps": 1, "seed": 0, "device": "cpu",
                 "data": self.dataset(), **self.train}
        return build_setup(self.pm, RunRequest(self.plugins, train, opts))

    def trainer(self):
        from ganlab.trainer import Trainer

        # The trainer writes nothing until fit(); the folder is never created.
        run_dir = tempfile.gettempdir() + "/ganlab-conformance-unused"
        return Trainer(self.setup(), run_dir, quiet=True, log=lambda *a: None)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Parameters only: buffers (batch-norm statistics, spectral-norm vectors)
    # legitimately change on any forward pass.
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def _changed(before: Mapping[str, torch.Tensor], module: torch.nn.Module) -> list[str]:
    now = dict(module.named_parameters())
    return [n for n, p in before.items() if n not in now or not torch.equal(p, now[n].detach())]


def _one_update(player: str, update, own: torch.nn.Module, other: torch.nn.Module, through: str):
    """One update of ``player``: its loss is finite, its own parameters move, the other player's do not."""
    names = {"D": "discriminator", "G": "generator"}
    other_player = "G" if player == "D" else "D"
    before_own, before_other = _snapshot(own), _snapshot(other)
    result = update()
    require(bool(torch.isfinite(result.loss.detach())), f"the {player} update's loss is {num(result.loss)}")
    moved = _changed(before_other, other)
    require(not moved, f"a {player} update changed the {names[other_player]}'s parameters {moved[:3]}; "
                       f"a {player}-side hook (penalty or after_step) must not modify {other_player}")
    require(_changed(before_own, own), f"a {player} update left every {names[player]} parameter unchanged: no "
                                       f"gradient reaches {player}'s parameters through {through}, or a hook "
                                       "undoes the step")
    return result


def check_training(context: TrainContext, results: Results) -> None:
    trainer = None

    def build():
        nonlocal trainer
        try:
            trainer = context.trainer()
        except GanlabError as exc:
            raise CheckFailed(
                f"a tiny run of {' + '.join(context.plugins)} on {context.dataset()} does not start: {exc} "
                "(pass with_plugins=, data=, options= or train= to check_plugin for the context it needs)"
            ) from None
        return f"{' + '.join(trainer.setup.plugins)} on {context.dataset()}"

    if not results.run("train.setup", build):
        results.skip("train.updates", "the tiny run did not start")
        results.skip("train.deterministic", "the tiny run did not start")
        results.skip("train.batches", "the tiny run did not start")
        return

    def updates():
        d = _one_update("D", trainer.d_update, trainer.D, trainer.G, "d_loss and its penalties")
        _one_update("G", lambda: trainer.g_update(d.real, d.real_labels), trainer.G, trainer.D,
                    "g_loss and its penalties")

    def deterministic():
        runs = []
        for _ in range(2):
            t = context.trainer()
            d = t.d_update()
            g = t.g_update(d.real, d.real_labels)
            values = {"d_loss": d.loss, "g_loss": g.loss, **d.penalties, **g.penalties}
            runs.append({k: num(v) for k, v in values.items()})
        require(
            runs[0] == runs[1],
            f"two tiny runs with seed 0 disagree: {runs[0]} and {runs[1]}; draw randomness from torch's "
            "global generator (which ganlab seeds), never from unseeded sources",
        )

    def batches():
        # A report, not a requirement: a set-up that cannot batch trains its seeds one by one.
        from ganlab.seeds import why_not

        why = why_not([context.trainer(), context.trainer()])
        return "batches: --seeds K trains K seeds as one model" if why is None else \
            f"does not batch (--seeds K trains the seeds one by one): {why}"

    results.run("train.updates", updates)
    results.run("train.deterministic", deterministic)
    results.run("train.batches", batches)
