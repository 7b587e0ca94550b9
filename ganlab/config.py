"""Run configuration: trainer settings, plugin options, TOML in and out.

Flags and a TOML file become a raw :class:`RunRequest`; :func:`resolve_config`
turns it, with the run's plugin selection, into a frozen :class:`RunConfig`.
Precedence, lowest first: the defaults below, what active plugins suggest
(``ganlab_train_defaults``; a :class:`Fallback` suggestion yields to the
others), a ``--config`` TOML file, command-line flags.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ganlab.errors import ConfigError, PluginError
from ganlab.options import Options, option_fields, parse_value, resolve_options

if TYPE_CHECKING:  # pragma: no cover
    from ganlab.manager import Selection


# Derived streams use seed + 1 and seed + 2, which must fit torch's 64-bit seeds.
MAX_SEED = 2**63 - 3
# Far beyond any GAN's resolution, yet small enough that a typo (100000) fails here, not in the allocator.
MAX_IMAGE_SIZE = 4096


@dataclass(frozen=True)
class TrainConfig:
    """Trainer settings; every field is also a ``ganlab run`` flag."""

    steps: int = field(default=3000, metadata={"help": "generator updates to train for"})
    batch_size: int = field(default=64, metadata={"help": "samples per batch"})
    lr: float = field(default=2e-4, metadata={"help": "learning rate of both players"})
    g_lr: float = field(default=0.0, metadata={"help": "G's learning rate (0: --lr)"})
    d_lr: float = field(default=0.0, metadata={
        "help": "D's learning rate (0: --lr); two time-scales (Heusel et al. 2017): SAGAN uses 4e-4 for D, 1e-4 for G"})
    betas: tuple[float, float] = field(default=(0.5, 0.999), metadata={"help": "Adam betas"})
    n_critic: int = field(default=1, metadata={"help": "D updates per G update"})
    latent_dim: int = field(default=96, metadata={"help": "size of the latent noise z"})
    seed: int = field(default=0, metadata={"help": "seed of every random stream"})
    device: Literal["auto", "cpu", "cuda"] = field(default="auto", metadata={"help": "where to train"})
    data: str = field(default="mnist", metadata={"help": "dataset name or image folder"})
    data_root: str = field(default="", metadata={"help": "download cache for torchvision datasets"})
    image_size: int = field(
        default=0, metadata={"help": "resize images to this side (0: native for built-in data, 64 for image folders)"}
    )
    sample_every: int = field(default=500, metadata={"help": "steps between sample grids"})
    checkpoint_every: int = field(default=1000, metadata={"help": "steps between checkpoints"})
    keep_every: int = field(default=0, metadata={
        "help": "steps between checkpoints kept as checkpoints/step_XXXXXX.pt, for ganlab eval --step "
                "(0: keep only the latest)"})
    log_every: int = field(default=10, metadata={"help": "steps between metrics rows"})
    precision: Literal["fp32", "bf16", "fp16"] = field(
        default="fp32", metadata={"help": "autocast G and D in bf16 or fp16 (with loss scaling); losses and "
                                          "penalties stay fp32"})
    compile: bool = field(default=False, metadata={"help": "torch.compile G and D (slow start, faster steps)"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads for this run (0: torch's default)"})
    eval_every: int = field(default=0, metadata={"help": "steps between sample-quality metrics in eval.jsonl (0: off)"})
    eval_samples: int = field(default=2000, metadata={"help": "generated (and real) samples per --eval-every"})

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "n_critic", "latent_dim", "sample_every", "checkpoint_every", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be a positive number, got {self.lr}")
        for name in ("g_lr", "d_lr"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"--{name.replace('_', '-')} must be 0 (use --lr) or a positive number, got {value}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"--betas must be two numbers in [0, 1), got {self.betas}")
        if self.keep_every < 0:
            raise ConfigError(f"--keep-every must be 0 (keep only the latest checkpoint) or a positive interval, "
                              f"got {self.keep_every}")
        if self.eval_every < 0:
            raise ConfigError(f"--eval-every must be 0 (off) or a positive interval, got {self.eval_every}")
        if self.eval_samples < 10:
            raise ConfigError(f"--eval-samples must be at least 10, got {self.eval_samples}")
        if self.image_size < 0:
            raise ConfigError("--image-size must be 0 (native) or a positive size")
        if self.image_size > MAX_IMAGE_SIZE:
            raise ConfigError(f"--image-size {self.image_size} is beyond any GAN's resolution "
                              f"(at most {MAX_IMAGE_SIZE}); use 64, 128 or 256")
        if self.threads < 0:
            raise ConfigError(f"--threads must be 0 (torch's default) or a positive count, got {self.threads}")
        if not 0 <= self.seed < MAX_SEED:
            raise ConfigError(f"--seed must be in [0, {MAX_SEED}), got {self.seed}")

    def for_player(self, player: str) -> TrainConfig:
        """These settings with ``lr`` set to the player's own rate: what its optimizer is built from."""
        own = self.g_lr if player == "G" else self.d_lr
        return dataclasses.replace(self, lr=own) if own else self


