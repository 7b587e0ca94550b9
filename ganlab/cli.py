"""The ``ganlab`` command line.

User mistakes (:class:`ganlab.errors.GanlabError`) print one message and exit
with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import warnings
from typing import Sequence

from ganlab import __version__
from ganlab.config import TRAIN_FIELDS, RunRequest, check_train_keys, load_config_file, parse_overrides, resolve_train
from ganlab.errors import GanlabError, Terminated
from ganlab.manager import check_names_early, make_plugin_manager

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
METAVARS = {"betas": "B1,B2", "device": "{auto,cpu,cuda}", "data": "NAME|DIR", "data_root": "DIR",
            "precision": "{fp32,bf16,fp16}", "compile": "BOOL"}
DEFAULT_SHOWN = {"data_root": "$GANLAB_DATA or ~/.cache/ganlab/data"}


def add_plugin_arguments(p, plugin_help: str, option_help: str) -> None:
    """``--plugin NAME`` (repeatable) and ``-o PLUGIN.KEY=VALUE``, shared by the subcommands."""
    p.add_argument("--plugin", "-p", action="append", default=[], metavar="NAME", help=plugin_help)
    p.add_argument("-o", dest="overrides", action="append", default=[], metavar="PLUGIN.KEY=VALUE",
                   help=option_help)


def _add_run_parser(sub) -> None:
    p = sub.add_parser("run", help="train a GAN", description="Train a GAN from composable plugins.")
    add_plugin_arguments(p, "use plugin NAME; repeat to compose an architecture, a loss, regularizers...",
                         "set a plugin option (see `ganlab plugins`); repeated, the last value wins")
    p.add_argument("--config", metavar="FILE.toml", help="load settings from TOML (flags win)")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<timestamp>-<plugins>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its checkpoint")
    p.add_argument("--quiet", "-q", action="store_true", help="plain log lines instead of a progress bar")
    flags = p.add_argument_group("trainer settings")
    for name, f in TRAIN_FIELDS.items():
        default = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        switch = {"nargs": "?", "const": "true"} if f.type is bool else {}  # --compile alone means true
        flags.add_argument(f"--{name.replace('_', '-')}", dest=f"train_{name}", default=None,
                           metavar=METAVARS.get(name, f.type_name.upper()), **switch,
                           help=f"{f.help} (default {DEFAULT_SHOWN.get(name, str(default).lower())})")
    p.set_defaults(handler=cmd_run)


def _request_from_args(args) -> RunRequest:
    train = {k[len("train_"):]: v for k, v in vars(args).items() if k.startswith("train_") and v is not None}
    check_train_keys(train, "the command line")
    cli = RunRequest(list(args.plugin), train, parse_overrides(args.overrides),
                     {key: "the command line" for key in train})
    if args.config:
        return load_config_file(args.config).merged_with(cli)
    return cli


def cmd_run(args) -> int:
    request = _request_from_args(args)  # flag mistakes fail before plugins (and torch) are loaded
    check_names_early([*request.plugins, *request.options])
    resolve_train(request, [])  # the user's own trainer values, checked alone
    from ganlab.run import prepare_run

    pm = make_plugin_manager()
    trainer = prepare_run(pm, request, out=args.out, resume=args.resume, quiet=args.quiet)
    if not trainer.world.is_main:  # under torchrun, rank 0 speaks for the run
        return 130 if trainer.fit() == "interrupted" else 0
    setup = trainer.setup
    print(f"ganlab {__version__}: plugins {', '.join(setup.plugins)} on {setup.device}")
    print(f"data: {setup.loaded.source}")
    if trainer.step:
        print(f"resuming at step {trainer.step} of {setup.train.steps}")
    if trainer.world.active:
        print(f"data-parallel over {trainer.world.size} ranks: {setup.train.batch_size} samples per rank and step")
    print(f"run folder: {trainer.run_dir}")
    status = trainer.fit()
    if status == "finished" and trainer.step == trainer.start_step:
        print(f"nothing to do: {trainer.run_dir} is already at step {trainer.step}; raise --steps to train on")
        return 0
    if status == "interrupted":
        print(f"interrupted at step {trainer.step}; continue with: ganlab run --resume {trainer.run_dir}")
        return EXIT_INTERRUPTED
    print(f"done: {trainer.step} steps; samples in {trainer.run_dir / 'samples'}, "
          f"metrics in {trainer.metrics_path}, loss plot {trainer.run_dir / 'losses.png'}")
    return 0


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


def cmd_plugins(args) -> int:
    from ganlab.defaults import DEFAULT_PROVIDERS

    pm = make_plugin_manager()
    infos = [info.as_dict() for info in pm.infos.values()]
    if args.json:
        print(json.dumps({"plugins": infos, "defaults": DEFAULT_PROVIDERS}, indent=2))
        return 0
    for info in infos:
        print("\n".join(_format_plugin(info)))
    defaults = ", ".join(f"{h[len('ganlab_'):]}={p}" for h, p in DEFAULT_PROVIDERS.items())
    print(f"\ndefaults when no selected plugin answers: {defaults}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganlab", description="A plugin-based toolkit for GAN research.")
    parser.add_argument("--version", action="version", version=f"ganlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    p = sub.add_parser("plugins", help="list installed plugins, their hooks and options")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_plugins)
    from ganlab.analysis import verify_command

    p = sub.add_parser("verify", help="check GAN theory claims numerically against the plugins' own loss code",
                       description=verify_command.DESCRIPTION)
    add_plugin_arguments(p, "verify only this plugin (repeat for several); default: every plugin",
                         "check this option setting instead of the built-in variants")
    verify_command.add_arguments(p)
    p.set_defaults(handler=verify_command.run)
    from ganlab.compare import command as compare_command

    p = sub.add_parser("compare", help="train variants x option grid x seeds and tabulate their evaluations",
                       description=compare_command.DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    compare_command.add_arguments(p)
    p.set_defaults(handler=compare_command.run)
    from ganlab import eval_command

    p = sub.add_parser("eval", help="sample-quality metrics of a run's checkpoint", description=eval_command.DESCRIPTION)
    eval_command.add_arguments(p)
    p.set_defaults(handler=eval_command.run)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"ganlab: warning: {message}", file=sys.stderr)


def _terminate(signum, frame):
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    # Until training installs its own handler, SIGTERM unwinds set-up (which removes a new run's files).
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        previous = None
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        warnings.showwarning = _show_warning
        return args.handler(args)
    except GanlabError as exc:
        print(f"ganlab: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # a path the user gave: missing, unwritable, a file for a folder, a full disk
        print(f"ganlab: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:
        print("ganlab: error: out of memory; lower --batch-size or --image-size, or use smaller networks",
              file=sys.stderr)
        return EXIT_USER_ERROR
    except RuntimeError as exc:
        if not _is_out_of_memory(exc):
            raise
        print(f"ganlab: error: out of memory ({str(exc).splitlines()[0][:200]}); lower --batch-size or "
              f"--image-size, or use smaller networks", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training started
        print("\nganlab: aborted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("ganlab: terminated before training started (a new run's files were removed; a resumed run is "
              "as it was)", file=sys.stderr)
        return EXIT_TERMINATED


def _is_out_of_memory(exc: RuntimeError) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "not enough memory" in text or "can't allocate memory" in text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
