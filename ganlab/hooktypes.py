"""Types that hooks receive and return and that no other leaf module holds.

A leaf of the import graph: it imports only the standard library at run
time (torch and the other leaf modules for annotations only), never the run
machinery (:mod:`ganlab.manager`, :mod:`ganlab.config`, :mod:`ganlab.runsetup`,
:mod:`ganlab.metrics`), so :mod:`ganlab.hookspecs` can name these types
without closing an import cycle. Plugins import them from ``ganlab``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    import torch
    from torch import nn

    from ganlab.conditioning import Conditioner
    from ganlab.datasets import DataSpec
    from ganlab.options import Options


@dataclass(frozen=True)
class ValidationView:
    """The read-only view of a run that ``ganlab_validate`` gets.

    ``generator`` or ``discriminator`` is ``None`` when its build hook raised
    a :class:`~ganlab.errors.PluginError` (that message is reported already).
    ``train`` is the run's trainer settings, a :class:`ganlab.config.TrainConfig`
    (typed ``Any`` here because :mod:`ganlab.config` resolves through the plugin
    manager, which imports the hook specifications).
    """

    plugins: tuple[str, ...]
    data: DataSpec
    train: Any
    options: Options
    conditioner: Conditioner | None
    generator: nn.Module | None
    discriminator: nn.Module | None
    providers: dict[str, tuple[str, ...]]

    def implementers(self, hook_name: str) -> tuple[str, ...]:
        """The active plugins that answer ``hook_name`` (the default provider included)."""
        return self.providers.get(hook_name, ())


@dataclass(frozen=True)
class MetricBatch:
    """What every metric sees: samples on the CPU, in the model range.

    ``real`` and ``fake`` are float ``(n, *data.shape)`` (images in ``[-1, 1]``,
    2-D points as they are); ``real_labels`` are the real samples' classes
    (``None`` for unlabelled data); ``fake_labels`` are the labels G was asked
    for in a conditional run, ``None`` otherwise. ``cache`` lets the metrics of
    one plugin share work (e.g. features) within one evaluation: use
    :meth:`cached` with a key that starts with your plugin's name.
    """

    real: torch.Tensor
    fake: torch.Tensor
    data: DataSpec
    real_labels: torch.Tensor | None = None
    fake_labels: torch.Tensor | None = None
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


class Metric(Protocol):
    """A metric: ``metric(batch) -> {"name": number, ...}``; any callable of that shape is one."""

    def __call__(self, batch: MetricBatch) -> Mapping[str, float]: ...