TRAIN_FIELDS = {f.name: f for f in option_fields(TrainConfig)}


@dataclass(frozen=True)
class RunConfig:
    """A run, fully resolved: what ``config.toml`` records and the trainer reads."""

    plugins: tuple[str, ...]  # as selected by the user
    active: tuple[str, ...]   # with the always-active plugins and the default providers
    train: TrainConfig
    options: Options


@dataclass
class RunRequest:
    """What the user asked for, raw: strings from flags, values from TOML.

    Nothing is parsed here; :func:`resolve_config` parses every value once,
    by its declared type. ``where`` says where each trainer value came from,
    for error messages.
    """

    plugins: list[str] = field(default_factory=list)
    train: dict[str, Any] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)

    def merged_with(self, other: RunRequest) -> RunRequest:
        """``other`` (the command line) wins over ``self`` (a config file)."""
        options = {k: dict(v) for k, v in self.options.items()}
        for plugin, values in other.options.items():
            options.setdefault(plugin, {}).update(values)
        return RunRequest(
            plugins=other.plugins or self.plugins,
            train={**self.train, **other.train},
            options=options,
            where={**self.where, **other.where},
        )


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; a missing, unreadable or malformed file is one clear error."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def load_config_file(path: str | Path) -> RunRequest:
    path = Path(path)
    data = read_toml(path, "config file")
    unknown = set(data) - {"plugins", "train", "options", "record"}
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(sorted(unknown))} in {path}; "
            "expected plugins, [train], [options.PLUGIN] (and [record], which is ignored)"
        )
    plugins = data.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise ConfigError(f"'plugins' in {path} must be a list of names, e.g. plugins = [\"NAME\"]")
    train, options = data.get("train", {}), data.get("options", {})
    if not isinstance(train, dict):
        raise ConfigError(f"'train' in {path} must be a table: [train] then steps = ... on the next lines")
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError(f"[options] in {path} must hold one table per plugin: [options.PLUGIN]")
    check_train_keys(train, str(path))
    return RunRequest(plugins, train, options, {key: str(path) for key in train})


def check_train_keys(values: dict[str, Any], where: str) -> None:
    for key in values:
        if key not in TRAIN_FIELDS:
            raise ConfigError(f"unknown trainer setting {key!r} in {where}; valid: {', '.join(TRAIN_FIELDS)}")


def _parse_train(values: dict[str, Any], where) -> dict[str, Any]:
    out = {}
    for key, raw in values.items():
        check_train_keys({key: raw}, where(key))
        try:
            out[key] = parse_value(TRAIN_FIELDS[key].type, raw)
        except ValueError as exc:
            raise ConfigError(f"bad value {raw!r} for {key} in {where(key)}: {exc}") from None
    return out


