"""Observer hooks (``ganlab_on_*``): a tiny run calls each of them, and observing changes no step."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from ganlab.testing.results import CheckFailed, Results, require

OBSERVERS = ("ganlab_on_run_start", "ganlab_on_log", "ganlab_on_eval", "ganlab_on_samples", "ganlab_on_run_end")
# Hooks an observer-only plugin may add without taking part in training.
QUIET = {"ganlab_options", "ganlab_validate", *OBSERVERS}


def check_observers(context, results: Results) -> None:
    """Train 4 steps with the plugin, logging, sampling and evaluating at every step.

    Every observer the plugin implements must be called and must not raise.
    A plugin that only observes must leave training as it was: G's and D's
    weights after the run equal those of the same run without it (an observer
    that draws from torch's global random stream changes the draws of dropout
    and of penalties such as WGAN-GP's; pass ``with_plugins`` to check that).
    """
    hooks = [h for h in OBSERVERS if h in context.hooks]
    if not hooks:
        results.skip("observers", "the plugin implements no ganlab_on_* hook")
        return

    def run(plugins: list[str], folder: Path):
        from ganlab.config import RunRequest
        from ganlab.defaults import TINY_OPTIONS
        from ganlab.run import prepare_run

        train = {"batch_size": 8, "latent_dim": 8, "steps": 4, "seed": 0, "device": "cpu", "log_every": 1,
                 "sample_every": 2, "checkpoint_every": 4, "data": context.dataset(), **context.train}
        active = context.pm.select(plugins).active
        options = {k: dict(v) for k, v in TINY_OPTIONS.items() if k in active}
        for plugin, values in context.options.items():
            options.setdefault(plugin, {}).update(values)
        trainer = prepare_run(context.pm, RunRequest(plugins, train, options), out=folder, quiet=True,
                              log=lambda *a: None)
        status = trainer.fit()
        require(status == "finished", f"the tiny run with the plugin ended {status}")
        return trainer

    def observed() -> str:
        calls: dict[str, int] = {}
        with tempfile.TemporaryDirectory() as tmp:
            wrapped = _counting(context.pm, context.name, hooks, calls)
            try:
                trainer = run(context.plugins, Path(tmp) / "with")
            finally:
                for impl, original in wrapped:
                    impl.function = original
            # ganlab_on_eval is called only where a metric applies (the 2-D mode report, --eval-every)
            missing = [h for h in hooks if h != "ganlab_on_eval" and not calls.get(h)]
            require(not missing, f"the trainer never called {missing}: check the hook's name and arguments")
            if set(context.hooks) <= QUIET:
                without = run([p for p in context.plugins if p != context.name], Path(tmp) / "without")
                for player, a, b in (("G", trainer.G, without.G), ("D", trainer.D, without.D)):
                    changed = [n for n, t in a.state_dict().items() if not torch.equal(t, b.state_dict()[n])]
                    if changed:
                        raise CheckFailed(f"observing changed training: {player}'s {changed[:3]} differ from the "
                                          "same run without the plugin; an observer must not draw from torch's "
                                          "random stream or touch the modules")
        return ", ".join(f"{h} x{calls.get(h, 0)}" for h in hooks)

    results.run("observers", observed)


def _counting(pm, name: str, hooks: list[str], calls: dict[str, int]) -> list:
    """Count the calls of plugin ``name``'s implementations; returns (impl, original) pairs to put back."""
    wrapped = []
    for hook in hooks:
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.plugin_name != name:
                continue
            original = impl.function

            def counted(*args, _original=original, _hook=hook, **kwargs):
                calls[_hook] = calls.get(_hook, 0) + 1
                return _original(*args, **kwargs)

            impl.function = counted
            wrapped.append((impl, original))
    return wrapped
