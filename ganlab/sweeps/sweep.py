"""Sweeps: variants (plugin sets with options) x an option grid x seeds.

A sweep file::

    name = "variants"            # optional: names the default folder sweeps/NAME
    seeds = 3                    # 0, 1, 2; or a list such as [0, 5, 7]

    [train]                      # trainer settings of every cell
    data = "ring"
    steps = 2000

    [train_defaults]             # trainer settings that yield to a variant's own plugins'
    lr = 1e-4                    # suggestions (WGAN's lr 5e-5 wins over this)

    [options.mlp]                # plugin options of every cell (where the plugin is active)
    preset = "pacgan"

    [variants.gan]
    plugins = ["gan"]

    [variants.wgan-gp-one-sided]
    plugins = ["wgan-gp"]
    options = { wgan-gp = { one_sided = true } }

    [grid]                       # optional: the Cartesian product of these values
    "train.data" = ["ring", "grid"]
    "gan.generator_loss" = ["non-saturating", "minimax"]

A grid axis ``PLUGIN.KEY`` applies to the variants in which PLUGIN is active;
for the others it is left out (no duplicate cells). ``train.KEY`` axes apply to
every variant. Values stay raw here; each cell resolves them as ``ganlab run``
does, so a bad value or combination fails that cell only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.config import _toml_key, _toml_table, _toml_value, check_train_keys, read_toml
from ganlab.options import parse_override
from ganlab.errors import ConfigError, GanlabError

SWEEP_NAME = "sweep.toml"
CELLS_NAME = "cells.json"
CELLS_DIR = "cells"
# Executor settings, never part of a sweep: they do not change what a cell computes.
EXECUTOR_TRAIN_KEYS = ("seed", "threads")
_SAFE = re.compile(r"[^A-Za-z0-9_.+=,-]+")


@dataclass
class Variant:
    name: str
    plugins: list[str]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sweep:
    name: str
    seeds: list[int]
    variants: list[Variant]
    train: dict[str, Any] = field(default_factory=dict)
    train_defaults: dict[str, Any] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)

    def to_toml(self) -> str:
        lines = ["# ganlab compare sweep, resolved: `ganlab compare THIS_FILE --out THIS_FOLDER` continues it.",
                 f"name = {_toml_value(self.name)}", f"seeds = {_toml_value(self.seeds)}"]
        for title, table in (("train", self.train), ("train_defaults", self.train_defaults)):
            if table:
                lines += ["", *_toml_table(title, table)]
        for plugin, values in self.options.items():
            lines += ["", *_toml_table(f"options.{_toml_key(plugin)}", values)]
        if self.grid:
            lines += ["", *_toml_table("grid", self.grid)]
        for v in self.variants:
            lines += ["", f"[variants.{_toml_key(v.name)}]", f"plugins = {_toml_value(v.plugins)}"]
            if v.train:
                lines += ["", *_toml_table(f"variants.{_toml_key(v.name)}.train", v.train)]
            for plugin, values in v.options.items():
                lines += ["", *_toml_table(f"variants.{_toml_key(v.name)}.options.{_toml_key(plugin)}", values)]
        return "\n".join(lines) + "\n"

    def digest(self) -> str:
        return hashlib.sha256(self.to_toml().encode()).hexdigest()[:8]


@dataclass
class Cell:
    """One run of the sweep: a variant at one grid point and one seed."""

    id: str            # the cell's folder, relative to the sweep folder
    group: str         # the table row it belongs to: variant and grid point
    variant: str
    seed: int
    grid: dict[str, Any]
    plugins: list[str]
    train: dict[str, Any]
    options: dict[str, dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _table(value, what: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{what} in {where} must be a table")
    return value


def _options(value, what: str, where: str) -> dict[str, dict[str, Any]]:
    value = _table(value, what, where)
    if not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(f"{what} in {where} must hold one table per plugin: [{what}.PLUGIN]")
    return {k: dict(v) for k, v in value.items()}


def _train(value, what: str, where: str) -> dict[str, Any]:
    value = dict(_table(value, what, where))
    check_train_keys(value, where)
    bad = [k for k in value if k in EXECUTOR_TRAIN_KEYS]
    if bad:
        raise ConfigError(f"{', '.join(bad)} in [{what}] of {where}: seeds come from `seeds`, "
                          f"threads from `ganlab compare --threads`")
    return value


def _seeds(value, where: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                 for s in value) and len(set(value)) == len(value):
        return list(value)
    raise ConfigError(f"seeds in {where} must be a count (3: seeds 0, 1, 2) or a list of distinct seeds, "
                      f"got {value!r}")


def sweep_from_dict(data: dict[str, Any], where: str, default_name: str) -> Sweep:
    known = {"name", "seeds", "train", "train_defaults", "options", "grid", "variants"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))} in {where}; expected {', '.join(sorted(known))}")
    variants = []
    for name, spec in _table(data.get("variants", {}), "[variants]", where).items():
        spec = _table(spec, f"[variants.{name}]", where)
        extra = set(spec) - {"plugins", "options", "train"}
        if extra:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(extra))} in [variants.{name}] of {where}; "
                              f"expected plugins, options, train")
        plugins = spec.get("plugins", [])
        if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
            raise ConfigError(f"plugins of variant {name!r} in {where} must be a list of names")
        variants.append(Variant(name, plugins, _options(spec.get("options", {}), f"variants.{name}.options", where),
                                _train(spec.get("train", {}), f"variants.{name}.train", where)))
    if not variants:
        raise ConfigError(f"{where} names no variants; add [variants.NAME] tables with plugins = [...]")
    grid = _table(data.get("grid", {}), "[grid]", where)
    for key, values in grid.items():
        plugin, _, name = key.partition(".")
        if not plugin or not name or not isinstance(values, list) or not values:
            raise ConfigError(f"[grid] key {key!r} in {where} must be PLUGIN.KEY or train.KEY = [values, ...]")
        if plugin == "train":
            _train({name: values[0]}, "grid", where)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name in {where} must be a non-empty string")
    return Sweep(name, _seeds(data.get("seeds", 1), where), variants,
                 _train(data.get("train", {}), "train", where),
                 _train(data.get("train_defaults", {}), "train_defaults", where),
                 _options(data.get("options", {}), "options", where), {k: list(v) for k, v in grid.items()})


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    return sweep_from_dict(read_toml(path, "sweep file"), str(path), path.stem)


def parse_variant(text: str) -> Variant:
    """The short form: ``"wgan-gp -o wgan-gp.one_sided=true"`` or ``"gan+r1"``."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"bad --variant {text!r}: {exc}") from None
    plugins, options, overrides = [], {}, []
    it = iter(tokens)
    for token in it:
        if token == "-o":
            value = next(it, None)
            if value is None:
                raise ConfigError(f"bad --variant {text!r}: -o needs PLUGIN.KEY=VALUE")
            plugin, key, raw = parse_override(value)
            options.setdefault(plugin, {})[key] = raw
            overrides.append(f"{plugin}.{key}={raw}")
        elif token.startswith("-"):
            raise ConfigError(f"bad --variant {text!r}: only plugin names and -o PLUGIN.KEY=VALUE may appear")
        else:
            plugins += [p for p in token.split("+") if p]
    if not plugins and not options:
        raise ConfigError(f"bad --variant {text!r}: name at least one plugin, e.g. --variant gan")
    name = "+".join(plugins) or "defaults"
    if overrides:
        name += "[" + ",".join(overrides) + "]"
    return Variant(name, plugins, options)