class Fallback(dict):
    """Trainer suggestions that yield to any other plugin's suggestion for the same field.

    For settings that belong to a set-up rather than a loss: an architecture
    preset may suggest PacGAN's Adam settings, and WGAN's own ``lr`` still wins
    when both are active. Two fallbacks disagreeing is still a conflict.
    """


def resolve_train(request: RunRequest, suggestions: list[tuple[str, dict[str, Any]]]) -> TrainConfig:
    """Defaults < fallback suggestions < plugin suggestions < user values; two plugins disagreeing is an error."""
    given = _parse_train(request.train, lambda key: request.where.get(key, "the run request"))
    firm = _merge_suggestions([(p, v) for p, v in suggestions if not isinstance(v, Fallback)], given)
    weak = _merge_suggestions([(p, v) for p, v in suggestions if isinstance(v, Fallback)], given | firm)
    return TrainConfig(**(weak | firm | given))


def _merge_suggestions(suggestions, settled: dict[str, Any]) -> dict[str, Any]:
    suggested: dict[str, tuple[str, Any]] = {}
    for plugin, values in suggestions:
        for key, value in _parse_train(dict(values), lambda key: f"ganlab_train_defaults of {plugin!r}").items():
            if key in settled:
                continue
            if key in suggested and suggested[key][1] != value:
                other, first = suggested[key]
                raise PluginError(
                    f"plugins {other!r} and {plugin!r} suggest different {key} "
                    f"({first} and {value}); set --{key.replace('_', '-')} explicitly"
                )
            suggested[key] = (plugin, value)
    return {k: v for k, (_, v) in suggested.items()}


def resolve_config(selection: Selection, request: RunRequest) -> RunConfig:
    """The one path from a request to a frozen, typed configuration."""
    options = resolve_options(selection, request.options)
    suggestions = [(p, v) for p, v in selection.call_each("ganlab_train_defaults", options=options) if v]
    train = resolve_train(request, suggestions)
    return RunConfig(tuple(selection.selected), tuple(selection.active), train, options)


# --- writing TOML -----------------------------------------------------------


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_value(value: Any) -> str:
    if isinstance(value, Path):
        value = str(value)
    elif hasattr(value, "item") and callable(value.item):  # numpy and torch scalars
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf") if value == value else "nan"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _toml_table(name: str, table: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    nested = []
    for key, value in table.items():
        if value is None:
            value = "none"  # TOML has no null; options of type `X | None` read "none" back as None
        if isinstance(value, dict):
            nested.append((f"{name}.{_toml_key(key)}", value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for sub_name, sub in nested:
        lines += ["", *_toml_table(sub_name, sub)]
    return lines


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_value(key)


def options_read_back(selection, values: dict[str, dict[str, Any]] | None = None) -> tuple[dict, dict]:
    """(resolved options, the same options written as config.toml writes them and resolved again).

    A recorded run must read back to the run it records: ``--resume``,
    ``ganlab eval`` and ``--config RUN/config.toml`` all resolve the recorded
    values again. The two dictionaries must be equal; a preset recorded beside
    the values it implies, say, must not read back as "both given".
    """
    first = resolve_options(selection, values).as_dict()
    text = "\n".join(line for plugin, table in first.items()
                     for line in ["", *_toml_table(f"options.{_toml_key(plugin)}", table)])
    recorded = tomllib.loads(text).get("options", {})
    return first, resolve_options(selection, recorded).as_dict()


def dump_run_config(
    plugins: list[str], train: TrainConfig, options: dict[str, dict[str, Any]], record: dict[str, Any]
) -> str:
    lines = [
        "# ganlab run record: `ganlab run --config THIS_FILE --out NEW_DIR` reproduces this run.",
        "# [record] is informational and ignored when loading.",
        f"plugins = {_toml_value(list(plugins))}",
        "",
        *_toml_table("train", dataclasses.asdict(train)),
    ]
    for plugin, values in options.items():
        lines += ["", *_toml_table(f"options.{_toml_key(plugin)}", values)]
    lines += ["", *_toml_table("record", record)]
    return "\n".join(lines) + "\n"
