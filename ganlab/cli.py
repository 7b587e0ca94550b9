"""The ``ganlab`` command line.

User mistakes (:class:`ganlab.errors.GanlabError`) print one message and exit
with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import warnings
from typing import Sequence

from ganlab import __version__
from ganlab.commands import COMMANDS, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USER_ERROR
from ganlab.errors import GanlabError, Terminated


def build_parser() -> argparse.ArgumentParser:
    """``ganlab`` and one subparser per module of :mod:`ganlab.commands`, each wired to its ``main``."""
    parser = argparse.ArgumentParser(prog="ganlab", description="A plugin-based toolkit for GAN research.")
    parser.add_argument("--version", action="version", version=f"ganlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        command = importlib.import_module(f"ganlab.commands.{name}")
        p = sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter if "\n" in command.DESCRIPTION
                           else argparse.HelpFormatter)
        command.add_arguments(p)
        p.set_defaults(handler=command.main)
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
    command = None
    try:
        args = build_parser().parse_args(argv)
        command = args.command
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
        if command == "run":
            print("ganlab: terminated before training started (a new run's files were removed; a resumed run "
                  "is as it was)", file=sys.stderr)
        else:  # verify, eval, compare... trained nothing of their own in this process
            print(f"ganlab {command}: terminated" if command else "ganlab: terminated", file=sys.stderr)
        return EXIT_TERMINATED


def _is_out_of_memory(exc: RuntimeError) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "not enough memory" in text or "can't allocate memory" in text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
