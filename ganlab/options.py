"""Typed plugin options: declared as dataclasses, set from strings or TOML.

A plugin returns a dataclass type from ``ganlab_options``. Every field needs a
type annotation and a default; ``metadata={"help": ...}`` documents it. The
supported field types are ``bool``, ``int``, ``float``, ``str``,
``Literal[...]``, ``tuple[float, ...]``/``tuple[int, ...]`` and ``X | None``
of those.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from ganlab.errors import ConfigError, PluginError

_NONE_WORDS = {"none", "null"}
_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class OptionField:
    name: str
    type: Any
    default: Any
    help: str
    allow_inf: bool = False  # metadata={"allow_inf": True}: an infinite float is a meaningful value

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


def option_fields(cls: type) -> list[OptionField]:
    """The documented fields of an options dataclass, in declaration order."""
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"ganlab_options must return a dataclass type, got {cls!r}")
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"option {cls.__name__}.{f.name} needs a default")
        fields.append(OptionField(f.name, hints[f.name], default, f.metadata.get("help", ""),
                                  bool(f.metadata.get("allow_inf", False))))
    return fields


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return f"tuple of {_type_name(args[0])}" if args else "tuple"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def parse_value(tp: Any, raw: Any) -> Any:
    """Convert ``raw`` (a string from the command line, or a TOML value) to ``tp``.

    Raises ``ValueError`` with a short reason when it does not fit.
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (raw is None or (isinstance(raw, str) and raw.lower() in _NONE_WORDS)):
            return None
        reasons = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return parse_value(arg, raw)
            except ValueError as exc:
                reasons.append(str(exc))
        raise ValueError("; ".join(reasons))
    if origin is Literal:
        choices = typing.get_args(tp)
        for choice in choices:
            if raw == choice or (isinstance(raw, str) and str(choice) == raw):
                return choice
        raise ValueError(f"expected one of {', '.join(map(str, choices))}")
    if origin is tuple:
        (item, *rest) = typing.get_args(tp) or (str,)
        if isinstance(raw, str):
            parts = [p for p in raw.replace("(", "").replace(")", "").split(",") if p.strip()]
        elif isinstance(raw, (list, tuple)):
            parts = list(raw)
        else:
            raise ValueError("expected a comma-separated list")
        if rest and rest != [Ellipsis] and len(parts) != len(rest) + 1:
            raise ValueError(f"expected {len(rest) + 1} comma-separated values")
        return tuple(parse_value(item, p.strip() if isinstance(p, str) else p) for p in parts)
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in _TRUE_WORDS | _FALSE_WORDS:
            return raw.lower() in _TRUE_WORDS
        raise ValueError("expected true or false")
    if tp is int:
        if isinstance(raw, bool):
            raise ValueError("expected an integer")
        if isinstance(raw, int):
            return raw
        try:
            return int(str(raw).replace("_", ""))
        except ValueError:
            raise ValueError("expected an integer") from None
    if tp is float:
        if isinstance(raw, bool):
            raise ValueError("expected a number")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
        if math.isnan(value):
            raise ValueError("expected a number, not nan")
        return value
    if tp is str:
        if isinstance(raw, str):
            return raw
        raise ValueError("expected a string")
    raise ValueError(f"unsupported option type {_type_name(tp)}")


def build_options(cls: type, values: Mapping[str, Any], owner: str) -> Any:
    """Instantiate ``cls`` from user values, with errors that name valid keys."""
    fields = {f.name: f for f in option_fields(cls)}
    valid = ", ".join(fields) or "(none)"
    kwargs = {}
    for key, raw in values.items():
        if key not in fields:
            raise ConfigError(f"unknown option {owner}.{key}; valid keys for {owner}: {valid}")
        f = fields[key]
        try:
            kwargs[key] = parse_value(f.type, raw)
        except ValueError as exc:
            raise ConfigError(
                f"bad value {raw!r} for {owner}.{key} ({f.type_name}): {exc}"
            ) from None
        if not f.allow_inf and _has_infinity(kwargs[key]):
            raise ConfigError(f"bad value {raw!r} for {owner}.{key}: expected a finite number")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid options for {owner}: {exc}") from None


