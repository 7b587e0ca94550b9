"""Loading the plugin under test into a fresh plugin manager."""

from __future__ import annotations

from typing import Any

from ganlab.testing.results import Results


def default_name(plugin: Any) -> str:
    module_name = getattr(plugin, "__name__", None)
    if isinstance(module_name, str) and module_name:
        return module_name.rsplit(".", 1)[-1]
    return "plugin-under-test"


def register(plugin: Any, name: str | None, results: Results):
    """``(plugin manager, name)`` with the plugin registered, or ``None`` after reporting why not."""
    from ganlab.manager import make_plugin_manager

    pm = make_plugin_manager(autoload=False)
    if isinstance(plugin, str):
        name = plugin
        if name not in pm.infos:
            pm.load_entrypoints()  # an installed third-party plugin
        if name not in pm.infos:
            names = ", ".join(sorted(pm.available()))
            results.fail("register", f"no built-in or installed plugin is named {name!r}; available: {names}")
            return None
    elif pm.is_registered(plugin):  # a built-in module passed as an object
        name = pm.get_name(plugin)
    else:
        name = name or default_name(plugin)
        if name in pm.infos:
            results.fail(
                "register",
                f"the name {name!r} is taken by built-in plugin {name!r}, so ganlab would list yours as "
                "broken; choose another entry-point name (and pass it as name=...)",
            )
            return None
        pm.add_plugin(plugin, name, source="ganlab.testing")
    info = pm.infos[name]
    if not info.ok:
        results.fail("register", f"plugin {name!r} is broken: {info.error}")
        return None
    return pm, name
