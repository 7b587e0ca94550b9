"""``ganlab verify``: check the theory claims numerically against the plugins' own code (:mod:`ganlab.analysis`)."""

from __future__ import annotations

import argparse
import sys

from ganlab.commands import EXIT_FAILED, add_plugin_arguments

HELP = "check GAN theory claims numerically against the plugins' own loss code"
DESCRIPTION = ("Check each theory claim (generic checks of every separable loss, optimal D, criterion at D*, "
               "saturation, disjoint supports, WGAN-GP, R1, per-sample penalties, relativistic losses, spectral norm, "
               "Dirac-GAN) against every built-in and installed plugin, or only the ones named. Hooks are called as the "
               "trainer calls them (docs/plugin-guide.md, 'How verify calls your loss'). Exits 1 if any claim fails.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_plugin_arguments(parser, "verify only this plugin (repeat for several); default: every plugin",
                         "check this option setting instead of the plugins' declared variants")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--plot", metavar="DIR", help="write figures (D* curves, saturation, Dirac-GAN) into DIR")


def main(args) -> int:
    """Run the suite for ``args.plugin`` (none: everything) with ``args.overrides`` (PLUGIN.KEY=VALUE)."""
    from ganlab.analysis import report as R
    from ganlab.analysis.suite import verify
    from ganlab.options import parse_overrides
    from ganlab import manager

    options = parse_overrides(args.overrides)  # verify() rejects options for plugins it does not check
    pm = manager.make_plugin_manager()
    result = verify(pm, args.plugin or None, options or None)
    figures = []
    if args.plot:
        from ganlab.analysis.plots import write_all

        figures = write_all(result, args.plot)
    if args.json:
        print(R.as_json(result))
    else:
        print(R.table(result))
        for path in figures:
            print(f"figure: {path}")
    if not result.ok:
        print("ganlab verify: some claims FAILED", file=sys.stderr)
        return EXIT_FAILED
    return 0
