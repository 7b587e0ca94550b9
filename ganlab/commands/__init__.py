"""The subcommands of ``ganlab``, one module each, all alike.

A command module has ``HELP`` (one line for ``ganlab --help``),
``DESCRIPTION`` (its own ``--help``), ``add_arguments(parser)`` and
``main(args) -> exit status``; :mod:`ganlab.cli` builds the parser from
:data:`COMMANDS` and turns a :class:`ganlab.errors.GanlabError` into one
message. No command imports another: what they share is here. Commands
import torch and plugins inside ``main``, so a typo in a flag fails at once.
"""

from __future__ import annotations

COMMANDS = ("run", "plugins", "verify", "eval", "compare")

EXIT_FAILED = 1  # verify: a claim failed; compare: a cell failed
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

METAVARS = {"betas": "B1,B2", "device": "{auto,cpu,cuda}", "data": "NAME|DIR", "data_root": "DIR",
            "precision": "{fp32,bf16,fp16}", "compile": "BOOL"}
DEFAULT_SHOWN = {"data_root": "$GANLAB_DATA or ~/.cache/ganlab/data"}


def add_plugin_arguments(p, plugin_help: str, option_help: str) -> None:
    """``--plugin NAME`` (repeatable) and ``-o PLUGIN.KEY=VALUE``."""
    p.add_argument("--plugin", "-p", action="append", default=[], metavar="NAME", help=plugin_help)
    p.add_argument("-o", dest="overrides", action="append", default=[], metavar="PLUGIN.KEY=VALUE",
                   help=option_help)


def add_train_flags(group, skip: tuple[str, ...] = (), show_defaults: bool = True) -> None:
    """One ``--flag`` per trainer setting (:data:`ganlab.config.TRAIN_FIELDS`), stored as ``train_NAME``."""
    from ganlab.config import TRAIN_FIELDS

    for name, f in TRAIN_FIELDS.items():
        if name in skip:
            continue
        default = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        switch = {"nargs": "?", "const": "true"} if f.type is bool and show_defaults else {}  # --compile alone: true
        shown = f" (default {DEFAULT_SHOWN.get(name, str(default).lower())})" if show_defaults else ""
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"train_{name}", default=None,
                           metavar=METAVARS.get(name, f.type_name.upper()), help=f"{f.help}{shown}", **switch)


def train_flags_given(args) -> dict:
    """The trainer settings given on the command line, by name."""
    return {k[len("train_"):]: v for k, v in vars(args).items() if k.startswith("train_") and v is not None}