def slug(text: str) -> str:
    return _SAFE.sub("_", text).strip("_") or "_"


def _grid_points(sweep: Sweep, active: set[str] | None) -> list[dict[str, Any]]:
    """The grid points that apply to a variant whose active plugins are ``active``."""
    keys = [k for k in sweep.grid if k.startswith("train.") or active is None or k.split(".", 1)[0] in active]
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(sweep.grid[k] for k in keys))]
    return points or [{}]


def _label(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(_label, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _probe(pm, v: Variant) -> tuple[set[str] | None, set[str]]:
    """The variant's active plugins and the trainer settings they suggest; ``(None, set())`` if it cannot resolve."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cells' own runs warn; this probe would only repeat it
        try:
            selection = pm.select(v.plugins)
            active = set(selection.active)
            opts = selection.build_options({p: dict(o) for p, o in v.options.items() if p in active})
            suggested = set()
            for _, values in selection.call_each("ganlab_train_defaults", options=opts):
                suggested |= set(values or {})
            return active, suggested
        except GanlabError:
            return None, set()


def expand(sweep: Sweep, pm=None) -> list[Cell]:
    """Every cell, in order: variant, then grid point, then seed.

    With a plugin manager, options and grid axes of plugins not active in a
    variant are left out of its cells and ``train_defaults`` yield to the
    variant's own plugins' suggestions; a variant that cannot be selected
    keeps everything, and its cells fail with the reason.
    """
    cells = []
    for v in sweep.variants:
        active, suggested = _probe(pm, v) if pm is not None else (None, set())
        shared_opts = {p: o for p, o in sweep.options.items() if active is None or p in active}
        for point in _grid_points(sweep, active):
            train = {k: val for k, val in sweep.train_defaults.items() if k not in suggested}
            train |= sweep.train | v.train
            options = {p: dict(o) for p, o in shared_opts.items()}
            for p, o in v.options.items():
                options.setdefault(p, {}).update(o)
            for key, value in point.items():
                plugin, _, name = key.partition(".")
                if plugin == "train":
                    train[name] = value
                else:
                    options.setdefault(plugin, {})[name] = value
            shown = " ".join(f"{k.removeprefix('train.')}={_label(val)}" for k, val in point.items())
            group = f"{v.name} [{shown}]" if shown else v.name
            folder = slug(v.name) + ("," + slug(shown.replace(" ", ",")) if shown else "")
            for seed in sweep.seeds:
                cells.append(Cell(f"{CELLS_DIR}/{folder}/seed{seed}", group, v.name, seed, point,
                                  list(v.plugins), {**train, "seed": seed}, options))
    seen = {}
    for c in cells:
        if c.id in seen:
            raise ConfigError(f"variants {seen[c.id]!r} and {c.variant!r} map to one folder {c.id}; rename one")
        seen[c.id] = c.variant
    return cells


def cells_text(cells: list[Cell]) -> str:
    return json.dumps([c.as_dict() for c in cells], indent=1)


def load_cells(sweep_dir: Path) -> list[Cell]:
    path = Path(sweep_dir) / CELLS_NAME
    if not path.is_file():
        raise ConfigError(f"{sweep_dir} is not a ganlab compare folder (no {CELLS_NAME}); "
                          f"give the folder a `ganlab compare` run wrote")
    return [Cell(**c) for c in json.loads(path.read_text())]
