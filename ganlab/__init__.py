"""ganlab: a plugin-based research toolkit for GAN loss functions.

Plugins implement the hooks in :mod:`ganlab.hookspecs` and mark them with
:data:`hookimpl`::

    from ganlab import hookimpl

    @hookimpl
    def ganlab_d_loss(real_scores, fake_scores):
        ...

This module is also the plugin-facing facade: everything a plugin needs
(option helpers, the types hooks receive and return, penalty, metric and
claim types, errors and shared helpers) is importable from ``ganlab``
itself, e.g. ``from ganlab import Regularizer, PenaltyBatch`` or
``from ganlab import claims as C``; docs/plugin-guide.md lists every name.
Built-in plugins and the examples import nothing else of ganlab (test files
may also use :mod:`ganlab.testing`). Only ``hookimpl``, ``hookspec``,
``PROJECT_NAME`` and ``__version__`` are defined here; every other name is
loaded on first use (PEP 562), so ``import ganlab`` stays cheap: the command
line checks names and flags before torch is imported.
"""

import importlib as _importlib

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "ganlab"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

# Facade name -> the module that defines it, loaded on first use.
_LAZY = {
    # the Python API (docs/python-api.md): what the command line runs, from a notebook or script
    "train": "ganlab.api",
    "evaluate": "ganlab.api",
    "compare": "ganlab.api",
    "verify": "ganlab.api",
    "Run": "ganlab.api",
    "Results": "ganlab.api",
    # options
    "Options": "ganlab.options",
    "defaults_for": "ganlab.options",
    "build_options": "ganlab.options",
    "option_fields": "ganlab.options",
    "OptionField": "ganlab.options",
    # what hooks receive and return about a run
    "ValidationView": "ganlab.hooktypes",
    "TrainConfig": "ganlab.config",
    "Fallback": "ganlab.config",
    # data
    "DataSpec": "ganlab.datasets",
    "DataRequest": "ganlab.datasets",
    "LoadedData": "ganlab.datasets",
    "Evaluation": "ganlab.datasets",
    "DatasetFactory": "ganlab.datasets",
    "image_spec": "ganlab.datasets",
    "resize_images": "ganlab.datasets",
    "network_reachable": "ganlab.datasets",
    "load_dataset": "ganlab.runsetup",
    # conditioning
    "Conditioner": "ganlab.conditioning",
    "ProjectionHead": "ganlab.conditioning",
    "with_label_channels": "ganlab.conditioning",
    # penalties
    "Regularizer": "ganlab.regularizers",
    "PenaltyBatch": "ganlab.regularizers",
    "Player": "ganlab.regularizers",
    "Expect": "ganlab.state_schema",
    # metrics
    "Metric": "ganlab.hooktypes",
    "MetricBatch": "ganlab.hooktypes",
    "MetricError": "ganlab.metrics",
    "frechet_distance": "ganlab.metrics",
    "kernel_distance": "ganlab.metrics",
    "prdc": "ganlab.metrics",
    "class_statistics": "ganlab.metrics",
    # errors
    "GanlabError": "ganlab.errors",
    "PluginError": "ganlab.errors",
    "ConfigError": "ganlab.errors",
    "DataError": "ganlab.errors",
    # helpers
    "require_finite_nonnegative": "ganlab.checks",
    "pair_by_label": "ganlab.pairing",
}

# Facade name -> a whole module, used as a namespace (``from ganlab import claims as C``).
_MODULES = {
    "claims": "ganlab.analysis.claims",        # claim declarations for ganlab_claims
    "densities": "ganlab.analysis.densities",  # reference 1-D densities and divergences for claims
    "augment": "ganlab.augment",               # differentiable image augmentations (DiffAugment ops)
}

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec", *_LAZY, *_MODULES]


def __getattr__(name: str):
    if name in _MODULES:
        value = _importlib.import_module(_MODULES[name])
    elif name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
