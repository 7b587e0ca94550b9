"""Building a run's parts from its configuration, failing before anything is written.

Every check that can fail on user input happens here or in
:func:`ganlab.config.resolve_config`: plugin selection and conflicts,
options, trainer settings, the device, the data, the models and
``ganlab_validate``. Only then is a run folder touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ganlab.conditioning import Conditioner
from ganlab.config import RunConfig, RunRequest, TrainConfig, resolve_config
from ganlab.datasets import DataRequest, DataSpec, LoadedData, default_data_root, load_image_folder
from ganlab.errors import ConfigError, DataError, GanlabError, PluginError
from ganlab.hooktypes import ValidationView
from ganlab.manager import GanlabPluginManager, Selection, guarded, make_plugin_manager
from ganlab.options import Options
from ganlab.regularizers import Regularizer


@dataclass
class RunSetup:
    """A run, fully resolved and built: what the trainer trains."""

    selection: Selection
    config: RunConfig
    device: torch.device
    loaded: LoadedData
    conditioner: Conditioner | None
    generator: nn.Module
    discriminator: nn.Module
    regularizers: list[Regularizer]
    owners: dict[str, str] = field(default_factory=dict)  # regularizer name -> its plugin
    generator_average: Any = None  # what ganlab_generator_average returned: samples and metrics use it

    @property
    def train(self) -> TrainConfig:
        return self.config.train

    @property
    def options(self) -> Options:
        return self.config.options

    @property
    def plugins(self) -> list[str]:
        return list(self.config.active)

    @property
    def data(self) -> DataSpec:
        return self.loaded.spec

    def regularizers_for(self, player: str) -> list[Regularizer]:
        return [r for r in self.regularizers if r.player == player]


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but PyTorch sees no CUDA device; use --device cpu")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    # Under torchrun each rank takes the GPU of its local rank.
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def load_data(selection: Selection, config: RunConfig) -> LoadedData:
    train, options = config.train, config.options
    factories: dict[str, tuple[str, Any]] = {}
    for plugin, offered in selection.call_each("ganlab_datasets", options=options):
        for name, factory in (offered or {}).items():
            if name in factories:
                raise PluginError(
                    f"plugins {factories[name][0]!r} and {plugin!r} both offer dataset {name!r}"
                )
            factories[name] = (plugin, factory)
    request = DataRequest(
        name=train.data,
        root=Path(train.data_root).expanduser() if train.data_root else default_data_root(),
        image_size=train.image_size or None,
        seed=train.seed,
        options=options,
    )
    if train.data in factories:
        plugin, factory = factories[train.data]
        loaded = guarded(plugin, f"loading dataset {train.data!r}", factory, request)
    elif Path(train.data).expanduser().is_dir():
        loaded = load_image_folder(Path(train.data).expanduser(), request)
    else:
        hint = "no such folder" if any(c in train.data for c in "/\\.~") else "unknown dataset"
        raise DataError(
            f"{hint} {train.data!r}; --data takes one of {', '.join(factories)} or an image folder"
        )
    if not isinstance(loaded, LoadedData):
        raise PluginError(f"dataset {train.data!r} did not return ganlab.datasets.LoadedData")
    if train.batch_size > len(loaded):
        raise ConfigError(f"--batch-size {train.batch_size} is larger than the dataset "
                          f"({len(loaded)} samples); lower --batch-size")
    return loaded


def load_dataset(name: str, *, plugins: Iterable[str] = (), options: Mapping[str, Mapping[str, Any]] | None = None,
                 train: Mapping[str, Any] | None = None, autoload: bool | None = None) -> LoadedData:
    """Dataset ``name`` (or an image folder) loaded as ``ganlab run --data NAME`` would load it, outside a run.

    ``plugins`` are selected beside the always-active ones, so their
    ``ganlab_datasets`` answer too; ``options`` are ``{plugin: {key: value}}``
    as ``-o`` gives them; ``train`` holds trainer settings (``image_size``,
    ``data_root``, ``seed``, ...). ``autoload=False`` leaves installed
    third-party plugins out (``None``: as ``GANLAB_DISABLE_PLUGIN_AUTOLOAD`` says).
    """
    selection = make_plugin_manager(autoload=autoload).select(plugins)
    request = RunRequest(train={**(train or {}), "data": name},
                         options={plugin: dict(values) for plugin, values in (options or {}).items()})
    return load_data(selection, resolve_config(selection, request))


def _flatten(results: list[Any]) -> list[Any]:
    out = []
    for r in results:
        if r is None:
            continue
        out.extend(r if isinstance(r, (list, tuple)) else [r])
    return out


def _check_module(module: Any, what: str, selection: Selection) -> nn.Module:
    if not isinstance(module, nn.Module):
        who = ", ".join(selection.implementers(what)) if what in selection.providers else "a regularizer"
        raise PluginError(f"{what} ({who}) returned {type(module).__name__}, not an nn.Module")
    return module


def collect_regularizers(selection: Selection, spec, conditioner, options,
                         owners: dict[str, str] | None = None) -> list[Regularizer]:
    """Every active plugin's regularizers, checked: penalties are logged and added up by name.

    ``owners`` (if given) is filled with each regularizer's plugin, for error messages.
    """
    owners = {} if owners is None else owners
    out = []
    for plugin, result in selection.call_each("ganlab_regularizer", data=spec, conditioner=conditioner,
                                              options=options):
        for reg in _flatten([result]):
            if not isinstance(reg, Regularizer) or reg.player not in ("D", "G") or not reg.name:
                raise PluginError(f"plugin {plugin!r} returned {reg!r} from ganlab_regularizer; return "
                                  f"ganlab.regularizers.Regularizer objects with a name and player 'D' or 'G'")
            if reg.name in owners:
                raise PluginError(f"plugins {owners[reg.name]!r} and {plugin!r} both add a regularizer named "
                                  f"{reg.name!r}; each needs its own name so both penalties are applied and logged")
            owners[reg.name] = plugin
            out.append(reg)
    return out


def build_run(selection: Selection, config: RunConfig) -> RunSetup:
    """Data, models and regularizers; every problem of the combination is reported at once."""
    device = resolve_device(config.train.device)
    torch.manual_seed(config.train.seed)  # model initialisation and every global draw after it
    loaded = load_data(selection, config)
    spec, options, hook = loaded.spec, config.options, selection.hook
    problems: list[str] = []

    def build(what: str, **kwargs):
        """A build hook may raise PluginError: collect it, so every problem is shown at once."""
        try:
            built = getattr(hook, what)(**kwargs)
        except PluginError as exc:
            problems.append(str(exc))
            return None
        except (Exception, SystemExit) as exc:  # a plugin's own bug: name it, no traceback
            raise PluginError(f"plugin {', '.join(selection.implementers(what))!r} failed in {what}: "
                              f"{type(exc).__name__}: {exc}") from exc
        return built if what == "ganlab_conditioner" else _check_module(built, what, selection)

    conditioner = build("ganlab_conditioner", data=spec, options=options)
    generator = build("ganlab_generator", data=spec, latent_dim=config.train.latent_dim,
                      conditioner=conditioner, options=options)
    discriminator = build("ganlab_discriminator", data=spec, conditioner=conditioner, options=options)
    owners: dict[str, str] = {}
    regularizers = collect_regularizers(selection, spec, conditioner, options, owners)
    for reg in regularizers:
        if reg.player == "D" and discriminator is not None:
            discriminator = _check_module(reg.transform(discriminator), f"{reg.name}.transform", selection)
        elif reg.player == "G" and generator is not None:
            generator = _check_module(reg.transform(generator), f"{reg.name}.transform", selection)
    view = ValidationView(
        config.active, spec, config.train, options, conditioner, generator, discriminator,
        {name: tuple(who) for name, who in selection.providers.items()},
    )
    problems += map(str, _flatten([answer for _, answer in selection.call_each("ganlab_validate", setup=view)]))
    if problems:  # one architecture refusing both networks says it once
        raise ConfigError("this combination cannot work:\n  - " + "\n  - ".join(dict.fromkeys(problems)))
    generator, discriminator = generator.to(device), discriminator.to(device)
    average = build_average(selection, generator, options)
    return RunSetup(selection, config, device, loaded, conditioner, generator, discriminator, regularizers, owners,
                    average)


AVERAGE_INTERFACE = ("module", "update_parameters", "state_dict", "load_state_dict")


def average_interface_problem(average) -> str | None:
    """What an average of G's weights lacks of AveragedModel's interface, or None."""
    missing = [name for name in AVERAGE_INTERFACE if not hasattr(average, name)]
    if not missing and isinstance(average.module, nn.Module):
        return None
    return (f"returned a {type(average).__name__} without {', '.join(missing) or 'an nn.Module as .module'}; "
            f"return a torch.optim.swa_utils.AveragedModel or an object with its interface")


def build_average(selection: Selection, generator: nn.Module, options: Options):
    """The plugin's average of G's weights, or None; one with the wrong interface is a PluginError."""
    hook = "ganlab_generator_average"
    who = ", ".join(selection.implementers(hook))
    try:
        average = selection.hook.ganlab_generator_average(generator=generator, options=options)
    except PluginError:
        raise
    except (Exception, SystemExit) as exc:
        raise PluginError(f"plugin {who!r} failed in {hook}: {type(exc).__name__}: {exc}") from exc
    if average is None:
        return None
    problem = average_interface_problem(average)
    if problem:
        raise PluginError(f"{hook} ({who}) {problem}")
    return average


def build_setup(pm: GanlabPluginManager, request: RunRequest) -> RunSetup:
    """Select, resolve and build: a request all the way to trainable parts."""
    selection = pm.select(request.plugins)
    config = resolve_config(selection, request)
    apply_threads(config.train)  # before anything heavy runs
    return build_run(selection, config)


def apply_threads(train: TrainConfig) -> None:
    """``--threads N``: torch's CPU thread count for this process (0 leaves torch's default)."""
    if train.threads:
        torch.set_num_threads(train.threads)


def build_optimizer(setup: RunSetup, player: str, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The run's optimizer (the ``ganlab_optimizer`` hook) for one player's ``params``."""
    hook = setup.selection.hook
    who = ", ".join(setup.selection.implementers("ganlab_optimizer"))
    try:
        opt = hook.ganlab_optimizer(player=player, params=params, train=setup.train.for_player(player))
    except GanlabError:
        raise
    except (Exception, SystemExit) as exc:  # a plugin's own bug: name it, no traceback
        raise PluginError(f"plugin {who!r} failed in ganlab_optimizer for {player}: "
                          f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(opt, torch.optim.Optimizer):
        raise PluginError(f"ganlab_optimizer ({who}) returned {type(opt).__name__}, not a torch.optim.Optimizer")
    return opt


def build_optimizers(setup: RunSetup) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    return tuple(build_optimizer(setup, player, [p for p in module.parameters() if p.requires_grad])
                 for player, module in (("G", setup.generator), ("D", setup.discriminator)))
