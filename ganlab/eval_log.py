"""What a run writes to ``eval.jsonl`` while it trains: every active metric (:mod:`ganlab.metrics`).

Two moments, one channel. At every sample step of a 2-D run the metrics score
the fixed-noise points of the scatter plot (``"source": "samples"``): 2-D
metrics such as the PacGAN mode report cost next to nothing. At every
``--eval-every`` step they score ``--eval-samples`` fresh samples of any data
(``"source": "train"``). A metric that fails warns and training goes on: a
diagnostic never stops a run.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from ganlab.checkpoint import append_line
from ganlab.errors import GanlabError
from ganlab.runfolder import RunFolder
from ganlab.stepstats import strict_json


class EvalLog:
    def __init__(self, setup, folder: RunFolder, sampler: torch.nn.Module, averaged: bool, quiet: bool, log,
                 observe=None):
        self.setup, self.folder, self.sampler, self.quiet, self.log = setup, folder, sampler, quiet, log
        self.observe = observe  # told each row written (the ganlab_on_eval hook)
        # Marks evaluations of an average of G's weights; runs without one keep their rows as they were.
        self.weights = {"weights": "average"} if averaged else {}
        self._metrics = None
        self._real = None

    def metrics(self):
        if self._metrics is None:
            from ganlab.metrics import collect_metrics

            self._metrics = collect_metrics(self.setup.selection, self.setup.data, self.setup.options)
        return self._metrics

    def of_samples(self, step: int, fake: torch.Tensor, labels: torch.Tensor | None) -> dict[str, Any] | None:
        """The metrics of the scatter plot's fixed-noise points (2-D data only); the row written, or None."""
        if self.setup.data.kind != "points" or not self.metrics():
            return None
        from ganlab.metrics import MetricBatch, real_reference

        if self._real is None:
            self._real = real_reference(self.setup.loaded, len(fake), self.setup.train.seed)
        real, real_labels = self._real
        fake_labels = labels.cpu() if labels is not None else None
        batch = MetricBatch(real, fake.detach().float().cpu(), self.setup.data, real_labels, fake_labels)
        return self._write(step, "samples", len(fake), lambda: self._compute(batch))

    def every(self, step: int) -> dict[str, Any] | None:
        """``--eval-every``: every active metric on fresh seeded samples; no random stream of training moves."""
        from ganlab.metrics import evaluate_generator

        t = self.setup.train
        return self._write(step, "train", t.eval_samples, lambda: evaluate_generator(
            self.setup.selection, self.setup.loaded, self.setup.options, self.sampler, t.latent_dim,
            self.setup.conditioner is not None, t.eval_samples, t.seed, self.setup.device))

    def _compute(self, batch) -> dict[str, float]:
        from ganlab.metrics import compute_metrics

        return compute_metrics(self.metrics(), batch)

    def _write(self, step: int, source: str, n: int, compute) -> dict[str, Any] | None:
        try:
            values = compute()
        except GanlabError as exc:
            warnings.warn(f"metrics not computed at step {step}: {exc}", UserWarning, stacklevel=3)
            return None
        if not values:
            return None
        row = {"step": step, "source": source, "n": n, **self.weights, **values}
        append_line(self.folder.eval, strict_json(row))
        if self.observe is not None:
            self.observe(row)
        if self.quiet:
            self.log(f"step {step}: {summary(values, per_line=len(values))}")
        return row

    def plot(self) -> None:
        from ganlab.metrics import plot_eval

        plot_eval(self.folder.eval, self.folder.eval_plot)


def summary(values: dict[str, float], per_line: int = 2) -> str:
    """``name value`` pairs, ``per_line`` to a line: for a plot title, or (all on one) a log line."""
    parts = [f"{k} {'nan' if isinstance(v, float) and math.isnan(v) else f'{v:.4g}'}" for k, v in values.items()]
    return "\n".join(", ".join(parts[i:i + per_line]) for i in range(0, len(parts), max(per_line, 1)))
