"""``ganlab plugins``: every installed plugin, its hooks and options, and the defaults."""

from __future__ import annotations

import json

HELP = "list installed plugins, their hooks and options"
DESCRIPTION = ("List every built-in and installed plugin: where it comes from, the hooks it implements and its "
               "options (-o PLUGIN.KEY=VALUE), and which plugin answers a hook when no selected one does.")


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _format_plugin(info: dict) -> list[str]:
    lines = [f"{info['name']}  [{info['source']}]" + ("  BROKEN" if info["status"] != "ok" else "")]
    if info["error"]:
        lines.append(f"    error: {info['error']}")
    if info["hooks"]:
        lines.append("    hooks: " + ", ".join(h[len("ganlab_"):] for h in info["hooks"]))
    for opt in info["options"]:
        default = ",".join(map(str, opt["default"])) if isinstance(opt["default"], list) else opt["default"]
        lines.append(f"    -o {info['name']}.{opt['name']}={default}  ({opt['type']}) {opt['help']}")
    return lines


def main(args) -> int:
    from ganlab import manager
    from ganlab.defaults import DEFAULT_PROVIDERS

    infos = [info.as_dict() for info in manager.make_plugin_manager().infos.values()]
    if args.json:
        print(json.dumps({"plugins": infos, "defaults": DEFAULT_PROVIDERS}, indent=2))
        return 0
    for info in infos:
        print("\n".join(_format_plugin(info)))
    defaults = ", ".join(f"{h[len('ganlab_'):]}={p}" for h, p in DEFAULT_PROVIDERS.items())
    print(f"\ndefaults when no selected plugin answers: {defaults}")
    return 0