def _has_infinity(value: Any) -> bool:
    if isinstance(value, tuple):
        return any(_has_infinity(v) for v in value)
    return isinstance(value, float) and math.isinf(value)


def options_as_dict(instance: Any) -> dict[str, Any]:
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


class Options(Mapping[Any, Any]):
    """The resolved options of the active plugins.

    ``options[MyOptions]`` gives the instance of a plugin's own dataclass;
    ``options["lsgan"]`` looks one up by plugin name. A class that no active
    plugin declared is an error, never a silent fallback to defaults: a
    second copy of the class (its module imported twice) would otherwise
    drop every ``-o`` value without a word. Code outside a run (tests, a
    notebook) builds defaults explicitly with :func:`defaults_for`.
    """

    def __init__(self, by_plugin: Mapping[str, Any] | None = None):
        self._by_plugin = dict(by_plugin or {})
        self._by_type = {type(v): v for v in self._by_plugin.values()}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._by_plugin[key]
        try:
            return self._by_type[key]
        except (KeyError, TypeError):
            raise PluginError(_missing_options_message(key, self._by_type)) from None

    def __iter__(self):
        return iter(self._by_plugin)

    def __len__(self) -> int:
        return len(self._by_plugin)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: options_as_dict(v) for name, v in self._by_plugin.items()}


def _missing_options_message(key: Any, known: Mapping[type, Any]) -> str:
    name = getattr(key, "__qualname__", repr(key))
    module = getattr(key, "__module__", "?")
    twins = [t for t in known if getattr(t, "__qualname__", None) == name]
    if twins:
        return (
            f"options lookup with {module}.{name}, a second copy of the class the run resolved "
            f"({twins[0].__module__}.{name}): the plugin's module was imported twice, so its -o values "
            f"would be lost; import the plugin by one module name only"
        )
    return (
        f"options lookup with {module}.{name}, which no active plugin declares (ganlab_options); "
        f"select the plugin that declares it, or outside a run pass ganlab.options.defaults_for({name})"
    )


def defaults_for(*classes: type) -> Options:
    """Options holding the defaults of ``classes``: for calling hooks outside a run."""
    by_name = {}
    for cls in classes:
        option_fields(cls)  # the same validation a plugin's class gets
        by_name[cls.__qualname__] = cls()
    return Options(by_name)


# --- from -o PLUGIN.KEY=VALUE to each active plugin's options ----------------------------


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``PLUGIN.KEY=VALUE``."""
    key, sep, value = text.partition("=")
    plugin, dot, name = key.strip().partition(".")
    if not sep or not dot or not plugin or not name:
        raise ConfigError(f"bad -o {text!r}: expected PLUGIN.KEY=VALUE")
    return plugin, name, value.strip()


def parse_overrides(texts: list[str]) -> dict[str, dict[str, str]]:
    """``-o`` values grouped by plugin; a key given twice takes its last value, as flags do."""
    options: dict[str, dict[str, str]] = {}
    for text in texts:
        plugin, key, value = parse_override(text)
        options.setdefault(plugin, {})[key] = value
    return options


def resolve_options(selection, values: Mapping[str, Mapping[str, Any]] | None = None) -> Options:
    """The options of every active plugin of ``selection`` (a :class:`ganlab.manager.Selection`), from user
    values (``{plugin: {key: raw value}}``); a value for a plugin that is not active, or has no options, is an
    error naming the fix."""
    values = dict(values or {})
    infos = selection.pm.infos
    resolved = {}
    for name in selection.active:
        cls = infos[name].options_cls
        given = values.pop(name, {})
        if cls is None:
            if given:
                raise ConfigError(f"plugin {name!r} has no options, but {', '.join(given)} was given")
            continue
        resolved[name] = build_options(cls, given, name)
    for name in values:
        if name in infos:
            raise ConfigError(f"options were given for {name!r}, which is not active in this run; "
                              f"add --plugin {name} (active: {', '.join(selection.active)})")
        selection.pm.info(name)  # raises the unknown-plugin error with suggestions
    return Options(resolved)
