"""Building the plugin manager and selecting the plugins of one run.

There is no global manager: :func:`make_plugin_manager` builds a fresh one
(built-ins first, then the ``ganlab`` entry points), and the trainer, the CLI
and every test get their own.

A plugin that fails to import, declares an unknown hook or has a bad hook
signature is recorded as *broken* with its error instead of breaking ganlab;
selecting it raises that same error.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
import signal
import types
from dataclasses import dataclass, field
from typing import Any, Iterable

import pluggy

from ganlab import PROJECT_NAME, hookspecs
from ganlab.errors import GanlabError, PluginError, Terminated
from ganlab.defaults import ALWAYS_ACTIVE, BUILTINS, DEFAULT_PROVIDERS
from ganlab.options import Options, option_fields, resolve_options

ENTRYPOINT_GROUP = "ganlab"
AUTOLOAD_ENV = "GANLAB_DISABLE_PLUGIN_AUTOLOAD"
_YES = {"1", "true", "yes", "on"}

HOOK_NAMES = tuple(n for n in dir(hookspecs) if n.startswith("ganlab_"))
SINGLE_ANSWER_HOOKS = tuple(
    n for n in HOOK_NAMES if getattr(hookspecs, n).ganlab_spec.get("firstresult")  # type: ignore[attr-defined]
)


@dataclass
class PluginInfo:
    """What ``ganlab plugins`` shows about one plugin."""

    name: str
    source: str
    version: str | None = None
    module: Any = None
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    options_cls: type | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        options = []
        if self.options_cls is not None:
            for f in option_fields(self.options_cls):
                default = list(f.default) if isinstance(f.default, tuple) else f.default
                options.append({"name": f.name, "type": f.type_name, "default": default, "help": f.help})
        return {
            "name": self.name,
            "source": self.source,
            "version": self.version,
            "status": "ok" if self.ok else "broken",
            "error": self.error,
            "hooks": self.hooks,
            "options": options,
        }


class GanlabPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and what broke."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    # -- registration -------------------------------------------------------

    def add_plugin(self, plugin: Any, name: str, source: str = "built-in", version: str | None = None) -> PluginInfo:
        """Register ``plugin`` under ``name``; a faulty plugin is kept as broken."""
        if name in self.infos:
            other = self.infos[name]
            msg = (
                f"two plugins are named {name!r}: {other.source} and {source}; "
                f"uninstall one of them (pip uninstall ...)"
            )
            if other.source == "built-in":
                # A built-in keeps working; the newcomer is listed as broken.
                self.infos[f"{name} ({source})"] = PluginInfo(name, source, version, plugin, msg)
                return self.infos[f"{name} ({source})"]
            other.error = msg
            if self.is_registered(other.module):
                self.unregister(other.module)
            self.infos[name] = PluginInfo(name, f"{other.source} and {source}", version, plugin, msg)
            return self.infos[name]
        info = PluginInfo(name, source, version, plugin)
        self.infos[name] = info
        try:
            hash(plugin)  # pluggy keeps plugins in sets
            _check_hook_names(plugin)
            self.register(plugin, name=name)
        except (Exception, SystemExit) as exc:  # a third-party plugin may fail in any way
            info.error = _describe(exc)
            return info
        info.hooks = sorted(
            impl_name for impl_name in HOOK_NAMES
            if any(impl.plugin is plugin for impl in getattr(self.hook, impl_name).get_hookimpls())
        )
        try:
            info.options_cls = _options_class(self, plugin)
        except (Exception, SystemExit) as exc:
            info.error = f"ganlab_options failed: {_describe(exc)}"
            self.unregister(plugin)
        return info

    def load_entrypoints(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRYPOINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "unknown distribution"
            version = dist.version if dist is not None else None
            source = f"{dist_name} {version}" if version else dist_name
            plugin, error = _import_guarded(ep.load)
            if error is not None:
                key = ep.name if ep.name not in self.infos else f"{ep.name} ({source})"
                self.infos[key] = PluginInfo(ep.name, source, version, None, error)
                continue
            self.add_plugin(plugin, ep.name, source, version)

    # -- lookup ---------------------------------------------------------------

    def available(self) -> list[str]:
        return [n for n, info in self.infos.items() if info.ok]

    def info(self, name: str) -> PluginInfo:
        if name not in self.infos:
            raise unknown_plugin(name, self.available())
        info = self.infos[name]
        if not info.ok:
            raise PluginError(f"plugin {name!r} ({info.source}) is broken: {info.error}")
        return info

    def select(self, names: Iterable[str]) -> Selection:
        return Selection(self, list(dict.fromkeys(names)))


def make_plugin_manager(autoload: bool | None = None) -> GanlabPluginManager:
    """A fresh manager with the built-ins and, unless disabled, the entry points.

    ``autoload=None`` follows the ``GANLAB_DISABLE_PLUGIN_AUTOLOAD``
    environment variable.
    """
    pm = GanlabPluginManager()
    for name, module_name in BUILTINS.items():
        module, error = _import_guarded(lambda: importlib.import_module(module_name))
        if error is not None:  # keep the other plugins usable
            pm.infos[name] = PluginInfo(name, "built-in", None, None, error)
            continue
        pm.add_plugin(module, name)
    if autoload is None:
        autoload = autoload_from_env()
    if autoload:
        pm.load_entrypoints()
    return pm


def guarded(plugin: str, what: str, function, *args, **kwargs):
    """``function(...)``; its failure (or ``sys.exit()``) becomes a PluginError naming ``plugin`` and ``what``."""
    try:
        return function(*args, **kwargs)
    except (GanlabError, Terminated):
        raise
    except (Exception, SystemExit) as exc:
        raise PluginError(f"plugin {plugin!r} failed in {what}: {type(exc).__name__}: {exc}") from exc


def unknown_plugin(name: str, names: list[str]) -> PluginError:
    close = difflib.get_close_matches(name, names, n=len(names), cutoff=0.4)
    ordered = close + [n for n in sorted(names) if n not in close]
    return PluginError(f"unknown plugin {name!r}; available: {', '.join(ordered)}")


def autoload_from_env() -> bool:
    """Entry points load unless GANLAB_DISABLE_PLUGIN_AUTOLOAD says yes (1, true, yes, on)."""
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in _YES


def check_names_early(names: Iterable[str], autoload: bool | None = None) -> None:
    """Refuse a name no plugin has, before any plugin (and torch) is imported: typos fail in a blink.

    Built-ins come from the table of defaults and installed plugins from their
    entry-point names; a name that exists but is broken is left to the manager.
    """
    if autoload is None:
        autoload = autoload_from_env()
    known = set(BUILTINS)
    if autoload:
        known |= {ep.name for ep in importlib.metadata.entry_points(group=ENTRYPOINT_GROUP)}
    for name in names:
        if name not in known:
            raise unknown_plugin(name, sorted(known))


def _import_guarded(load) -> tuple[Any, str | None]:
    """``(module, None)``, or ``(None, why)`` when importing it failed in any way.

    A plugin may call ``sys.exit()`` or raise ``KeyboardInterrupt`` at import;
    that must not take ganlab down. Only a Ctrl-C the user really pressed
    while it loads is re-raised: a SIGINT handler tells the two apart.
    """
    pressed = []

    def on_sigint(signum, frame):
        pressed.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: no handler to swap
        previous = None
    try:
        return load(), None
    except Terminated:  # SIGTERM while plugins load: the process is being stopped
        raise
    except KeyboardInterrupt as exc:
        if pressed:
            raise
        return None, f"raised KeyboardInterrupt at import{': ' + str(exc) if str(exc) else ''}"
    except SystemExit as exc:
        return None, f"called sys.exit({exc.code!r}) at import"
    except BaseException as exc:  # a third-party plugin may fail in any way
        return None, _describe(exc)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _check_hook_names(plugin: Any) -> None:
    """Catch typos and forgotten markers, which pluggy would silently ignore."""
    for attr in dir(plugin):
        if not attr.startswith("ganlab_"):
            continue
        value = getattr(plugin, attr)
        if not callable(value):
            continue
        if attr not in HOOK_NAMES:
            close = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise PluginError(f"unknown hook {attr}{hint}")
        if not hasattr(value, f"{PROJECT_NAME}_impl"):
            raise PluginError(f"{attr} lacks the @hookimpl marker (from ganlab import hookimpl)")


def _options_class(pm: pluggy.PluginManager, plugin: Any) -> type | None:
    for impl in pm.hook.ganlab_options.get_hookimpls():
        if impl.plugin is plugin:
            cls = impl.function()
            if cls is not None:
                option_fields(cls)  # validates the dataclass
            return cls
    return None


class Selection:
    """The plugins of one run and the hook callers restricted to them.

    ``selection.hook.NAME(...)`` calls only the active plugins. For a
    single-answer hook that is the one selected plugin implementing it, or the
    default provider; two selected plugins implementing it is a conflict.
    """

    def __init__(self, pm: GanlabPluginManager, names: list[str]):
        self.pm = pm
        self.selected = names
        for name in names:
            pm.info(name)
        providers: dict[str, list[str]] = {}
        defaults_used: list[str] = []
        for hook_name in HOOK_NAMES:
            implementers = [n for n in names if hook_name in pm.infos[n].hooks]
            if hook_name in SINGLE_ANSWER_HOOKS:
                if len(implementers) > 1:
                    raise PluginError(
                        f"plugins {implementers[0]!r} and {implementers[1]!r} both implement "
                        f"{hook_name}, which takes a single answer; select only one of them"
                    )
                if not implementers and hook_name in DEFAULT_PROVIDERS:
                    default = DEFAULT_PROVIDERS[hook_name]
                    implementers = [default]
                    if default not in names:
                        defaults_used.append(default)
            providers[hook_name] = implementers
        self.active = list(dict.fromkeys([*ALWAYS_ACTIVE, *names, *defaults_used]))
        for name in self.active:
            pm.info(name)
        for hook_name in HOOK_NAMES:
            if hook_name not in SINGLE_ANSWER_HOOKS:
                providers[hook_name] = [n for n in self.active if hook_name in pm.infos[n].hooks]
        self.providers = providers
        self.hook = types.SimpleNamespace()
        all_plugins = set(pm.get_plugins())
        for hook_name, who in providers.items():
            keep = {pm.get_plugin(n) for n in who}
            setattr(self.hook, hook_name, pm.subset_hook_caller(hook_name, all_plugins - keep))

    def infos(self) -> list[PluginInfo]:
        return [self.pm.infos[n] for n in self.active]

    def implementers(self, hook_name: str) -> list[str]:
        return list(self.providers[hook_name])

    def call_each(self, hook_name: str, *, what: str | None = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every active implementation of a hook, keeping who answered what.

        A plugin that fails (other than with a ganlab error of its own) is named in one message, which
        says where it failed: ``what``, or the hook's name.
        """
        results = []
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            args = {k: kwargs[k] for k in impl.argnames}
            results.append((impl.plugin_name, guarded(impl.plugin_name, what or hook_name, impl.function, **args)))
        return results

    def wants_argument(self, hook_name: str, arg: str) -> bool:
        """Whether any active implementation declares ``arg`` (so we can skip computing it)."""
        return any(arg in impl.argnames for impl in getattr(self.hook, hook_name).get_hookimpls())

    def build_options(self, values: dict[str, dict[str, Any]] | None = None) -> Options:
        """Resolve the options of every active plugin from user values (:func:`ganlab.options.resolve_options`)."""
        return resolve_options(self, values)
